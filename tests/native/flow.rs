//! Flow matching on the linear path `x_t = (1 − t) x₀ + t z` (Lipman et al. 2023; Liu et al.
//! 2023) against the oracle: under the linear path a mixture stays a mixture, so the samplers
//! and the likelihood are checked with the exact score as under VE/VP/sub-VP, and a velocity
//! network trained by flow matching is checked against the exact velocity
//! `E[z − x₀ | x_t] = −(x + t s)/(1 − t)`.

use crate::common::*;
use burn::tensor::Tensor;
use scorelab::app::checkpoint::{checkpoint_bytes, training_manifest};
use scorelab::likelihood::{log_likelihood, Estimator, LikelihoodConfig, Prior};
use scorelab::model::gmm::ExactGmm;
use scorelab::model::net::NetScore;
use scorelab::model::presets::preset;
use scorelab::model::ScoreModel;
use scorelab::rng::Noise;
use scorelab::sample::Sampler;
use scorelab::sde::Sde;
use scorelab::tensor::{host_tensor, read_f64};
use scorelab::train::fisher::{fisher_divergence, velocity_error};
use scorelab::train::loss::{check_objective, loss_with};
use scorelab::train::{Draws, Objective, TrainConfig, Trainer};
use scorelab::weights::Architecture;

type AB = scorelab::CpuBackend<f32>;
type IB = burn::backend::NdArray<f32>;

const PRESETS: [&str; 3] = ["ring8", "anisotropic3", "grid25"];

