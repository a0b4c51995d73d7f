//! Training against the oracle: a small MLP trained by denoising score matching on samples of
//! a mixture learns its score (error against the closed form falls) and samples it; weight
//! files round-trip and bad ones are rejected; likelihood weighting with importance-sampled
//! t gives a smaller KL than the notebook objective.

use crate::common::*;
use scorelab::model::clip::DenoiserClip;
use scorelab::model::gmm::ExactGmm;
use scorelab::model::mlp::MlpScoreConfig;
use scorelab::model::net::Net;
use scorelab::model::presets::preset;
use scorelab::model::ScoreModel;
use scorelab::rng::Noise;
use scorelab::sample::Sampler;
use scorelab::sde::Sde;
use scorelab::tensor::{host_tensor, read_f64};
use scorelab::train::fisher::fisher_divergence;
use scorelab::train::parallel::Shard;
use scorelab::train::{TrainConfig, Trainer};
use scorelab::weights::{self, Architecture, Manifest};

type AB = scorelab::CpuBackend<f32>;
type IB = burn::backend::NdArray<f32>;

fn mlp(c: MlpScoreConfig) -> Architecture {
    Architecture::Mlp(c)
}

/// λ-weighted score error `E_t E_{x~p_t} std(t)² ‖s_θ − ∇log p_t‖²` (the DSM objective minus
/// its constant) at a few times, x drawn exactly from the mixture's marginal.
/// (`scorelab::train::fisher`, the page's bake-off uses the same function.)
fn score_error(model: &dyn ScoreModel<IB>, exact: &ExactGmm<IB>, sde: &Sde) -> f64 {
    let device = Default::default();
    pollster::block_on(fisher_divergence(model, &exact.gmm, sde, 1000, 77, &device)).unwrap()
}

#[test]
fn dsm_learns_the_mixture_score_and_samples_it() {
    let gmm = preset("ring8").unwrap();
    let sde = Sde::from_name("vp").unwrap();
    let device = Default::default();
    let data = gmm.sample(20_000, Noise::new(1).rng());
    let train_cfg = TrainConfig {
        steps: 1500,
        batch: 256,
        lr: 2e-3,
        ..Default::default()
    };
    let mut trainer =
        Trainer::<AB>::new(mlp(MlpScoreConfig::new(2)), sde, train_cfg, data, &device).unwrap();
    let exact = ExactGmm::<IB>::new(gmm.clone(), sde, &device);
    let start = std::time::Instant::now();
    let mut errors = vec![score_error(&trainer.ema_score(), &exact, &sde)];
    for k in 1..=1500 {
        pollster::block_on(trainer.step()).unwrap();
        if k % 500 == 0 {
            errors.push(score_error(&trainer.ema_score(), &exact, &sde));
        }
    }
    eprintln!(
        "1500 steps in {:.1} s; score errors {errors:?}",
        start.elapsed().as_secs_f64()
    );
    assert!(
        errors[1] < errors[0] && errors[3] < errors[1],
        "score error must fall: {errors:?}"
    );
    let model = trainer.ema_score();
    let c = cfg(r#"{"kind":"pc","steps":500}"#);
    let mut s = Sampler::<IB>::new(&c, sde, 2000, 2, 3, false, &device).unwrap();
    pollster::block_on(s.run(&model, |_, _| {})).unwrap();
    let x = pollster::block_on(read_f64(s.particles())).unwrap();
    let r = report(&gmm, &x);
    eprintln!(
        "trained model: sliced W2 {:.3} (exact-vs-exact median {:.3}, q99 {:.3}); weights {:?}",
        r.sw, r.sw_median, r.sw_q99, r.mode_weights
    );
    assert!(
        r.sw < 2.0 * r.sw_q99,
        "sliced W2 {} vs 2 x q99 {}",
        r.sw,
        r.sw_q99
    );
    assert!(
        r.max_weight_error < 2.0 * r.weight_error_q99,
        "weights {:?}",
        r.mode_weights
    );
}

#[test]
fn weights_round_trip_and_bad_files_are_rejected() {
    let gmm = preset("two-modes").unwrap();
    let sde = Sde::from_name("ve").unwrap();
    let device = Default::default();
    let arch = MlpScoreConfig::new(2).with_hidden(32).with_layers(2);
    let cfg = TrainConfig {
        steps: 5,
        batch: 16,
        ..Default::default()
    };
    let mut trainer = Trainer::<AB>::new(
        mlp(arch.clone()),
        sde,
        cfg.clone(),
        gmm.sample(100, Noise::new(2).rng()),
        &device,
    )
    .unwrap();
    for _ in 0..5 {
        pollster::block_on(trainer.step()).unwrap();
    }
    let manifest = Manifest {
        format_version: weights::FORMAT_VERSION,
        architecture: mlp(arch),
        sde,
        data: "two-modes".into(),
        steps: 5,
        training: Some(cfg),
        ema: true,
        metrics: Default::default(),
    };
    let bytes = pollster::block_on(weights::to_bytes(trainer.ema(), &manifest)).unwrap();
    let file = weights::parse(&bytes, "w").unwrap();
    assert_eq!(file.manifest, manifest);
    let loaded = weights::load_score::<IB>(&file, "w", &device).unwrap();
    let x = host_tensor::<IB, 2>(vec![0.3, -1.0, 4.0, 2.0], [2, 2], &device);
    let a = pollster::block_on(read_f64(trainer.ema_score().score(x.clone(), 0.3))).unwrap();
    let b = pollster::block_on(read_f64(loaded.score(x, 0.3))).unwrap();
    assert_eq!(a, b);

    // truncated
    let e = weights::parse(&bytes[..bytes.len() - 10], "w")
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("data section"), "{e}");
    let e = weights::parse(&bytes[..20], "w").err().unwrap().to_string();
    assert!(e.contains("truncated"), "{e}");
    // a tensor declaring a shape it does not have
    let hlen = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&bytes[8..8 + hlen]).unwrap();
    let bad_header = header.replacen("\"shape\":[16]", "\"shape\":[17]", 1);
    assert_ne!(bad_header, header);
    let mut bad = bytes[..8].to_vec();
    bad.extend(bad_header.as_bytes());
    bad.extend(&bytes[8 + hlen..]);
    let e = weights::parse(&bad, "w").err().unwrap().to_string();
    assert!(e.contains("declares shape [17]"), "{e}");
    // the wrong tensors for the architecture
    let mut file = weights::parse(&bytes, "w").unwrap();
    let (shape, data) = file.tensors.remove("output.bias").unwrap();
    file.tensors.insert("output.bias2".into(), (shape, data));
    let e = weights::load_net::<IB>(&file, "w", &device)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("'output.bias' is missing"), "{e}");
    // not a scorelab file
    let e = weights::parse(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ", "w")
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("manifest") || e.contains("header"), "{e}");
}

