//! The native integration tests, one test binary (`cargo test --test native`).
//!
//! Why one binary: each file directly under `tests/` is a crate of its own, linked against
//! scorelab and burn and monomorphised again for every backend it touches; with ten of
//! them a fresh clone spent most of CI's time compiling the same generic code ten times.
//! A module per subject keeps the files as they were: `cargo test --test native train::`
//! runs one of them. `tests/dispatch.rs` stays its own binary (cubecl's launch log is set
//! once per process and counts every launch in it); `tests/web.rs` and `tests/ops_bench.rs`
//! are the wasm tests (headless Chromium).
#![cfg(not(target_arch = "wasm32"))]

mod common;

mod app;
mod backends;
mod cli;
mod flow;
mod frontier;
mod guidance;
mod inpaint;
mod layering;
mod likelihood;
mod pitfall;
mod samplers;
mod sde_monte_carlo;
mod solver;
mod train;
