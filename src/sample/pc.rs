//! Predictor–corrector sampling of the reverse SDE (Song et al. 2021, Algorithms 1-2;
//! score_sde `sampling.py`; SCIENCE.md §4).
//!
//! Time grid `t_k = 1 − k(1 − ε)/N`, k = 0..N. Step k: the predictor moves `t_k → t_{k+1}`
//! (Δt = t_k − t_{k+1} > 0), then the corrector runs at `t_{k+1}`.
//!
//! - Euler–Maruyama: `x ← x − [a x − g² s] Δt + g √Δt z`.
//! - Reverse diffusion: with the SDE's own step `x_{i+1} = x_i + a_i x_i + G_i z`
//!   ([`Sde::discretize`]): `x ← x − a_i x + G_i² s + G_i z`.
//! - Ancestral: VE (SMLD) `x ← x + (σ_k² − σ_{k+1}²) s + √(σ_{k+1}²(σ_k² − σ_{k+1}²)/σ_k²) z`;
//!   VP (DDPM) `x ← (x + β_k s)/√(1 − β_k) + √β_k z`.
//! - Langevin corrector at target SNR r: `ε = 2α (r ‖z‖/‖s‖)²` (batch-mean norms),
//!   `x ← x + ε s + √(2ε) z`, α = α_k for VP/sub-VP, 1 for VE. The step size stays a
//!   device tensor: no readback per step.
//!
//! On the native GPU backends each update (predictor or corrector, given the score) is one
//! kernel ([`crate::kernels::gpu`]); elsewhere it is composed from burn's operations.

use crate::kernels::gpu::{affine3, langevin_corrector};
use crate::model::ScoreModel;
use crate::rng::Noise;
use crate::sde::Sde;
use burn::tensor::{backend::Backend, Tensor};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PredictorKind {
    Em,
    ReverseDiffusion,
    Ancestral,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CorrectorKind {
    Langevin,
    None,
}

pub const PREDICTOR_NAMES: &str = "em, reverse-diffusion, ancestral, none";
pub const CORRECTOR_NAMES: &str = "langevin, none";

impl PredictorKind {
    pub fn from_name(s: &str) -> crate::Result<Self> {
        serde_json::from_value(serde_json::Value::String(s.into())).map_err(|_| {
            crate::Error::invalid(
                "predictor",
                format!("unknown predictor '{s}'; accepted: {PREDICTOR_NAMES}"),
            )
        })
    }
}
impl CorrectorKind {
    pub fn from_name(s: &str) -> crate::Result<Self> {
        serde_json::from_value(serde_json::Value::String(s.into())).map_err(|_| {
            crate::Error::invalid(
                "corrector",
                format!("unknown corrector '{s}'; accepted: {CORRECTOR_NAMES}"),
            )
        })
    }
}

/// PC state: which step of the time grid comes next.
pub struct Pc {
    pub predictor: PredictorKind,
    pub corrector: CorrectorKind,
    pub snr: f64,
    pub corrector_steps: usize,
    pub steps: usize,
    pub t_end: f64,
    /// Predictor steps taken.
    pub k: usize,
}

impl Pc {
    pub fn new(
        predictor: PredictorKind,
        corrector: CorrectorKind,
        snr: f64,
        corrector_steps: usize,
        steps: usize,
        t_end: f64,
    ) -> Self {
        Pc {
            predictor,
            corrector,
            snr,
            corrector_steps,
            steps,
            t_end,
            k: 0,
        }
    }

    fn time(&self, k: usize) -> f64 {
        if k == self.steps {
            self.t_end
        } else {
            1.0 - k as f64 * (1.0 - self.t_end) / self.steps as f64
        }
    }

    /// One predictor step and its corrector steps. Returns (x, t after, Δt, NFE used).
    ///
    /// # Shapes
    /// `x: [n, d]` → `[n, d]`
    pub fn step<B: Backend>(
        &mut self,
        x: Tensor<B, 2>,
        model: &dyn ScoreModel<B>,
        sde: &Sde,
        noise: &mut Noise,
        device: &B::Device,
    ) -> (Tensor<B, 2>, f64, f64, usize) {
        let [n, d] = x.dims();
        let (t, t_next) = (self.time(self.k), self.time(self.k + 1));
        let dt = t - t_next;
        let mut nfe = 0;
        let mut x = x;
        match self.predictor {
            PredictorKind::None => {}
            PredictorKind::Em => {
                let s = model.score(x.clone(), t);
                nfe += 1;
                let (a, g) = (sde.drift_coef(t), sde.diffusion(t));
                let z = noise.normal::<B>(n, d, device);
                let c = [1.0 - a * dt, g * g * dt, g * dt.sqrt()];
                x = affine3(&x, &s, &z, c).unwrap_or_else(|| {
                    let mean = x.clone() - (x * a - s * (g * g)) * dt;
                    mean + z * (g * dt.sqrt())
                });
            }
            PredictorKind::ReverseDiffusion => {
                let s = model.score(x.clone(), t);
                nfe += 1;
                let disc = sde.discretize(t, dt);
                let z = noise.normal::<B>(n, d, device);
                let c = [1.0 - disc.a, disc.g * disc.g, disc.g];
                x = affine3(&x, &s, &z, c).unwrap_or_else(|| {
                    let mean = x.clone() - x * disc.a + s * (disc.g * disc.g);
                    mean + z * disc.g
                });
            }
            PredictorKind::Ancestral => {
                let s = model.score(x.clone(), t);
                nfe += 1;
                if sde.is_ve() {
                    let (v, v_next) = (sde.variance(t), sde.variance(t_next));
                    let std = (v_next * (v - v_next) / v).max(0.0).sqrt();
                    let z = noise.normal::<B>(n, d, device);
                    x = affine3(&x, &s, &z, [1.0, v - v_next, std])
                        .unwrap_or_else(|| x + s * (v - v_next) + z * std);
                } else {
                    let beta = 1.0 - sde.step_alpha(t, dt);
                    let z = noise.normal::<B>(n, d, device);
                    let r = (1.0 - beta).sqrt();
                    x = affine3(&x, &s, &z, [1.0 / r, beta / r, beta.sqrt()])
                        .unwrap_or_else(|| (x + s * beta) / r + z * beta.sqrt());
                }
            }
        }
        if self.corrector == CorrectorKind::Langevin {
            let alpha = if sde.is_ve() {
                1.0
            } else {
                sde.step_alpha(t_next, dt)
            };
            for _ in 0..self.corrector_steps {
                let s = model.score(x.clone(), t_next);
                nfe += 1;
                let z = noise.normal::<B>(n, d, device);
                let coef = 2.0 * alpha * self.snr * self.snr;
                x = langevin_corrector(&x, &s, &z, coef).unwrap_or_else(|| {
                    let grad_norm = (s.clone() * s.clone())
                        .sum_dim(1)
                        .sqrt()
                        .mean()
                        .clamp_min(1e-30);
                    let noise_norm = (z.clone() * z.clone()).sum_dim(1).sqrt().mean();
                    let ratio = noise_norm / grad_norm * self.snr;
                    let eps = (ratio.clone() * ratio * (2.0 * alpha)).reshape([1, 1]); // [1, 1]
                    x + s * eps.clone() + z * (eps * 2.0).sqrt()
                });
            }
        }
        self.k += 1;
        (x, t_next, dt, nfe)
    }
}
