//! `SiLU(GroupNorm(h + e))` on the native GPU backends: two CubeCL kernels
//! ([`super::norm_silu_kernels`]) on burn's fusion stream, the gradient written out as a
//! burn autodiff `Backward` (the GPU counterpart of `kernels::norm_silu`, same formulas).
//!
//! Composed from burn's operations, a U-Net block's tail is a broadcast add, GroupNorm's
//! reshape/mean/centre/square/mean/sqrt/divide/affine and SiLU forward, and as many backward:
//! with burn's fusion still about ten launches forward (each reduction its own) and more
//! backward, per block, eight blocks per network evaluation. Here: one launch forward (one
//! cube per sample and group reduces mean and variance in shared memory, then writes y and
//! x̂), one backward (∂h, and per sample and channel the sums giving ∂e, ∂γ, ∂β), plus two
//! small sums over the batch for ∂γ and ∂β.
//!
//! The forward pass keeps x̂ and `1/sqrt(σ² + ε)` per (sample, group) for the backward pass,
//! as the CPU operation does.

use std::any::TypeId;
use std::marker::PhantomData;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::Autodiff;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{backend::Backend, DType, Shape, Tensor, TensorMetadata, TensorPrimitive};
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_dtype;
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::{BoolElement, CubeRuntime};
use burn_fusion::stream::{Operation, OperationStreams};
use burn_fusion::FusionBackend;
use burn_ir::{CustomOpIr, OperationIr, TensorIr};
use cubecl::prelude::*;

use super::fusion::{prim, Handles, Inner, Outer};
use super::norm_silu_kernels::{norm_silu_backward_kernel, norm_silu_forward_kernel, NORM_CUBE};
use crate::kernels::cpu_ops::cast;

/// Sizes of one call: `n` samples of `c` channels in `groups` groups, `p = H·W` pixels.
#[derive(Clone, Copy, Debug)]
struct Dims {
    n: usize,
    c: usize,
    p: usize,
    groups: usize,
}

/// `Some(SiLU(GroupNorm(h + e)))` when `B` is a native GPU backend in f32 (with or without
/// autodiff); `None` otherwise (the caller composes burn's operations).
///
/// # Shapes
/// `h: [n, c, H, W]`, `e: [n, c]`, `gamma, beta: [c]` → `[n, c, H, W]`
pub(super) fn norm_silu<B: Backend>(
    h: &Tensor<B, 4>,
    e: &Tensor<B, 2>,
    gamma: &Tensor<B, 1>,
    beta: &Tensor<B, 1>,
    groups: usize,
    eps: f64,
) -> Option<Tensor<B, 4>> {
    let [n, c, hh, ww] = h.dims();
    if [h.dtype(), e.dtype(), gamma.dtype(), beta.dtype()] != [DType::F32; 4]
        || groups == 0
        || c % groups != 0
        || e.dims() != [n, c]
        || gamma.dims() != [c]
        || beta.dims() != [c]
        || n * groups > 65_535
        || n * c * hh * ww == 0
    {
        return None;
    }
    let d = Dims {
        n,
        c,
        p: hh * ww,
        groups,
    };
    let eps = eps as f32;
    let b = TypeId::of::<B>();
    #[cfg(feature = "wgpu")]
    {
        type R = burn::backend::wgpu::WgpuRuntime;
        if b == TypeId::of::<Outer<R, u32>>() {
            return Some(plain::<B, R, u32>(h, e, gamma, beta, d, eps));
        }
        if b == TypeId::of::<Autodiff<Outer<R, u32>>>() {
            return Some(tracked::<B, R, u32>(h, e, gamma, beta, d, eps));
        }
    }
    #[cfg(feature = "cuda")]
    {
        type R = cubecl::cuda::CudaRuntime;
        if b == TypeId::of::<Outer<R, u8>>() {
            return Some(plain::<B, R, u8>(h, e, gamma, beta, d, eps));
        }
        if b == TypeId::of::<Autodiff<Outer<R, u8>>>() {
            return Some(tracked::<B, R, u8>(h, e, gamma, beta, d, eps));
        }
    }
    let _ = (b, d, eps);
    None
}

