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

/// The samplers' update kernels (`scorelab::kernels::gpu`) on wgpu equal burn's composition
/// of the same formulas, for particle clouds smaller and larger than the corrector's cube,
/// 2-D and image-sized; on the CPU backend they decline (`None`).
#[test]
fn the_sampler_update_kernels_equal_the_composition() {
    use scorelab::kernels::gpu::{affine3, langevin_corrector};
    let device = Default::default();
    let cloud = |n: usize, d: usize, seed: f64| -> Vec<f64> {
        (0..n * d)
            .map(|i| ((i as f64 + seed) * 0.731).sin() * (1.0 + seed))
            .collect()
    };
    let close = |ours: Vec<f64>, theirs: Vec<f64>, what: &str| {
        assert_eq!(ours.len(), theirs.len());
        for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
            assert!(
                (a - b).abs() <= 2e-5 * b.abs().max(1.0),
                "{what}: element {i}: kernel {a} vs composition {b}"
            );
        }
    };
    for (n, d) in [(1usize, 2usize), (64, 2), (1000, 2), (4, 784), (300, 3)] {
        let t = |seed: f64| host_tensor::<Wgpu, 2>(cloud(n, d, seed), [n, d], &device);
        let (x, s, z) = (t(0.0), t(1.0), t(2.0));
        let c = [0.97, 0.031, 0.2];
        let ours = affine3(&x, &s, &z, c).expect("wgpu runs the kernel");
        let theirs = x.clone() * c[0] + s.clone() * c[1] + z.clone() * c[2];
        close(
            pollster::block_on(read_f64(ours)).unwrap(),
            pollster::block_on(read_f64(theirs)).unwrap(),
            &format!("affine3 [{n}, {d}]"),
        );
        let coef = 2.0 * 0.98 * 0.16 * 0.16;
        let ours = langevin_corrector(&x, &s, &z, coef).expect("wgpu runs the kernel");
        let grad = (s.clone() * s.clone()).sum_dim(1).sqrt().mean();
        let noise = (z.clone() * z.clone()).sum_dim(1).sqrt().mean();
        let ratio = noise / grad;
        let eps = (ratio.clone() * ratio * coef).reshape([1, 1]);
        let theirs = x + s * eps.clone() + z * (eps * 2.0).sqrt();
        close(
            pollster::block_on(read_f64(ours)).unwrap(),
            pollster::block_on(read_f64(theirs)).unwrap(),
            &format!("langevin [{n}, {d}]"),
        );
    }
    let cpu = host_tensor::<NdArray<f32>, 2>(cloud(3, 2, 0.0), [3, 2], &Default::default());
    assert!(affine3(&cpu, &cpu, &cpu, [1.0; 3]).is_none());
    assert!(langevin_corrector(&cpu, &cpu, &cpu, 1.0).is_none());
}

/// The U-Net on wgpu runs burn's own convolution kernels (natively, `conv::Kernels`): the
/// same weights give the same scores there as on the CPU's own convolutions.
#[test]
fn the_unet_scores_the_same_on_wgpu_and_the_cpu() {
    let arch = Architecture::named("unet", 784).unwrap();
    let sde = Sde::from_name("ve-notebook").unwrap();
    let cpu_net = arch.init::<NdArray<f32>>(&Default::default());
    let manifest = Manifest {
        format_version: weights::FORMAT_VERSION,
        architecture: arch,
        sde,
        data: "mnist".into(),
        steps: 0,
        training: None,
        ema: false,
        metrics: Default::default(),
    };
    let bytes = pollster::block_on(weights::to_bytes(&cpu_net, &manifest)).unwrap();
    let file = weights::parse(&bytes, "w").unwrap();
    let device = Default::default();
    let gpu = weights::load_score::<Wgpu>(&file, "w", &device).unwrap();
    let cpu = weights::load_score::<NdArray<f32>>(&file, "w", &Default::default()).unwrap();
    let pixels: Vec<f64> = (0..3 * 784)
        .map(|i| ((i as f64 * 0.377).sin() + 1.0) / 2.0)
        .collect();
    for t in [0.05, 0.5] {
        let a = pollster::block_on(read_f64(
            gpu.score(host_tensor::<Wgpu, 2>(pixels.clone(), [3, 784], &device), t),
        ))
        .unwrap();
        let b = pollster::block_on(read_f64(cpu.score(
            host_tensor::<NdArray<f32>, 2>(pixels.clone(), [3, 784], &Default::default()),
            t,
        )))
        .unwrap();
        let scale = b.iter().map(|v| v.abs()).fold(0.0, f64::max);
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert!(
                (x - y).abs() < 1e-3 * scale,
                "t = {t}, pixel {i}: wgpu {x} vs cpu {y} (largest |score| {scale})"
            );
        }
    }
}

