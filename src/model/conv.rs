//! Convolutions as matrix products (im2col / col2im) built from strided slices, `cat` and
//! `matmul`, used by the U-Net instead of the backends' own convolution kernels.
//!
//! Why: burn 0.21's ndarray backend computes transposed convolutions (and the input gradient
//! of every convolution, which is a transposed convolution) with a direct scalar loop: the
//! notebook U-Net took ~5 s per training step at batch 32, of which >80 % in those kernels
//! (`examples/unet_prof.rs`). Written as one large matmul per layer plus k² strided copies,
//! the same layers run on the backend's GEMM, and autodiff differentiates them through
//! slices and matmuls only. The results equal burn's `conv2d`/`conv_transpose2d` (tested
//! below), and the weight layouts are burn's (= PyTorch's).
//!
//! On a GPU the trade turns: each strided copy is a kernel launch, and the U-Net at small
//! batches is bound by launches, so there the backend's own convolution kernels are used
//! ([`Kernels::for_backend`]).

use burn::tensor::{backend::Backend, Slice, Tensor};

/// Which convolution code a network runs on a backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernels {
    /// [`conv2d`] / [`conv_transpose2d`] here: im2col + one GEMM per layer.
    Matmul,
    /// The backend's own `conv2d` / `conv_transpose2d` kernels (burn's modules).
    Backend,
}

impl Kernels {
    /// `Matmul` on the CPU backend (ndarray, whose transposed convolutions are scalar loops),
    /// the backend's kernels on CUDA. wgpu (WebGPU in the page, Vulkan natively) keeps
    /// `Matmul`: it is what the page's tests cover. `SCORELAB_CONV=matmul|backend`
    /// overrides the choice (native builds; for benchmarks).
    pub fn for_backend<B: Backend>(device: &B::Device) -> Self {
        // Read once per process, not on every forward pass.
        #[cfg(not(target_arch = "wasm32"))]
        {
            static OVERRIDE: std::sync::OnceLock<Option<Kernels>> = std::sync::OnceLock::new();
            let chosen = OVERRIDE.get_or_init(|| match std::env::var("SCORELAB_CONV").as_deref() {
                Ok("matmul") => Some(Kernels::Matmul),
                Ok("backend") => Some(Kernels::Backend),
                _ => None,
            });
            if let Some(k) = chosen {
                return *k;
            }
        }
        if B::name(device).contains("cuda") {
            Kernels::Backend
        } else {
            Kernels::Matmul
        }
    }
}

fn stepped(start: usize, count: usize, step: usize) -> Slice {
    Slice::new(
        start as isize,
        Some((start + (count - 1) * step + 1) as isize),
        step as isize,
    )
}

/// Valid (unpadded) 2-D convolution with stride s, no bias.
///
/// # Shapes
/// `x: [n, c, h, w]`, `weight: [o, c, k, k]` → `[n, o, (h−k)/s+1, (w−k)/s+1]`
pub fn conv2d<B: Backend>(x: Tensor<B, 4>, weight: Tensor<B, 4>, stride: usize) -> Tensor<B, 4> {
    let [n, c, h, w] = x.dims();
    let [o, _, k, _] = weight.dims();
    let (ho, wo) = ((h - k) / stride + 1, (w - k) / stride + 1);
    // Columns [n, ho, wo, c·k·k] with (c, i, j) ordered as the weight's flattening.
    let mut taps = Vec::with_capacity(k * k);
    for i in 0..k {
        for j in 0..k {
            let p = x.clone().slice([
                Slice::full(),
                Slice::full(),
                stepped(i, ho, stride),
                stepped(j, wo, stride),
            ]); // [n, c, ho, wo]
            taps.push(p.unsqueeze_dim::<5>(2)); // [n, c, 1, ho, wo]
        }
    }
    let cols = Tensor::cat(taps, 2) // [n, c, k·k, ho, wo]
        .reshape([n, c * k * k, ho * wo])
        .swap_dims(1, 2)
        .reshape([n * ho * wo, c * k * k]);
    let wm = weight.reshape([o, c * k * k]).transpose(); // [c·k·k, o]
    cols.matmul(wm) // [n·ho·wo, o]
        .reshape([n, ho * wo, o])
        .swap_dims(1, 2)
        .reshape([n, o, ho, wo])
}

