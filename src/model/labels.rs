//! Class labels for class-conditional networks (classifier-free guidance, Ho & Salimans 2022,
//! §3.2): a network with K classes learns `s(x, t | c)` for c in 0..K and, under the extra
//! **null label** K, the unconditional `s(x, t)`: during training each label is replaced by
//! the null one with probability `label_dropout` (0.1 in the paper's best runs), so one
//! network gives both scores that guidance mixes ([`super::guidance::Guided`]).
//!
//! The label enters as a learned embedding, a table `[K + 1, width]` read by a one-hot
//! product (one operation on every backend, with its gradient): the MLP adds it to its first
//! hidden layer, the U-Net to its time embedding (as the conditional variants of the
//! notebook's network do). The table starts at zero, so a new conditional network starts out
//! unconditional, and one initialised from an unconditional network's weights starts out as
//! that network (`scorelab train --init`).

use crate::tensor::host_tensor;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::{backend::Backend, Tensor};

/// The embedding table of `classes` labels and the null label: `[classes + 1, width]`, zero.
pub fn embedding<B: Backend>(classes: usize, width: usize, device: &B::Device) -> Linear<B> {
    LinearConfig::new(classes + 1, width)
        .with_bias(false)
        .with_initializer(Initializer::Zeros)
        .init(device)
}

/// One-hot rows of `labels` (each in `0..=classes`, `classes` being the null label).
///
/// # Shapes
/// `labels: n` → `[n, classes + 1]`
pub fn one_hot<B: Backend>(labels: &[usize], classes: usize, device: &B::Device) -> Tensor<B, 2> {
    let width = classes + 1;
    let mut v = vec![0.0; labels.len() * width];
    for (i, l) in labels.iter().enumerate() {
        debug_assert!(*l <= classes, "label {l} of {classes} classes");
        v[i * width + (*l).min(classes)] = 1.0;
    }
    host_tensor(v, [labels.len(), width], device)
}

/// The embedding of one-hot `labels`, or of the null label for every row when `None` (the
/// table's last row, broadcast over the batch).
///
/// # Shapes
/// `labels: [n, K + 1]` → `[n, width]`; `None` → `[1, width]`
pub fn embed<B: Backend>(table: &Linear<B>, labels: Option<Tensor<B, 2>>) -> Tensor<B, 2> {
    match labels {
        Some(l) => table.forward(l),
        None => {
            let w = table.weight.val();
            let k = w.dims()[0];
            w.slice([k - 1..k])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::NdArray;

    /// The null label's embedding is the one-hot product's for label K, and a fresh table is
    /// zero (a new conditional network starts unconditional).
    #[test]
    fn null_label_is_the_last_row() {
        type B = NdArray<f32>;
        let d = Default::default();
        let mut table = embedding::<B>(3, 5, &d);
        assert_eq!(table.weight.val().abs().sum().into_scalar(), 0.0);
        table.weight = burn::module::Param::from_tensor(Tensor::<B, 2>::random(
            [4, 5],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &d,
        ));
        let by_one_hot = embed(&table, Some(one_hot::<B>(&[3, 3], 3, &d)));
        let null = embed(&table, None).repeat_dim(0, 2);
        let gap = (by_one_hot.clone() - null).abs().max().into_scalar();
        assert!(gap < 1e-6, "{gap}");
        let first = embed(&table, Some(one_hot::<B>(&[0], 3, &d)));
        let row0 = table.weight.val().slice([0..1]);
        assert!((first - row0).abs().max().into_scalar() < 1e-6);
    }
}
