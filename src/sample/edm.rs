//! EDM's sampler (Karras, Aittala, Aila and Laine 2022, Algorithm 2): Heun's second-order
//! method on the probability-flow ODE `dy/dσ = (y − D(y; σ))/σ` over the ρ-schedule of noise
//! levels, with optional "churn", on every SDE through the noise-level view
//! ([`super::levels`]).
//!
//! Step i, from σ_i to σ_{i+1}:
//! 1. churn: `γ = min(S_churn/N, √2 − 1)` when `S_tmin ≤ σ_i ≤ S_tmax`, else 0;
//!    `σ̂ = (1 + γ) σ_i` and `ŷ = y + √(σ̂² − σ_i²) S_noise z` (noise added back, Langevin-like);
//! 2. Euler: `d = (ŷ − D(ŷ; σ̂))/σ̂`, `y' = ŷ + (σ_{i+1} − σ̂) d`;
//! 3. Heun's correction: `d' = (y' − D(y'; σ_{i+1}))/σ_{i+1}`, `y' = ŷ + (σ_{i+1} − σ̂)(d + d')/2`.
//!
//! Two score evaluations per step. The paper's last step goes to σ = 0 by Euler; here the
//! levels end at σ(ε) like every sampler's, and `denoise` takes the step to σ = 0 (Tweedie,
//! which is that Euler step). `σ̂` is capped at the SDE's σ(1), where its times end.

use super::ddim::{check_grid, RHO, SCHEDULE, STEPS, T_END};
use super::levels::{denoiser, LevelStep, LevelWalk, Levels, Schedule};
use super::{Init, SamplerSpec, Started, StepContext};
use crate::error::{in_range, Error, Result};
use crate::registry::Param;
use crate::sde::Sde;
use burn::tensor::{backend::Backend, Tensor};
use serde::{Deserialize, Serialize};

/// `edm`: Heun steps over the ρ-schedule with optional churn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EdmConfig {
    pub steps: usize,
    pub schedule: Schedule,
    pub rho: f64,
    pub s_churn: f64,
    pub s_tmin: f64,
    /// No upper limit when absent (the paper's S_tmax = ∞).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s_tmax: Option<f64>,
    pub s_noise: f64,
    pub t_end: f64,
}

impl Default for EdmConfig {
    /// The paper's deterministic sampler: N = 18 (35 evaluations there), ρ = 7, no churn.
    fn default() -> Self {
        EdmConfig {
            steps: 18,
            schedule: Schedule::Karras,
            rho: 7.0,
            s_churn: 0.0,
            s_tmin: 0.0,
            s_tmax: None,
            s_noise: 1.0,
            t_end: 1e-3,
        }
    }
}

impl SamplerSpec for EdmConfig {
    const DESCRIPTION: &'static str =
        "EDM (Karras et al. 2022): Heun's 2nd-order steps on the ρ-schedule of noise levels, optional churn (2 evaluations per step)";
    const PARAMS: &'static [Param] = &[
        STEPS,
        SCHEDULE,
        RHO,
        Param {
            name: "s_churn",
            description: "S_churn ≥ 0: noise added back before each step, γ = min(S_churn/N, √2 − 1), σ̂ = (1 + γ) σ (0: deterministic)",
        },
        Param {
            name: "s_tmin",
            description: "S_tmin: churn only at noise levels σ ≥ S_tmin",
        },
        Param {
            name: "s_tmax",
            description: "S_tmax: churn only at noise levels σ ≤ S_tmax (default: no limit)",
        },
        Param {
            name: "s_noise",
            description: "S_noise in [0.5, 2]: scale of the churn's noise, ŷ = y + √(σ̂² − σ²) S_noise z (EDM: 1 to 1.007)",
        },
        T_END,
    ];

    fn validate(&self, _sde: &Sde) -> Result<()> {
        check_grid(self.steps, self.rho, self.t_end)?;
        in_range("sampler.s_churn", self.s_churn, 0.0, 1e4)?;
        in_range("sampler.s_tmin", self.s_tmin, 0.0, 1e12)?;
        in_range("sampler.s_noise", self.s_noise, 0.5, 2.0)?;
        if let Some(tmax) = self.s_tmax {
            in_range("sampler.s_tmax", tmax, 0.0, 1e12)?;
            if tmax < self.s_tmin {
                return Err(Error::invalid(
                    "sampler.s_tmax",
                    format!("must be at least s_tmin ({}), got {tmax}", self.s_tmin),
                ));
            }
        }
        Ok(())
    }

    fn start<B: Backend>(&self, sde: &Sde, mut init: Init<'_, B>) -> Result<Started<B>> {
        let levels = Levels::new(sde, self.schedule, self.steps, self.rho, self.t_end)?;
        let walk = LevelWalk::new(levels, Edm { cfg: self.clone() });
        Ok((Box::new(walk), init.prior(sde)))
    }
}

/// EDM's update.
pub struct Edm {
    pub cfg: EdmConfig,
}

impl Edm {
    /// The churn γ_i at noise level σ_i of a run of `steps` steps.
    fn gamma(&self, sigma: f64, steps: usize) -> f64 {
        let c = &self.cfg;
        let inside = sigma >= c.s_tmin && c.s_tmax.is_none_or(|m| sigma <= m);
        if c.s_churn > 0.0 && inside {
            (c.s_churn / steps as f64).min(std::f64::consts::SQRT_2 - 1.0)
        } else {
            0.0
        }
    }
}

impl<B: Backend> LevelStep<B> for Edm {
    fn update(
        &mut self,
        x: Tensor<B, 2>,
        l: &Levels,
        i: usize,
        cx: &mut StepContext<'_, B>,
    ) -> (Tensor<B, 2>, usize) {
        let (s, s_next) = (l.sigmas[i], l.sigmas[i + 1]);
        let mut y = x / l.ms[i];
        // churn: raise the noise level to σ̂ (at most σ(1)) by adding noise
        let s_hat = (s * (1.0 + self.gamma(s, l.steps()))).min(l.sigmas[0]);
        let t_hat = if s_hat > s {
            let z = cx.normal_like(&y);
            y = y + z * ((s_hat * s_hat - s * s).sqrt() * self.cfg.s_noise);
            cx.sde.t_of_noise_level(s_hat).unwrap_or(l.ts[0])
        } else {
            l.ts[i]
        };
        let d = (y.clone() - denoiser(cx.model, cx.sde, y.clone(), t_hat)) / s_hat;
        let euler = y.clone() + d.clone() * (s_next - s_hat);
        let d2 = (euler.clone() - denoiser(cx.model, cx.sde, euler, l.ts[i + 1])) / s_next;
        let y_next = y + (d + d2) * (0.5 * (s_next - s_hat));
        (y_next * l.ms[i + 1], 2)
    }
}
