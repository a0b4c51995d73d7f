//! The page's hand-written CPU operations timed in the browser (wasm-bindgen-test in headless
//! Chromium), so the wasm build's SIMD can be measured against the scalar form of the same
//! code: `make bench-wasm-ops` runs this twice, as the page's CPU module is built (`+simd128`,
//! `.cargo/config.toml`) and without SIMD (`-C target-cpu=generic`, its own target
//! directory), and prints both. Not a test (no assertion on time): `make test-wasm` does not
//! run it. Shapes are the image lab's (the shipped U-Net at batch 16) and the toy MLP's
//! (batch 256, width 128); each case repeats until 400 ms have passed and ends in a sum, so
//! the time is the operation's and not a layout copy of its (channels-last) result.
#![cfg(target_arch = "wasm32")]

use burn::backend::{Autodiff, NdArray};
use burn::nn::{GroupNormConfig, LinearConfig};
use burn::optim::SimpleOptimizer;
use burn::tensor::{Distribution, Tensor};
use scorelab::kernels::adam::ClippedAdam;
use scorelab::kernels::cpu_conv::{conv2d, conv_transpose2d};
use scorelab::kernels::linear_silu::linear_silu;
use scorelab::kernels::norm_silu::norm_silu;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

type Cpu = NdArray<f32>;
type CpuAd = Autodiff<Cpu>;

/// Milliseconds per call of `f`, repeated until 400 ms have passed (at least 3 calls).
fn time(name: &str, mut f: impl FnMut()) {
    f(); // warm-up: allocations, first-touch
    let t0 = js_sys::Date::now();
    let mut calls = 0;
    while calls < 3 || js_sys::Date::now() - t0 < 400.0 {
        f();
        calls += 1;
    }
    let ms = (js_sys::Date::now() - t0) / calls as f64;
    console_log!("op {name}: {ms:.3} ms");
}

fn rand<const D: usize, B: burn::tensor::backend::Backend>(shape: [usize; D]) -> Tensor<B, D> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), &Default::default())
}

#[wasm_bindgen_test]
fn ops() {
    let simd = if cfg!(target_feature = "simd128") {
        "simd128"
    } else {
        "scalar"
    };
    console_log!("build {simd}");
    let dev = Default::default();
    // Convolutions: the U-Net's second encoder conv (32 -> 64, 3x3, stride 2, on 26x26) and
    // the matching decoder transposed conv (64 -> 32), batch 16.
    let x = rand::<4, Cpu>([16, 32, 26, 26]);
    let w = rand::<4, Cpu>([64, 32, 3, 3]);
    time("conv2d 16x32x26x26 -> 64, k3 s2", || {
        let _ = conv2d(x.clone(), w.clone(), 2).sum().into_scalar();
    });
    let h = rand::<4, Cpu>([16, 64, 12, 12]);
    let wt = rand::<4, Cpu>([64, 32, 3, 3]);
    time("conv_transpose2d 16x64x12x12 -> 32, k3 s2", || {
        let _ = conv_transpose2d(h.clone(), wt.clone(), 2, 1)
            .sum()
            .into_scalar();
    });
    let xa = rand::<4, CpuAd>([16, 32, 26, 26]).require_grad();
    let wa = rand::<4, CpuAd>([64, 32, 3, 3]).require_grad();
    time("conv2d forward + backward", || {
        let _ = conv2d(xa.clone(), wa.clone(), 2).sum().backward();
    });
    // GroupNorm + SiLU: 64 channels in 32 groups on 12x12, batch 16.
    let norm = GroupNormConfig::new(32, 64).init::<Cpu>(&dev);
    let e = rand::<2, Cpu>([16, 64]);
    time("norm_silu 16x64x12x12", || {
        let _ = norm_silu(h.clone(), e.clone(), &norm, true)
            .sum()
            .into_scalar();
    });
    let norm_ad = GroupNormConfig::new(32, 64).init::<CpuAd>(&dev);
    let ha = rand::<4, CpuAd>([16, 64, 12, 12]).require_grad();
    let ea = rand::<2, CpuAd>([16, 64]).require_grad();
    time("norm_silu forward + backward", || {
        let _ = norm_silu(ha.clone(), ea.clone(), &norm_ad, true)
            .sum()
            .backward();
    });
    // Linear + SiLU: the toy MLP's hidden layer, batch 256.
    let lin = LinearConfig::new(128, 128).init::<Cpu>(&dev);
    let z = rand::<2, Cpu>([256, 128]);
    time("linear_silu 256x128 -> 128", || {
        let _ = linear_silu(z.clone(), &lin).sum().into_scalar();
    });
    let lin_ad = LinearConfig::new(128, 128).init::<CpuAd>(&dev);
    let za = rand::<2, CpuAd>([256, 128]).require_grad();
    time("linear_silu forward + backward", || {
        let _ = linear_silu(za.clone(), &lin_ad).sum().backward();
    });
    // Adam with clipping on a U-Net-sized parameter (1.18 M values).
    let adam = ClippedAdam::new(Some(1.0));
    let theta = rand::<2, Cpu>([288, 4096]);
    let grad = rand::<2, Cpu>([288, 4096]);
    let (_, mut state) = adam.step(1e-3, theta.clone(), grad.clone(), None);
    time("adam 1.18 M parameters", || {
        let (t, s) = adam.step(1e-3, theta.clone(), grad.clone(), state.take());
        state = s;
        let _ = t.sum().into_scalar();
    });
}
