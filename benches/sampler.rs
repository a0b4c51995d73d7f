//! Sampler overhead: one sampler step against the raw score evaluations it makes, on the
//! exact mixture (ring8, n = 1000, CPU backend), plus RK45's NFE on every preset and SDE.
//! `cargo bench --bench sampler` (or `make bench`); the ratio step / (NFE × score) is the
//! sampler's own cost on top of the model.

use burn::tensor::Tensor;
use criterion::{criterion_group, criterion_main, Criterion};
use scorelab::model::gmm::ExactGmm;
use scorelab::model::presets::{preset, PRESETS};
use scorelab::model::ScoreModel;
use scorelab::rng::Noise;
use scorelab::sample::{Sampler, SamplerConfig};
use scorelab::sde::Sde;

type B = burn::backend::NdArray<f32>;
type BA = scorelab::CpuBackend<f32>;

fn sync<Bk: burn::tensor::backend::Backend>(x: Tensor<Bk, 2>) {
    // force the computation (ndarray is eager, but keep the value alive)
    criterion::black_box(x);
}

fn bench_backend<Bk: burn::tensor::backend::Backend>(c: &mut Criterion, label: &str) {
    let device = Default::default();
    let n = 1000;
    let sde = Sde::from_name("vp").unwrap();
    let model = ExactGmm::<Bk>::new(preset("ring8").unwrap(), sde, &device);
    let x = Noise::new(0).normal::<Bk>(n, 2, &device);
    let mut g = c.benchmark_group(label);
    g.bench_function("score evaluation", |b| {
        b.iter(|| sync(model.score(x.clone(), 0.5)))
    });
    for (name, json, nfe) in [
        ("em step", r#"{"kind":"em","steps":1000000}"#, 1),
        (
            "pc step (reverse-diffusion + langevin)",
            r#"{"kind":"pc","steps":1000000}"#,
            2,
        ),
        ("ald step", r#"{"kind":"ald","steps_per_level":100000}"#, 1),
        (
            "ode rk4 step",
            r#"{"kind":"ode","solver":"rk4","steps":1000000}"#,
            4,
        ),
    ] {
        let cfg: SamplerConfig = serde_json::from_str(json).unwrap();
        let mut s = Sampler::<Bk>::new(&cfg, sde, n, 2, 0, false, &device).unwrap();
        g.bench_function(format!("{name} ({nfe} NFE)"), |b| {
            b.iter(|| pollster::block_on(s.step(&model)).unwrap())
        });
    }
    g.finish();
}

fn benches(c: &mut Criterion) {
    scorelab::alloc::keep_freed_memory(); // as the CLI does
    bench_backend::<B>(c, "ndarray-f32");
    bench_backend::<BA>(c, "autodiff-ndarray-f32");
    println!("\nRK45 (rtol = atol = 1e-5) NFE for the probability-flow ODE, n = 1000:");
    for (name, _) in PRESETS {
        let gmm = preset(name).unwrap();
        let mut row = format!("  {name:<14}");
        for sde_name in ["ve", "vp", "subvp"] {
            let sde = Sde::from_name(sde_name).unwrap();
            let device = Default::default();
            let model = ExactGmm::<B>::new(gmm.clone(), sde, &device);
            let cfg = SamplerConfig::from_name("ode").unwrap();
            let mut s = Sampler::<B>::new(&cfg, sde, 1000, 2, 0, false, &device).unwrap();
            let info = pollster::block_on(s.run(&model, |_, _| {})).unwrap();
            row += &format!("  {sde_name}: {:>4} NFE ({} steps)", info.nfe, info.index);
        }
        println!("{row}");
    }
}

criterion_group! {
    name = sampler;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3));
    targets = benches
}
criterion_main!(sampler);
