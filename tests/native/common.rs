//! Shared helpers for the oracle tests: run a sampler with the exact mixture score and
//! compare with exact samples of the same size.
#![allow(dead_code)]

use scorelab::model::gmm::{ExactGmm, Gmm};
use scorelab::sample::{Sampler, SamplerConfig, StepInfo};
use scorelab::sde::Sde;
use scorelab::stats::{mixture_report, MixtureReport};
use scorelab::tensor::read_f64;

/// Sampling needs no gradients: the plain CPU backend (the likelihood tests use autodiff).
pub type B = burn::backend::NdArray<f32>;
pub type B64 = scorelab::CpuBackend<f64>;

/// Run `cfg` to the end on `gmm` under `sde`; returns the particles and the last step info.
pub fn run(
    gmm: &Gmm,
    sde: Sde,
    cfg: &SamplerConfig,
    n: usize,
    seed: u64,
    denoise: bool,
) -> (Vec<f64>, StepInfo) {
    let device = Default::default();
    let model = ExactGmm::<B>::new(gmm.clone(), sde, &device);
    let mut s = Sampler::<B>::new(cfg, sde, n, gmm.dim(), seed, denoise, &device).unwrap();
    let info = pollster::block_on(s.run(&model, |_, _| {})).unwrap();
    (pollster::block_on(read_f64(s.particles())).unwrap(), info)
}

/// The report with a reference spread from 50 exact-vs-exact draws of the same size.
pub fn report(gmm: &Gmm, x: &[f64]) -> MixtureReport {
    mixture_report(gmm, x, 50, 11)
}

/// Tolerance factor over the exact-vs-exact 99th percentile: a correct sampler's statistic
/// is an exact-vs-exact draw plus the discretisation bias of a finite step count.
pub const SLACK: f64 = 1.25;

pub fn assert_matches(label: &str, gmm: &Gmm, x: &[f64]) -> MixtureReport {
    let r = report(gmm, x);
    assert_eq!(r.non_finite, 0, "{label}: non-finite particles");
    assert!(
        r.sw < SLACK * r.sw_q99,
        "{label}: sliced W2 {:.3} exceeds {SLACK} x exact-vs-exact q99 {:.3} (median {:.3})",
        r.sw,
        r.sw_q99,
        r.sw_median
    );
    assert!(
        r.max_weight_error <= SLACK * r.weight_error_q99,
        "{label}: mode weights {:?} vs {:?}: error {:.3} exceeds {SLACK} x q99 {:.3}",
        r.mode_weights,
        gmm.weights,
        r.max_weight_error,
        r.weight_error_q99
    );
    r
}

/// VE, VP and sub-VP. VE with σ_max = 100: its prior `N(0, σ_max²)` must cover the
/// off-centre two-modes preset (mean (−3,−3)) to below what n = 2000 samples resolve
/// (KL ≈ ‖E x‖²/2σ_max² ≈ 1e-3 nats); at the default 50 the ODE sampler's weights are
/// visibly skewed, which is the SDE's prior mismatch, not the sampler's error.
pub fn sdes() -> Vec<Sde> {
    vec![
        Sde::Ve {
            sigma_min: 0.01,
            sigma_max: 100.0,
        },
        Sde::from_name("vp").unwrap(),
        Sde::from_name("subvp").unwrap(),
    ]
}

pub fn cfg(json: &str) -> SamplerConfig {
    serde_json::from_str(json).unwrap()
}

/// [`run`] in double precision and without the denoising step (pointwise comparisons of
/// deterministic samplers need more than f32's digits).
pub fn run64(
    gmm: &Gmm,
    sde: Sde,
    cfg: &SamplerConfig,
    n: usize,
    seed: u64,
) -> (Vec<f64>, StepInfo) {
    let device = Default::default();
    let model = ExactGmm::<B64>::new(gmm.clone(), sde, &device);
    let mut s = Sampler::<B64>::new(cfg, sde, n, gmm.dim(), seed, false, &device).unwrap();
    let info = pollster::block_on(s.run(&model, |_, _| {})).unwrap();
    (pollster::block_on(read_f64(s.particles())).unwrap(), info)
}

/// The largest pointwise difference `max_i |a_i − b_i|` of two equally long sequences.
pub fn max_gap(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}
