//! A dense layer followed by SiLU, `y = SiLU(x·W + b)`, as one CPU operation with its
//! gradient written out: the hidden layers of the toy MLP ([`crate::model::mlp`]).
//!
//! At the toy sizes (batch 64-512, width 128) a training step is bound by per-operation
//! overhead rather than arithmetic: burn composes the layer from a matmul, a broadcast bias
//! add and SiLU's element-wise passes (see [`super::activation`]), each allocating a tensor
//! and recorded in the autodiff graph, and as many again backward. Here, with
//! `s = σ(z)` and SiLU'(z) = `s·(1 + z·(1 − s))` kept from the forward pass:
//!
//! ```text
//! z = x·W + b,   y = z·σ(z)
//! ∂z = ∂y ⊙ SiLU'(z),   ∂W = xᵀ·∂z,   ∂b = Σ_rows ∂z,   ∂x = ∂z·Wᵀ
//! ```
//!
//! two GEMMs forward-and-one-pass, and two GEMMs plus one pass backward (`∂x` only when x
//! needs it, which the first layer's input does not). burn's `Linear` stores `W` as
//! `[in, out]`, which is what the GEMM reads. Only burn's CPU backend in f32 takes this path
//! ([`super::cpu_ops`]); the native GPU backends take one forward kernel of their own
//! (`crate::kernels::gpu::linear_silu`); other backends compose burn's `Linear` and
//! [`silu`], and the tests compare them. First derivatives only (the energy network, which differentiates an
//! input gradient, does not use this).
//!
//! The MLP's first layer reads `h = [x, sin 2πtw, cos 2πtw]` ([`fourier_linear_silu`]): the
//! features are written straight into the rows of `h` in f32 (burn builds them from a
//! matmul, a scale, `sin` and `cos` in f64, and a `cat`: 10 % of a batch-512 step), and the
//! backward pass splits `∂h = ∂z·Wᵀ` into `∂x` and, when t needs it,
//! `∂t = Σ_f 2πw_f (cos p_f ∂sin_f − sin p_f ∂cos_f)`, `p = 2πtw`.

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::NodeId;
use burn::backend::ndarray::NdArrayTensor;
use burn::nn::Linear;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{backend::Backend, Tensor, TensorMetadata, TensorPrimitive};

use super::activation::silu;
use super::cpu_ops::{
    backend_of, cast, cpu_tensor, fusion_enabled, gemm, per_sample, sigmoid, with_values, Cpu,
    CpuAd, CpuBackend,
};

/// 2π in f32, as burn's scalar multiply rounds it.
const TAU: f32 = std::f32::consts::TAU;

/// `SiLU(layer(x))`: the CPU operation on burn's CPU backend in f32, burn's `Linear` and
/// [`silu`] elsewhere (and for a layer without bias, or with `SCORELAB_FUSE=off`).
///
/// # Shapes
/// `x: [n, in]` → `[n, out]`
pub fn linear_silu<B: Backend>(x: Tensor<B, 2>, layer: &Linear<B>) -> Tensor<B, 2> {
    let weight = layer.weight.val();
    if let Some(bias) = &layer.bias {
        if let Some(y) = crate::kernels::gpu::linear_silu(&x, None, &weight, &bias.val()) {
            return y;
        }
    }
    match (backend_of(&x), backend_of(&weight), &layer.bias) {
        (Some(backend), Some(_), Some(bias)) if fusion_enabled() => {
            let x = x.into_primitive().tensor();
            let w = weight.into_primitive().tensor();
            let b = bias.val().into_primitive().tensor();
            let y = match backend {
                CpuBackend::Autodiff => cast(autodiff_forward(cast(x), cast(w), cast(b))),
                CpuBackend::Plain => cast(forward(&cast(x), &cast(w), &cast(b)).0),
            };
            Tensor::from_primitive(TensorPrimitive::Float(y))
        }
        _ => silu(layer.forward(x)),
    }
}

