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
        // With burn's fusion (2026-12-06, lavapipe): MLP 126 / 37, U-Net 1,402 / 611, i.e.
        // 2.4x / 2.3x and 1.6x / 1.3x fewer. The 3x needs hand-written kernels
        // (GroupNorm + SiLU, Linear + SiLU, the sampler update). Until then the budget sits
        // between the fused counts (with room: autotune may pick kernels of other launch
        // counts on other machines) and the unfused ones, so losing fusion fails the test.
        let (train_budget, sample_budget) = if unet { (1800.0, 720.0) } else { (170.0, 50.0) };
        assert!(
            c.train_step <= train_budget && c.sampler_step <= sample_budget,
            "{name}: {} / {} launches per training / sampler step, budget {train_budget} / {sample_budget}",
            c.train_step,
            c.sampler_step
        );
    }
}
