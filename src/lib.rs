//! # scorelab
//!
//! Score-based generative models (Song & Ermon 2019; Song et al. 2021) as a library that
//! runs natively (the `scorelab` CLI) and in the browser (wasm + WebGPU, CPU fallback).
//!
//! Map (see ARCHITECTURE.md): [`sde`] the forward SDEs as scalars; [`model`] score models,
//! with the exact Gaussian mixture as oracle; [`sample`] samplers as state machines;
//! [`solver`] ODE steppers; [`likelihood`] the probability-flow log-density; [`config`] the
//! one settings shape; [`npy`] and [`stats`] data in and out; [`app`] what the CLI and the
//! page both do above the algorithms; `web` the JavaScript façade.

#[cfg(not(target_arch = "wasm32"))]
pub mod alloc;
pub mod app;
pub mod config;
pub mod data;
#[cfg(all(any(feature = "wgpu", feature = "cuda"), not(target_arch = "wasm32")))]
pub mod dispatch;
pub mod error;
pub mod kernels;
pub mod likelihood;
pub mod model;
pub mod npy;
pub mod registry;
pub mod rng;
pub mod sample;
pub mod sde;
pub mod solver;
pub mod stats;
pub mod tensor;
pub mod train;
pub mod weights;

#[cfg(target_arch = "wasm32")]
pub mod web;

pub use error::{Error, Result};

/// The CPU backend with autodiff (autodiff is needed for the exact divergence).
/// f32 by default; the native CLI and the likelihood tests use f64.
pub type CpuBackend<F = f32> = burn::backend::Autodiff<burn::backend::NdArray<F>>;
