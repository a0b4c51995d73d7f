//! The dispatch budget (issue 19): kernel launches per training step and per sampler step
//! of the toy MLP and the notebook U-Net on native wgpu (lavapipe in CI). A count, unlike a
//! time, is the same on every machine, so it is a test. Its own test binary: cubecl's
//! launch log is configured once per process (`scorelab::dispatch`).
#![cfg(all(feature = "wgpu", not(target_arch = "wasm32")))]

use burn::backend::{Autodiff, Wgpu};
use scorelab::dispatch::{count_workload, LaunchCounter};

/// Launches per step (training, sampler) measured with burn's fusion off (2026-12-06, this
/// test's workloads, lavapipe; commit "Dispatch counter"). The goal is a third.
const BEFORE: [(&str, f64, f64); 2] = [("toy MLP", 297.0, 84.0), ("U-Net", 2241.0, 802.0)];

#[test]
fn kernel_launches_per_step_stay_within_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let counter = LaunchCounter::install(&dir.path().join("launches.log")).unwrap();
    let device = Default::default();
    for (unet, (name, train_before, sample_before)) in [false, true].into_iter().zip(BEFORE) {
        let c = pollster::block_on(count_workload::<Autodiff<Wgpu>>(&counter, unet, 4, &device))
            .unwrap();
        println!(
            "{name}: {:.1} launches per training step (before fusion {train_before}), {:.1} per sampler step (before {sample_before})",
            c.train_step, c.sampler_step
        );
        assert!(
            c.train_step > 0.0 && c.sampler_step > 0.0,
            "{name}: nothing counted"
        );
        // The budget: a third of the counts before. Measured (2026-12-06, lavapipe,
        // `cargo run --release --features wgpu --example launches`): burn's fusion alone
        // MLP 126 / 37, U-Net 1,402 / 611; with the GPU path's Adam as one fused chain per
        // parameter, burn's own convolutions natively and the samplers' update kernels
        // (`scorelab::kernels::gpu`): MLP 76 / 20, U-Net 510 / 188; with the GroupNorm +
        // SiLU and Linear + SiLU kernels, MLP 72 / 10, U-Net 370 / 126 (MLP 4.1x / 8.4x,
        // U-Net 6.1x / 6.4x fewer than before). The budget leaves room for autotune choosing kernels of other launch
        // counts on other machines.
        let (train_budget, sample_budget) = (train_before / 3.0, sample_before / 3.0);
        assert!(
            c.train_step <= train_budget && c.sampler_step <= sample_budget,
            "{name}: {} / {} launches per training / sampler step, budget {train_budget} / {sample_budget}",
            c.train_step,
            c.sampler_step
        );
    }
}
