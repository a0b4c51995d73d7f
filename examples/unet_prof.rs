//! Where the U-Net training step spends its time on the CPU backend: the whole network and
//! single layers, burn's own convolution kernels against a plain matmul.
//! `cargo run --release --example unet_prof`
use burn::backend::{Autodiff, NdArray};
use burn::nn::conv::{Conv2dConfig, ConvTranspose2dConfig};
use burn::nn::GroupNormConfig;
use burn::tensor::{Distribution, Tensor};
use scorelab::model::unet::UNetConfig;
use std::time::Instant;
type B = NdArray<f32>;
type AB = Autodiff<B>;
fn t<F: FnMut()>(name: &str, mut f: F) {
    f();
    let s = Instant::now();
    for _ in 0..3 {
        f();
    }
    println!(
        "{name:40} {:8.1} ms",
        s.elapsed().as_secs_f64() * 1000.0 / 3.0
    );
}
fn main() {
    let d = Default::default();
    let net = UNetConfig::new().init::<B>(&d);
    let x = Tensor::<B, 2>::random([32, 784], Distribution::Normal(0.0, 1.0), &d);
    let c = Tensor::<B, 2>::random([32, 1], Distribution::Uniform(0.0, 1.0), &d);
    t("unet forward b32", || {
        let _ = net.forward_raw(x.clone(), c.clone(), None).into_data();
    });
    let anet = UNetConfig::new().init::<AB>(&d);
    let ax = Tensor::<AB, 2>::random([32, 784], Distribution::Normal(0.0, 1.0), &d);
    let ac = Tensor::<AB, 2>::random([32, 1], Distribution::Uniform(0.0, 1.0), &d);
    t("unet fwd+bwd b32", || {
        let l = anet
            .forward_raw(ax.clone(), ac.clone(), None)
            .powi_scalar(2)
            .mean();
        let _ = l.backward();
    });
    let conv = Conv2dConfig::new([64, 128], [3, 3])
        .with_stride([2, 2])
        .init::<AB>(&d);
    let h = Tensor::<AB, 4>::random([32, 64, 12, 12], Distribution::Normal(0.0, 1.0), &d)
        .require_grad();
    t("conv3 fwd", || {
        let _ = conv.forward(h.clone()).into_data();
    });
    t("conv3 fwd+bwd", || {
        let _ = conv.forward(h.clone()).sum().backward();
    });
    let tc = ConvTranspose2dConfig::new([256, 64], [3, 3])
        .with_stride([2, 2])
        .with_padding_out([1, 1])
        .init::<AB>(&d);
    let h5 =
        Tensor::<AB, 4>::random([32, 256, 5, 5], Distribution::Normal(0.0, 1.0), &d).require_grad();
    t("tconv3 fwd", || {
        let _ = tc.forward(h5.clone()).into_data();
    });
    t("tconv3 fwd+bwd", || {
        let _ = tc.forward(h5.clone()).sum().backward();
    });
    let tc2 = ConvTranspose2dConfig::new([128, 32], [3, 3])
        .with_stride([2, 2])
        .with_padding_out([1, 1])
        .init::<AB>(&d);
    let h12 = Tensor::<AB, 4>::random([32, 128, 12, 12], Distribution::Normal(0.0, 1.0), &d)
        .require_grad();
    t("tconv2 fwd", || {
        let _ = tc2.forward(h12.clone()).into_data();
    });
    t("tconv2 fwd+bwd", || {
        let _ = tc2.forward(h12.clone()).sum().backward();
    });
    let gn = GroupNormConfig::new(32, 32).init::<AB>(&d);
    let h26 = Tensor::<AB, 4>::random([32, 32, 26, 26], Distribution::Normal(0.0, 1.0), &d)
        .require_grad();
    t("gnorm 32x26x26 fwd", || {
        let _ = gn.forward(h26.clone()).into_data();
    });
    t("gnorm 32x26x26 fwd+bwd", || {
        let _ = gn.forward(h26.clone()).sum().backward();
    });
    let a = Tensor::<AB, 2>::random([4608, 576], Distribution::Normal(0.0, 1.0), &d);
    let b = Tensor::<AB, 2>::random([576, 128], Distribution::Normal(0.0, 1.0), &d);
    t("matmul 4608x576x128", || {
        let _ = a.clone().matmul(b.clone()).into_data();
    });
}