/// `SiLU(layer([x, sin 2πtw, cos 2πtw]))`, the MLP's first layer with its Gaussian Fourier
/// time features `w` (`[F]`, fixed): one CPU operation on burn's CPU backend in f32 (see the
/// module docs), burn's composition elsewhere ([`fourier_features`] then [`linear_silu`]),
/// and for frequencies that require a gradient.
///
/// # Shapes
/// `x: [n, d]`, `t: [n, 1]`, `w: [F]` → `[n, out]` (the layer reads `d + 2F` inputs)
pub fn fourier_linear_silu<B: Backend>(
    x: Tensor<B, 2>,
    t: Tensor<B, 2>,
    w: Tensor<B, 1>,
    layer: &Linear<B>,
) -> Tensor<B, 2> {
    let weight = layer.weight.val();
    if let Some(bias) = &layer.bias {
        let gpu = crate::kernels::gpu::linear_silu(&x, Some((&t, &w)), &weight, &bias.val());
        if let Some(y) = gpu {
            return y;
        }
    }
    let kinds = [
        backend_of(&x),
        backend_of(&t),
        backend_of(&w),
        backend_of(&weight),
    ];
    match (kinds, &layer.bias) {
        ([Some(backend), Some(_), Some(_), Some(_)], Some(bias))
            if fusion_enabled() && !w.is_require_grad() =>
        {
            let freqs = w
                .into_data()
                .to_vec::<f32>()
                .expect("f32 checked by backend_of");
            let x = x.into_primitive().tensor();
            let t = t.into_primitive().tensor();
            let weight = weight.into_primitive().tensor();
            let b = bias.val().into_primitive().tensor();
            let y = match backend {
                CpuBackend::Autodiff => cast(autodiff_fourier_forward(
                    cast(x),
                    cast(t),
                    freqs,
                    cast(weight),
                    cast(b),
                )),
                CpuBackend::Plain => {
                    let h = fourier_input(&cast(x), &cast(t), &freqs);
                    cast(forward(&h, &cast(weight), &cast(b)).0)
                }
            };
            Tensor::from_primitive(TensorPrimitive::Float(y))
        }
        _ => linear_silu(fourier_features(x, t, w), layer),
    }
}

/// `[x, sin 2πtw, cos 2πtw]` composed from burn's tensor operations.
///
/// # Shapes
/// `x: [n, d]`, `t: [n, 1]`, `w: [F]` → `[n, d + 2F]`
pub fn fourier_features<B: Backend>(
    x: Tensor<B, 2>,
    t: Tensor<B, 2>,
    w: Tensor<B, 1>,
) -> Tensor<B, 2> {
    let proj = t.matmul(w.unsqueeze_dim::<2>(0)) * (2.0 * std::f64::consts::PI); // [n, F]
    Tensor::cat(vec![x, proj.clone().sin(), proj.cos()], 1)
}

/// Rows per thread task in the element-wise passes.
const ROWS_PER_TASK: usize = 64;

/// What the backward pass keeps: x, W (burn's tensors, shared, not copied) and SiLU'(z).
#[derive(Clone, Debug)]
struct Saved {
    n: usize,
    din: usize,
    dout: usize,
    x: NdArrayTensor,
    w: NdArrayTensor,
    slope: Arc<Vec<f32>>,
}

fn forward(x: &NdArrayTensor, w: &NdArrayTensor, b: &NdArrayTensor) -> (NdArrayTensor, Saved) {
    let b = with_values(b, |v| v.to_vec());
    let dout = b.len();
    let din = w.shape().num_elements() / dout;
    let n = x.shape().num_elements() / din;
    let mut y = with_values(x, |x| {
        with_values(w, |w| gemm(n, din, dout, x, false, w, false))
    });
    let mut slope = vec![0f32; y.len()];
    let chunk = ROWS_PER_TASK * dout;
    per_sample(&mut y, &mut slope, chunk, chunk, |_, y, slope| {
        for (y, k) in y.chunks_exact_mut(dout).zip(slope.chunks_exact_mut(dout)) {
            for ((y, k), b) in y.iter_mut().zip(k.iter_mut()).zip(&b) {
                let z = *y + b;
                let s = sigmoid(z);
                *y = z * s;
                *k = s + z * s * (1.0 - s);
            }
        }
    });
    let saved = Saved {
        n,
        din,
        dout,
        x: x.clone(),
        w: w.clone(),
        slope: Arc::new(slope),
    };
    (cpu_tensor(y, &[n, dout]), saved)
}

