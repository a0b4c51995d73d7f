//! Small helpers between host vectors and backend tensors. Every readback is async
//! (DESIGN.md invariant 4): `into_data_async` works natively and under WebGPU, where a
//! synchronous read panics.

use crate::error::{Error, Result};
use burn::tensor::{backend::Backend, Tensor, TensorData};

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
        device,
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
        device,
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