/// Without autodiff (sampling): the forward kernel, y only.
fn plain<B: Backend, R: CubeRuntime, BT: BoolElement>(
    h: &Tensor<B, 4>,
    e: &Tensor<B, 2>,
    gamma: &Tensor<B, 1>,
    beta: &Tensor<B, 1>,
    d: Dims,
    eps: f32,
) -> Tensor<B, 4> {
    let (y, _, _) = forward_op::<R, BT>(prim(h), prim(e), prim(gamma), prim(beta), d, eps);
    Tensor::from_primitive(TensorPrimitive::Float(cast(y)))
}

/// With autodiff: the forward kernel, and the backward one registered for the gradient.
fn tracked<B: Backend, R: CubeRuntime, BT: BoolElement>(
    h: &Tensor<B, 4>,
    e: &Tensor<B, 2>,
    gamma: &Tensor<B, 1>,
    beta: &Tensor<B, 1>,
    d: Dims,
    eps: f32,
) -> Tensor<B, 4> {
    type A<R, BT> = Autodiff<Outer<R, BT>>;
    let h: FloatTensor<A<R, BT>> = prim(h);
    let e: FloatTensor<A<R, BT>> = prim(e);
    let gamma: FloatTensor<A<R, BT>> = prim(gamma);
    let beta: FloatTensor<A<R, BT>> = prim(beta);
    let nodes = [
        h.node.clone(),
        e.node.clone(),
        gamma.node.clone(),
        beta.node.clone(),
    ];
    let (g, b) = (gamma.primitive.clone(), beta.primitive.clone());
    let (y, xhat, rstd) =
        forward_op::<R, BT>(h.primitive, e.primitive, g.clone(), b.clone(), d, eps);
    let backward = NormSiluBackward::<R, BT> {
        _backend: PhantomData,
    };
    let y = match backward
        .prepare::<NoCheckpointing>(nodes)
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(
            Saved {
                xhat,
                rstd,
                gamma: g,
                beta: b,
                d,
            },
            y,
        ),
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    Tensor::from_primitive(TensorPrimitive::Float(cast(y)))
}

/// What the backward pass keeps (fusion tensors on the device).
#[derive(Clone, Debug)]
struct Saved<R: CubeRuntime, BT: BoolElement> {
    xhat: FloatTensor<Outer<R, BT>>,
    rstd: FloatTensor<Outer<R, BT>>,
    gamma: FloatTensor<Outer<R, BT>>,
    beta: FloatTensor<Outer<R, BT>>,
    d: Dims,
}

#[derive(Debug)]
struct NormSiluBackward<R, BT> {
    _backend: PhantomData<fn() -> (R, BT)>,
}

impl<R: CubeRuntime, BT: BoolElement> Backward<Outer<R, BT>, 4> for NormSiluBackward<R, BT> {
    type State = Saved<R, BT>;

    fn backward(self, ops: Ops<Self::State, 4>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_h, node_e, node_gamma, node_beta] = ops.parents;
        let s = ops.state;
        let d = s.d;
        let dy = grads.consume::<Outer<R, BT>>(&ops.node);
        let [du, de, dgamma, dbeta] = backward_op::<R, BT>(dy, s.xhat, s.rstd, s.gamma, s.beta, d);
        // ∂γ, ∂β: the per-sample sums summed over the batch.
        let batch_sum = |t: FloatTensor<Outer<R, BT>>| -> FloatTensor<Outer<R, BT>> {
            Tensor::<Outer<R, BT>, 2>::from_primitive(TensorPrimitive::Float(t))
                .sum_dim(0)
                .reshape([d.c])
                .into_primitive()
                .tensor()
        };
        if let Some(node) = node_h {
            grads.register::<Outer<R, BT>>(node.id, du);
        }
        if let Some(node) = node_e {
            grads.register::<Outer<R, BT>>(node.id, de);
        }
        if let Some(node) = node_gamma {
            grads.register::<Outer<R, BT>>(node.id, batch_sum(dgamma));
        }
        if let Some(node) = node_beta {
            grads.register::<Outer<R, BT>>(node.id, batch_sum(dbeta));
        }
    }
}

/// Which kernel a custom operation launches.
#[derive(Clone, Copy, Debug)]
enum Pass {
    Forward { eps: f32 },
    Backward,
}