/// `∂z = ∂y ⊙ SiLU'(z)`.
fn pre_activation_grad(dy: &NdArrayTensor, s: &Saved) -> Vec<f32> {
    let mut dz = with_values(dy, |v| v.to_vec());
    let mut none = vec![0f32; dz.len().div_ceil(ROWS_PER_TASK * s.dout)];
    let chunk = ROWS_PER_TASK * s.dout;
    per_sample(&mut dz, &mut none, chunk, 1, |i, dz, _| {
        let k = &s.slope[i * chunk..i * chunk + dz.len()];
        for (g, k) in dz.iter_mut().zip(k) {
            *g *= k;
        }
    });
    dz
}

/// Registers `∂W = xᵀ·∂z` and `∂b = Σ_rows ∂z` for the parents that track them.
fn register_weight_grads(
    grads: &mut Gradients,
    s: &Saved,
    dz: &[f32],
    node_w: Option<NodeId>,
    node_b: Option<NodeId>,
) {
    if let Some(node) = node_w {
        let dw = with_values(&s.x, |x| gemm(s.din, s.n, s.dout, x, true, dz, false));
        grads.register::<Cpu>(node, cpu_tensor(dw, &[s.din, s.dout]));
    }
    if let Some(node) = node_b {
        let mut db = vec![0f64; s.dout];
        for row in dz.chunks_exact(s.dout) {
            for (d, g) in db.iter_mut().zip(row) {
                *d += *g as f64;
            }
        }
        let db = db.into_iter().map(|v| v as f32).collect();
        grads.register::<Cpu>(node, cpu_tensor(db, &[s.dout]));
    }
}

#[derive(Debug)]
struct LinearSiluBackward;

impl Backward<Cpu, 3> for LinearSiluBackward {
    type State = Saved;

    fn backward(self, ops: Ops<Saved, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w, node_b] = ops.parents;
        let s = ops.state;
        let dy = grads.consume::<Cpu>(&ops.node);
        let dz = pre_activation_grad(&dy, &s);
        if let Some(node) = node_x {
            let dx = with_values(&s.w, |w| gemm(s.n, s.dout, s.din, &dz, false, w, true));
            grads.register::<Cpu>(node.id, cpu_tensor(dx, &[s.n, s.din]));
        }
        register_weight_grads(grads, &s, &dz, node_w.map(|n| n.id), node_b.map(|n| n.id));
    }
}

/// `h = [x, sin p, cos p]`, `p = 2πtw`, written row by row.
///
/// # Shapes
/// `x: [n, d]`, `t: [n, 1]`, `freqs: [F]` → `[n, d + 2F]`
fn fourier_input(x: &NdArrayTensor, t: &NdArrayTensor, freqs: &[f32]) -> NdArrayTensor {
    let n = t.shape().num_elements();
    let d = x.shape().num_elements() / n.max(1);
    let f = freqs.len();
    let din = d + 2 * f;
    let mut h = vec![0f32; n * din];
    with_values(x, |x| {
        with_values(t, |t| {
            for ((h, x), t) in h.chunks_exact_mut(din).zip(x.chunks_exact(d)).zip(t) {
                h[..d].copy_from_slice(x);
                let (sin, cos) = h[d..].split_at_mut(f);
                for ((s, c), w) in sin.iter_mut().zip(cos.iter_mut()).zip(freqs) {
                    (*s, *c) = ((t * w) * TAU).sin_cos();
                }
            }
        })
    });
    cpu_tensor(h, &[n, din])
}

/// The Fourier input layer's state: the dense layer's, with h = [x, sin p, cos p] as its
/// input, and the frequencies for `∂t`.
#[derive(Clone, Debug)]
struct FourierSaved {
    dense: Saved,
    freqs: Arc<Vec<f32>>,
}

#[derive(Debug)]
struct FourierLinearSiluBackward;

impl Backward<Cpu, 4> for FourierLinearSiluBackward {
    type State = FourierSaved;

