//! `SiLU(x·W + b)` on the native GPU backends, the toy MLP's layers (the GPU counterpart of
//! `kernels::linear_silu`): the forward pass is one CubeCL kernel
//! ([`super::linear_silu_kernels`]) in place of a matmul and a fused bias + SiLU, and for the
//! first layer also in place of the Fourier features' matmul, sin, cos and concatenation
//! (the features are computed inside the kernel). The gradient is a burn autodiff
//! `Backward`: `∂z = ∂y ⊙ SiLU'(z)` (one fused element-wise kernel), `∂W = hᵀ∂z`,
//! `∂b = Σ_rows ∂z`, `∂x = (∂z Wᵀ)[:, :d]` with burn's matmuls, which autotuning chooses
//! well; a hand-written matmul would not beat them.
//!
//! Frequencies or times that require a gradient (nothing here asks for one) take the
//! composition.

use std::any::TypeId;
use std::marker::PhantomData;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::Autodiff;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{backend::Backend, DType, Shape, Tensor, TensorPrimitive};
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_dtype;
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::{BoolElement, CubeRuntime};
use burn_fusion::stream::{Operation, OperationStreams};
use burn_fusion::FusionBackend;
use burn_ir::{CustomOpIr, OperationIr, TensorIr};
use cubecl::prelude::*;

use super::fusion::{prim, Handles, Inner, Outer};
use super::linear_silu_kernels::linear_silu_forward_kernel;
use crate::kernels::cpu_ops::cast;

/// Units per cube.
const UNITS: u32 = 256;

/// Sizes of one call: `n` rows of `d` inputs and `f` Fourier frequencies (`in = d + 2f`),
/// `out` outputs.
#[derive(Clone, Copy, Debug)]
struct Dims {
    n: usize,
    d: usize,
    f: usize,
    out: usize,
}

impl Dims {
    fn width(&self) -> usize {
        self.d + 2 * self.f
    }
}

/// `Some(SiLU([x, sin 2πtw, cos 2πtw]·W + b))` (without the features when `fourier` is
/// `None`) when `B` is a native GPU backend in f32, with or without autodiff; `None`
/// elsewhere, and when t or w would need a gradient.
///
/// # Shapes
/// `x: [n, d]`, `fourier: ([n, 1], [F])`, `weight: [d + 2F, out]`, `bias: [out]` → `[n, out]`
pub(super) fn linear_silu<B: Backend>(
    x: &Tensor<B, 2>,
    fourier: Option<(&Tensor<B, 2>, &Tensor<B, 1>)>,
    weight: &Tensor<B, 2>,
    bias: &Tensor<B, 1>,
) -> Option<Tensor<B, 2>> {
    let [n, d] = x.dims();
    let [width, out] = weight.dims();
    let f = fourier.map_or(0, |(_, w)| w.dims()[0]);
    let mut dtypes = vec![x.dtype(), weight.dtype(), bias.dtype()];
    if let Some((t, w)) = fourier {
        if t.dims() != [n, 1] || t.is_require_grad() || w.is_require_grad() {
            return None;
        }
        dtypes.extend([t.dtype(), w.dtype()]);
    }
    if dtypes.iter().any(|t| *t != DType::F32)
        || width != d + 2 * f
        || bias.dims() != [out]
        || n * out == 0
        || n * out > 65_535 * UNITS as usize
    {
        return None;
    }
    let dims = Dims { n, d, f, out };
    let b = TypeId::of::<B>();
    #[cfg(feature = "wgpu")]
    {
        type R = burn::backend::wgpu::WgpuRuntime;
        if b == TypeId::of::<Outer<R, u32>>() {
            return Some(plain::<B, R, u32>(x, fourier, weight, bias, dims));
        }
        if b == TypeId::of::<Autodiff<Outer<R, u32>>>() {
            return Some(tracked::<B, R, u32>(x, fourier, weight, bias, dims));
        }
    }
    #[cfg(feature = "cuda")]
    {
        type R = cubecl::cuda::CudaRuntime;
        if b == TypeId::of::<Outer<R, u8>>() {
            return Some(plain::<B, R, u8>(x, fourier, weight, bias, dims));
        }
        if b == TypeId::of::<Autodiff<Outer<R, u8>>>() {
            return Some(tracked::<B, R, u8>(x, fourier, weight, bias, dims));
        }
    }
    let _ = (b, dims);
    None
}

/// A tensor's primitive on the plain GPU backend, through autodiff when `B` has it.
fn inner<B: Backend, R: CubeRuntime, BT: BoolElement, const D: usize>(
    t: &Tensor<B, D>,
    autodiff: bool,
) -> FloatTensor<Outer<R, BT>> {
    if autodiff {
        let t: FloatTensor<Autodiff<Outer<R, BT>>> = prim(t);
        t.primitive
    } else {
        prim(t)
    }
}