/// The forward kernel on the fusion stream: `(y, x̂, rstd)`.
///
/// # Shapes
/// `h: [n, c, H, W]`, `e: [n, c]`, `gamma, beta: [c]` → `([n, c, H, W], [n, c, H, W], [n·G])`
fn forward_op<R: CubeRuntime, BT: BoolElement>(
    h: FloatTensor<Outer<R, BT>>,
    e: FloatTensor<Outer<R, BT>>,
    gamma: FloatTensor<Outer<R, BT>>,
    beta: FloatTensor<Outer<R, BT>>,
    d: Dims,
    eps: f32,
) -> (
    FloatTensor<Outer<R, BT>>,
    FloatTensor<Outer<R, BT>>,
    FloatTensor<Outer<R, BT>>,
) {
    let client = h.client.clone();
    let streams = OperationStreams::with_inputs([&h, &e, &gamma, &beta]);
    let shape = h.shape.clone();
    let outs = [
        TensorIr::uninit(client.create_empty_handle(), shape.clone(), DType::F32),
        TensorIr::uninit(client.create_empty_handle(), shape, DType::F32),
        TensorIr::uninit(
            client.create_empty_handle(),
            Shape::new([d.n * d.groups]),
            DType::F32,
        ),
    ];
    let desc = CustomOpIr::new(
        "scorelab_norm_silu_forward",
        &[h.into_ir(), e.into_ir(), gamma.into_ir(), beta.into_ir()],
        &outs,
    );
    let op = NormSiluOp::<R, BT> {
        desc: desc.clone(),
        pass: Pass::Forward { eps },
        d,
        _backend: PhantomData,
    };
    let mut out = client.register(streams, OperationIr::Custom(desc), op);
    let rstd = out.remove(2);
    let xhat = out.remove(1);
    (out.remove(0), xhat, rstd)
}

/// The backward kernel on the fusion stream: `[∂h, ∂e, Σ_p ∂z x̂, Σ_p ∂z]`.
///
/// # Shapes
/// `dy, xhat: [n, c, H, W]`, `rstd: [n·G]`, `gamma, beta: [c]` →
/// `[[n, c, H, W], [n, c], [n, c], [n, c]]`
fn backward_op<R: CubeRuntime, BT: BoolElement>(
    dy: FloatTensor<Outer<R, BT>>,
    xhat: FloatTensor<Outer<R, BT>>,
    rstd: FloatTensor<Outer<R, BT>>,
    gamma: FloatTensor<Outer<R, BT>>,
    beta: FloatTensor<Outer<R, BT>>,
    d: Dims,
) -> [FloatTensor<Outer<R, BT>>; 4] {
    let client = dy.client.clone();
    let streams = OperationStreams::with_inputs([&dy, &xhat, &rstd, &gamma, &beta]);
    let per_channel = || {
        TensorIr::uninit(
            client.create_empty_handle(),
            Shape::new([d.n, d.c]),
            DType::F32,
        )
    };
    let outs = [
        TensorIr::uninit(client.create_empty_handle(), dy.shape.clone(), DType::F32),
        per_channel(),
        per_channel(),
        per_channel(),
    ];
    let desc = CustomOpIr::new(
        "scorelab_norm_silu_backward",
        &[
            dy.into_ir(),
            xhat.into_ir(),
            rstd.into_ir(),
            gamma.into_ir(),
            beta.into_ir(),
        ],
        &outs,
    );
    let op = NormSiluOp::<R, BT> {
        desc: desc.clone(),
        pass: Pass::Backward,
        d,
        _backend: PhantomData,
    };
    let out = client.register(streams, OperationIr::Custom(desc), op);
    out.try_into()
        .unwrap_or_else(|_| unreachable!("four outputs registered"))
}

/// The custom operation: run when the fusion stream reaches it, on the concrete tensors.
struct NormSiluOp<R, BT> {
    desc: CustomOpIr,
    pass: Pass,
    d: Dims,
    _backend: PhantomData<fn() -> (R, BT)>,
}

impl<R, BT> std::fmt::Debug for NormSiluOp<R, BT> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "scorelab GroupNorm+SiLU {:?} {:?}", self.pass, self.d)
    }
}