#[test]
fn nan_loss_stops_with_the_step_and_keeps_the_weights() {
    let sde = Sde::from_name("vp").unwrap();
    let device = Default::default();
    let cfg = TrainConfig {
        steps: 5,
        batch: 8,
        lr: 0.9,
        warmup: 0,
        grad_clip: 0.0,
        ..Default::default()
    };
    let data: Vec<f64> = (0..64)
        .map(|i| if i % 2 == 0 { 1e30 } else { -1e30 })
        .collect();
    let mut t = Trainer::<AB>::new(
        mlp(MlpScoreConfig::new(2).with_hidden(8)),
        sde,
        cfg,
        data,
        &device,
    )
    .unwrap();
    let mut err = None;
    for _ in 0..5 {
        if let Err(e) = pollster::block_on(t.step()) {
            err = Some(e.to_string());
            break;
        }
    }
    let e = err.expect("a non-finite loss must stop training");
    assert!(e.contains("loss") && e.contains("step"), "{e}");
    // data with NaN is refused up front
    let bad = Trainer::<AB>::new(
        mlp(MlpScoreConfig::new(2)),
        sde,
        TrainConfig::default(),
        vec![0.0, f64::NAN],
        &device,
    );
    assert!(bad.err().unwrap().to_string().contains("non-finite"));
}

#[test]
fn finite_difference_trace_matches_the_autodiff_divergence() {
    // The ISM objective by finite differences vs the same objective with the exact trace
    // from autodiff (first-order: ∇ₓ of each output), on one batch of a trained-a-little net.
    use burn::tensor::Tensor;
    use scorelab::model::net::Net;
    use scorelab::train::Objective;
    let gmm = preset("anisotropic3").unwrap();
    let sde = Sde::from_name("vp").unwrap();
    let device = Default::default();
    let arch = mlp(MlpScoreConfig::new(2).with_hidden(64));
    let mut tr = Trainer::<AB>::new(
        arch.clone(),
        sde,
        TrainConfig::default(),
        gmm.sample(2000, Noise::new(5).rng()),
        &device,
    )
    .unwrap();
    for _ in 0..50 {
        pollster::block_on(tr.step()).unwrap();
    }
    let Net::Mlp(net) = tr.model().clone() else {
        unreachable!()
    };
    let n = 256;
    let x0 = host_tensor::<AB, 2>(gmm.sample(n, Noise::new(6).rng()), [n, 2], &device);
    // same noise stream twice: FD objective, then the pieces for the exact one
    let cfg = TrainConfig {
        objective: Objective::Ism,
        ..Default::default()
    };
    let fd = scorelab::train::loss::loss(
        &Net::Mlp(net.clone()),
        &arch,
        &sde,
        x0.clone(),
        &cfg,
        &[],
        &mut Noise::new(9),
    );
    let fd = pollster::block_on(read_f64(fd)).unwrap()[0];
    // rebuild x_t and t exactly as the loss does (same seed, same draw order)
    let mut noise = Noise::new(9);
    use rand::Rng;
    let ts: Vec<f64> = (0..n)
        .map(|_| 1e-5 + (1.0 - 1e-5) * noise.rng().random::<f64>())
        .collect();
    let z = noise.normal::<AB>(n, 2, &device);
    let col = |v: Vec<f64>| host_tensor::<AB, 2>(v, [n, 1], &device);
    let m = col(ts.iter().map(|t| sde.mean_scale(*t)).collect());
    let s = col(ts.iter().map(|t| sde.std(*t)).collect());
    let xt = (x0 * m + z * s.clone()).detach();
    let mut trace = Tensor::<AB, 2>::zeros([n, 1], &device);
    for i in 0..2 {
        let xi = xt.clone().require_grad();
        let raw = net.forward_raw(xi.clone(), col(ts.clone()), None);
        let g = raw.slice([0..n, i..i + 1]).sum().backward();
        let gx = Tensor::<AB, 2>::from_inner(xi.grad(&g).unwrap());
        trace = trace + gx.slice([0..n, i..i + 1]);
    }
    let raw = net.forward_raw(xt, col(ts.clone()), None);
    let exact = (trace * s + raw.powi_scalar(2).sum_dim(1) * 0.5).mean();
    let exact = pollster::block_on(read_f64(exact)).unwrap()[0];
    assert!(
        (fd - exact).abs() < 1e-3 * exact.abs().max(1.0),
        "finite differences {fd} vs autodiff {exact}"
    );
}

