//! Training and evaluation throughput of the score networks on the CPU backend (ndarray,
//! rayon threads), the figures `benches/pytorch_bench.py` measures for the same
//! architectures in PyTorch on the same machine:
//!
//! - the notebook U-Net: one Adam training step at batch 32 (images/s), one score evaluation
//!   at batch 64 (evaluations/s);
//! - the toy MLP (Fourier features + 3×128 SiLU): one Adam step at batch 512 and at batch 64
//!   (steps/s; the second shows the fixed per-step cost).
//!
//! `cargo bench --bench train` (criterion reports time per iteration and the throughput).
//! Like the CLI, the benchmarks keep freed memory in the process
//! ([`scorelab::alloc::keep_freed_memory`]).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use scorelab::model::net::Architecture;
use scorelab::model::ScoreModel;
use scorelab::rng::Noise;
use scorelab::sde::Sde;
use scorelab::train::{TrainConfig, Trainer};
use std::time::Duration;

type AB = scorelab::CpuBackend<f32>;
type B = burn::backend::NdArray<f32>;

fn unet(c: &mut Criterion) {
    scorelab::alloc::keep_freed_memory();
    let device = Default::default();
    let sde = Sde::from_name("ve-notebook").unwrap();
    let arch = Architecture::named("unet", 784).unwrap();
    let mut noise = Noise::new(0);
    use rand::Rng;
    let data: Vec<f64> = (0..256 * 784)
        .map(|_| noise.rng().random::<f64>())
        .collect();
    let cfg = TrainConfig {
        batch: 32,
        lr: 1e-4,
        ..Default::default()
    };
    let mut trainer = Trainer::<AB>::new(arch.clone(), sde, cfg, data, &device).unwrap();
    let mut g = c.benchmark_group("unet");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.throughput(Throughput::Elements(32));
    g.bench_function("train step, batch 32 (images)", |b| {
        b.iter(|| pollster::block_on(trainer.step()).unwrap())
    });
    let model = trainer.ema_score();
    let model = scorelab::model::net::NetScore::<B> {
        net: model.net,
        arch: model.arch,
        sde,
        clip: None,
        class: None,
    };
    let x = Noise::new(1).normal::<B>(64, 784, &device);
    g.throughput(Throughput::Elements(64));
    g.bench_function("score evaluation, batch 64 (evaluations)", |b| {
        b.iter(|| criterion::black_box(model.score(x.clone(), 0.5)).into_data())
    });
    g.finish();
}

fn mlp(c: &mut Criterion) {
    scorelab::alloc::keep_freed_memory();
    let device = Default::default();
    let sde = Sde::from_name("vp").unwrap();
    let gmm = scorelab::model::presets::preset("ring8").unwrap();
    let data = gmm.sample(20_000, Noise::new(2).rng());
    let mut g = c.benchmark_group("toy mlp");
    g.throughput(Throughput::Elements(1));
    // Batch 64 shows the fixed per-step cost: the same step on an eighth of the batch.
    for batch in [512, 64] {
        let cfg = TrainConfig {
            batch,
            ..Default::default()
        };
        let mut trainer = Trainer::<AB>::new(
            Architecture::named("mlp", 2).unwrap(),
            sde,
            cfg,
            data.clone(),
            &device,
        )
        .unwrap();
        g.bench_function(format!("adam step, batch {batch} (steps)"), |b| {
            b.iter(|| pollster::block_on(trainer.step()).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, unet, mlp);
criterion_main!(benches);