/// The (t, w) primitives, or `x` standing in for both when there are no features (the
/// kernel does not read them then).
fn features<B: Backend, R: CubeRuntime, BT: BoolElement>(
    x: &FloatTensor<Outer<R, BT>>,
    fourier: Option<(&Tensor<B, 2>, &Tensor<B, 1>)>,
    autodiff: bool,
) -> (FloatTensor<Outer<R, BT>>, FloatTensor<Outer<R, BT>>) {
    match fourier {
        Some((t, w)) => (
            inner::<B, R, BT, 2>(t, autodiff),
            inner::<B, R, BT, 1>(w, autodiff),
        ),
        None => (x.clone(), x.clone()),
    }
}

/// Without autodiff (sampling): y only.
fn plain<B: Backend, R: CubeRuntime, BT: BoolElement>(
    x: &Tensor<B, 2>,
    fourier: Option<(&Tensor<B, 2>, &Tensor<B, 1>)>,
    weight: &Tensor<B, 2>,
    bias: &Tensor<B, 1>,
    d: Dims,
) -> Tensor<B, 2> {
    let xp = inner::<B, R, BT, 2>(x, false);
    let (t, w) = features::<B, R, BT>(&xp, fourier, false);
    let [y, _, _] = forward_op::<R, BT>(xp, t, w, prim(weight), prim(bias), d, false);
    Tensor::from_primitive(TensorPrimitive::Float(cast(y)))
}

/// With autodiff: the forward kernel keeps z (and h with features) for the gradient.
fn tracked<B: Backend, R: CubeRuntime, BT: BoolElement>(
    x: &Tensor<B, 2>,
    fourier: Option<(&Tensor<B, 2>, &Tensor<B, 1>)>,
    weight: &Tensor<B, 2>,
    bias: &Tensor<B, 1>,
    d: Dims,
) -> Tensor<B, 2> {
    type A<R, BT> = Autodiff<Outer<R, BT>>;
    let xa: FloatTensor<A<R, BT>> = prim(x);
    let wa: FloatTensor<A<R, BT>> = prim(weight);
    let ba: FloatTensor<A<R, BT>> = prim(bias);
    let nodes = [xa.node.clone(), wa.node.clone(), ba.node.clone()];
    let (t, w) = features::<B, R, BT>(&xa.primitive, fourier, true);
    let [y, z, h] = forward_op::<R, BT>(
        xa.primitive.clone(),
        t,
        w,
        wa.primitive.clone(),
        ba.primitive,
        d,
        true,
    );
    let backward = LinearSiluBackward::<R, BT> {
        _backend: PhantomData,
    };
    let y = match backward
        .prepare::<NoCheckpointing>(nodes)
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(
            Saved {
                h: if d.f > 0 { h } else { xa.primitive },
                z,
                weight: wa.primitive,
                d,
            },
            y,
        ),
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    Tensor::from_primitive(TensorPrimitive::Float(cast(y)))
}

/// What the backward pass keeps: the layer's input h (`x`, or `[x, sin, cos]`), z, W.
#[derive(Clone, Debug)]
struct Saved<R: CubeRuntime, BT: BoolElement> {
    h: FloatTensor<Outer<R, BT>>,
    z: FloatTensor<Outer<R, BT>>,
    weight: FloatTensor<Outer<R, BT>>,
    d: Dims,
}

#[derive(Debug)]
struct LinearSiluBackward<R, BT> {
    _backend: PhantomData<fn() -> (R, BT)>,
}

impl<R: CubeRuntime, BT: BoolElement> Backward<Outer<R, BT>, 3> for LinearSiluBackward<R, BT> {
    type State = Saved<R, BT>;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        type T<R, BT> = Tensor<Outer<R, BT>, 2>;
        let t2 =
            |p: FloatTensor<Outer<R, BT>>| T::<R, BT>::from_primitive(TensorPrimitive::Float(p));
        let [node_x, node_w, node_b] = ops.parents;
        let s = ops.state;
        let d = s.d;
        let dy = t2(grads.consume::<Outer<R, BT>>(&ops.node));
        let z = t2(s.z);
        // SiLU'(z) = σ(z)(1 + z(1 − σ(z)))
        let sig = z.clone().neg().exp().add_scalar(1.0).recip();
        let dz = dy * sig.clone() * (z * (sig.neg().add_scalar(1.0))).add_scalar(1.0);
        if let Some(node) = node_w {
            let dw = t2(s.h).transpose().matmul(dz.clone());
            grads.register::<Outer<R, BT>>(node.id, dw.into_primitive().tensor());
        }
        if let Some(node) = node_b {
            let db = dz.clone().sum_dim(0).reshape([d.out]);
            grads.register::<Outer<R, BT>>(node.id, db.into_primitive().tensor());
        }
        if let Some(node) = node_x {
            let mut dx = dz.matmul(t2(s.weight).transpose());
            if d.f > 0 {
                dx = dx.slice([0..d.n, 0..d.d]);
            }
            grads.register::<Outer<R, BT>>(node.id, dx.into_primitive().tensor());
        }
    }
}

