//! Classifier-free guidance on the mixture oracle: the class is a component, so the
//! conditional score is exact. At w = 0 guided sampling draws the component itself (within
//! the exact-vs-exact band); w > 0 pushes the samples away from the other components, by
//! more as w grows (Ho & Salimans 2022's sharpening); bad guidance is refused naming the field.

use crate::common::*;
use scorelab::app::model::ModelSource;
use scorelab::app::sampling::SamplingRun;
use scorelab::config::Settings;
use scorelab::model::gmm::{Gmm, GmmSpec};
use scorelab::model::guidance::Guidance;
use scorelab::model::presets::preset;
use scorelab::tensor::read_f64;

/// Particles of a guided run of `sampler` on `gmm` under VP.
fn guided(gmm: &Gmm, class: usize, scale: f64, sampler: &str, n: usize, seed: u64) -> Vec<f64> {
    let settings = Settings {
        sampler: cfg(sampler),
        n,
        seed,
        guidance: Some(Guidance { class, scale }),
        ..Default::default()
    };
    let source = ModelSource::Exact(gmm.clone());
    let device = Default::default();
    let mut run = SamplingRun::<B>::new(&source, &settings, None, None, "model", &device).unwrap();
    pollster::block_on(run.sampler.run(run.model.as_ref(), |_, _| {})).unwrap();
    pollster::block_on(read_f64(run.sampler.particles())).unwrap()
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
    let gmm = Gmm::from_spec(
        serde_json::from_str::<GmmSpec>(
            r#"{"weights":[0.5,0.5],"means":[[-1,0],[1,0]],"covs":[1,1]}"#,
        )
        .unwrap(),
    )
    .unwrap();
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
