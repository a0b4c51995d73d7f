//! Hand-written kernels: operations written out for one kind of backend because burn's
//! composition of them costs too much there.
//!
//! - [`gpu`]: CubeCL kernels for the native GPU backends (wgpu on Vulkan/Metal/DX12, CUDA),
//!   where a step of a small model is bound by kernel launches (`src/dispatch.rs` counts
//!   them): the samplers' update, the U-Net's GroupNorm + SiLU and the MLP's Linear + SiLU
//!   (both with their gradients). Each returns `None` on every other backend, whose caller
//!   then composes burn's tensor operations (the reference the tests compare against).
//!
//! The CPU backend's own operations (convolutions, GroupNorm + SiLU, Linear + SiLU, Adam)
//! live beside the models they serve (`model::cpu_conv`, `model::norm_silu`,
//! `model::linear_silu`, `train::adam`).

pub mod gpu;
