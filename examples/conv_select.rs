//! The notebook U-Net's convolutions on the CPU backend, forward + backward at batch 32:
//! im2col by strided slices (`conv::conv2d`, as on WebGPU), one gather / scatter-add per
//! layer from burn's operations (`conv::conv2d_gather`) and the CPU backend's own
//! operations (`cpu_conv::conv2d`, the CPU's choice; for the whole network also the fused
//! GroupNorm + SiLU), layer by layer and for the whole network.
//! `cargo run --release --example conv_select`
use burn::backend::{Autodiff, NdArray};
use burn::tensor::{Distribution, Tensor};
use scorelab::kernels::conv::{self, Kernels};
use scorelab::kernels::cpu_conv;
use scorelab::model::unet::UNetConfig;
use std::time::Instant;
type AB = Autodiff<NdArray<f32>>;

fn ms<F: FnMut()>(mut f: F) -> f64 {
    f();
    let t = Instant::now();
    for _ in 0..5 {
        f();
    }
    t.elapsed().as_secs_f64() * 200.0
}

fn main() {
    scorelab::alloc::keep_freed_memory(); // as the CLI does
    let d = Default::default();
    let n = 32;
    let rand = |shape: [usize; 4]| {
        Tensor::<AB, 4>::random(shape, Distribution::Normal(0., 1.), &d).require_grad()
    };
    println!(
        "{:34} {:>9} {:>9} {:>9}",
        "layer (fwd+bwd, batch 32)", "slices", "gather", "cpu"
    );
    // (c_in, c_out, side, stride) of the encoder's convolutions.
    for (c, o, h, s) in [
        (1, 32, 28, 1),
        (32, 64, 26, 2),
        (64, 128, 12, 2),
        (128, 256, 5, 2),
    ] {
        let (x, w) = (rand([n, c, h, h]), rand([o, c, 3, 3]));
        let a = ms(|| {
            let _ = conv::conv2d(x.clone(), w.clone(), s).sum().backward();
        });
        let b = ms(|| {
            let _ = conv::conv2d_gather(x.clone(), w.clone(), s)
                .sum()
                .backward();
        });
        let e = ms(|| {
            let _ = cpu_conv::conv2d(x.clone(), w.clone(), s).sum().backward();
        });
        println!(
            "{:34} {a:7.1}ms {b:7.1}ms {e:7.1}ms",
            format!("conv {c}->{o}, {h}x{h}, stride {s}")
        );
    }
    // (c_in, c_out, side, stride, output padding) of the decoder's transposed convolutions.
    for (c, o, h, s, p) in [
        (256, 128, 2, 2, 0),
        (256, 64, 5, 2, 1),
        (128, 32, 12, 2, 1),
        (64, 1, 26, 1, 0),
    ] {
        let (x, w) = (rand([n, c, h, h]), rand([c, o, 3, 3]));
        let a = ms(|| {
            let _ = conv::conv_transpose2d(x.clone(), w.clone(), s, p)
                .sum()
                .backward();
        });
        let b = ms(|| {
            let _ = conv::conv_transpose2d_gather(x.clone(), w.clone(), s, p)
                .sum()
                .backward();
        });
        let e = ms(|| {
            let _ = cpu_conv::conv_transpose2d(x.clone(), w.clone(), s, p)
                .sum()
                .backward();
        });
        println!(
            "{:34} {a:7.1}ms {b:7.1}ms {e:7.1}ms",
            format!("tconv {c}->{o}, {h}x{h}, stride {s}")
        );
    }
    let net = UNetConfig::new().init::<AB>(&d);
    let x = Tensor::<AB, 2>::random([n, 784], Distribution::Normal(0.0, 1.0), &d);
    let t = Tensor::<AB, 2>::random([n, 1], Distribution::Uniform(0.0, 1.0), &d);
    let step = |k| {
        ms(|| {
            let y = net.forward_raw_with(x.clone(), t.clone(), None, k);
            let _ = y.powi_scalar(2).mean().backward();
        })
    };
    let (a, b, e) = (
        step(Kernels::Matmul),
        step(Kernels::Gather),
        step(Kernels::Cpu),
    );
    println!("{:34} {a:7.1}ms {b:7.1}ms {e:7.1}ms", "whole U-Net");
}