/// `SiLU(GroupNorm(h + e))` as the two GPU kernels (forward, and the gradient written out)
/// against burn's composition on wgpu: the value and the gradients with respect to h, e, γ
/// and β, on the U-Net's group shapes (1 to 8 channels per group; groups larger than a cube
/// and smaller than one) and without autodiff (sampling). Tolerance: float32 reassociation
/// of the group sums, 1e-4 of the largest entry (a wrong term in the gradient is O(1) of it).
#[test]
fn the_groupnorm_silu_kernels_equal_the_composition() {
    use burn::module::{AutodiffModule, Param};
    use burn::nn::GroupNormConfig;
    use burn::tensor::Tensor;
    use scorelab::kernels::norm_silu::norm_silu;
    type A = Autodiff<Wgpu>;
    let device = Default::default();
    let values = |len: usize, seed: f64| -> Vec<f64> {
        (0..len)
            .map(|i| ((i as f64 * 0.377 + seed) * 1.731).sin() * (1.0 + 0.5 * seed))
            .collect()
    };
    // `floor`: the size of the terms a sum adds (∂e = Σ_p ∂h cancels to 0 in a one-channel
    // group: its rounding is that of the ∂h it sums)
    let close = |ours: Vec<f64>, theirs: Vec<f64>, floor: f64, what: &str| {
        assert_eq!(ours.len(), theirs.len(), "{what}");
        let scale = theirs.iter().fold(floor, |m, v| m.max(v.abs()));
        for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
            assert!(
                (a - b).abs() <= 1e-4 * scale,
                "{what}: element {i}: kernel {a} vs composition {b} (scale {scale})"
            );
        }
    };
    for (n, c, hw, groups) in [
        (2usize, 32usize, 7usize, 4usize),
        (3, 64, 5, 32),
        (1, 8, 28, 4),
        (2, 4, 3, 4),
        (4, 256, 3, 32),
    ] {
        let what = format!("[{n}, {c}, {hw}, {hw}] in {groups} groups");
        let mut norm = GroupNormConfig::new(groups, c).init::<A>(&device);
        // γ, β away from 1, 0, so that their roles and gradients show
        let gv: Vec<f64> = values(c, 3.0).iter().map(|v| 1.0 + 0.3 * v).collect();
        let bv: Vec<f64> = values(c, 4.0).iter().map(|v| 0.2 * v).collect();
        norm.gamma = Some(Param::from_tensor(host_tensor::<A, 1>(gv, [c], &device)));
        norm.beta = Some(Param::from_tensor(host_tensor::<A, 1>(bv, [c], &device)));
        let h = host_tensor::<A, 4>(values(n * c * hw * hw, 1.0), [n, c, hw, hw], &device);
        let e = host_tensor::<A, 2>(values(n * c, 2.0), [n, c], &device);
        let w = host_tensor::<A, 4>(values(n * c * hw * hw, 5.0), [n, c, hw, hw], &device);
        let run = |fused: bool| {
            let (h, e) = (h.clone().require_grad(), e.clone().require_grad());
            let y = norm_silu(h.clone(), e.clone(), &norm, fused);
            let grads = (y.clone() * w.clone()).sum().backward();
            let flat4 = |t: Tensor<Wgpu, 4>| t.reshape([n * c * hw * hw]);
            let flat2 = |t: Tensor<Wgpu, 2>| t.reshape([n * c]);
            let gh = flat4(h.grad(&grads).unwrap());
            let ge = flat2(e.grad(&grads).unwrap());
            let gg = norm.gamma.as_ref().unwrap().grad(&grads).unwrap();
            let gb = norm.beta.as_ref().unwrap().grad(&grads).unwrap();
            let v = |t: Tensor<Wgpu, 1>| pollster::block_on(read_f64(t)).unwrap();
            [v(flat4(y.inner())), v(gh), v(ge), v(gg), v(gb)]
        };
        let (gamma, beta) = (
            norm.gamma.as_ref().unwrap().val(),
            norm.beta.as_ref().unwrap().val(),
        );
        assert!(
            scorelab::kernels::gpu::norm_silu(&h, &e, &gamma, &beta, groups, 1e-5).is_some(),
            "{what}: the kernel runs on Autodiff<Wgpu>"
        );
        let ours = run(true);
        let theirs = run(false);
        let dh_scale = theirs[1].iter().fold(0f64, |m, v| m.max(v.abs()));
        for (k, name) in ["y", "dh", "de", "dgamma", "dbeta"].iter().enumerate() {
            let floor = if *name == "de" { dh_scale } else { 1e-3 };
            close(
                ours[k].clone(),
                theirs[k].clone(),
                floor,
                &format!("{what}: {name}"),
            );
        }
        // without autodiff (the samplers): the forward kernel alone
        let plain = norm.valid();
        let y = norm_silu(h.clone().inner(), e.clone().inner(), &plain, true);
        let y0 = norm_silu(h.clone().inner(), e.clone().inner(), &plain, false);
        close(
            pollster::block_on(read_f64(y.reshape([n * c * hw * hw]))).unwrap(),
            pollster::block_on(read_f64(y0.reshape([n * c * hw * hw]))).unwrap(),
            1e-3,
            &format!("{what}: y without autodiff"),
        );
    }
    let cpu = host_tensor::<NdArray<f32>, 4>(values(8, 0.0), [1, 2, 2, 2], &Default::default());
    let ce = host_tensor::<NdArray<f32>, 2>(values(2, 0.0), [1, 2], &Default::default());
    let cg = host_tensor::<NdArray<f32>, 1>(values(2, 0.0), [2], &Default::default());
    assert!(scorelab::kernels::gpu::norm_silu(&cpu, &ce, &cg, &cg, 2, 1e-5).is_none());
}