/// Every sampler defined on the linear path reproduces three mixtures from t = 1 − 10⁻³
/// with the exact score: the ODE with RK45 and with Heun's and Euler's steps (rectified
/// flow's samplers), the reverse SDE (Euler–Maruyama; reverse diffusion with the Langevin
/// corrector), DDIM, EDM and DPM-Solver++(2M) through the noise level σ = t/(1 − t).
#[test]
fn samplers_on_the_linear_path_match_the_mixture() {
    let sde = Sde::Linear;
    for json in [
        r#"{"kind":"ode"}"#,
        r#"{"kind":"ode","solver":"heun","steps":100}"#,
        r#"{"kind":"ode","solver":"euler","steps":500}"#,
        r#"{"kind":"em","steps":1000}"#,
        r#"{"kind":"pc","steps":500}"#,
        r#"{"kind":"ddim","steps":200}"#,
        r#"{"kind":"edm","steps":25}"#,
        r#"{"kind":"dpmpp-2m","steps":50}"#,
    ] {
        let c = cfg(json);
        for (pi, p) in PRESETS.iter().enumerate() {
            let gmm = preset(p).unwrap();
            let (x, info) = run(&gmm, sde, &c, 2000, 100 + pi as u64, false);
            assert!(info.done);
            assert_matches(&format!("{json} on {p} / linear"), &gmm, &x);
        }
    }
    // DDPM's ancestral step needs m² + v = 1: refused, naming the field
    let e = Sampler::<IB>::new(
        &cfg(r#"{"kind":"pc","predictor":"ancestral"}"#),
        sde,
        10,
        2,
        0,
        false,
        &Default::default(),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        e.starts_with("invalid sampler.predictor") && e.contains("linear"),
        "{e}"
    );
}

/// On the linear path DDIM (η = 0, time schedule) is Euler's method on `dx/dt = v`, step
/// for step: `x/m` moves along `dy/dσ = (y − D)/σ` by Euler in σ = t/(1 − t), and with
/// `m = 1 − t` that is the same affine update as Euler in t (rectified flow's sampler).
#[test]
fn ddim_is_rectified_flows_euler_on_the_linear_path() {
    let gmm = preset("anisotropic3").unwrap();
    for steps in [10, 50] {
        let (a, _) = run64(
            &gmm,
            Sde::Linear,
            &cfg(&format!(r#"{{"kind":"ddim","steps":{steps}}}"#)),
            500,
            7,
        );
        let (b, _) = run64(
            &gmm,
            Sde::Linear,
            &cfg(&format!(
                r#"{{"kind":"ode","solver":"euler","steps":{steps}}}"#
            )),
            500,
            7,
        );
        let gap = max_gap(&a, &b);
        assert!(gap < 1e-9, "{steps} steps: {gap}");
    }
}

/// The probability-flow likelihood on the linear path equals the closed-form log p_ε (the
/// model's own p_T at T = 1 − 10⁻³), to the solver's tolerance.
#[test]
fn likelihood_on_the_linear_path_matches_the_closed_form() {
    let device = Default::default();
    let sde = Sde::Linear;
    for name in ["ring8", "anisotropic3"] {
        let gmm = preset(name).unwrap();
        let model = ExactGmm::<B64>::new(gmm.clone(), sde, &device);
        let x = gmm.sample(20, Noise::new(3).rng());
        let exact = gmm.log_prob_host(&sde, 1e-5, &x);
        let cfg = LikelihoodConfig {
            estimator: Estimator::Exact,
            rtol: 1e-7,
            atol: 1e-7,
            prior: Prior::Model,
            ..Default::default()
        };
        let xt = host_tensor::<B64, 2>(x.clone(), [20, 2], &device);
        let r = pollster::block_on(log_likelihood(&model, &sde, xt, &cfg, 0)).unwrap();
        let err = max_gap(&r.log_p, &exact);
        assert!(err < 1e-4, "{name}: max error {err} nats");
    }
}

/// A velocity network's score hides its velocity: the ODE then integrates
/// `a x − ½ g² s` with `s` from the velocity (`std·s = −(x + (1 − t) v)`).
struct ScoreOnly<'a>(&'a NetScore<IBA>);
type IBA = B64;
impl ScoreModel<IBA> for ScoreOnly<'_> {
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn score(&self, x: Tensor<IBA, 2>, t: f64) -> Tensor<IBA, 2> {
        self.0.score(x, t)
    }
}

/// A flow-matching network trained on ring8 learns the exact velocity (its error falls
/// tenfold; against DSM on the same path, steps and seed each wins on its own loss's
/// yardstick: DSM's λ = std² leaves the large-t velocity (1 − t)² of its weight), samples the
/// mixture with Euler and Heun steps, and its likelihood by the ODE of its velocity is the
/// likelihood of its score form (same ODE, two parameterisations) and close to the exact one.
#[test]
fn flow_matching_learns_the_velocity_and_samples_the_mixture() {
    let gmm = preset("ring8").unwrap();
    let sde = Sde::Linear;
    let device = Default::default();
    let data = gmm.sample(20_000, Noise::new(1).rng());
    let steps = 1500;
    let train = |objective: &str, network: &str| {
        let cfg = TrainConfig {
            steps,
            batch: 256,
            lr: 2e-3,
            ..Default::default()
        }
        .with_named_objective(objective)
        .unwrap();
        let arch = Architecture::named(network, 2).unwrap();
        let mut t = Trainer::<AB>::new(arch, sde, cfg, data.clone(), &device).unwrap();
        let before = err(&t.ema_score(), &gmm, &sde);
        for _ in 0..steps {
            pollster::block_on(t.step()).unwrap();
        }
        (t, before)
    };
    fn err(m: &dyn ScoreModel<IB>, gmm: &scorelab::model::gmm::Gmm, sde: &Sde) -> f64 {
        pollster::block_on(velocity_error(m, gmm, sde, 1000, 77, &Default::default())).unwrap()
    }
    let (flow, before) = train("flow-matching", "flow");
    let (dsm, _) = train("dsm", "mlp");
    let (e_flow, e_dsm) = (
        err(&flow.ema_score(), &gmm, &sde),
        err(&dsm.ema_score(), &gmm, &sde),
    );
    let fisher = |m: &dyn ScoreModel<IB>| {
        pollster::block_on(fisher_divergence(m, &gmm, &sde, 1000, 77, &device)).unwrap()
    };
    let (f_flow, f_dsm) = (fisher(&flow.ema_score()), fisher(&dsm.ema_score()));
    eprintln!(
        "velocity error: untrained {before:.3}, flow matching {e_flow:.4}, dsm {e_dsm:.4}; \
         Fisher divergence: flow matching {f_flow:.4}, dsm {f_dsm:.4}"
    );
    assert!(e_flow < before / 10.0, "{before} -> {e_flow}");
    // each objective wins on its own yardstick: flow matching on the velocity error over
    // the whole path (its loss less a constant), DSM on the λ = std² Fisher divergence (its
    // loss less a constant), which weights the velocity error by (1 − t)²
    assert!(
        e_flow < e_dsm,
        "velocity error: flow matching {e_flow} vs dsm {e_dsm}"
    );
    assert!(
        f_dsm < f_flow,
        "Fisher divergence: dsm {f_dsm} vs flow matching {f_flow}"
    );

    let model = flow.ema_score();
    for json in [
        r#"{"kind":"ode","solver":"euler","steps":100}"#,
        r#"{"kind":"ode","solver":"heun","steps":50}"#,
    ] {
        let mut s = Sampler::<IB>::new(&cfg(json), sde, 2000, 2, 3, false, &device).unwrap();
        let info = pollster::block_on(s.run(&model, |_, _| {})).unwrap();
        let x = pollster::block_on(read_f64(s.particles())).unwrap();
        let r = report(&gmm, &x);
        eprintln!(
            "{json} ({} NFE): sliced W2 {:.3} (exact-vs-exact q99 {:.3}); weights {:?}",
            info.nfe, r.sw, r.sw_q99, r.mode_weights
        );
        assert!(r.sw < 2.0 * r.sw_q99, "{json}: sliced W2 {}", r.sw);
        assert!(
            r.max_weight_error < 2.0 * r.weight_error_q99,
            "{json}: weights {:?}",
            r.mode_weights
        );
    }

    // likelihood: the velocity's ODE against the score form's ODE (f64), and the truth
    let dev64 = Default::default();
    let manifest = training_manifest(&flow, "ring8", Default::default());
    let bytes = pollster::block_on(checkpoint_bytes(&flow, &manifest, false)).unwrap();
    let file = scorelab::weights::parse(&bytes, "flow").unwrap();
    let net = NetScore::<IBA> {
        net: scorelab::weights::load_net::<IBA>(&file, "flow", &dev64).unwrap(),
        arch: file.manifest.architecture.clone(),
        sde,
        clip: None,
        class: None,
    };
    let x = gmm.sample(50, Noise::new(5).rng());
    let lcfg = LikelihoodConfig {
        rtol: 1e-6,
        atol: 1e-6,
        ..Default::default()
    };
    let ll = |m: &dyn ScoreModel<IBA>| {
        let xt = host_tensor::<IBA, 2>(x.clone(), [50, 2], &dev64);
        pollster::block_on(log_likelihood(m, &sde, xt, &lcfg, 0))
            .unwrap()
            .log_p
    };
    let (by_velocity, by_score) = (ll(&net), ll(&ScoreOnly(&net)));
    let gap = max_gap(&by_velocity, &by_score);
    assert!(gap < 1e-3, "velocity vs score form: {gap} nats");
    let exact = gmm.log_prob_host(&sde, 1e-5, &x);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (model_ll, exact_ll) = (mean(&by_velocity), mean(&exact));
    eprintln!("mean log-likelihood: flow model {model_ll:.3}, exact {exact_ll:.3}");
    // the gap estimates KL(p ‖ p_θ) ≥ 0 of this 1500-step model (measured 0.21 nats; a
    // model whose ODE missed the density's normalisation would be off by far more)
    assert!(
        model_ll < exact_ll + 0.05 && exact_ll - model_ll < 0.35,
        "{model_ll} vs {exact_ll}"
    );
}

/// The flow-matching loss of a velocity network is DSM's (λ = std²) divided by (1 − t)²:
/// `std·s_θ + z = −(x + (1 − t) v_θ) + z = (1 − t)(z − x₀ − v_θ)` on the linear path.
#[test]
fn flow_matching_is_dsm_weighted_by_the_noise_level() {
    let device = Default::default();
    let sde = Sde::Linear;
    let arch = Architecture::named("flow", 2).unwrap();
    let net = arch.init_seeded::<IB>(3, &device);
    let x0 = preset("ring8").unwrap().sample(64, Noise::new(2).rng());
    for t in [0.1, 0.6, 0.95] {
        let draws = Draws {
            t: vec![t; 64],
            z: Noise::new(4).normal_vec(128),
            probe: None,
            labels: None,
        };
        let loss = |name: &str| {
            let cfg = TrainConfig::default().with_named_objective(name).unwrap();
            let x = host_tensor::<IB, 2>(x0.clone(), [64, 2], &device);
            pollster::block_on(read_f64(loss_with(&net, &arch, &sde, x, &cfg, &draws))).unwrap()[0]
        };
        let (fm, dsm) = (loss("flow-matching"), loss("dsm"));
        let ratio = dsm / ((1.0 - t) * (1.0 - t) * fm);
        assert!((ratio - 1.0).abs() < 1e-4, "t={t}: {dsm} vs {fm}");
    }
}

/// Flow matching needs the linear path and a velocity network: one message naming the field.
#[test]
fn flow_matching_refuses_other_paths_and_networks() {
    let cfg = TrainConfig::default()
        .with_named_objective("flow-matching")
        .unwrap();
    assert_eq!(cfg.objective, Objective::FlowMatching);
    let flow = Architecture::named("flow", 2).unwrap();
    let e = check_objective(&cfg, &flow, &Sde::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("invalid sde: flow-matching is defined on the linear path"),
        "{e}"
    );
    assert!(e.contains("accepted: linear, got vp"), "{e}");
    let mlp = Architecture::named("mlp", 2).unwrap();
    let e = check_objective(&cfg, &mlp, &Sde::Linear)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("invalid model: flow-matching trains a velocity network"),
        "{e}"
    );
    assert!(e.contains("flow, unet-flow, got mlp"), "{e}");
    assert!(check_objective(&cfg, &flow, &Sde::Linear).is_ok());
    // a velocity network may still be trained by DSM (its scaled score is −(x + (1 − t) v))
    let dsm = TrainConfig::default();
    assert!(check_objective(&dsm, &flow, &Sde::Linear).is_ok());
    assert_eq!(
        Architecture::named("unet-flow", 784).unwrap().name(),
        "unet-flow"
    );
}

