//! Probability-flow likelihood against the mixture's closed-form log-density (f64 backend).

use crate::common::*;
use burn::tensor::Tensor;
use scorelab::likelihood::{log_likelihood, Estimator, LikelihoodConfig, Prior, Probe};
use scorelab::model::clip::DenoiserClip;
use scorelab::model::gmm::{ExactGmm, Gmm};
use scorelab::model::presets::preset;
use scorelab::model::ScoreModel;
use scorelab::rng::Noise;
use scorelab::sde::Sde;
use scorelab::tensor::host_tensor;

fn exact_cfg(tol: f64) -> LikelihoodConfig {
    LikelihoodConfig {
        estimator: Estimator::Exact,
        rtol: tol,
        atol: tol,
        prior: Prior::Model,
        ..Default::default()
    }
}

#[test]
fn exact_divergence_matches_the_closed_form_density() {
    let device = Default::default();
    for name in ["ring8", "anisotropic3", "two-modes"] {
        let gmm = preset(name).unwrap();
        for sde in sdes() {
            let model = ExactGmm::<B64>::new(gmm.clone(), sde, &device);
            let x = gmm.sample(20, Noise::new(3).rng());
            let exact = gmm.log_prob_host(&sde, 1e-5, &x);
            let mut errs = vec![];
            for tol in [1e-5, 1e-8] {
                let xt = host_tensor::<B64, 2>(x.clone(), [20, 2], &device);
                let r = pollster::block_on(log_likelihood(&model, &sde, xt, &exact_cfg(tol), 0))
                    .unwrap();
                let err = r
                    .log_p
                    .iter()
                    .zip(&exact)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f64::max);
                errs.push(err);
                assert_eq!(
                    r.score_evals,
                    2 * r.nfe,
                    "exact divergence: d forward passes per evaluation"
                );
            }
            assert!(
                errs[0] < 1e-2,
                "{name}/{}: max error {} nats at tol 1e-5",
                sde.name(),
                errs[0]
            );
            assert!(
                errs[1] < 1e-5 && errs[1] < errs[0] / 10.0,
                "{name}/{}: {:?}",
                sde.name(),
                errs
            );
        }
    }
}

#[test]
fn sde_prior_is_close_when_the_prior_covers_p1() {
    // With the SDE's own prior (what a trained model has), VP's N(0, I) matches p_1 of the
    // centred ring up to its mean scale m(1) ≈ 0.007: errors stay small.
    let device = Default::default();
    let gmm = preset("ring8").unwrap();
    let sde = scorelab::sde::Sde::from_name("vp").unwrap();
    let model = ExactGmm::<B64>::new(gmm.clone(), sde, &device);
    let x = gmm.sample(20, Noise::new(4).rng());
    let exact = gmm.log_prob_host(&sde, 1e-5, &x);
    let cfg = LikelihoodConfig {
        prior: Prior::Sde,
        ..exact_cfg(1e-6)
    };
    let r = pollster::block_on(log_likelihood(
        &model,
        &sde,
        host_tensor::<B64, 2>(x, [20, 2], &device),
        &cfg,
        0,
    ))
    .unwrap();
    let err = r
        .log_p
        .iter()
        .zip(&exact)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(err < 2e-2, "max error {err}");
}

#[test]
fn hutchinson_is_unbiased() {
    // One point replicated R times: each row gets its own probe (fixed over the solve), so the
    // rows are R independent estimates. Their mean is within 3 standard errors of the exact
    // log-density, and the spread is real (not the exact divergence in disguise).
    let device = Default::default();
    let gmm = preset("anisotropic3").unwrap();
    let reps = 400;
    for sde in sdes() {
        for probe in [Probe::Gaussian, Probe::Rademacher] {
            let model = ExactGmm::<B64>::new(gmm.clone(), sde, &device);
            let point = [-3.0, -1.5];
            let x: Vec<f64> = (0..reps).flat_map(|_| point).collect();
            let exact = gmm.log_prob_host(&sde, 1e-5, &point)[0];
            let cfg = LikelihoodConfig {
                estimator: Estimator::Hutchinson,
                probe,
                probes: 1,
                rtol: 1e-6,
                atol: 1e-6,
                prior: Prior::Model,
                ..Default::default()
            };
            let r = pollster::block_on(log_likelihood(
                &model,
                &sde,
                host_tensor::<B64, 2>(x, [reps, 2], &device),
                &cfg,
                42,
            ))
            .unwrap();
            let mean = r.log_p.iter().sum::<f64>() / reps as f64;
            let sd = (r.log_p.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (reps - 1) as f64)
                .sqrt();
            let se = sd / (reps as f64).sqrt();
            assert!(
                sd > 1e-3,
                "{}/{probe:?}: estimates do not vary (sd {sd})",
                sde.name()
            );
            assert!(
                (mean - exact).abs() < 3.0 * se,
                "{}/{probe:?}: mean {mean} vs exact {exact} (se {se})",
                sde.name()
            );
        }
    }
}

