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

use super::{
    check_t_end, ready, Init, Moved, SamplerSpec, Started, StepContext, StepFuture, Stepper,
};
use crate::error::{count, in_range, Error};
use crate::kernels::gpu::{affine3, langevin_corrector};
use crate::model::ScoreModel;
use crate::registry::{Entry, Param, Registry};
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

impl PredictorKind {
    pub fn from_name(s: &str) -> crate::Result<Self> {
        serde_json::from_value(serde_json::Value::String(s.into()))
            .map_err(|_| predictors().unknown(s))
    }
}
impl CorrectorKind {
    pub fn from_name(s: &str) -> crate::Result<Self> {
        serde_json::from_value(serde_json::Value::String(s.into()))
            .map_err(|_| correctors().unknown(s))
    }
}

const STEPS: Param = Param {
    name: "steps",
    description: "N, the time steps from t = 1 to t_end: t_k = 1 − k(1 − ε)/N, Δt = (1 − ε)/N",
};
const T_END: Param = Param {
    name: "t_end",
    description:
        "ε, the last time: the reverse SDE stops at t = ε, not 0, where the score of the data blows up",
};

/// `em`: Euler–Maruyama on the reverse SDE, i.e. `pc` with predictor `em`, corrector `none`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmConfig {
    pub steps: usize,
    pub t_end: f64,
}

impl Default for EmConfig {
    fn default() -> Self {
        EmConfig {
            steps: 500,
            t_end: 1e-3,
        }
    }
}

impl SamplerSpec for EmConfig {
    const DESCRIPTION: &'static str =
        "Euler–Maruyama on the reverse-time SDE (pc with predictor em and no corrector)";
    const PARAMS: &'static [Param] = &[STEPS, T_END];

    fn validate(&self, _sde: &Sde) -> crate::Result<()> {
        count("sampler.steps", self.steps, 1, 1_000_000)?;
        check_t_end(self.t_end)
    }

    fn start<B: Backend>(&self, sde: &Sde, mut init: Init<'_, B>) -> crate::Result<Started<B>> {
        let pc = Pc::new(
            PredictorKind::Em,
            CorrectorKind::None,
            0.16,
            1,
            self.steps,
            sde.t_max(),
            self.t_end,
        );
        Ok((Box::new(pc), init.prior(sde)))
    }
}

/// `pc`: predictor–corrector sampling (Song et al. 2021, Algorithm 1-2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PcConfig {
    pub predictor: PredictorKind,
    pub corrector: CorrectorKind,
    /// Target signal-to-noise ratio of the Langevin corrector.
    pub snr: f64,
    pub corrector_steps: usize,
    pub steps: usize,
    pub t_end: f64,
}

impl Default for PcConfig {
    fn default() -> Self {
        PcConfig {
            predictor: PredictorKind::ReverseDiffusion,
            corrector: CorrectorKind::Langevin,
            snr: 0.16,
            corrector_steps: 1,
            steps: 500,
            t_end: 1e-3,
        }
    }
}

