//! Native GPU backends of the trainer (`--features wgpu`; runs on Mesa's software Vulkan,
//! lavapipe, where no GPU exists). The same trainer and weights on wgpu and on the CPU:
//! training lowers the loss, and a weight file trained on wgpu gives the same scores on both.
#![cfg(all(feature = "wgpu", not(target_arch = "wasm32")))]

use burn::backend::{Autodiff, NdArray, Wgpu};
use scorelab::model::net::Architecture;
use scorelab::model::presets::preset;
use scorelab::model::ScoreModel;
use scorelab::rng::Noise;
use scorelab::sde::Sde;
use scorelab::tensor::{host_tensor, read_f64};
use scorelab::train::{TrainConfig, Trainer};
use scorelab::weights::{self, Manifest};

#[test]
fn wgpu_trains_and_its_weights_score_the_same_on_the_cpu() {
    let sde = Sde::from_name("vp").unwrap();
    let gmm = preset("ring8").unwrap();
    let arch = Architecture::named("mlp", 2).unwrap();
    let cfg = TrainConfig {
        batch: 256,
        ..Default::default()
    };
    let device = Default::default();
    let mut t = Trainer::<Autodiff<Wgpu>>::new(
        arch.clone(),
        sde,
        cfg.clone(),
        gmm.sample(5000, Noise::new(1).rng()),
        &device,
    )
    .unwrap();
    let mut losses = vec![];
    for _ in 0..200 {
        losses.push(pollster::block_on(t.step()).unwrap());
    }
    let first = losses[..20].iter().sum::<f64>() / 20.0;
    let last = losses[180..].iter().sum::<f64>() / 20.0;
    assert!(last < 0.8 * first, "wgpu loss {first} -> {last}");
    let manifest = Manifest {
        format_version: weights::FORMAT_VERSION,
        architecture: arch,
        sde,
        data: "ring8".into(),
        steps: t.step,
        training: Some(cfg),
        ema: true,
        metrics: Default::default(),
    };
    let bytes = pollster::block_on(weights::to_bytes(t.ema(), &manifest)).unwrap();
    let file = weights::parse(&bytes, "w").unwrap();
    let gpu = weights::load_score::<Wgpu>(&file, "w", &device).unwrap();
    let cpu = weights::load_score::<NdArray<f32>>(&file, "w", &Default::default()).unwrap();
    let pts: Vec<f64> = (0..64).map(|i| (i as f64 * 0.37).sin() * 4.0).collect();
    let a = pollster::block_on(read_f64(
        gpu.score(host_tensor::<Wgpu, 2>(pts.clone(), [32, 2], &device), 0.3),
    ))
    .unwrap();
    let b = pollster::block_on(read_f64(cpu.score(
        host_tensor::<NdArray<f32>, 2>(pts, [32, 2], &Default::default()),
        0.3,
    )))
    .unwrap();
    for (x, y) in a.iter().zip(&b) {
        assert!(
            (x - y).abs() < 1e-3 * y.abs().max(1.0),
            "wgpu {x} vs cpu {y}"
        );
    }
}

/// The exact mixture's score on wgpu (with burn's fusion) equals the CPU's: the page's
/// WebGPU sampling of mixtures went wrong when the wasm module was built with fusion
/// (ARCHITECTURE.md), and this checks whether native fusion shares the fault.
#[test]
fn the_exact_mixture_score_is_the_same_on_wgpu_and_the_cpu() {
    use scorelab::model::gmm::ExactGmm;
    let device = Default::default();
    for name in ["two-modes", "ring8"] {
        for sde in ["vp", "ve", "subvp"] {
            let gmm = preset(name).unwrap();
            let sde = Sde::from_name(sde).unwrap();
            let gpu = ExactGmm::<Wgpu>::new(gmm.clone(), sde, &device);
            let cpu = ExactGmm::<NdArray<f32>>::new(gmm, sde, &Default::default());
            let pts: Vec<f64> = (0..400).map(|i| (i as f64 * 0.37).sin() * 8.0).collect();
            for t in [0.001, 0.1, 0.5, 1.0] {
                let a = pollster::block_on(read_f64(
                    gpu.score(host_tensor::<Wgpu, 2>(pts.clone(), [200, 2], &device), t),
                ))
                .unwrap();
                let b = pollster::block_on(read_f64(cpu.score(
                    host_tensor::<NdArray<f32>, 2>(pts.clone(), [200, 2], &Default::default()),
                    t,
                )))
                .unwrap();
                for (x, y) in a.iter().zip(&b) {
                    assert!(
                        (x - y).abs() < 1e-3 * y.abs().max(1.0),
                        "{name}, t = {t}: wgpu {x} vs cpu {y}"
                    );
                }
            }
        }
    }
}