/// Every objective trains on the linear path with finite losses, its discrete-time ones too
/// (DDPM's t = N/N = 1 and the NCSN ladder's σ(1) would be infinite there: both stop at
/// t_max), and the noise-conditional network's ln σ(t) input stays finite.
#[test]
fn every_objective_trains_on_the_linear_path() {
    let data = preset("ring8").unwrap().sample(2000, Noise::new(1).rng());
    for (objective, network) in [
        ("dsm", "mlp"),
        ("dsm-likelihood-is", "mlp"),
        ("ssm", "mlp"),
        ("ism", "energy"),
        ("ncsn", "ncsn"),
        ("ddpm", "eps"),
        ("ddpm", "ncsn"),
        ("dsm", "flow"),
        ("flow-matching", "flow"),
    ] {
        let cfg = TrainConfig {
            steps: 30,
            batch: 64,
            ..Default::default()
        }
        .with_named_objective(objective)
        .unwrap();
        let arch = Architecture::named(network, 2).unwrap();
        let mut t =
            Trainer::<AB>::new(arch, Sde::Linear, cfg, data.clone(), &Default::default()).unwrap();
        for _ in 0..30 {
            let loss = pollster::block_on(t.step()).unwrap();
            assert!(loss.is_finite(), "{objective} / {network}: loss {loss}");
        }
    }
}