#[test]
fn every_objective_lowers_the_score_error() {
    use scorelab::train::Objective;
    use scorelab::train::SlicedProbe;
    let gmm = preset("ring8").unwrap();
    let sde = Sde::from_name("vp").unwrap();
    let device = Default::default();
    let exact = ExactGmm::<IB>::new(gmm.clone(), sde, &device);
    for (model, objective, probe) in [
        ("ncsn", Objective::Ncsn, SlicedProbe::Gaussian),
        ("eps", Objective::Ddpm, SlicedProbe::Gaussian),
        ("energy", Objective::Dsm, SlicedProbe::Gaussian),
        ("mlp", Objective::Ssm, SlicedProbe::Gaussian),
        ("mlp", Objective::Ssm, SlicedProbe::Rademacher),
        ("mlp", Objective::Ism, SlicedProbe::Gaussian),
    ] {
        let cfg = TrainConfig {
            batch: 256,
            lr: 2e-3,
            objective,
            probe,
            ..Default::default()
        };
        let mut t = Trainer::<AB>::new(
            Architecture::named(model, 2).unwrap(),
            sde,
            cfg,
            gmm.sample(20_000, Noise::new(1).rng()),
            &device,
        )
        .unwrap();
        let before = score_error(&t.ema_score(), &exact, &sde);
        for _ in 0..800 {
            pollster::block_on(t.step()).unwrap();
        }
        let after = score_error(&t.ema_score(), &exact, &sde);
        eprintln!("{model}/{objective:?}/{probe:?}: score error {before:.3} -> {after:.3}");
        assert!(
            after < 0.3 * before,
            "{model}/{objective:?}/{probe:?}: score error {before} -> {after}"
        );
    }
}

#[test]
fn energy_score_is_the_autodiff_gradient_of_the_energy() {
    use scorelab::model::energy::EnergyConfig;
    // Seeded through the lock and drawn from our own RNG: burn's process-wide RNG is shared
    // with the trainers of the tests running beside this one (their results must not depend
    // on which tests run at once).
    let device = Default::default();
    let arch = Architecture::Energy(EnergyConfig::new(3).with_hidden(16));
    let Net::Energy(net) = arch.init_seeded::<AB>(5, &device) else {
        unreachable!()
    };
    let mut noise = Noise::new(6);
    let x = (noise.normal::<AB>(7, 3, &device) * 1.5).require_grad();
    let c = noise.uniform::<AB>(7, 1, 0.0, 1.0, &device);
    let g = net.energy(x.clone(), c.clone()).sum().backward();
    let auto = pollster::block_on(read_f64(x.grad(&g).unwrap().neg())).unwrap();
    let hand = pollster::block_on(read_f64(net.neg_grad(x.detach(), c))).unwrap();
    for (a, h) in auto.iter().zip(&hand) {
        assert!((a - h).abs() < 1e-5 * a.abs().max(1.0), "{a} vs {h}");
    }
}