    fn backward(self, ops: Ops<FourierSaved, 4>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_t, node_w, node_b] = ops.parents;
        let FourierSaved { dense: s, freqs } = ops.state;
        let dy = grads.consume::<Cpu>(&ops.node);
        let dz = pre_activation_grad(&dy, &s);
        let f = freqs.len();
        let d = s.din - 2 * f;
        if node_x.is_some() || node_t.is_some() {
            // ∂h = ∂z·Wᵀ over the rows of W that are needed: x's, and the features' for ∂t.
            let rows = if node_t.is_some() { s.din } else { d };
            let dh = with_values(&s.w, |w| {
                gemm(s.n, s.dout, rows, &dz, false, &w[..rows * s.dout], true)
            });
            if let Some(node) = node_t {
                let dt = with_values(&s.x, |h| {
                    h.chunks_exact(s.din)
                        .zip(dh.chunks_exact(rows))
                        .map(|(h, g)| {
                            let (sin, cos) = h[d..].split_at(f);
                            let (gs, gc) = g[d..].split_at(f);
                            (0..f)
                                .map(|k| TAU * freqs[k] * (cos[k] * gs[k] - sin[k] * gc[k]))
                                .sum::<f32>()
                        })
                        .collect()
                });
                grads.register::<Cpu>(node.id, cpu_tensor(dt, &[s.n, 1]));
            }
            if let Some(node) = node_x {
                let dx = if rows == d {
                    dh
                } else {
                    dh.chunks_exact(rows)
                        .flat_map(|r| &r[..d])
                        .copied()
                        .collect()
                };
                grads.register::<Cpu>(node.id, cpu_tensor(dx, &[s.n, d]));
            }
        }
        register_weight_grads(grads, &s, &dz, node_w.map(|n| n.id), node_b.map(|n| n.id));
    }
}

fn autodiff_fourier_forward(
    x: FloatTensor<CpuAd>,
    t: FloatTensor<CpuAd>,
    freqs: Vec<f32>,
    w: FloatTensor<CpuAd>,
    b: FloatTensor<CpuAd>,
) -> FloatTensor<CpuAd> {
    let nodes = [
        x.node.clone(),
        t.node.clone(),
        w.node.clone(),
        b.node.clone(),
    ];
    let h = fourier_input(&x.primitive, &t.primitive, &freqs);
    let (y, dense) = forward(&h, &w.primitive, &b.primitive);
    let saved = FourierSaved {
        dense,
        freqs: Arc::new(freqs),
    };
    match FourierLinearSiluBackward
        .prepare::<NoCheckpointing>(nodes)
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(saved, y),
        OpsKind::UnTracked(prep) => prep.finish(y),
    }
}

