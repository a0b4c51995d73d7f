//! A dense layer followed by SiLU, `y = SiLU(x·W + b)`, as one CPU operation with its
//! gradient written out: the hidden layers of the toy MLP ([`super::mlp`]).
//!
//! At the toy sizes (batch 64-512, width 128) a training step is bound by per-operation
//! overhead rather than arithmetic: burn composes the layer from a matmul, a broadcast bias
//! add and SiLU's element-wise passes (see [`super::activation`]), each allocating a tensor
//! and recorded in the autodiff graph, and as many again backward. Here, with
//! `s = σ(z)` and SiLU'(z) = `s·(1 + z·(1 − s))` kept from the forward pass:
//!
//! ```text
//! z = x·W + b,   y = z·σ(z)
//! ∂z = ∂y ⊙ SiLU'(z),   ∂W = xᵀ·∂z,   ∂b = Σ_rows ∂z,   ∂x = ∂z·Wᵀ
//! ```
//!
//! two GEMMs forward-and-one-pass, and two GEMMs plus one pass backward (`∂x` only when x
//! needs it, which the first layer's input does not). burn's `Linear` stores `W` as
//! `[in, out]`, which is what the GEMM reads. Only burn's CPU backend in f32 takes this path
//! ([`super::cpu_ops`]); other backends compose burn's `Linear` and [`silu`], and the tests
//! compare the two. First derivatives only (the energy network, which differentiates an
//! input gradient, does not use this).

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ndarray::NdArrayTensor;
use burn::nn::Linear;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{backend::Backend, Tensor, TensorPrimitive};

use super::activation::silu;
use super::cpu_ops::{
    backend_of, cast, cpu_tensor, fusion_enabled, gemm, per_sample, sigmoid, with_values, Cpu,
    CpuAd, CpuBackend,
};

/// `SiLU(layer(x))`: the CPU operation on burn's CPU backend in f32, burn's `Linear` and
/// [`silu`] elsewhere (and for a layer without bias, or with `SCORELAB_FUSE=off`).
///
/// # Shapes
/// `x: [n, in]` → `[n, out]`
pub fn linear_silu<B: Backend>(x: Tensor<B, 2>, layer: &Linear<B>) -> Tensor<B, 2> {
    let weight = layer.weight.val();
    match (backend_of(&x), backend_of(&weight), &layer.bias) {
        (Some(backend), Some(_), Some(bias)) if fusion_enabled() => {
            let x = x.into_primitive().tensor();
            let w = weight.into_primitive().tensor();
            let b = bias.val().into_primitive().tensor();
            let y = match backend {
                CpuBackend::Autodiff => cast(autodiff_forward(cast(x), cast(w), cast(b))),
                CpuBackend::Plain => cast(forward(&cast(x), &cast(w), &cast(b)).0),
            };
            Tensor::from_primitive(TensorPrimitive::Float(y))
        }
        _ => silu(layer.forward(x)),
    }
}

/// Rows per thread task in the element-wise passes.
const ROWS_PER_TASK: usize = 64;

/// What the backward pass keeps: x, W and SiLU'(z).
#[derive(Clone, Debug)]
struct Saved {
    n: usize,
    din: usize,
    dout: usize,
    x: Arc<Vec<f32>>,
    w: Arc<Vec<f32>>,
    slope: Arc<Vec<f32>>,
}

fn forward(x: &NdArrayTensor, w: &NdArrayTensor, b: &NdArrayTensor) -> (NdArrayTensor, Saved) {
    let x = with_values(x, |v| v.to_vec());
    let w = with_values(w, |v| v.to_vec());
    let b = with_values(b, |v| v.to_vec());
    let (dout, din) = (b.len(), w.len() / b.len());
    let n = x.len() / din;
    let mut y = gemm(n, din, dout, &x, false, &w, false); // z, then y in place
    let mut slope = vec![0f32; y.len()];
    let chunk = ROWS_PER_TASK * dout;
    per_sample(&mut y, &mut slope, chunk, chunk, |_, y, slope| {
        for (y, k) in y.chunks_exact_mut(dout).zip(slope.chunks_exact_mut(dout)) {
            for ((y, k), b) in y.iter_mut().zip(k.iter_mut()).zip(&b) {
                let z = *y + b;
                let s = sigmoid(z);
                *y = z * s;
                *k = s + z * s * (1.0 - s);
            }
        }
    });
    let saved = Saved {
        n,
        din,
        dout,
        x: Arc::new(x),
        w: Arc::new(w),
        slope: Arc::new(slope),
    };
    (cpu_tensor(y, &[n, dout]), saved)
}

