//! Cross-check of the U-Net's training gradients against PyTorch: the DSM loss of a weight
//! file's network at a fixed batch (x0, t, z from .npy files), its gradient for every
//! parameter written as safetensors under our parameter names. `benches/grad_check.py` makes
//! the batch, runs the notebook's `loss_fn` in PyTorch on the same weights and compares.
//! `cargo run --release --example grad_check WEIGHTS DIR` (DIR holds x.npy, t.npy, z.npy;
//! grads.safetensors is written there).
use burn::backend::{Autodiff, NdArray};
use burn::module::ParamId;
use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use scorelab::tensor::{host_tensor, read_f32};

type B = NdArray<f32>;
type AB = Autodiff<B>;

fn grad<const D: usize>(g: &GradientsParams, id: ParamId) -> Option<Vec<f32>> {
    g.get::<B, D>(id)
        .map(|t| pollster::block_on(read_f32(t)).unwrap())
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("WEIGHTS");
    let dir = args.next().expect("DIR");
    let f = scorelab::weights::parse(&std::fs::read(&path).unwrap(), &path).unwrap();
    let d = Default::default();
    let net = scorelab::weights::load_trainable::<AB>(&f, "w", &d).unwrap();
    let arch = f.manifest.architecture.clone();
    let sde = f.manifest.sde.clone();
    let read = |n: &str| scorelab::npy::read_matrix(&format!("{dir}/{n}"), None).unwrap();
    let x = read("x.npy");
    let z = read("z.npy");
    let ts = read("t.npy").data;
    let (n, dim) = (x.shape[0], x.shape[1]);
    let std: Vec<f64> = ts.iter().map(|t| sde.std(*t)).collect();
    let x0 = host_tensor::<AB, 2>(x.data, [n, dim], &d);
    let z = host_tensor::<AB, 2>(z.data, [n, dim], &d);
    let xt = x0 + z.clone() * host_tensor::<AB, 2>(std, [n, 1], &d);
    let raw: Tensor<AB, 2> = net.scaled_score(&arch, &sde, xt, &ts, None);
    let loss = (raw + z).powi_scalar(2).sum_dim(1).mean();
    println!(
        "loss {}",
        pollster::block_on(read_f32(loss.clone())).unwrap()[0]
    );
    let g = GradientsParams::from_grads(loss.backward(), &net);
    let mut out = Vec::new();
    for (name, id, shape) in scorelab::weights::param_names(&net) {
        let v = match shape.len() {
            1 => grad::<1>(&g, id),
            2 => grad::<2>(&g, id),
            3 => grad::<3>(&g, id),
            _ => grad::<4>(&g, id),
        };
        match v {
            Some(v) => out.push((name, shape, v)),
            None => println!("no gradient: {name}"),
        }
    }
    let bytes = scorelab::weights::encode_with(out, None);
    std::fs::write(format!("{dir}/grads.safetensors"), bytes).unwrap();
}