/// The toy MLP's `SiLU(h·W + b)` as one GPU kernel (the first layer with its Fourier
/// features computed inside it), gradient through burn's matmuls, against burn's
/// composition on wgpu: value and the gradients with respect to x, W and b, with and without
/// features, and without autodiff. Tolerance: float32 reassociation of the dot products and
/// sin/cos of arguments up to ~2π·30, 1e-4 of the largest entry.
#[test]
fn the_linear_silu_kernel_equals_the_composition() {
    use burn::module::{AutodiffModule, Param};
    use burn::nn::LinearConfig;
    use burn::tensor::Tensor;
    use scorelab::kernels::activation::silu;
    use scorelab::kernels::linear_silu::{fourier_features, fourier_linear_silu, linear_silu};
    type A = Autodiff<Wgpu>;
    let device = Default::default();
    let values = |len: usize, seed: f64| -> Vec<f64> {
        (0..len)
            .map(|i| ((i as f64 * 0.377 + seed) * 1.731).sin() * (1.0 + 0.5 * seed))
            .collect()
    };
    let close = |ours: Vec<f64>, theirs: Vec<f64>, what: &str| {
        assert_eq!(ours.len(), theirs.len(), "{what}");
        let scale = theirs.iter().fold(1e-3f64, |m, v| m.max(v.abs()));
        for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
            assert!(
                (a - b).abs() <= 1e-4 * scale,
                "{what}: element {i}: kernel {a} vs composition {b} (scale {scale})"
            );
        }
    };
    let v = |t: Tensor<Wgpu, 2>| {
        let n = t.shape().num_elements();
        pollster::block_on(read_f64(t.reshape([n]))).unwrap()
    };
    // (rows, inputs, Fourier frequencies, outputs): hidden layers and first layers
    for (n, d, f, out) in [
        (64, 128, 0, 128),
        (7, 3, 0, 5),
        (64, 2, 16, 128),
        (20, 50, 8, 33),
    ] {
        let what = format!("[{n}, {d}] + {f} features -> {out}");
        let mut layer = LinearConfig::new(d + 2 * f, out).init::<A>(&device);
        let bv: Vec<f64> = values(out, 4.0).iter().map(|v| 0.2 * v).collect();
        layer.bias = Some(Param::from_tensor(host_tensor::<A, 1>(bv, [out], &device)));
        let x = host_tensor::<A, 2>(values(n * d, 1.0), [n, d], &device);
        let t = host_tensor::<A, 2>(
            (0..n).map(|i| 0.01 + 0.98 * i as f64 / n as f64).collect(),
            [n, 1],
            &device,
        );
        let w = host_tensor::<A, 1>(
            values(f.max(1), 2.0)
                .iter()
                .map(|v| 10.0 * v)
                .take(f)
                .collect(),
            [f],
            &device,
        );
        let wy = host_tensor::<A, 2>(values(n * out, 5.0), [n, out], &device);
        let run = |kernel: bool| {
            let x = x.clone().require_grad();
            let y = match (kernel, f) {
                (true, 0) => linear_silu(x.clone(), &layer),
                (true, _) => fourier_linear_silu(x.clone(), t.clone(), w.clone(), &layer),
                (false, 0) => silu(layer.forward(x.clone())),
                (false, _) => {
                    silu(layer.forward(fourier_features(x.clone(), t.clone(), w.clone())))
                }
            };
            let grads = (y.clone() * wy.clone()).sum().backward();
            [
                v(y.inner()),
                v(x.grad(&grads).unwrap()),
                v(layer.weight.grad(&grads).unwrap()),
                v(layer
                    .bias
                    .as_ref()
                    .unwrap()
                    .grad(&grads)
                    .unwrap()
                    .unsqueeze_dim(0)),
            ]
        };
        let bias = layer.bias.as_ref().unwrap().val();
        let fourier = (f > 0).then_some((&t, &w));
        assert!(
            scorelab::kernels::gpu::linear_silu(&x, fourier, &layer.weight.val(), &bias).is_some(),
            "{what}: the kernel runs on Autodiff<Wgpu>"
        );
        let ours = run(true);
        let theirs = run(false);
        for (k, name) in ["y", "dx", "dW", "db"].iter().enumerate() {
            close(
                ours[k].clone(),
                theirs[k].clone(),
                &format!("{what}: {name}"),
            );
        }
        // without autodiff (the samplers)
        let plain = layer.valid();
        let (xi, ti, wi) = (x.clone().inner(), t.clone().inner(), w.clone().inner());
        let (y, y0) = if f == 0 {
            (linear_silu(xi.clone(), &plain), silu(plain.forward(xi)))
        } else {
            (
                fourier_linear_silu(xi.clone(), ti.clone(), wi.clone(), &plain),
                silu(plain.forward(fourier_features(xi, ti, wi))),
            )
        };
        close(v(y), v(y0), &format!("{what}: y without autodiff"));
    }
}