/// The forward kernel on the fusion stream: `[y, z, h]` (z and h one element each unless
/// `keep`; h one element without features).
///
/// # Shapes
/// `x: [n, d]`, `t: [n, 1]`, `w: [F]`, `weight: [d + 2F, out]`, `bias: [out]` →
/// `[[n, out], [n, out], [n, d + 2F]]`
fn forward_op<R: CubeRuntime, BT: BoolElement>(
    x: FloatTensor<Outer<R, BT>>,
    t: FloatTensor<Outer<R, BT>>,
    w: FloatTensor<Outer<R, BT>>,
    weight: FloatTensor<Outer<R, BT>>,
    bias: FloatTensor<Outer<R, BT>>,
    d: Dims,
    keep: bool,
) -> [FloatTensor<Outer<R, BT>>; 3] {
    let client = x.client.clone();
    let streams = OperationStreams::with_inputs([&x, &t, &w, &weight, &bias]);
    let [zs, hs] = shapes(d, keep);
    let outs = [
        TensorIr::uninit(
            client.create_empty_handle(),
            Shape::new([d.n, d.out]),
            DType::F32,
        ),
        TensorIr::uninit(client.create_empty_handle(), zs, DType::F32),
        TensorIr::uninit(client.create_empty_handle(), hs, DType::F32),
    ];
    let desc = CustomOpIr::new(
        "scorelab_linear_silu",
        &[
            x.into_ir(),
            t.into_ir(),
            w.into_ir(),
            weight.into_ir(),
            bias.into_ir(),
        ],
        &outs,
    );
    let op = LinearSiluOp::<R, BT> {
        desc: desc.clone(),
        d,
        keep,
        _backend: PhantomData,
    };
    let out = client.register(streams, OperationIr::Custom(desc), op);
    out.try_into()
        .unwrap_or_else(|_| unreachable!("three outputs registered"))
}

/// Shapes of z and h: full when kept (h only with features), one element otherwise.
fn shapes(d: Dims, keep: bool) -> [Shape; 2] {
    let z = if keep {
        Shape::new([d.n, d.out])
    } else {
        Shape::new([1])
    };
    let h = if keep && d.f > 0 {
        Shape::new([d.n, d.width()])
    } else {
        Shape::new([1])
    };
    [z, h]
}

/// The custom operation: run when the fusion stream reaches it, on the concrete tensors.
struct LinearSiluOp<R, BT> {
    desc: CustomOpIr,
    d: Dims,
    keep: bool,
    _backend: PhantomData<fn() -> (R, BT)>,
}

impl<R, BT> std::fmt::Debug for LinearSiluOp<R, BT> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "scorelab Linear+SiLU {:?} keep={}", self.d, self.keep)
    }
}

impl<R: CubeRuntime, BT: BoolElement> Operation<<Inner<R, BT> as FusionBackend>::FusionRuntime>
    for LinearSiluOp<R, BT>
{
    fn execute(&self, handles: &mut Handles<R, BT>) {
        let ([x, t, w, weight, bias], outs) = self.desc.as_fixed::<5, 3>();
        let mut get = |t| into_contiguous(handles.get_float_tensor::<Inner<R, BT>>(t));
        let (x, t, w) = (get(x), get(t), get(w));
        let (weight, bias) = (get(weight), get(bias));
        let results = launch(x, t, w, weight, bias, self.d, self.keep);
        for (ir, r) in outs.iter().zip(results) {
            handles.register_float_tensor::<Inner<R, BT>>(&ir.id, r);
        }
    }
}

fn launch<R: CubeRuntime>(
    x: CubeTensor<R>,
    t: CubeTensor<R>,
    w: CubeTensor<R>,
    weight: CubeTensor<R>,
    bias: CubeTensor<R>,
    d: Dims,
    keep: bool,
) -> [CubeTensor<R>; 3] {
    let client = x.client.clone();
    let device = x.device.clone();
    let empty =
        |shape: Shape| empty_device_dtype::<R>(client.clone(), device.clone(), shape, DType::F32);
    let [zs, hs] = shapes(d, keep);
    let (y, z, h) = (empty(Shape::new([d.n, d.out])), empty(zs), empty(hs));
    let cubes = (d.n * d.out).div_ceil(UNITS as usize) as u32;
    linear_silu_forward_kernel::launch::<R>(
        &client,
        CubeCount::Static(cubes, 1, 1),
        CubeDim::new_1d(UNITS),
        x.into_tensor_arg(),
        t.into_tensor_arg(),
        w.into_tensor_arg(),
        weight.into_tensor_arg(),
        bias.into_tensor_arg(),
        y.clone().into_tensor_arg(),
        z.clone().into_tensor_arg(),
        h.clone().into_tensor_arg(),
        d.n as u32,
        d.out as u32,
        d.d as u32,
        d.f as u32,
        keep as u32,
    );
    [y, z, h]
}