#[derive(Debug)]
struct LinearSiluBackward;

impl Backward<Cpu, 3> for LinearSiluBackward {
    type State = Saved;

    fn backward(self, ops: Ops<Saved, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w, node_b] = ops.parents;
        let s = ops.state;
        let dy = grads.consume::<Cpu>(&ops.node);
        let mut dz = with_values(&dy, |v| v.to_vec());
        let mut none = vec![0f32; dz.len().div_ceil(ROWS_PER_TASK * s.dout)];
        let chunk = ROWS_PER_TASK * s.dout;
        per_sample(&mut dz, &mut none, chunk, 1, |i, dz, _| {
            let k = &s.slope[i * chunk..i * chunk + dz.len()];
            for (g, k) in dz.iter_mut().zip(k) {
                *g *= k;
            }
        });
        if let Some(node) = node_x {
            let dx = gemm(s.n, s.dout, s.din, &dz, false, &s.w, true);
            grads.register::<Cpu>(node.id, cpu_tensor(dx, &[s.n, s.din]));
        }
        if let Some(node) = node_w {
            let dw = gemm(s.din, s.n, s.dout, &s.x, true, &dz, false);
            grads.register::<Cpu>(node.id, cpu_tensor(dw, &[s.din, s.dout]));
        }
        if let Some(node) = node_b {
            let mut db = vec![0f64; s.dout];
            for row in dz.chunks_exact(s.dout) {
                for (d, g) in db.iter_mut().zip(row) {
                    *d += *g as f64;
                }
            }
            let db = db.into_iter().map(|v| v as f32).collect();
            grads.register::<Cpu>(node.id, cpu_tensor(db, &[s.dout]));
        }
    }
}

fn autodiff_forward(
    x: FloatTensor<CpuAd>,
    w: FloatTensor<CpuAd>,
    b: FloatTensor<CpuAd>,
) -> FloatTensor<CpuAd> {
    let nodes = [x.node.clone(), w.node.clone(), b.node.clone()];
    let (y, saved) = forward(&x.primitive, &w.primitive, &b.primitive);
    match LinearSiluBackward
        .prepare::<NoCheckpointing>(nodes)
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(saved, y),
        OpsKind::UnTracked(prep) => prep.finish(y),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::LinearConfig;
    use burn::tensor::{Distribution, Tolerance};

    /// Value and the gradients of x, W and b equal burn's `Linear` + SiLU, at a batch that
    /// is not a multiple of the task size, with a transposed (non-contiguous) input.
    #[test]
    fn fused_layer_equals_burn_in_value_and_gradients() {
        let d = Default::default();
        let normal = Distribution::Normal(0., 1.);
        let layer = LinearConfig::new(7, 5).init::<CpuAd>(&d);
        let x = Tensor::<CpuAd, 2>::random([7, 150], normal, &d)
            .transpose()
            .require_grad();
        let r = Tensor::<CpuAd, 2>::random([150, 5], normal, &d);
        let run = |fused: bool| {
            let y = if fused {
                linear_silu(x.clone(), &layer)
            } else {
                silu(layer.forward(x.clone()))
            };
            let g = (y.clone() * r.clone()).sum().backward();
            let gw = layer.weight.val().grad(&g).unwrap();
            let gb = layer.bias.as_ref().unwrap().val().grad(&g).unwrap();
            (y.inner(), x.grad(&g).unwrap(), gw, gb)
        };
        let (a, b) = (run(true), run(false));
        let tol = Tolerance::rel_abs(1e-5, 1e-5);
        a.0.into_data()
            .assert_approx_eq::<f32>(&b.0.into_data(), tol);
        a.1.into_data()
            .assert_approx_eq::<f32>(&b.1.into_data(), tol);
        a.2.into_data()
            .assert_approx_eq::<f32>(&b.2.into_data(), tol);
        a.3.into_data()
            .assert_approx_eq::<f32>(&b.3.into_data(), tol);
    }

    /// Without autodiff: the same values as burn's composition.
    #[test]
    fn plain_backend_gives_burns_values() {
        let d = Default::default();
        let layer = LinearConfig::new(3, 4).init::<Cpu>(&d);
        let x = Tensor::<Cpu, 2>::random([9, 3], Distribution::Normal(0., 1.), &d);
        let a = linear_silu(x.clone(), &layer).into_data();
        let b = silu(layer.forward(x)).into_data();
        a.assert_approx_eq::<f32>(&b, Tolerance::rel_abs(1e-5, 1e-6));
    }
}