#[test]
fn resume_restores_weights_ema_and_adam_state() {
    let gmm = preset("two-modes").unwrap();
    let sde = Sde::from_name("vp").unwrap();
    let device = Default::default();
    let arch = mlp(MlpScoreConfig::new(2).with_hidden(16).with_layers(2));
    let cfg = TrainConfig {
        batch: 32,
        ..Default::default()
    };
    let data = gmm.sample(500, Noise::new(3).rng());
    let mut a = Trainer::<AB>::new(arch.clone(), sde, cfg.clone(), data.clone(), &device).unwrap();
    for _ in 0..20 {
        pollster::block_on(a.step()).unwrap();
    }
    let manifest = Manifest {
        format_version: weights::FORMAT_VERSION,
        architecture: arch.clone(),
        sde,
        data: "two-modes".into(),
        steps: a.step,
        training: Some(cfg.clone()),
        ema: true,
        metrics: Default::default(),
    };
    let mut tensors = pollster::block_on(weights::host_tensors(a.ema(), "")).unwrap();
    tensors.extend(pollster::block_on(a.state()).unwrap());
    let bytes = weights::encode(tensors, &manifest);
    let file = weights::parse(&bytes, "ckpt").unwrap();
    // A fresh trainer (other init) restored from the file continues where `a` stopped.
    let mut b = Trainer::<AB>::new(
        arch.clone(),
        sde,
        TrainConfig {
            seed: 99,
            ..cfg.clone()
        },
        data.clone(),
        &device,
    )
    .unwrap();
    b.restore(&file, "ckpt").unwrap();
    assert_eq!(b.step, 20);
    // Loaded for sampling, the same file tracks no parameter gradients: a sampler's steps
    // must not chain one autodiff graph through every earlier step.
    let sampling = weights::load_score::<AB>(&file, "ckpt", &device).unwrap();
    let xa = host_tensor::<AB, 2>(vec![0.3, -1.0, 4.0, 2.0], [2, 2], &device);
    assert!(!sampling.score(xa, 0.3).is_require_grad());
    let x = host_tensor::<IB, 2>(vec![0.3, -1.0, 4.0, 2.0], [2, 2], &device);
    let ea = pollster::block_on(read_f64(a.ema_score().score(x.clone(), 0.3))).unwrap();
    let eb = pollster::block_on(read_f64(b.ema_score().score(x.clone(), 0.3))).unwrap();
    assert_eq!(ea, eb);
    let sa = pollster::block_on(a.state()).unwrap();
    let sb = pollster::block_on(b.state()).unwrap();
    assert_eq!(
        sa, sb,
        "raw weights and Adam moments survive the round trip"
    );
    // With the Adam moments restored, one more step on the same batch moves both the same
    // way; a restart without them (fresh Adam) would take a different step.
    let ema_before = pollster::block_on(weights::host_tensors(b.ema(), "")).unwrap();
    pollster::block_on(b.step()).unwrap();
    assert_eq!(b.step, 21);
    // The restored raw weights are trainable: the step moved every trained parameter and
    // its Adam moments (a network loaded from a file once had no gradient tracking, so a
    // resumed run silently stood still).
    let state_after = pollster::block_on(b.state()).unwrap();
    for ((name, _, before), (_, _, after)) in sb.iter().zip(&state_after) {
        if name.ends_with("fourier") {
            continue; // fixed random features, not trained
        }
        assert_ne!(before, after, "{name}: unchanged by a step after resuming");
    }
    // The EMA keeps following the raw weights after a resume (it was loaded from the file
    // separately, so the two share no parameter ids): ema ← d·ema + (1 − d)·raw.
    let ema_after = pollster::block_on(weights::host_tensors(b.ema(), "")).unwrap();
    let raw_after = pollster::block_on(b.state()).unwrap();
    let d = cfg.ema.min(21.0 / 30.0);
    for ((name, _, before), (_, _, after)) in ema_before.iter().zip(&ema_after) {
        let raw = &raw_after
            .iter()
            .find(|t| t.0 == format!("train.model.{name}"))
            .unwrap()
            .2;
        for ((e0, e1), r) in before.iter().zip(after).zip(raw) {
            let want = d * *e0 as f64 + (1.0 - d) * *r as f64;
            assert!(
                (*e1 as f64 - want).abs() < 1e-5,
                "{name}: EMA {e1}, expected {want}"
            );
        }
        assert_ne!(before, after, "{name}: the EMA did not move after resuming");
    }
    // A checkpoint without state cannot be resumed; a different architecture is refused.
    let slim = weights::encode(
        pollster::block_on(weights::host_tensors(a.ema(), "")).unwrap(),
        &manifest,
    );
    let e = b
        .restore(&weights::parse(&slim, "slim").unwrap(), "slim")
        .unwrap_err()
        .to_string();
    assert!(e.contains("no training state"), "{e}");
    // Training weights without Adam moments (what scripts/resumable-from-ema.py writes when
    // a checkpoint's state is lost) resume with fresh moments; some moments without the
    // others are refused.
    let model_only: Vec<_> = sa
        .iter()
        .filter(|t| t.0.starts_with("train.model."))
        .cloned()
        .collect();
    let mut tensors = pollster::block_on(weights::host_tensors(a.ema(), "")).unwrap();
    tensors.extend(model_only);
    let bytes = weights::encode(tensors.clone(), &manifest);
    let mut c = Trainer::<AB>::new(arch.clone(), sde, cfg.clone(), data.clone(), &device).unwrap();
    c.restore(&weights::parse(&bytes, "fresh").unwrap(), "fresh")
        .unwrap();
    assert_eq!(c.step, 20);
    pollster::block_on(c.step()).unwrap();
    let one_moment = sa
        .iter()
        .find(|t| t.0.starts_with("train.adam.m1."))
        .unwrap();
    tensors.push(one_moment.clone());
    let partial = weights::parse(&weights::encode(tensors, &manifest), "partial").unwrap();
    let e = c.restore(&partial, "partial").unwrap_err().to_string();
    assert!(e.contains("is missing"), "{e}");
    let mut other =
        Trainer::<AB>::new(mlp(MlpScoreConfig::new(2)), sde, cfg, data, &device).unwrap();
    let e = other.restore(&file, "ckpt").unwrap_err().to_string();
    assert!(e.contains("architecture"), "{e}");
}

