//! Classifier-free guidance on the mixture oracle: the class is a component, so the
//! conditional score is exact. At w = 0 guided sampling draws the component itself (within
//! the exact-vs-exact band); w > 0 pushes the samples away from the other components, by
//! more as w grows (Ho & Salimans 2022's sharpening); a class-conditional network trained
//! with label dropout follows the exact guided samples; bad guidance is refused naming the
//! field.

use crate::common::*;
use scorelab::app::model::ModelSource;
use scorelab::app::sampling::SamplingRun;
use scorelab::config::Settings;
use scorelab::model::gmm::{Gmm, GmmSpec};
use scorelab::model::guidance::Guidance;
use scorelab::model::presets::preset;
use scorelab::tensor::read_f64;
use std::sync::Arc;

/// Two overlapping unit Gaussians at (∓1, 0), equal weights.
fn two_gaussians() -> Gmm {
    Gmm::from_spec(
        serde_json::from_str::<GmmSpec>(
            r#"{"weights":[0.5,0.5],"means":[[-1,0],[1,0]],"covs":[1,1]}"#,
        )
        .unwrap(),
    )
    .unwrap()
}

/// Particles of a run of `source` with `settings` (the CLI's and the page's path).
fn run_source(source: &ModelSource, settings: &Settings) -> Vec<f64> {
    let device = Default::default();
    let mut run = SamplingRun::<B>::new(source, settings, None, None, "model", &device).unwrap();
    pollster::block_on(run.sampler.run(run.model.as_ref(), |_, _| {})).unwrap();
    pollster::block_on(read_f64(run.sampler.particles())).unwrap()
}

/// Particles of a guided run of `sampler` on `gmm` under VP.
fn guided(gmm: &Gmm, class: usize, scale: f64, sampler: &str, n: usize, seed: u64) -> Vec<f64> {
    let settings = Settings {
        sampler: cfg(sampler),
        n,
        seed,
        guidance: Some(Guidance { class, scale }),
        ..Default::default()
    };
    run_source(&ModelSource::Exact(gmm.clone()), &settings)
}

#[test]
fn unguided_class_sampling_draws_the_component() {
    for (name, class) in [("ring8", 3), ("anisotropic3", 1)] {
        let gmm = preset(name).unwrap();
        for sampler in [r#"{"kind":"pc","steps":500}"#, r#"{"kind":"ode"}"#] {
            let x = guided(&gmm, class, 0.0, sampler, 2000, 5);
            assert_matches(
                &format!("{sampler} on {name}, class {class}, w = 0"),
                &gmm.component(class),
                &x,
            );
        }
    }
}

