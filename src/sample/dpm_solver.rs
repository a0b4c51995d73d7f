//! DPM-Solver++ (Lu, Zhou, Bao, Chen, Li and Zhu 2022), the data-prediction solvers of the
//! probability-flow ODE, on every SDE through the noise-level view ([`super::levels`]).
//!
//! With `λ = −log σ` (half the log-SNR) the ODE's solution from level σ to σ' < σ is exactly
//! `y' = (σ'/σ) y + σ' ∫_λ^{λ'} e^u D(y_u; σ_u) du` (the paper's eq. 8, in k-diffusion's `y`
//! form); the solvers approximate `D` over the step by a low-order polynomial in λ and
//! integrate the rest exactly (`h = λ' − λ`, and `σ' ∫ e^u du = 1 − σ'/σ = −(e^{−h} − 1)`):
//!
//! - 2M, multistep: `h = λ' − λ`, `r = h_prev/h`,
//!   `D̃ = (1 + 1/(2r)) D_i − 1/(2r) D_{i−1}` (plain `D_i` on the first step),
//!   `y' = (σ'/σ) y − (e^{−h} − 1) D̃`. One score evaluation per step.
//! - 2S, single-step: a half step to `σ_mid = √(σ σ')` (λ's midpoint) with `D_i`, then the
//!   full step with `D(y_mid; σ_mid)`. Two evaluations per step.
//!
//! A first-order step with `D_i` alone is DDIM with η = 0.

use super::ddim::{check_grid, RHO, SCHEDULE, STEPS, T_END};
use super::levels::{denoiser, LevelStep, LevelWalk, Levels, Schedule};
use super::{Init, SamplerSpec, Started, StepContext};
use crate::error::Result;
use crate::registry::Param;
use crate::sde::Sde;
use burn::tensor::{backend::Backend, Tensor};
use serde::{Deserialize, Serialize};

/// The settings both solvers share.
macro_rules! dpm_config {
    ($name:ident, $description:literal, $default_steps:expr, single_step: $single:expr) => {
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(default, deny_unknown_fields)]
        pub struct $name {
            pub steps: usize,
            pub schedule: Schedule,
            pub rho: f64,
            pub t_end: f64,
        }

        impl Default for $name {
            fn default() -> Self {
                $name {
                    steps: $default_steps,
                    schedule: Schedule::Karras,
                    rho: 7.0,
                    t_end: 1e-3,
                }
            }
        }

        impl SamplerSpec for $name {
            const DESCRIPTION: &'static str = $description;
            const PARAMS: &'static [Param] = &[STEPS, SCHEDULE, RHO, T_END];

            fn validate(&self, _sde: &Sde) -> Result<()> {
                check_grid(self.steps, self.rho, self.t_end)
            }

            fn start<B: Backend>(&self, sde: &Sde, mut init: Init<'_, B>) -> Result<Started<B>> {
                let levels = Levels::new(sde, self.schedule, self.steps, self.rho, self.t_end)?;
                let solver = DpmSolver::<B> {
                    single_step: $single,
                    previous: None,
                };
                Ok((Box::new(LevelWalk::new(levels, solver)), init.prior(sde)))
            }
        }
    };
}

dpm_config!(
    Dpmpp2mConfig,
    "DPM-Solver++(2M) (Lu et al. 2022): second-order multistep on the ODE in log-SNR, reusing the last step's denoiser (1 evaluation per step)",
    20,
    single_step: false
);
dpm_config!(
    Dpmpp2sConfig,
    "DPM-Solver++(2S) (Lu et al. 2022): second-order single-step, a half step in log-SNR first (2 evaluations per step)",
    10,
    single_step: true
);

/// The solver's update and, for 2M, the last denoiser and its step `h`.
pub struct DpmSolver<B: Backend> {
    pub single_step: bool,
    previous: Option<(Tensor<B, 2>, f64)>,
}

impl<B: Backend> LevelStep<B> for DpmSolver<B> {
    fn update(
        &mut self,
        x: Tensor<B, 2>,
        l: &Levels,
        i: usize,
        cx: &mut StepContext<'_, B>,
    ) -> (Tensor<B, 2>, usize) {
        let (s, s_next) = (l.sigmas[i], l.sigmas[i + 1]);
        let y = x / l.ms[i];
        let h = (s / s_next).ln(); // λ' − λ
        let d = denoiser(cx.model, cx.sde, y.clone(), l.ts[i]);
        // y' = (σ'/σ) y + (1 − σ'/σ) D̃ = (σ'/σ) y − expm1(−h) D̃
        let (y_next, nfe) = if self.single_step {
            let s_mid = (s * s_next).sqrt();
            let t_mid = cx.sde.t_of_noise_level(s_mid).unwrap_or(l.ts[i + 1]);
            let y_mid = y.clone() * (s_mid / s) + d * (1.0 - s_mid / s);
            let d_mid = denoiser(cx.model, cx.sde, y_mid, t_mid);
            (y * (s_next / s) + d_mid * (1.0 - s_next / s), 2)
        } else {
            let d_tilde = match &self.previous {
                Some((d_prev, h_prev)) => {
                    let r = h_prev / h;
                    d.clone() * (1.0 + 0.5 / r) - d_prev.clone() * (0.5 / r)
                }
                None => d.clone(),
            };
            self.previous = Some((d, h));
            (y * (s_next / s) + d_tilde * (1.0 - s_next / s), 1)
        };
        (y_next * l.ms[i + 1], nfe)
    }
}