#[test]
fn unet_trains_on_images_and_round_trips() {
    for name in ["unet", "unet-ncsn"] {
        unet_trains_and_round_trips(name);
    }
}

/// The U-Net (`name`) on a few synthetic 28x28 images: finite losses that fall over a few
/// steps, and the weight file reproduces the score and the conditioning.
fn unet_trains_and_round_trips(name: &str) {
    let sde = Sde::from_name("ve-notebook").unwrap();
    let device = Default::default();
    let arch = Architecture::named(name, 784).unwrap();
    assert_eq!(arch.name(), name);
    // What the time features see at t = 1e-7 and 1e-5 (σ = 3.2e-4 and 3.2e-3): the same
    // for t, −0.50 and −0.17 for ln σ rescaled.
    let c = arch.cond(&sde, &[1e-7, 1e-5]);
    match name {
        "unet" => assert!((c[1] - c[0]).abs() < 1e-4, "{c:?}"),
        _ => assert!(
            (c[0] + 0.501).abs() < 1e-3 && (c[1] + 0.167).abs() < 1e-3,
            "{c:?}"
        ),
    }
    let data: Vec<f64> = (0..8 * 784)
        .map(|i| {
            if (i % 784) / 28 > 10 && (i % 784) / 28 < 18 {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    let cfg = TrainConfig {
        batch: 4,
        lr: 1e-3,
        warmup: 0,
        ..Default::default()
    };
    let mut t = Trainer::<AB>::new(arch.clone(), sde, cfg.clone(), data, &device).unwrap();
    let mut losses = vec![];
    for _ in 0..30 {
        losses.push(pollster::block_on(t.step()).unwrap());
    }
    let first: f64 = losses[..5].iter().sum::<f64>() / 5.0;
    let last: f64 = losses[25..].iter().sum::<f64>() / 5.0;
    assert!(last < 0.7 * first, "{name}: loss {first} -> {last}");
    let manifest = Manifest {
        format_version: weights::FORMAT_VERSION,
        architecture: arch,
        sde,
        data: "stripes".into(),
        steps: t.step,
        training: Some(cfg),
        ema: true,
        metrics: Default::default(),
    };
    let bytes = pollster::block_on(weights::to_bytes(t.ema(), &manifest)).unwrap();
    let loaded =
        weights::load_score::<IB>(&weights::parse(&bytes, "w").unwrap(), "w", &device).unwrap();
    let x = host_tensor::<IB, 2>(
        (0..2 * 784).map(|i| (i % 7) as f64 / 7.0).collect(),
        [2, 784],
        &device,
    );
    let a = pollster::block_on(read_f64(t.ema_score().score(x.clone(), 0.4))).unwrap();
    let b = pollster::block_on(read_f64(loaded.score(x, 0.4))).unwrap();
    assert_eq!(a, b, "{name}");
}

#[test]
fn a_pytorch_state_dict_of_the_notebook_scorenet_loads() {
    // Write a U-Net's weights the way `safetensors.torch.save_file(model.state_dict())` would
    // for the notebook's ScoreNet (PyTorch names, Linear weights [out, in], no manifest) and
    // check the loaded model computes the same scores.
    let device = Default::default();
    let sde = Sde::from_name("ve-notebook").unwrap();
    let arch = Architecture::named("unet", 784).unwrap();
    let net = arch.init_seeded::<IB>(3, &device);
    let ours = pollster::block_on(weights::host_tensors(&net, "")).unwrap();
    let t = |shape: &[usize], d: &[f32]| {
        let (r, c) = (shape[0], shape[1]);
        let mut o = vec![0.0; d.len()];
        for i in 0..r {
            for j in 0..c {
                o[j * r + i] = d[i * c + j];
            }
        }
        (vec![c, r], o)
    };
    let torch: Vec<weights::HostTensor> = ours
        .iter()
        .map(|(name, shape, data)| {
            let p: Vec<&str> = name.split('.').collect();
            let (n, (s, d)) = match p.as_slice() {
                ["fourier"] => ("embed.0.W".to_string(), (shape.clone(), data.clone())),
                ["embed", "weight"] => ("embed.1.weight".into(), t(shape, data)),
                ["embed", "bias"] => ("embed.1.bias".into(), (shape.clone(), data.clone())),
                [d, "weight"] if d.starts_with("dense") => {
                    (format!("{d}.dense.weight"), t(shape, data))
                }
                [d, "bias"] if d.starts_with("dense") => {
                    (format!("{d}.dense.bias"), (shape.clone(), data.clone()))
                }
                [g, "gamma"] => (format!("{g}.weight"), (shape.clone(), data.clone())),
                [g, "beta"] => (format!("{g}.bias"), (shape.clone(), data.clone())),
                _ => (name.clone(), (shape.clone(), data.clone())),
            };
            (format!("module.{n}"), s, d)
        })
        .collect();
    assert!(torch.iter().any(|t| t.0 == "module.dense3.dense.weight"));
    let bytes = weights::encode_with(torch, None);
    let file = weights::parse(&bytes, "scorenet.safetensors").unwrap();
    assert_eq!(file.manifest.sde, sde);
    let loaded = weights::load_score::<IB>(&file, "scorenet.safetensors", &device).unwrap();
    let x = host_tensor::<IB, 2>(
        (0..2 * 784).map(|i| (i % 5) as f64 / 5.0).collect(),
        [2, 784],
        &device,
    );
    let a = pollster::block_on(read_f64(loaded.score(x.clone(), 0.3))).unwrap();
    // read as the notebook's MNIST model, so its denoiser is kept in the pixel range
    assert_eq!(loaded.clip, Some(DenoiserClip::PIXELS));
    let direct = scorelab::model::net::NetScore {
        net,
        arch,
        sde,
        clip: loaded.clip,
        class: None,
    };
    let b = pollster::block_on(read_f64(direct.score(x, 0.3))).unwrap();
    assert_eq!(a, b);
    // A safetensors file that is neither ours nor the notebook's is refused by name.
    let other = weights::encode_with(vec![("w".into(), vec![1], vec![0.0])], None);
    let e = weights::parse(&other, "x.safetensors")
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("embed.0.W"), "{e}");
}

/// `scorelab export --pytorch` (`weights::pytorch::state_dict`) writes exactly the names and
/// shapes of the notebook ScoreNet's `state_dict` (listed here from the notebook's model,
/// not from our code), and reading that file back gives the network bit for bit; other
/// networks and SDEs are refused by name.
#[test]
fn a_unet_exported_as_a_pytorch_state_dict_reads_back_exactly() {
    use scorelab::weights::pytorch;
    let device = Default::default();
    let arch = Architecture::named("unet", 784).unwrap();
    let net = arch.init_seeded::<IB>(5, &device);
    let mut manifest = pytorch::manifest();
    manifest.steps = 1234;
    let bytes = pollster::block_on(weights::to_bytes(&net, &manifest)).unwrap();
    let ours = weights::parse(&bytes, "ours.safetensors").unwrap();
    let sd = pytorch::state_dict(&ours, "ours.safetensors").unwrap();
    // ScoreNet: embed = Sequential(GaussianFourierProjection(W), Linear(256, 256)); conv1-4
    // (no bias), dense1-7 (Dense wraps .dense = Linear), gnorm1-4, tconv4-2 (no bias),
    // tgnorm4-2, tconv1 (with bias).
    let c = [32usize, 64, 128, 256];
    let mut expected: Vec<(String, Vec<usize>)> = vec![
        ("embed.0.W".into(), vec![128]),
        ("embed.1.weight".into(), vec![256, 256]),
        ("embed.1.bias".into(), vec![256]),
        ("conv1.weight".into(), vec![32, 1, 3, 3]),
        ("conv2.weight".into(), vec![64, 32, 3, 3]),
        ("conv3.weight".into(), vec![128, 64, 3, 3]),
        ("conv4.weight".into(), vec![256, 128, 3, 3]),
        ("tconv4.weight".into(), vec![256, 128, 3, 3]),
        ("tconv3.weight".into(), vec![256, 64, 3, 3]),
        ("tconv2.weight".into(), vec![128, 32, 3, 3]),
        ("tconv1.weight".into(), vec![64, 1, 3, 3]),
        ("tconv1.bias".into(), vec![1]),
    ];
    // dense1-4 and gnorm1-4 follow the encoder's channels, dense5-7 and tgnorm4-2 the decoder's
    for (k, ch) in [
        (1, c[0]),
        (2, c[1]),
        (3, c[2]),
        (4, c[3]),
        (5, c[2]),
        (6, c[1]),
        (7, c[0]),
    ] {
        expected.push((format!("dense{k}.dense.weight"), vec![ch, 256]));
        expected.push((format!("dense{k}.dense.bias"), vec![ch]));
    }
    for (k, ch) in [(1, c[0]), (2, c[1]), (3, c[2]), (4, c[3])] {
        expected.push((format!("gnorm{k}.weight"), vec![ch]));
        expected.push((format!("gnorm{k}.bias"), vec![ch]));
    }
    for (k, ch) in [(4, c[2]), (3, c[1]), (2, c[0])] {
        expected.push((format!("tgnorm{k}.weight"), vec![ch]));
        expected.push((format!("tgnorm{k}.bias"), vec![ch]));
    }
    expected.sort();
    let got: Vec<(String, Vec<usize>)> =
        sd.iter().map(|(n, s, _)| (n.clone(), s.clone())).collect();
    assert_eq!(got, expected);
    let back = weights::parse(&weights::encode_with(sd, None), "torch.safetensors").unwrap();
    assert_eq!(back.manifest.sde, ours.manifest.sde);
    assert_eq!(back.manifest.architecture, ours.manifest.architecture);
    assert_eq!(back.tensors, ours.tensors);
    // the toy MLP and a U-Net under another SDE have no PyTorch counterpart
    let mlp = Architecture::named("mlp", 2).unwrap();
    let toy = Manifest {
        architecture: mlp.clone(),
        ..pytorch::manifest()
    };
    let bytes = pollster::block_on(weights::to_bytes(&mlp.init::<IB>(&device), &toy)).unwrap();
    let e = pytorch::state_dict(&weights::parse(&bytes, "toy").unwrap(), "toy")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("toy") && e.contains("mlp") && e.contains("ScoreNet"),
        "{e}"
    );
    let ve = Manifest {
        sde: Sde::from_name("ve").unwrap(),
        ..pytorch::manifest()
    };
    let bytes = pollster::block_on(weights::to_bytes(&net, &ve)).unwrap();
    let e = pytorch::state_dict(&weights::parse(&bytes, "ve").unwrap(), "ve")
        .unwrap_err()
        .to_string();
    assert!(e.contains("ve-notebook"), "{e}");
}

/// Likelihood weighting with importance-sampled t (Song et al. 2021b) trains for likelihood:
/// on ring8 under VE (σ from 0.01 to 50, so uniform t spends most steps at scales far above
/// the data's), the same MLP, data and steps give a model closer in KL to the mixture than the
/// notebook's λ = std² with uniform t. `KL(p‖p_θ) = E_p[log p − log p_θ]`, estimated on exact
/// samples with the exact-trace ODE likelihood (`scorelab likelihood`); the margin is three
/// standard errors of the paired per-sample difference (here: KL 0.461 vs 0.317 nats, a gain
/// of 0.144 ± 0.014; ~80 s).
#[test]
fn likelihood_weighting_with_importance_time_lowers_the_kl() {
    use scorelab::likelihood::{log_likelihood, LikelihoodConfig};
    use scorelab::train::{TimeSampling, Weighting};
    let gmm = preset("ring8").unwrap();
    let sde = Sde::from_name("ve").unwrap();
    let device = Default::default();
    let data = gmm.sample(10_000, Noise::new(1).rng());
    let x = gmm.sample(1000, Noise::new(11).rng());
    let lik = LikelihoodConfig::default();
    let exact = gmm.log_prob_host(&sde, lik.t_end, &x);
    let log_p = |weighting, time_sampling| {
        let cfg = TrainConfig {
            steps: 3000,
            seed: 1,
            weighting,
            time_sampling,
            ..Default::default()
        };
        let arch = mlp(MlpScoreConfig::new(2));
        let mut trainer =
            Trainer::<AB>::new(arch.clone(), sde, cfg.clone(), data.clone(), &device).unwrap();
        for _ in 0..cfg.steps {
            pollster::block_on(trainer.step()).unwrap();
        }
        let manifest = Manifest {
            format_version: weights::FORMAT_VERSION,
            architecture: arch,
            sde,
            data: "ring8".into(),
            steps: cfg.steps,
            training: Some(cfg),
            ema: true,
            metrics: Default::default(),
        };
        let bytes = pollster::block_on(weights::to_bytes(trainer.ema(), &manifest)).unwrap();
        let file = weights::parse(&bytes, "w").unwrap();
        let model = weights::load_score::<AB>(&file, "w", &device).unwrap();
        let xt = host_tensor::<AB, 2>(x.clone(), [x.len() / 2, 2], &device);
        pollster::block_on(log_likelihood(&model, &sde, xt, &lik, 0))
            .unwrap()
            .log_p
    };
    let uniform = log_p(Weighting::Std2, TimeSampling::Uniform);
    let importance = log_p(Weighting::Likelihood, TimeSampling::Importance);
    let n = exact.len() as f64;
    let kl = |m: &[f64]| exact.iter().zip(m).map(|(e, m)| e - m).sum::<f64>() / n;
    let d: Vec<f64> = importance
        .iter()
        .zip(&uniform)
        .map(|(a, b)| a - b)
        .collect();
    let mean = d.iter().sum::<f64>() / n;
    let se = (d.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0) / n).sqrt();
    eprintln!(
        "KL: std2 + uniform t {:.3}, likelihood + importance t {:.3} nats; paired gain {mean:.3} ± {se:.3}",
        kl(&uniform),
        kl(&importance)
    );
    assert!(mean > 3.0 * se, "gain {mean} ± {se}");
}