/// Transposed 2-D convolution with stride s, no padding, output padding `out_pad`, no bias:
/// `out[:, o, s·a + i, s·b + j] += Σ_c x[:, c, a, b] · weight[c, o, i, j]`.
///
/// # Shapes
/// `x: [n, c, h, w]`, `weight: [c, o, k, k]` → `[n, o, (h−1)s + k + out_pad, (w−1)s + k + out_pad]`
pub fn conv_transpose2d<B: Backend>(
    x: Tensor<B, 4>,
    weight: Tensor<B, 4>,
    stride: usize,
    out_pad: usize,
) -> Tensor<B, 4> {
    let [n, c, h, w] = x.dims();
    let [_, o, k, _] = weight.dims();
    let (ho, wo) = (
        (h - 1) * stride + k + out_pad,
        (w - 1) * stride + k + out_pad,
    );
    let rows = x.swap_dims(1, 2).swap_dims(2, 3).reshape([n * h * w, c]); // [n·h·w, c]
    let cols = rows
        .matmul(weight.reshape([c, o * k * k])) // [n·h·w, o·k·k]
        .reshape([n, h * w, o * k * k])
        .swap_dims(1, 2)
        .reshape([n, o, k * k, h, w]);
    let mut out = Tensor::<B, 4>::zeros([n, o, ho, wo], &cols.device());
    for i in 0..k {
        for j in 0..k {
            let tap = cols
                .clone()
                .slice([
                    Slice::full(),
                    Slice::full(),
                    Slice::index((i * k + j) as isize),
                    Slice::full(),
                    Slice::full(),
                ])
                .reshape([n, o, h, w]);
            let region = [
                Slice::full(),
                Slice::full(),
                stepped(i, h, stride),
                stepped(j, w, stride),
            ];
            let cur = out.clone().slice(region.clone());
            out = out.slice_assign(region, cur + tap);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, NdArray};
    use burn::tensor::module::{conv2d as burn_conv2d, conv_transpose2d as burn_tconv};
    use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
    use burn::tensor::{Distribution, Tolerance};

    type B = NdArray<f32>;

    #[test]
    fn conv2d_matches_burn() {
        let d = Default::default();
        for stride in [1, 2] {
            let x = Tensor::<B, 4>::random([2, 3, 12, 11], Distribution::Normal(0., 1.), &d);
            let w = Tensor::<B, 4>::random([5, 3, 3, 3], Distribution::Normal(0., 1.), &d);
            let ours = conv2d(x.clone(), w.clone(), stride);
            let theirs = burn_conv2d(
                x,
                w,
                None,
                ConvOptions::new([stride, stride], [0, 0], [1, 1], 1),
            );
            ours.into_data()
                .assert_approx_eq::<f32>(&theirs.into_data(), Tolerance::absolute(1e-4));
        }
    }

    #[test]
    fn conv_transpose2d_matches_burn() {
        let d = Default::default();
        for (stride, pad) in [(1, 0), (2, 0), (2, 1)] {
            let x = Tensor::<B, 4>::random([2, 4, 5, 6], Distribution::Normal(0., 1.), &d);
            let w = Tensor::<B, 4>::random([4, 3, 3, 3], Distribution::Normal(0., 1.), &d);
            let ours = conv_transpose2d(x.clone(), w.clone(), stride, pad);
            let theirs = burn_tconv(
                x,
                w,
                None,
                ConvTransposeOptions::new([stride, stride], [0, 0], [pad, pad], [1, 1], 1),
            );
            assert_eq!(ours.dims(), theirs.dims());
            ours.into_data()
                .assert_approx_eq::<f32>(&theirs.into_data(), Tolerance::absolute(1e-4));
        }
    }

    #[test]
    fn gradients_match_burn() {
        type AB = Autodiff<B>;
        let d = Default::default();
        let x =
            Tensor::<AB, 4>::random([2, 4, 5, 6], Distribution::Normal(0., 1.), &d).require_grad();
        let w =
            Tensor::<AB, 4>::random([4, 3, 3, 3], Distribution::Normal(0., 1.), &d).require_grad();
        let g1 = conv_transpose2d(x.clone(), w.clone(), 2, 1)
            .powi_scalar(2)
            .sum()
            .backward();
        let ours = (x.grad(&g1).unwrap(), w.grad(&g1).unwrap());
        let g2 = burn_tconv(
            x.clone(),
            w.clone(),
            None,
            ConvTransposeOptions::new([2, 2], [0, 0], [1, 1], [1, 1], 1),
        )
        .powi_scalar(2)
        .sum()
        .backward();
        let theirs = (x.grad(&g2).unwrap(), w.grad(&g2).unwrap());
        ours.0
            .into_data()
            .assert_approx_eq::<f32>(&theirs.0.into_data(), Tolerance::absolute(1e-3));
        ours.1
            .into_data()
            .assert_approx_eq::<f32>(&theirs.1.into_data(), Tolerance::absolute(1e-3));
    }
}
