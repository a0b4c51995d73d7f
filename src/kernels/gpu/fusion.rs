//! What the GPU kernels' launchers share: the backends they specialise for (burn's CubeCL
//! backend in f32 and its fusion wrapper: `burn::backend::Wgpu` and `Cuda` with the `fusion`
//! feature), the fusion stream's handle container, and the move of a generic tensor's
//! primitive to the concrete type a `TypeId` check found.

use burn::tensor::{backend::Backend, Tensor};
use burn_cubecl::CubeBackend;
use burn_fusion::{Fusion, FusionBackend, FusionRuntime};
use burn_ir::HandleContainer;

use crate::kernels::cpu_ops::cast;

/// The CubeCL backend in f32.
pub(super) type Inner<R, BT> = CubeBackend<R, f32, i32, BT>;
/// burn's fusion over it.
pub(super) type Outer<R, BT> = Fusion<Inner<R, BT>>;
/// The tensors a fusion custom operation reads and writes when it executes.
pub(super) type Handles<R, BT> = HandleContainer<
    <<Inner<R, BT> as FusionBackend>::FusionRuntime as FusionRuntime>::FusionHandle,
>;

/// The tensor's float primitive as `T`, the type the caller checked `B`'s to be.
pub(super) fn prim<B: Backend, const D: usize, T: 'static>(t: &Tensor<B, D>) -> T {
    cast(t.clone().into_primitive().tensor())
}
