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
//!
//! On the CPU backend a second form is faster still ([`conv2d_gather`],
//! [`conv_transpose2d_gather`]): channels-last, the k² taps of every output pixel are one
//! `select` (a gather of whole `[n, c]` slabs along the pixel axis) and col2im is one
//! `select_assign` with addition (a scatter-add). Their gradients are each other (one zero
//! fill and one scatter, or one gather), where a strided slice's gradient is a zero-filled
//! copy of its whole input per tap. Measured per layer of the notebook U-Net at batch 32,
//! forward + backward (`cargo run --release --example conv_select`, 2 cores): 2-5x faster
//! for the layers with ≥ 32 channels per slab, slower for the first and last layers, whose
//! slabs hold one channel (burn-ndarray's `select_add` pays per index), which therefore
//! keep the strided slices ([`GATHER_MIN_CHANNELS`]).

use burn::tensor::{backend::Backend, IndexingUpdateOp, Int, Slice, Tensor, TensorData};

/// Which convolution code a network runs on a backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernels {
    /// [`conv2d`] / [`conv_transpose2d`] here: im2col + one GEMM per layer.
    Matmul,
    /// [`conv2d_gather`] / [`conv_transpose2d_gather`]: one gather (or scatter-add) and one
    /// GEMM per layer, from burn's tensor operations.
    Gather,
    /// The CPU backend's own operations: [`super::cpu_conv`]'s convolutions and, in the
    /// U-Net, [`super::norm_silu`]'s fused GroupNorm + SiLU, each with its gradient written
    /// out (other backends given this choice take `Gather` and burn's modules).
    Cpu,
    /// The backend's own `conv2d` / `conv_transpose2d` kernels (burn's modules).
    Backend,
}

impl Kernels {
    /// `Cpu` on the CPU backend (ndarray, whose transposed convolutions are scalar loops),
    /// the backend's kernels on the native GPU backends (CUDA, wgpu on Vulkan/Metal/DX12):
    /// there the k² strided copies of `Matmul` are k² kernel launches per layer (the U-Net
    /// launched 2,241 kernels per training step that way on wgpu, 777 with burn's
    /// convolutions; `examples/launches.rs`). WebGPU in the page keeps `Matmul`, which its
    /// tests cover. `SCORELAB_CONV=matmul|gather|cpu|backend` overrides the choice (native
    /// builds; for benchmarks).
    pub fn for_backend<B: Backend>(device: &B::Device) -> Self {
        // Read once per process, not on every forward pass.
        #[cfg(not(target_arch = "wasm32"))]
        {
            static OVERRIDE: std::sync::OnceLock<Option<Kernels>> = std::sync::OnceLock::new();
            let chosen = OVERRIDE.get_or_init(|| match std::env::var("SCORELAB_CONV").as_deref() {
                Ok("matmul") => Some(Kernels::Matmul),
                Ok("gather") => Some(Kernels::Gather),
                Ok("cpu") => Some(Kernels::Cpu),
                Ok("backend") => Some(Kernels::Backend),
                _ => None,
            });
            if let Some(k) = chosen {
                return *k;
            }
        }
        if B::name(device).contains("ndarray") {
            Kernels::Cpu
        } else if cfg!(target_arch = "wasm32") {
            Kernels::Matmul
        } else {
            Kernels::Backend
        }
    }
}

/// Output side of a valid convolution: `(h − k)/s + 1`.
fn conv_side(h: usize, k: usize, stride: usize) -> usize {
    (h - k) / stride + 1
}