impl<R: CubeRuntime, BT: BoolElement> Operation<<Inner<R, BT> as FusionBackend>::FusionRuntime>
    for NormSiluOp<R, BT>
{
    fn execute(&self, handles: &mut Handles<R, BT>) {
        match self.pass {
            Pass::Forward { eps } => {
                let ([h, e, gamma, beta], [y, xhat, rstd]) = self.desc.as_fixed();
                let mut get = |t| into_contiguous(handles.get_float_tensor::<Inner<R, BT>>(t));
                let (h, e, gamma, beta) = (get(h), get(e), get(gamma), get(beta));
                let [ty, tx, tr] = launch_forward(h, e, gamma, beta, self.d, eps);
                handles.register_float_tensor::<Inner<R, BT>>(&y.id, ty);
                handles.register_float_tensor::<Inner<R, BT>>(&xhat.id, tx);
                handles.register_float_tensor::<Inner<R, BT>>(&rstd.id, tr);
            }
            Pass::Backward => {
                let ([dy, xhat, rstd, gamma, beta], outs) = self.desc.as_fixed::<5, 4>();
                let mut get = |t| into_contiguous(handles.get_float_tensor::<Inner<R, BT>>(t));
                let (dy, xhat, rstd) = (get(dy), get(xhat), get(rstd));
                let (gamma, beta) = (get(gamma), get(beta));
                let results = launch_backward(dy, xhat, rstd, gamma, beta, self.d);
                for (ir, t) in outs.iter().zip(results) {
                    handles.register_float_tensor::<Inner<R, BT>>(&ir.id, t);
                }
            }
        }
    }
}

/// Threads per cube: a power of two, at most [`NORM_CUBE`], the device's limit, and the
/// group's size rounded up.
fn cube_units<R: CubeRuntime>(client: &ComputeClient<R>, m: usize) -> u32 {
    let max = client.properties().hardware.max_cube_dim.0.min(NORM_CUBE);
    let mut units = 32u32.min(max);
    while units < max && (units as usize) < m {
        units *= 2;
    }
    units
}

fn launch_forward<R: CubeRuntime>(
    h: CubeTensor<R>,
    e: CubeTensor<R>,
    gamma: CubeTensor<R>,
    beta: CubeTensor<R>,
    d: Dims,
    eps: f32,
) -> [CubeTensor<R>; 3] {
    let client = h.client.clone();
    let device = h.device.clone();
    let empty =
        |shape: Shape| empty_device_dtype::<R>(client.clone(), device.clone(), shape, DType::F32);
    let y = empty(h.shape());
    let xhat = empty(h.shape());
    let rstd = empty(Shape::new([d.n * d.groups]));
    let units = cube_units(&client, d.c / d.groups * d.p);
    norm_silu_forward_kernel::launch::<R>(
        &client,
        CubeCount::Static((d.n * d.groups) as u32, 1, 1),
        CubeDim::new_1d(units),
        h.into_tensor_arg(),
        e.into_tensor_arg(),
        gamma.into_tensor_arg(),
        beta.into_tensor_arg(),
        y.clone().into_tensor_arg(),
        xhat.clone().into_tensor_arg(),
        rstd.clone().into_tensor_arg(),
        d.c as u32,
        d.groups as u32,
        d.p as u32,
        eps,
    );
    [y, xhat, rstd]
}

fn launch_backward<R: CubeRuntime>(
    dy: CubeTensor<R>,
    xhat: CubeTensor<R>,
    rstd: CubeTensor<R>,
    gamma: CubeTensor<R>,
    beta: CubeTensor<R>,
    d: Dims,
) -> [CubeTensor<R>; 4] {
    let client = dy.client.clone();
    let device = dy.device.clone();
    let empty =
        |shape: Shape| empty_device_dtype::<R>(client.clone(), device.clone(), shape, DType::F32);
    let du = empty(dy.shape());
    let de = empty(Shape::new([d.n, d.c]));
    let dgamma = empty(Shape::new([d.n, d.c]));
    let dbeta = empty(Shape::new([d.n, d.c]));
    let units = cube_units(&client, d.p.max(d.c / d.groups * d.p / 4));
    norm_silu_backward_kernel::launch::<R>(
        &client,
        CubeCount::Static((d.n * d.groups) as u32, 1, 1),
        CubeDim::new_1d(units),
        dy.into_tensor_arg(),
        xhat.into_tensor_arg(),
        rstd.into_tensor_arg(),
        gamma.into_tensor_arg(),
        beta.into_tensor_arg(),
        du.clone().into_tensor_arg(),
        de.clone().into_tensor_arg(),
        dgamma.clone().into_tensor_arg(),
        dbeta.clone().into_tensor_arg(),
        d.c as u32,
        d.groups as u32,
        d.p as u32,
    );
    [du, de, dgamma, dbeta]
}
