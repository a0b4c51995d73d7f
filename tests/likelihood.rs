//! Probability-flow likelihood against the mixture's closed-form log-density (f64 backend).

mod common;
use common::*;
use scorelab::likelihood::{log_likelihood, Estimator, LikelihoodConfig, Prior, Probe};
use scorelab::model::gmm::ExactGmm;
use scorelab::model::presets::preset;
use scorelab::rng::Noise;
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