/// All parameters and Adam moments of a trainer, flattened in a fixed order.
fn training_state(t: &Trainer<AB>) -> Vec<f32> {
    let mut state = pollster::block_on(t.state()).unwrap();
    state.extend(pollster::block_on(weights::host_tensors(t.ema(), "ema.")).unwrap());
    state.sort_by(|a, b| a.0.cmp(&b.0));
    state.into_iter().flat_map(|(_, _, v)| v).collect()
}

/// `--devices N`: two ranks with b rows each (threads on the CPU, gradients averaged by
/// burn-collective's all-reduce) train exactly as one device with 2b rows: every rank draws
/// the global batch and keeps its half, and the mean of two half-batch gradients is the
/// full batch's. What may differ is float rounding (the order of the sums). The tolerance is
/// 1e-6 of the largest entry of the state (weights, Adam moments, EMA) after 30 steps;
/// measured: 7e-10 of it under DSM, 8e-8 under SSM (whose finite differences amplify
/// rounding); the control, one device with b rows (the wrong equivalence), lands at 1e-3 to
/// 4e-3 of it, over 100 tolerances away. Run for DSM and for SSM (whose probes are split
/// with the rows).
#[test]
fn two_devices_train_as_one_device_with_the_doubled_batch() {
    let gmm = preset("two-modes").unwrap();
    let sde = Sde::from_name("vp").unwrap();
    let arch = mlp(MlpScoreConfig::new(2).with_hidden(16).with_layers(2));
    let data = gmm.sample(500, Noise::new(3).rng());
    for objective in ["dsm", "ssm"] {
        let cfg = |batch: usize| TrainConfig {
            batch,
            steps: 30,
            warmup: 5,
            ..TrainConfig::default()
                .with_named_objective(objective)
                .unwrap()
        };
        let run_one = |batch: usize| {
            let device = Default::default();
            let mut t =
                Trainer::<AB>::new(arch.clone(), sde, cfg(batch), data.clone(), &device).unwrap();
            let losses: Vec<f64> = (0..30)
                .map(|_| pollster::block_on(t.step()).unwrap())
                .collect();
            (training_state(&t), losses)
        };
        let ranks: Vec<_> = (0..2)
            .map(|rank| {
                let (arch, cfg, data) = (arch.clone(), cfg(16), data.clone());
                std::thread::spawn(move || {
                    let device = Default::default();
                    let mut t = Trainer::<AB>::new(arch, sde, cfg, data, &device)
                        .unwrap()
                        .sharded(Shard { rank, ranks: 2 })
                        .unwrap();
                    assert_eq!(t.ranks(), 2);
                    let losses: Vec<f64> = (0..30)
                        .map(|_| pollster::block_on(t.step()).unwrap())
                        .collect();
                    t.finish();
                    (training_state(&t), losses)
                })
            })
            .collect();
        let ranks: Vec<_> = ranks.into_iter().map(|h| h.join().unwrap()).collect();
        let (one, one_losses) = run_one(32);
        let (control, _) = run_one(16);
        let scale = one.iter().fold(0f32, |m, v| m.max(v.abs()));
        let tol = 1e-6 * scale;
        let gap = |a: &[f32], b: &[f32]| {
            assert_eq!(a.len(), b.len());
            a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()))
        };
        for (rank, (state, losses)) in ranks.iter().enumerate() {
            let g = gap(state, &one);
            assert!(
                g <= tol,
                "{objective}: rank {rank} differs from one device by {g} (tolerance {tol})"
            );
            // SSM's finite-difference trace divides float32 rounding by its step 2h = 2e-2·std:
            // its losses agree to ~1e-5 of their largest value, not of each (some are ~0).
            let loss_scale = one_losses.iter().fold(0f64, |m, v| m.max(v.abs()));
            for (k, (a, b)) in losses.iter().zip(&one_losses).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-4 * loss_scale,
                    "{objective}: step {k}: loss {a} on two devices, {b} on one"
                );
            }
        }
        // The ranks are replicas: equal to each other bit for bit.
        assert_eq!(gap(&ranks[0].0, &ranks[1].0), 0.0, "{objective}");
        let g = gap(&control, &one);
        assert!(
            g > 100.0 * tol,
            "{objective}: the control (b rows on one device) is only {g} from 2b rows"
        );
    }
}