#[test]
fn bad_likelihood_settings_are_rejected() {
    let device = Default::default();
    let gmm = preset("ring8").unwrap();
    let sde = scorelab::sde::Sde::from_name("vp").unwrap();
    let model = ExactGmm::<B64>::new(gmm, sde, &device);
    let x = host_tensor::<B64, 2>(vec![0.0; 6], [2, 3], &device);
    let e = pollster::block_on(log_likelihood(&model, &sde, x, &exact_cfg(1e-5), 0)).unwrap_err();
    assert!(e.to_string().contains("3 columns"), "{e}");
    let x = host_tensor::<B64, 2>(vec![0.0; 4], [2, 2], &device);
    let e = pollster::block_on(log_likelihood(
        &model,
        &sde,
        x,
        &LikelihoodConfig {
            rtol: 0.0,
            ..exact_cfg(1e-5)
        },
        0,
    ))
    .unwrap_err();
    assert!(e.to_string().starts_with("invalid rtol"), "{e}");
}

/// The exact mixture with its denoiser clipped to a box (what image models use). With
/// `wrong_divergence` the clip's correction is detached: the same field, but autodiff then
/// differentiates it as if there were no clip.
struct Clipped {
    inner: ExactGmm<B64>,
    clip: DenoiserClip,
    sde: Sde,
    wrong_divergence: bool,
}

impl ScoreModel<B64> for Clipped {
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn score(&self, x: Tensor<B64, 2>, t: f64) -> Tensor<B64, 2> {
        let s = self.inner.score(x.clone(), t);
        let c = self.clip.apply(s.clone(), x, &self.sde, t);
        if self.wrong_divergence {
            s.clone() + (c - s).detach()
        } else {
            c
        }
    }
}

#[test]
fn a_clipped_denoiser_still_defines_a_normalised_density() {
    // 1-D mixture at 0.25 and 0.75 (std 0.1) with its denoiser clipped to [0.3, 0.7]: most
    // of the mass has D outside the box, so the flow changes a lot, and the density it
    // defines must still integrate to 1 (clip's zero derivative outside the box enters the
    // divergence). The clipped flow's Jacobian jumps where trajectories cross the box's edge,
    // so the density has jumps and the trapezoid rule is only O(h·jump) there: at ε = 0.05
    // and step 1e-3 over [-1.5, 2.5] that stays under the tolerance 1e-2 (at ε = 1e-2 and
    // step 2e-3 the clipped VE mass read 1.043; at step 2.5e-4 it passed). The raw mixture is
    // the control; the same field with the clip's derivative left out of the divergence must
    // miss by more than 5e-2, or this test could not tell.
    let device = Default::default();
    let gmm = Gmm::from_json(r#"{"weights":[0.5,0.5],"means":[[0.25],[0.75]],"covs":[0.01,0.01]}"#)
        .unwrap();
    let n = 4001;
    let h = 4.0 / (n - 1) as f64;
    let grid: Vec<f64> = (0..n).map(|i| -1.5 + h * i as f64).collect();
    let clip = DenoiserClip { lo: 0.3, hi: 0.7 };
    for sde in sdes() {
        let cfg = LikelihoodConfig {
            prior: Prior::Sde,
            t_end: 0.05,
            ..exact_cfg(1e-7)
        };
        let raw = ExactGmm::<B64>::new(gmm.clone(), sde, &device);
        let clipped = |wrong_divergence| Clipped {
            inner: ExactGmm::<B64>::new(gmm.clone(), sde, &device),
            clip,
            sde,
            wrong_divergence,
        };
        let (right, wrong) = (clipped(false), clipped(true));
        let mut masses = vec![];
        let mut logs = vec![];
        for model in [&raw as &dyn ScoreModel<B64>, &right, &wrong] {
            let x = host_tensor::<B64, 2>(grid.clone(), [n, 1], &device);
            let r = pollster::block_on(log_likelihood(model, &sde, x, &cfg, 0)).unwrap();
            let p: Vec<f64> = r.log_p.iter().map(|l| l.exp()).collect();
            masses.push(h * (p.iter().sum::<f64>() - 0.5 * (p[0] + p[n - 1])));
            logs.push(r.log_p);
        }
        let name = sde.name();
        eprintln!("{name}: mass raw / clipped / clip left out of the divergence {masses:?}");
        assert!((masses[0] - 1.0).abs() < 1e-2, "{name}: raw {masses:?}");
        assert!((masses[1] - 1.0).abs() < 1e-2, "{name}: clipped {masses:?}");
        assert!(
            (masses[2] - 1.0).abs() > 5e-2,
            "{name}: insensitive {masses:?}"
        );
        let moved = logs[0]
            .iter()
            .zip(&logs[1])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(
            moved > 1.0,
            "{name}: the clip changed log p by only {moved}"
        );
    }
}

#[test]
fn a_clip_that_holds_the_denoiser_changes_nothing() {
    // Inside the box s̃ = s exactly (the correction is clip(D) − D = 0).
    let device = Default::default();
    let gmm = preset("ring8").unwrap();
    for sde in sdes() {
        let inner = ExactGmm::<B64>::new(gmm.clone(), sde, &device);
        let x = host_tensor::<B64, 2>(gmm.sample(50, Noise::new(5).rng()), [50, 2], &device);
        for t in [1e-3, 0.1, 0.9] {
            let s = inner.score(x.clone(), t);
            let wide = DenoiserClip { lo: -1e3, hi: 1e3 };
            let c = wide.apply(s.clone(), x.clone(), &sde, t);
            let diff: f64 = (c - s).abs().max().into_scalar();
            assert_eq!(diff, 0.0, "{} at t={t}", sde.name());
        }
    }
}