/// Output side of a transposed convolution: `(h − 1)s + k + out_pad`.
fn transposed_side(h: usize, k: usize, stride: usize, out_pad: usize) -> usize {
    (h - 1) * stride + k + out_pad
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
    let (ho, wo) = (conv_side(h, k, stride), conv_side(w, k, stride));
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
        transposed_side(h, k, stride, out_pad),
        transposed_side(w, k, stride, out_pad),
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

/// Slabs thinner than this many channels take the strided-slice form in the gather kernels
/// (see the module docs: one-channel slabs made the U-Net's first and last layers slower).
pub const GATHER_MIN_CHANNELS: usize = 8;

/// Flat pixel indices of the k² taps of every position of a `rows × cols` grid with stride
/// s into an image of width `width`, ordered (row, col, i, j):
/// `(s·row + i)·width + s·col + j`.
///
/// # Shapes
/// → `[rows·cols·k·k]`
fn tap_indices<B: Backend>(
    rows: usize,
    cols: usize,
    k: usize,
    stride: usize,
    width: usize,
    device: &B::Device,
) -> Tensor<B, 1, Int> {
    let mut v = Vec::with_capacity(rows * cols * k * k);
    for a in 0..rows {
        for b in 0..cols {
            for i in 0..k {
                for j in 0..k {
                    v.push(((stride * a + i) * width + stride * b + j) as i64);
                }
            }
        }
    }
    let len = v.len();
    Tensor::from_data(TensorData::new(v, [len]), device)
}

/// [`conv2d`] as one gather and one GEMM: channels-last `x` `[n, h·w, c]`, the taps of all
/// output pixels selected at once (`[n, ho·wo·k·k, c]`, which is already the column matrix
/// `[n·ho·wo, k·k·c]`), times the weight permuted to `(i, j, c) × o`. Inputs with fewer than
/// [`GATHER_MIN_CHANNELS`] channels use [`conv2d`].
///
/// # Shapes
/// `x: [n, c, h, w]`, `weight: [o, c, k, k]` → `[n, o, (h−k)/s+1, (w−k)/s+1]`
pub fn conv2d_gather<B: Backend>(
    x: Tensor<B, 4>,
    weight: Tensor<B, 4>,
    stride: usize,
) -> Tensor<B, 4> {
    let [n, c, h, w] = x.dims();
    if c < GATHER_MIN_CHANNELS {
        return conv2d(x, weight, stride);
    }
    let [o, _, k, _] = weight.dims();
    let (ho, wo) = (conv_side(h, k, stride), conv_side(w, k, stride));
    let taps = tap_indices::<B>(ho, wo, k, stride, w, &x.device());
    let cols = x
        .permute([0, 2, 3, 1])
        .reshape([n, h * w, c])
        .select(1, taps) // [n, ho·wo·k·k, c]
        .reshape([n * ho * wo, k * k * c]);
    let wm = weight.permute([2, 3, 1, 0]).reshape([k * k * c, o]); // [(i, j, c), o]
    cols.matmul(wm) // [n·ho·wo, o]
        .reshape([n, ho, wo, o])
        .permute([0, 3, 1, 2])
}

/// [`conv_transpose2d`] as one GEMM and one scatter-add: every input pixel's contribution
/// to its k² output taps, `[n·h·w, c] × [c, (i, j, o)]`, added into a zero channels-last
/// output `[n, ho·wo, o]` at the taps' flat indices. Outputs with fewer than
/// [`GATHER_MIN_CHANNELS`] channels use [`conv_transpose2d`].
///
/// # Shapes
/// `x: [n, c, h, w]`, `weight: [c, o, k, k]` → `[n, o, (h−1)s + k + out_pad, (w−1)s + k + out_pad]`
pub fn conv_transpose2d_gather<B: Backend>(
    x: Tensor<B, 4>,
    weight: Tensor<B, 4>,
    stride: usize,
    out_pad: usize,
) -> Tensor<B, 4> {
    let [n, c, h, w] = x.dims();
    let [_, o, k, _] = weight.dims();
    if o < GATHER_MIN_CHANNELS {
        return conv_transpose2d(x, weight, stride, out_pad);
    }
    let (ho, wo) = (
        transposed_side(h, k, stride, out_pad),
        transposed_side(w, k, stride, out_pad),
    );
    let device = x.device();
    let contributions = x
        .permute([0, 2, 3, 1])
        .reshape([n * h * w, c])
        .matmul(weight.permute([0, 2, 3, 1]).reshape([c, k * k * o])) // [n·h·w, (i, j, o)]
        .reshape([n, h * w * k * k, o]);
    Tensor::<B, 3>::zeros([n, ho * wo, o], &device)
        .select_assign(
            1,
            tap_indices::<B>(h, w, k, stride, wo, &device),
            contributions,
            IndexingUpdateOp::Add,
        )
        .reshape([n, ho, wo, o])
        .permute([0, 3, 1, 2])
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, NdArray};
    use burn::tensor::module::{conv2d as burn_conv2d, conv_transpose2d as burn_tconv};
    use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
    use burn::tensor::{Distribution, Tolerance};

    type B = NdArray<f32>;
    type AB = Autodiff<B>;

    /// Channel counts on both sides of [`GATHER_MIN_CHANNELS`], so the gather kernels are
    /// tested in both of their forms.
    const CHANNELS: [usize; 2] = [3, GATHER_MIN_CHANNELS + 1];

    fn assert_close<const D: usize>(ours: Tensor<AB, D>, theirs: Tensor<AB, D>, tol: f32) {
        assert_eq!(ours.dims(), theirs.dims());
        ours.into_data()
            .assert_approx_eq::<f32>(&theirs.into_data(), Tolerance::absolute(tol));
    }

    /// Value, input gradient and weight gradient of `f(x, w)` against burn's, for a loss
    /// `Σ y²` (so the backward pass sees a non-constant upstream gradient).
    fn check_against<F, G>(x: Tensor<AB, 4>, w: Tensor<AB, 4>, ours: F, theirs: G)
    where
        F: Fn(Tensor<AB, 4>, Tensor<AB, 4>) -> Tensor<AB, 4>,
        G: Fn(Tensor<AB, 4>, Tensor<AB, 4>) -> Tensor<AB, 4>,
    {
        let (x, w) = (x.require_grad(), w.require_grad());
        let (y1, y2) = (ours(x.clone(), w.clone()), theirs(x.clone(), w.clone()));
        let g1 = y1.clone().powi_scalar(2).sum().backward();
        let g2 = y2.clone().powi_scalar(2).sum().backward();
        assert_close(y1, y2, 1e-4);
        let (gx1, gx2) = (x.grad(&g1).unwrap(), x.grad(&g2).unwrap());
        let (gw1, gw2) = (w.grad(&g1).unwrap(), w.grad(&g2).unwrap());
        gx1.into_data()
            .assert_approx_eq::<f32>(&gx2.into_data(), Tolerance::absolute(1e-3));
        gw1.into_data()
            .assert_approx_eq::<f32>(&gw2.into_data(), Tolerance::absolute(1e-3));
    }

    #[test]
    fn conv2d_matches_burn_in_value_and_gradients() {
        let d = Default::default();
        for c in CHANNELS {
            for stride in [1, 2] {
                let x = Tensor::<AB, 4>::random([2, c, 12, 11], Distribution::Normal(0., 1.), &d);
                let w = Tensor::<AB, 4>::random([5, c, 3, 3], Distribution::Normal(0., 1.), &d);
                let theirs = |x, w| {
                    burn_conv2d(
                        x,
                        w,
                        None,
                        ConvOptions::new([stride, stride], [0, 0], [1, 1], 1),
                    )
                };
                check_against(x.clone(), w.clone(), |x, w| conv2d(x, w, stride), theirs);
                check_against(x, w, |x, w| conv2d_gather(x, w, stride), theirs);
            }
        }
    }

    #[test]
    fn conv_transpose2d_matches_burn_in_value_and_gradients() {
        let d = Default::default();
        for o in CHANNELS {
            for (stride, pad) in [(1, 0), (2, 0), (2, 1)] {
                let x = Tensor::<AB, 4>::random([2, 4, 5, 6], Distribution::Normal(0., 1.), &d);
                let w = Tensor::<AB, 4>::random([4, o, 3, 3], Distribution::Normal(0., 1.), &d);
                let theirs = |x, w| {
                    burn_tconv(
                        x,
                        w,
                        None,
                        ConvTransposeOptions::new([stride, stride], [0, 0], [pad, pad], [1, 1], 1),
                    )
                };
                check_against(
                    x.clone(),
                    w.clone(),
                    |x, w| conv_transpose2d(x, w, stride, pad),
                    theirs,
                );
                check_against(
                    x,
                    w,
                    |x, w| conv_transpose2d_gather(x, w, stride, pad),
                    theirs,
                );
            }
        }
    }
}