/// Two overlapping components at (∓1, 0), unit covariance: guiding towards the right one
/// moves the samples' mean x₁ from 1 (w = 0, the component itself) outwards as w grows.
#[test]
fn guidance_pushes_samples_away_from_the_other_classes() {
    let gmm = two_gaussians();
    let mean_x1 = |w: f64| {
        let x = guided(&gmm, 1, w, r#"{"kind":"ode"}"#, 4000, 9);
        x.iter().step_by(2).sum::<f64>() / 4000.0
    };
    let means: Vec<f64> = [0.0, 1.0, 3.0].iter().map(|w| mean_x1(*w)).collect();
    eprintln!("mean x1 at w = 0, 1, 3: {means:.3?}");
    // the standard error of a mean of 4000 unit-variance draws is 0.016
    assert!((means[0] - 1.0).abs() < 0.08, "{means:?}");
    assert!(
        means[1] > means[0] + 0.1 && means[2] > means[1] + 0.1,
        "{means:?}"
    );
}

/// A class-conditional MLP trained on the two overlapping Gaussians labelled by component
/// (DSM under VP, label dropout 0.1, 3000 steps): through the CLI's path (a weight file, the
/// settings' guidance) its guided samples' mean x₁ at w = 0, 1, 3 follows the exact guided
/// model's. The means are 0.98 / 1.59 / 2.32 exactly (the test above); their standard error
/// at n = 4000 is 0.016, so what separates network from oracle is the network's own error δ
/// in each label's score, which guidance multiplies: the guided score's error is
/// `(1 + w) δ_c − w δ_u`, up to (1 + 2w) δ. The tolerance is 0.05 (3 standard errors plus
/// the network's error at w = 0) times 1 + 2w: 0.05 / 0.15 / 0.35, each under half the exact
/// step to the next w, so a network whose null label had not been learnt (w would do
/// nothing) or whose classes were swapped fails. Its unconditional samples (the null label)
/// keep the mixture's mean and spread, and the guided score is exactly
/// `(1 + w) s(x | c) − w s(x)` of its two labels.
#[test]
fn a_conditional_network_follows_the_exact_guidance() {
    use scorelab::app::checkpoint::{checkpoint_bytes, training_manifest};
    use scorelab::app::data::TrainingData;
    use scorelab::model::net::Architecture;
    use scorelab::model::ScoreModel;
    use scorelab::sde::Sde;
    use scorelab::train::{TrainConfig, Trainer};
    type AB = scorelab::CpuBackend<f32>;
    let gmm = two_gaussians();
    let data = TrainingData::sampled(gmm.clone(), 20_000, 3);
    let labels = data.labels.clone().unwrap();
    assert_eq!(labels.classes, 2);
    let arch = Architecture::named("mlp", 2)
        .unwrap()
        .with_classes(labels.classes)
        .unwrap();
    let train_cfg = TrainConfig {
        steps: 3000,
        batch: 256,
        seed: 2,
        ..Default::default()
    };
    let device = Default::default();
    let mut t = Trainer::<AB>::labelled(
        arch,
        Sde::default(),
        train_cfg,
        data.rows,
        Some(Arc::from(labels.of_rows)),
        &device,
    )
    .unwrap();
    for _ in 0..3000 {
        pollster::block_on(t.step()).unwrap();
    }
    let manifest = training_manifest(&t, "two-gaussians", Default::default());
    let bytes = pollster::block_on(checkpoint_bytes(&t, &manifest, false)).unwrap();
    let file = Arc::new(scorelab::weights::parse(&bytes, "net").unwrap());
    let net = ModelSource::Net(file.clone());
    let settings = |guidance: Option<Guidance>| Settings {
        sampler: cfg(r#"{"kind":"ode"}"#),
        n: 4000,
        seed: 9,
        guidance,
        ..Default::default()
    };
    let mean_x1 = |x: &[f64]| x.iter().step_by(2).sum::<f64>() / (x.len() / 2) as f64;
    for (class, scale) in [(1, 0.0), (1, 1.0), (1, 3.0), (0, 0.0)] {
        let g = Some(Guidance { class, scale });
        let by_net = mean_x1(&run_source(&net, &settings(g)));
        let exact = mean_x1(&guided(&gmm, class, scale, r#"{"kind":"ode"}"#, 4000, 9));
        let tol = 0.05 * (1.0 + 2.0 * scale);
        eprintln!(
            "class {class}, w = {scale}: mean x1 {by_net:.3} (exact {exact:.3}, tolerance {tol})"
        );
        assert!(
            (by_net - exact).abs() < tol,
            "class {class}, w = {scale}: {by_net} vs {exact}"
        );
    }
    // the null label is the mixture (mean 0, variance 1 + 1 along x₁), not a class (mean ±1,
    // variance 1): the bounds lie halfway between the two. (It learns from a tenth of the
    // rows and is the least accurate: variance 2.4 in this run.)
    let x = run_source(&net, &settings(None));
    let m = mean_x1(&x);
    let var = x.iter().step_by(2).map(|v| (v - m).powi(2)).sum::<f64>() / 4000.0;
    eprintln!("unconditional: mean x1 {m:.3}, variance {var:.3} (exact 0, 2)");
    assert!(m.abs() < 0.5 && var > 1.5, "{m} {var}");
    // the guided model is the mix of the network's two labels, to rounding
    let source_w = |w: f64| {
        let s = settings(Some(Guidance { class: 1, scale: w }));
        SamplingRun::<B>::new(&net, &s, None, None, "net", &device).unwrap()
    };
    let x = burn::tensor::Tensor::<B, 2>::random(
        [16, 2],
        burn::tensor::Distribution::Normal(0.0, 2.0),
        &device,
    );
    let score =
        |w: f64| pollster::block_on(read_f64(source_w(w).model.score(x.clone(), 0.4))).unwrap();
    let (s0, s2) = (score(0.0), score(2.0));
    let mut u = scorelab::weights::load_score::<B>(&file, "net", &device).unwrap();
    u.class = None;
    let su = pollster::block_on(read_f64(u.score(x.clone(), 0.4))).unwrap();
    let mixed: Vec<f64> = s0.iter().zip(&su).map(|(c, u)| 3.0 * c - 2.0 * u).collect();
    assert!(max_gap(&s2, &mixed) < 1e-4, "{}", max_gap(&s2, &mixed));
    assert!(max_gap(&s0, &su) > 0.1, "the class changes the score");
}

#[test]
fn bad_guidance_is_refused_naming_the_field() {
    let bad = |json: &str| {
        Settings::from_json(json)
            .and_then(|s| s.validate().map(|_| s))
            .unwrap_err()
            .to_string()
    };
    let e = bad(r#"{"model":"ring8","guidance":{"class":8,"scale":1}}"#);
    assert!(e.starts_with("invalid guidance.class"), "{e}");
    assert!(e.contains("classes 0 to 7, got 8"), "{e}");
    let e = bad(r#"{"model":"ring8","guidance":{"class":1,"scale":-1}}"#);
    assert!(e.starts_with("invalid guidance.scale"), "{e}");
    let e = bad(r#"{"model":"ring8","guidance":{"class":1,"scale":"x"}}"#);
    assert!(e.starts_with("invalid guidance"), "{e}");
    let e = bad(r#"{"model":"ring8","guidance":{"klass":1}}"#);
    assert!(e.starts_with("invalid guidance"), "{e}");
    // a network has no classes
    let root = env!("CARGO_MANIFEST_DIR");
    let bytes = std::fs::read(format!("{root}/models/toy/moons-vp.safetensors")).unwrap();
    let file = scorelab::weights::parse(&bytes, "moons").unwrap();
    let source = ModelSource::Net(std::sync::Arc::new(file));
    let settings = Settings {
        guidance: Some(Guidance {
            class: 0,
            scale: 1.0,
        }),
        ..Default::default()
    };
    let e = SamplingRun::<B>::new(&source, &settings, None, None, "moons", &Default::default())
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.starts_with("invalid guidance: the mlp network is unconditional"),
        "{e}"
    );
}
