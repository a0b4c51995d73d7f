//! From generic tensors to the kernels of [`super::update`]: the `TypeId` check against the
//! native GPU backends, burn's fusion stream (the kernel is registered as a custom
//! operation) and the launch on the concrete CubeCL runtime.

use std::any::TypeId;
use std::marker::PhantomData;

use burn::tensor::ops::FloatTensor;
use burn::tensor::{backend::Backend, DType, Tensor, TensorMetadata, TensorPrimitive};
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_dtype;
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::{BoolElement, CubeRuntime};
use burn_fusion::stream::{Operation, OperationStreams};
use burn_fusion::{FusionBackend, FusionRuntime};
use burn_ir::{CustomOpIr, HandleContainer, OperationIr, TensorIr};
use cubecl::prelude::*;

use super::fusion::{Inner, Outer};
use super::update::{affine3_kernel, langevin_kernel, CORRECTOR_CUBE};
use crate::kernels::cpu_ops::cast;

/// Units per cube of the element-wise kernel.
const UNITS: u32 = 256;

/// Which update to launch, with its host-side coefficients.
#[derive(Clone, Copy, Debug)]
enum Update {
    /// `c₀ x + c₁ s + c₂ z`
    Affine([f32; 3]),
    /// the corrector with `coef = 2α r²`
    Langevin(f32),
}

pub(super) fn affine3<B: Backend>(
    x: &Tensor<B, 2>,
    s: &Tensor<B, 2>,
    z: &Tensor<B, 2>,
    c: [f32; 3],
) -> Option<Tensor<B, 2>> {
    dispatch(Update::Affine(c), x, s, z)
}

pub(super) fn langevin<B: Backend>(
    x: &Tensor<B, 2>,
    s: &Tensor<B, 2>,
    z: &Tensor<B, 2>,
    coef: f32,
) -> Option<Tensor<B, 2>> {
    dispatch(Update::Langevin(coef), x, s, z)
}

/// `Some` when `B` is one of the native GPU backends in f32 and the three tensors have one
/// shape (and the element-wise grid fits one dimension of cubes).
fn dispatch<B: Backend>(
    update: Update,
    x: &Tensor<B, 2>,
    s: &Tensor<B, 2>,
    z: &Tensor<B, 2>,
) -> Option<Tensor<B, 2>> {
    let dims = x.dims();
    if [x.dtype(), s.dtype(), z.dtype()] != [DType::F32; 3]
        || s.dims() != dims
        || z.dims() != dims
        || dims[0] * dims[1] > 65_535 * UNITS as usize
    {
        return None;
    }
    let b = TypeId::of::<B>();
    #[cfg(feature = "wgpu")]
    {
        type R = burn::backend::wgpu::WgpuRuntime;
        if b == TypeId::of::<Outer<R, u32>>() {
            return Some(on_fusion::<B, R, u32>(update, x, s, z));
        }
    }
    #[cfg(feature = "cuda")]
    {
        type R = cubecl::cuda::CudaRuntime;
        if b == TypeId::of::<Outer<R, u8>>() {
            return Some(on_fusion::<B, R, u8>(update, x, s, z));
        }
    }
    let _ = b;
    None
}

/// Registers the update on burn's fusion stream (the caller checked `B == Outer<R, BT>`).
fn on_fusion<B: Backend, R: CubeRuntime, BT: BoolElement>(
    update: Update,
    x: &Tensor<B, 2>,
    s: &Tensor<B, 2>,
    z: &Tensor<B, 2>,
) -> Tensor<B, 2> {
    let prim = |t: &Tensor<B, 2>| -> FloatTensor<Outer<R, BT>> {
        cast(t.clone().into_primitive().tensor())
    };
    let (x, s, z) = (prim(x), prim(s), prim(z));
    let client = x.client.clone();
    let streams = OperationStreams::with_inputs([&x, &s, &z]);
    let out = TensorIr::uninit(client.create_empty_handle(), x.shape.clone(), x.dtype);
    let desc = CustomOpIr::new(
        "scorelab_sampler_update",
        &[x.into_ir(), s.into_ir(), z.into_ir()],
        &[out],
    );
    let op = UpdateOp::<R, BT> {
        desc: desc.clone(),
        update,
        _backend: PhantomData,
    };
    let y = client
        .register(streams, OperationIr::Custom(desc), op)
        .remove(0);
    Tensor::from_primitive(TensorPrimitive::Float(cast(y)))
}

/// The custom operation on the fusion stream: executed when the stream reaches it, with the
/// inputs' concrete CubeCL tensors.
struct UpdateOp<R, BT> {
    desc: CustomOpIr,
    update: Update,
    _backend: PhantomData<fn() -> (R, BT)>,
}

impl<R, BT> std::fmt::Debug for UpdateOp<R, BT> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "scorelab sampler update {:?}", self.update)
    }
}

impl<R: CubeRuntime, BT: BoolElement> Operation<<Inner<R, BT> as FusionBackend>::FusionRuntime>
    for UpdateOp<R, BT>
{
    fn execute(
        &self,
        handles: &mut HandleContainer<
            <<Inner<R, BT> as FusionBackend>::FusionRuntime as FusionRuntime>::FusionHandle,
        >,
    ) {
        let ([x, s, z], [out]) = self.desc.as_fixed();
        let x = handles.get_float_tensor::<Inner<R, BT>>(x);
        let s = handles.get_float_tensor::<Inner<R, BT>>(s);
        let z = handles.get_float_tensor::<Inner<R, BT>>(z);
        let y = launch(self.update, x, s, z);
        handles.register_float_tensor::<Inner<R, BT>>(&out.id, y);
    }
}

/// Launches the update on contiguous copies (no-ops when already contiguous) of the inputs.
///
/// # Shapes
/// `x, s, z: [n, d]` → `[n, d]`
fn launch<R: CubeRuntime>(
    update: Update,
    x: CubeTensor<R>,
    s: CubeTensor<R>,
    z: CubeTensor<R>,
) -> CubeTensor<R> {
    let (x, s, z) = (into_contiguous(x), into_contiguous(s), into_contiguous(z));
    let shape = x.shape();
    let [n, d] = shape.dims::<2>();
    let client = x.client.clone();
    let out = empty_device_dtype::<R>(client.clone(), x.device.clone(), shape, x.dtype);
    match update {
        Update::Affine([c0, c1, c2]) => {
            let cubes = (n * d).div_ceil(UNITS as usize) as u32;
            affine3_kernel::launch::<R>(
                &client,
                CubeCount::Static(cubes.max(1), 1, 1),
                CubeDim::new_1d(UNITS),
                x.into_tensor_arg(),
                s.into_tensor_arg(),
                z.into_tensor_arg(),
                out.clone().into_tensor_arg(),
                c0,
                c1,
                c2,
            );
        }
        Update::Langevin(coef) => {
            let max = client.properties().hardware.max_cube_dim.0;
            let mut units = CORRECTOR_CUBE;
            while units > max {
                units /= 2;
            }
            langevin_kernel::launch::<R>(
                &client,
                CubeCount::Static(1, 1, 1),
                CubeDim::new_1d(units),
                x.into_tensor_arg(),
                s.into_tensor_arg(),
                z.into_tensor_arg(),
                out.clone().into_tensor_arg(),
                coef,
                n as u32,
                d as u32,
            );
        }
    }
    out
}
