//! GPU throughput of the trainer and the score network, the figures `benches/pytorch_bench.py
//! --device cuda` prints for PyTorch, for `scripts/bench-gpu.sh` (the lent GPU machine):
//!
//!   cargo build --release --features cuda,wgpu --example gpu_bench
//!   gpu_bench --backend cuda|wgpu|cpu [--seconds S]
//!
//! Prints, one line each: seconds from start to the end of the first U-Net training step
//! (device start, kernel compilation and autotuning included), U-Net DSM + Adam steps/s at
//! batch 32 and 128, U-Net score evaluations/s at batch 64, toy MLP trainer steps/s at batch
//! 512 and 64 (minibatch, clip, EMA, loss read back: `Trainer::step`). Steady-state figures
//! are timed after warm-up steps, for about S seconds each (default 3).

use burn::tensor::backend::AutodiffBackend;
use rand::Rng;
use scorelab::model::net::Architecture;
use scorelab::model::presets::preset;
use scorelab::model::ScoreModel;
use scorelab::rng::Noise;
use scorelab::sde::Sde;
use scorelab::tensor::{host_tensor, read_f32};
use scorelab::train::{TrainConfig, Trainer};
use std::time::Instant;

fn images(n: usize) -> Vec<f64> {
    let mut noise = Noise::new(3);
    let rng = noise.rng();
    (0..n * 784).map(|_| rng.random::<f64>()).collect()
}

/// Steps per second of `f` over about `seconds` (after `warmup` calls).
fn rate(warmup: usize, seconds: f64, mut f: impl FnMut()) -> f64 {
    for _ in 0..warmup {
        f();
    }
    let t0 = Instant::now();
    let mut n = 0;
    while n < 5 || t0.elapsed().as_secs_f64() < seconds {
        f();
        n += 1;
    }
    n as f64 / t0.elapsed().as_secs_f64()
}

fn run<B: AutodiffBackend>(name: &str, seconds: f64, start: Instant) {
    let device = Default::default();
    let sde = Sde::from_name("ve-notebook").unwrap();
    let unet = Architecture::named("unet", 784).unwrap();
    for (i, batch) in [32usize, 128].into_iter().enumerate() {
        let cfg = TrainConfig {
            batch,
            ..Default::default()
        };
        let mut t =
            Trainer::<B>::new(unet.clone(), sde, cfg, images(512), &device).expect("trainer");
        pollster::block_on(t.step()).expect("first step");
        if i == 0 {
            println!(
                "{name}: first U-Net training step done {:.1} s after start",
                start.elapsed().as_secs_f64()
            );
        }
        let r = rate(3, seconds, || {
            pollster::block_on(t.step()).expect("step");
        });
        println!("{name}: unet train steps/s, batch {batch}: {r:.1}");
        if i == 0 {
            let model = t.ema_score();
            let x = host_tensor::<B::InnerBackend, 2>(images(64), [64, 784], &device);
            let r = rate(3, seconds, || {
                pollster::block_on(read_f32(model.score(x.clone(), 0.5))).expect("score");
            });
            println!(
                "{name}: unet score evaluations/s, batch 64: {:.0}",
                64.0 * r
            );
        }
    }
    let data = preset("ring8").unwrap().sample(20_000, Noise::new(1).rng());
    for batch in [512usize, 64] {
        let cfg = TrainConfig {
            batch,
            ..Default::default()
        };
        let mut t = Trainer::<B>::new(
            Architecture::named("mlp", 2).unwrap(),
            Sde::from_name("vp").unwrap(),
            cfg,
            data.clone(),
            &device,
        )
        .expect("trainer");
        let r = rate(10, seconds, || {
            pollster::block_on(t.step()).expect("step");
        });
        println!("{name}: toy mlp trainer steps/s, batch {batch}: {r:.1}");
    }
}

fn main() {
    let start = Instant::now();
    let args: Vec<String> = std::env::args().collect();
    let arg = |k: &str| {
        args.iter()
            .position(|a| a == k)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let backend = arg("--backend").unwrap_or_else(|| "cpu".into());
    let seconds: f64 = arg("--seconds")
        .map(|s| s.parse().expect("--seconds: a number"))
        .unwrap_or(3.0);
    match backend.as_str() {
        "cpu" => run::<scorelab::CpuBackend<f32>>("cpu", seconds, start),
        #[cfg(feature = "wgpu")]
        "wgpu" => run::<burn::backend::Autodiff<burn::backend::Wgpu>>("wgpu", seconds, start),
        #[cfg(feature = "cuda")]
        "cuda" => run::<burn::backend::Autodiff<burn::backend::Cuda>>("cuda", seconds, start),
        other => {
            eprintln!(
                "error: invalid --backend: '{other}' (this build: cpu{}{})",
                if cfg!(feature = "wgpu") { ", wgpu" } else { "" },
                if cfg!(feature = "cuda") { ", cuda" } else { "" }
            );
            std::process::exit(2);
        }
    }
}
