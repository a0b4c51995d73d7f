//! Seeded host-side randomness. Noise is drawn on the host (ChaCha8, portable and stable
//! across platforms: `rand_chacha`'s stream, four blocks at a time in [`chacha`]) and uploaded, so a seed reproduces a run bit-for-bit on the CPU backend
//! and draws the same noise on WebGPU: a link with a seed means the same particles.

use crate::tensor::host_tensor;
use burn::tensor::{backend::Backend, Tensor};
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

mod chacha;
pub use chacha::ChaCha8;

/// A seeded noise source for samplers and estimators.
#[derive(Debug, Clone)]
pub struct Noise {
    rng: ChaCha8,
}

impl Noise {
    pub fn new(seed: u64) -> Self {
        Noise {
            rng: ChaCha8::seed_from_u64(seed),
        }
    }

    /// The host RNG (for exact samples in tests and reports).
    pub fn rng(&mut self) -> &mut ChaCha8 {
        &mut self.rng
    }

    /// Standard normal values.
    pub fn normal_vec(&mut self, len: usize) -> Vec<f64> {
        (0..len).map(|_| self.rng.sample(StandardNormal)).collect()
    }

    /// `z ~ N(0, I)`.
    ///
    /// # Shapes
    /// → `[n, d]`
    pub fn normal<B: Backend>(&mut self, n: usize, d: usize, device: &B::Device) -> Tensor<B, 2> {
        host_tensor(self.normal_vec(n * d), [n, d], device)
    }

    /// Uniform on `[low, high)`.
    ///
    /// # Shapes
    /// → `[n, d]`
    pub fn uniform<B: Backend>(
        &mut self,
        n: usize,
        d: usize,
        low: f64,
        high: f64,
        device: &B::Device,
    ) -> Tensor<B, 2> {
        let v = (0..n * d)
            .map(|_| low + (high - low) * self.rng.random::<f64>())
            .collect();
        host_tensor(v, [n, d], device)
    }

    /// Rademacher ±1 values.
    ///
    /// # Shapes
    /// → `[n, d]`
    pub fn rademacher<B: Backend>(
        &mut self,
        n: usize,
        d: usize,
        device: &B::Device,
    ) -> Tensor<B, 2> {
        host_tensor(self.rademacher_vec(n * d), [n, d], device)
    }

    /// `len` independent ±1 with probability ½ each.
    pub fn rademacher_vec(&mut self, len: usize) -> Vec<f64> {
        (0..len)
            .map(|_| if self.rng.random::<bool>() { 1.0 } else { -1.0 })
            .collect()
    }
}