fn autodiff_forward(
    x: FloatTensor<CpuAd>,
    w: FloatTensor<CpuAd>,
    b: FloatTensor<CpuAd>,
) -> FloatTensor<CpuAd> {
    let nodes = [x.node.clone(), w.node.clone(), b.node.clone()];
    let (y, saved) = forward(&x.primitive, &w.primitive, &b.primitive);
    match LinearSiluBackward
        .prepare::<NoCheckpointing>(nodes)
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(saved, y),
        OpsKind::UnTracked(prep) => prep.finish(y),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::AutodiffModule;
    use burn::nn::LinearConfig;
    use burn::tensor::{Distribution, Tolerance};

    /// Value and the gradients of x, W and b equal burn's `Linear` + SiLU, at a batch that
    /// is not a multiple of the task size, with a transposed (non-contiguous) input.
    #[test]
    fn fused_layer_equals_burn_in_value_and_gradients() {
        let d = Default::default();
        let normal = Distribution::Normal(0., 1.);
        let layer = LinearConfig::new(7, 5).init::<CpuAd>(&d);
        let x = Tensor::<CpuAd, 2>::random([7, 150], normal, &d)
            .transpose()
            .require_grad();
        let r = Tensor::<CpuAd, 2>::random([150, 5], normal, &d);
        let run = |fused: bool| {
            let y = if fused {
                linear_silu(x.clone(), &layer)
            } else {
                silu(layer.forward(x.clone()))
            };
            let g = (y.clone() * r.clone()).sum().backward();
            let gw = layer.weight.val().grad(&g).unwrap();
            let gb = layer.bias.as_ref().unwrap().val().grad(&g).unwrap();
            (y.inner(), x.grad(&g).unwrap(), gw, gb)
        };
        let (a, b) = (run(true), run(false));
        let tol = Tolerance::rel_abs(1e-5, 1e-5);
        a.0.into_data()
            .assert_approx_eq::<f32>(&b.0.into_data(), tol);
        a.1.into_data()
            .assert_approx_eq::<f32>(&b.1.into_data(), tol);
        a.2.into_data()
            .assert_approx_eq::<f32>(&b.2.into_data(), tol);
        a.3.into_data()
            .assert_approx_eq::<f32>(&b.3.into_data(), tol);
    }

    /// The Fourier input layer: value and the gradients of x, t, W and b equal burn's
    /// composition (features, `cat`, `Linear`, SiLU), with t tracked (all rows of ∂h) and
    /// untracked (x's rows only), at frequencies of the notebook's scale (|2πtw| ~ 100).
    #[test]
    fn fourier_layer_equals_burn_in_value_and_gradients() {
        let d = Default::default();
        let normal = Distribution::Normal(0., 1.);
        let (n, dim, f) = (130, 3, 6);
        let layer = LinearConfig::new(dim + 2 * f, 5).init::<CpuAd>(&d);
        let freqs = Tensor::<CpuAd, 1>::random([f], Distribution::Normal(0., 16.), &d);
        let r = Tensor::<CpuAd, 2>::random([n, 5], normal, &d);
        for t_tracked in [true, false] {
            let x = Tensor::<CpuAd, 2>::random([n, dim], normal, &d).require_grad();
            let t = Tensor::<CpuAd, 2>::random([n, 1], Distribution::Uniform(0., 1.), &d);
            let t = if t_tracked { t.require_grad() } else { t };
            let run = |fused: bool| {
                let y = if fused {
                    fourier_linear_silu(x.clone(), t.clone(), freqs.clone(), &layer)
                } else {
                    linear_silu(
                        fourier_features(x.clone(), t.clone(), freqs.clone()),
                        &layer,
                    )
                };
                let g = (y.clone() * r.clone()).sum().backward();
                let gw = layer.weight.val().grad(&g).unwrap();
                let gb = layer.bias.as_ref().unwrap().val().grad(&g).unwrap();
                (y.inner(), x.grad(&g).unwrap(), t.grad(&g), gw, gb)
            };
            let (a, b) = (run(true), run(false));
            let tol = Tolerance::rel_abs(1e-4, 1e-4);
            a.0.into_data()
                .assert_approx_eq::<f32>(&b.0.into_data(), tol);
            a.1.into_data()
                .assert_approx_eq::<f32>(&b.1.into_data(), tol);
            assert_eq!(a.2.is_some(), t_tracked);
            if let (Some(ga), Some(gb)) = (a.2, b.2) {
                // ∂t carries 2πw ~ 100: compare relative to its scale.
                let scale = gb.clone().abs().max().into_scalar() as f64;
                let diff = (ga - gb).abs().max().into_scalar() as f64;
                assert!(diff < 1e-4 * scale, "dt: max diff {diff} at scale {scale}");
            }
            a.3.into_data()
                .assert_approx_eq::<f32>(&b.3.into_data(), tol);
            a.4.into_data()
                .assert_approx_eq::<f32>(&b.4.into_data(), tol);
        }
        let x = Tensor::<Cpu, 2>::random([9, dim], normal, &d);
        let t = Tensor::<Cpu, 2>::random([9, 1], Distribution::Uniform(0., 1.), &d);
        let (freqs, layer) = (freqs.inner(), layer.valid());
        let a = fourier_linear_silu(x.clone(), t.clone(), freqs.clone(), &layer).into_data();
        let b = linear_silu(fourier_features(x, t, freqs), &layer).into_data();
        a.assert_approx_eq::<f32>(&b, Tolerance::rel_abs(1e-4, 1e-5));
    }

    /// Without autodiff: the same values as burn's composition.
    #[test]
    fn plain_backend_gives_burns_values() {
        let d = Default::default();
        let layer = LinearConfig::new(3, 4).init::<Cpu>(&d);
        let x = Tensor::<Cpu, 2>::random([9, 3], Distribution::Normal(0., 1.), &d);
        let a = linear_silu(x.clone(), &layer).into_data();
        let b = silu(layer.forward(x)).into_data();
        a.assert_approx_eq::<f32>(&b, Tolerance::rel_abs(1e-5, 1e-6));
    }
}
