//! Hand-written kernels: operations written out for one kind of backend because burn's
//! composition of them costs too much there.
//!
//! - [`gpu`]: CubeCL kernels for the native GPU backends (wgpu on Vulkan/Metal/DX12, CUDA),
//!   where a step of a small model is bound by kernel launches (`src/dispatch.rs` counts
//!   them): the samplers' update, the U-Net's GroupNorm + SiLU and the MLP's Linear + SiLU
//!   (both with their gradients). Each returns `None` on every other backend, whose caller
//!   then composes burn's tensor operations (the reference the tests compare against).
//!
//! - The layers' front doors, generic over the backend: [`conv`] (convolutions as matrix
//!   products, and which implementation a backend takes: [`conv::Kernels`]), [`norm_silu`]
//!   (GroupNorm + SiLU), [`linear_silu`] (Linear + SiLU), [`activation`] (SiLU at one `exp`).
//!   Each runs the CPU backend's own operation where `B` is burn's ndarray backend in f32, a
//!   [`gpu`] kernel on the native GPU backends, else burn's composition.
//! - The CPU backend's own operations: [`cpu_conv`] (im2col gather, one SGEMM, col2im
//!   scatter), the CPU halves of [`norm_silu`] and [`linear_silu`], and what they share in
//!   [`cpu_ops`] (reaching burn's concrete CPU tensors, channels-last buffers, per-sample
//!   threads, the GEMM: `matrixmultiply` natively, [`sgemm`] in the wasm build).
//! - [`adam`]: the trainer's optimiser (Adam with per-parameter clipping) and EMA, one pass
//!   per parameter on the CPU, one fused chain elsewhere.
//!
//! The score models (`crate::model`) call these; nothing here knows a model.

pub mod activation;
pub mod adam;
pub mod conv;
pub mod cpu_conv;
pub(crate) mod cpu_ops;
pub mod gpu;
pub mod linear_silu;
pub mod norm_silu;
// Native builds use matrixmultiply; the portable form is there for the tests (public for
// the Chromium test of the SIMD form).
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub mod sgemm;
