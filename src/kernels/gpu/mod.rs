//! GPU kernels for the hot paths (issue 19, item 2): the samplers' update as single kernels,
//! the U-Net blocks' `SiLU(GroupNorm(h + e))` with its gradient ([`norm_silu`]), and the toy
//! MLP's `SiLU(x·W + b)` layers, the first with its Fourier features ([`linear_silu`]).
//!
//! The samplers' update:
//!
//! What: a predictor's update `x' = c₀·x + c₁·s + c₂·z` ([`affine3`]) and the Langevin
//! corrector's step at a target signal-to-noise ratio r ([`langevin_corrector`], Song et al.
//! 2021, Algorithm 5, SCIENCE.md):
//!
//! ```text
//! ε = 2α (r ‖z‖ / ‖s‖)²   (‖·‖: the batch mean of the per-sample norms),
//! x' = x + ε s + √(2ε) z.
//! ```
//!
//! Why: composed from burn's tensor operations, the corrector is two row-norm reductions,
//! two means, the step size on one-element tensors and the update: 13 kernel launches per
//! corrector step on wgpu with burn's fusion, and the predictor's update 2, against one
//! score evaluation of the toy MLP of ~8. Here each is one launch. The corrector runs as one
//! cube (256 threads): its threads reduce both norms through shared memory and then write
//! the update, so the step size never leaves the GPU.
//!
//! How: the kernels ([`update`]) are CubeCL, compiled to WGSL/SPIR-V for wgpu and to CUDA.
//! The generic callers hold `Tensor<B, 2>` for any backend `B`; [`affine3`] and
//! [`langevin_corrector`] compare `B` with the native GPU backends by `TypeId` (as the CPU
//! operations do, `kernels::cpu_ops`), and on a match register the kernel with burn's fusion
//! stream as a custom operation (its inputs and output are fusion tensors, so the fuser
//! schedules around it; burn-vision registers its kernels the same way). On any other
//! backend, and in builds without `wgpu`/`cuda`, they return `None`. The wasm module's
//! WebGPU backend takes the composition (the page's tests cover it). `SCORELAB_FUSE=off`
//! turns these kernels off, as it does the CPU's fused operations.
//!
//! The tests (`tests/native/backends.rs`) compare both with the composition on lavapipe.

use burn::tensor::{backend::Backend, Tensor};

#[cfg(all(any(feature = "wgpu", feature = "cuda"), not(target_arch = "wasm32")))]
mod fusion;
#[cfg(all(any(feature = "wgpu", feature = "cuda"), not(target_arch = "wasm32")))]
mod launch;
#[cfg(all(any(feature = "wgpu", feature = "cuda"), not(target_arch = "wasm32")))]
mod linear_silu;
#[cfg(all(any(feature = "wgpu", feature = "cuda"), not(target_arch = "wasm32")))]
pub mod linear_silu_kernels;
#[cfg(all(any(feature = "wgpu", feature = "cuda"), not(target_arch = "wasm32")))]
mod norm_silu;
#[cfg(all(any(feature = "wgpu", feature = "cuda"), not(target_arch = "wasm32")))]
pub mod norm_silu_kernels;
#[cfg(all(any(feature = "wgpu", feature = "cuda"), not(target_arch = "wasm32")))]
pub mod update;

/// `c₀·x + c₁·s + c₂·z` as one kernel on a native GPU backend; `None` elsewhere.
///
/// # Shapes
/// `x, s, z: [n, d]` → `[n, d]`
pub fn affine3<B: Backend>(
    x: &Tensor<B, 2>,
    s: &Tensor<B, 2>,
    z: &Tensor<B, 2>,
    c: [f64; 3],
) -> Option<Tensor<B, 2>> {
    #[cfg(all(any(feature = "wgpu", feature = "cuda"), not(target_arch = "wasm32")))]
    {
        if crate::kernels::cpu_ops::fusion_enabled() {
            return launch::affine3(x, s, z, c.map(|v| v as f32));
        }
    }
    let _ = (x, s, z, c);
    None
}

/// One Langevin corrector step, `x + ε s + √(2ε) z` with `ε = coef · (‖z‖/‖s‖)²` and
/// `coef = 2α r²` (module docs; `‖s‖` floored at 1e-30), as one kernel on a native GPU
/// backend; `None` elsewhere.
///
/// # Shapes
/// `x, s, z: [n, d]` → `[n, d]`
pub fn langevin_corrector<B: Backend>(
    x: &Tensor<B, 2>,
    s: &Tensor<B, 2>,
    z: &Tensor<B, 2>,
    coef: f64,
) -> Option<Tensor<B, 2>> {
    #[cfg(all(any(feature = "wgpu", feature = "cuda"), not(target_arch = "wasm32")))]
    {
        if crate::kernels::cpu_ops::fusion_enabled() {
            return launch::langevin(x, s, z, coef as f32);
        }
    }
    let _ = (x, s, z, coef);
    None
}

/// `SiLU(GroupNorm(h + e))` (`e` broadcast over the image) as two kernels, forward and
/// backward, on a native GPU backend with or without autodiff ([`norm_silu`]'s docs);
/// `None` elsewhere.
///
/// # Shapes
/// `h: [n, c, H, W]`, `e: [n, c]`, `gamma, beta: [c]` → `[n, c, H, W]`
pub fn norm_silu<B: Backend>(
    h: &Tensor<B, 4>,
    e: &Tensor<B, 2>,
    gamma: &Tensor<B, 1>,
    beta: &Tensor<B, 1>,
    groups: usize,
    eps: f64,
) -> Option<Tensor<B, 4>> {
    #[cfg(all(any(feature = "wgpu", feature = "cuda"), not(target_arch = "wasm32")))]
    {
        if crate::kernels::cpu_ops::fusion_enabled() {
            return norm_silu::norm_silu(h, e, gamma, beta, groups, eps);
        }
    }
    let _ = (h, e, gamma, beta, groups, eps);
    None
}

/// `SiLU(h·W + b)` with `h = x`, or for the MLP's first layer `h = [x, sin 2πtw, cos 2πtw]`
/// (`fourier = Some((t, w))`), as one forward kernel on a native GPU backend with or
/// without autodiff ([`linear_silu`]'s docs: the gradient uses burn's matmuls); `None`
/// elsewhere.
///
/// # Shapes
/// `x: [n, d]`, `fourier: ([n, 1], [F])`, `weight: [d + 2F, out]`, `bias: [out]` → `[n, out]`
pub fn linear_silu<B: Backend>(
    x: &Tensor<B, 2>,
    fourier: Option<(&Tensor<B, 2>, &Tensor<B, 1>)>,
    weight: &Tensor<B, 2>,
    bias: &Tensor<B, 1>,
) -> Option<Tensor<B, 2>> {
    #[cfg(all(any(feature = "wgpu", feature = "cuda"), not(target_arch = "wasm32")))]
    {
        if crate::kernels::cpu_ops::fusion_enabled() {
            return linear_silu::linear_silu(x, fourier, weight, bias);
        }
    }
    let _ = (x, fourier, weight, bias);
    None
}
