//! Small helpers between host vectors and backend tensors. Every readback is async
//! (DESIGN.md invariant 4): `into_data_async` works natively and under WebGPU, where a
//! synchronous read panics.

use crate::error::{Error, Result};
use burn::tensor::{backend::Backend, Element, Tensor, TensorCreationOptions, TensorData};

/// Where and in which precision to create a float tensor: `device`, in `B`'s own float type.
///
/// Why explicit: burn 0.21 keeps one default float dtype per *device type*, set by whichever
/// backend uses the device first, so `NdArray<f32>` and `NdArray<f64>` share one: in a process
/// that touched the f32 CPU backend first, `Tensor::<NdArray<f64>, _>::from_data(data,
/// &device)` silently made f32 tensors (the oracle tests lost their 1e-9 tolerances when
/// they shared one test binary with the f32 sampler tests).
pub fn float_options<B: Backend>(device: &B::Device) -> TensorCreationOptions<B> {
    (device, <B::FloatElem as Element>::dtype()).into()
}

/// Upload f64 host values in the backend's float precision.
///
/// # Shapes
/// `values.len() == shape.product()` → `shape`
pub fn host_tensor<B: Backend, const D: usize>(
    values: Vec<f64>,
    shape: [usize; D],
    device: &B::Device,
) -> Tensor<B, D> {
    Tensor::from_data(
        TensorData::new(values, shape).convert::<B::FloatElem>(),
        float_options::<B>(device),
    )
}

/// Upload f32 host values.
pub fn host_tensor_f32<B: Backend, const D: usize>(
    values: Vec<f32>,
    shape: [usize; D],
    device: &B::Device,
) -> Tensor<B, D> {
    Tensor::from_data(
        TensorData::new(values, shape).convert::<B::FloatElem>(),
        float_options::<B>(device),
    )
}

/// Read a tensor back as f64 values (row-major).
pub async fn read_f64<B: Backend, const D: usize>(t: Tensor<B, D>) -> Result<Vec<f64>> {
    let data = t
        .into_data_async()
        .await
        .map_err(|e| Error::Backend(format!("readback failed: {e:?}")))?;
    data.convert::<f64>()
        .into_vec::<f64>()
        .map_err(|e| Error::Backend(format!("readback failed: {e:?}")))
}

/// Read a tensor back as f32 values (row-major).
pub async fn read_f32<B: Backend, const D: usize>(t: Tensor<B, D>) -> Result<Vec<f32>> {
    let data = t
        .into_data_async()
        .await
        .map_err(|e| Error::Backend(format!("readback failed: {e:?}")))?;
    data.convert::<f32>()
        .into_vec::<f32>()
        .map_err(|e| Error::Backend(format!("readback failed: {e:?}")))
}

/// Read a one-element tensor back as a number.
pub async fn read_scalar<B: Backend, const D: usize>(t: Tensor<B, D>) -> Result<f64> {
    read_f64(t)
        .await?
        .first()
        .copied()
        .ok_or_else(|| Error::Backend("empty readback".into()))
}

/// A host tensor as the `safetensors` crate writes it: F32, little-endian (weight files,
/// classifier files).
pub struct F32View<'a> {
    pub shape: &'a [usize],
    pub data: &'a [f32],
}

impl safetensors::View for F32View<'_> {
    fn dtype(&self) -> safetensors::Dtype {
        safetensors::Dtype::F32
    }
    fn shape(&self) -> &[usize] {
        self.shape
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        self.data.iter().flat_map(|v| v.to_le_bytes()).collect()
    }
    fn data_len(&self) -> usize {
        4 * self.data.len()
    }
}