impl SamplerSpec for PcConfig {
    const DESCRIPTION: &'static str =
        "predictor–corrector: a reverse-SDE step, then Langevin corrector steps at each time";
    const PARAMS: &'static [Param] = &[
        Param {
            name: "predictor",
            description: "the reverse-time step from t to t − Δt (em, reverse-diffusion, ancestral, none)",
        },
        Param {
            name: "corrector",
            description: "the MCMC step at t − Δt after each predictor step (langevin, none)",
        },
        Param {
            name: "snr",
            description:
                "r, the Langevin corrector's signal-to-noise ratio: step ε = 2α (r ‖z‖/‖s‖)², x ← x + ε s + √(2ε) z",
        },
        Param {
            name: "corrector_steps",
            description: "M, Langevin corrector steps after each predictor step",
        },
        STEPS,
        T_END,
    ];

    fn validate(&self, sde: &Sde) -> crate::Result<()> {
        count("sampler.steps", self.steps, 1, 1_000_000)?;
        check_t_end(self.t_end)?;
        in_range("sampler.snr", self.snr, 1e-6, 10.0)?;
        count("sampler.corrector_steps", self.corrector_steps, 1, 1000)?;
        if self.predictor == PredictorKind::Ancestral
            && !matches!(
                sde,
                Sde::Ve { .. } | Sde::VeNotebook { .. } | Sde::Vp { .. }
            )
        {
            return Err(Error::invalid(
                "sampler.predictor",
                format!("ancestral sampling is defined for ve, ve-notebook and vp, not {}; use em or reverse-diffusion", sde.name()),
            ));
        }
        if self.predictor == PredictorKind::None && self.corrector == CorrectorKind::None {
            return Err(Error::invalid(
                "sampler.corrector",
                "predictor and corrector cannot both be none",
            ));
        }
        Ok(())
    }

    fn start<B: Backend>(&self, sde: &Sde, mut init: Init<'_, B>) -> crate::Result<Started<B>> {
        let pc = Pc::new(
            self.predictor,
            self.corrector,
            self.snr,
            self.corrector_steps,
            self.steps,
            sde.t_max(),
            self.t_end,
        );
        Ok((Box::new(pc), init.prior(sde)))
    }
}

/// PC state: which step of the time grid comes next.
pub struct Pc {
    pub predictor: PredictorKind,
    pub corrector: CorrectorKind,
    pub snr: f64,
    pub corrector_steps: usize,
    pub steps: usize,
    /// The first time (the SDE's [`Sde::t_max`]).
    pub t_start: f64,
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
        t_start: f64,
        t_end: f64,
    ) -> Self {
        Pc {
            predictor,
            corrector,
            snr,
            corrector_steps,
            steps,
            t_start,
            t_end,
            k: 0,
        }
    }

    fn time(&self, k: usize) -> f64 {
        if k == self.steps {
            self.t_end
        } else {
            self.t_start - k as f64 * (self.t_start - self.t_end) / self.steps as f64
        }
    }

    /// One predictor step and its corrector steps. Returns (x, t after, Δt, NFE used).
    ///
    /// # Shapes
    /// `x: [n, d]` → `[n, d]`
    pub fn advance<B: Backend>(
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

impl<B: Backend> Stepper<B> for Pc {
    fn step<'a>(&'a mut self, x: Tensor<B, 2>, cx: StepContext<'a, B>) -> StepFuture<'a, B> {
        let (x, t, dt, nfe) = self.advance(x, cx.model, cx.sde, cx.noise, cx.device);
        ready(Moved {
            x,
            t,
            step_size: dt,
            nfe,
            accepted: None,
            level: None,
        })
    }
    fn total_steps(&self) -> Option<usize> {
        Some(self.steps)
    }
    fn is_done(&self) -> bool {
        self.k >= self.steps
    }
    fn final_t(&self) -> f64 {
        self.t_end
    }
    fn inpaints(&self) -> bool {
        true
    }
}

/// The predictor–corrector sampler's predictors (`sampler.predictor`, `--predictor`).
pub fn predictors() -> Registry {
    Registry {
        kind: "predictor",
        field: "predictor",
        entries: vec![
            Entry::plain("em", "Euler–Maruyama on the reverse SDE: x ← x − f Δt + g² s Δt + g √Δt z"),
            Entry::plain(
                "reverse-diffusion",
                "the SDE's own discretisation reversed: x ← x − f_i + G_i² s + G_i z (score_sde's default)",
            ),
            Entry::plain(
                "ancestral",
                "ancestral sampling: SMLD's for VE, DDPM's for VP (not sub-VP)",
            ),
            Entry::plain("none", "no predictor: Langevin corrector steps only"),
        ],
    }
}

/// The predictor–corrector sampler's correctors (`sampler.corrector`, `--corrector`).
pub fn correctors() -> Registry {
    Registry {
        kind: "corrector",
        field: "corrector",
        entries: vec![
            Entry::plain(
                "langevin",
                "Langevin MCMC at signal-to-noise ratio r: x ← x + ε s + √(2ε) z, ε = 2α (r ‖z‖/‖s‖)²",
            ),
            Entry::plain("none", "no corrector"),
        ],
    }
}
