//! DDIM, denoising diffusion implicit models (Song, Meng and Ermon 2021, eq. 12), on every
//! SDE through the noise-level view ([`super::levels`]).
//!
//! With `D` Tweedie's denoiser and `ε̂ = (y − D)/σ` the noise it implies, one step from
//! noise level σ to σ' < σ in `y = x/m` coordinates is
//!
//! `y' = D + σ_down ε̂ + σ_up z`,  `σ_up = η √(σ'² (σ² − σ'²)/σ²)`,  `σ_down = √(σ'² − σ_up²)`.
//!
//! Under VP (`m = √ᾱ`, `σ² = (1 − ᾱ)/ᾱ`) this is DDIM's update: its `σ_t(η)` is `m' σ_up`.
//! η = 0 is deterministic, Euler's method on the probability-flow ODE `dy/dσ = (y − D)/σ`
//! (Karras et al. 2022, §3); η = 1 draws from DDPM's posterior `q(x_{t'} | x_t, x_0 = D)`,
//! the ancestral step. The same update under sub-VP and VE is the same step on their
//! rescaled marginals. Whatever the network predicts (score, noise), `D` is one evaluation.

use super::levels::{check_rho, denoiser, LevelStep, LevelWalk, Levels, Schedule};
use super::{check_t_end, Init, SamplerSpec, Started, StepContext};
use crate::error::{count, in_range, Result};
use crate::registry::Param;
use crate::sde::Sde;
use burn::tensor::{backend::Backend, Tensor};
use serde::{Deserialize, Serialize};

pub(crate) const STEPS: Param = Param {
    name: "steps",
    description: "N, the steps between the N + 1 noise levels from σ(1) down to σ(ε)",
};
pub(crate) const SCHEDULE: Param = Param {
    name: "schedule",
    description: "how the noise levels are spaced: time (uniform in t), karras (ρ-schedule), log-snr (uniform in log σ)",
};
pub(crate) const RHO: Param = Param {
    name: "rho",
    description: "ρ of the karras schedule, σ_i = (σ_max^{1/ρ} + i/N (σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ: larger ρ puts more steps near the data (EDM: 7)",
};
pub(crate) const T_END: Param = Param {
    name: "t_end",
    description:
        "ε, the last time: the levels end at σ(ε), not 0, where the score of the data blows up",
};

/// The checks of the grid settings every noise-level sampler has.
pub(crate) fn check_grid(steps: usize, rho: f64, t_end: f64) -> Result<()> {
    count("sampler.steps", steps, 1, 1_000_000)?;
    check_rho(rho)?;
    check_t_end(t_end)
}

/// `ddim`: DDIM with stochasticity η.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DdimConfig {
    pub steps: usize,
    pub eta: f64,
    pub schedule: Schedule,
    pub rho: f64,
    pub t_end: f64,
}

impl Default for DdimConfig {
    fn default() -> Self {
        DdimConfig {
            steps: 100,
            eta: 0.0,
            schedule: Schedule::Time,
            rho: 7.0,
            t_end: 1e-3,
        }
    }
}

impl SamplerSpec for DdimConfig {
    const DESCRIPTION: &'static str =
        "DDIM (Song, Meng, Ermon 2021): x₀ from Tweedie, then back to the next level; η = 0 deterministic (the ODE's Euler step), η = 1 DDPM's ancestral step";
    const PARAMS: &'static [Param] = &[
        STEPS,
        Param {
            name: "eta",
            description: "η in [0, 1]: the fresh noise of each step, σ_up = η √(σ'²(σ² − σ'²)/σ²); 0 deterministic, 1 ancestral (DDPM)",
        },
        SCHEDULE,
        RHO,
        T_END,
    ];

    fn validate(&self, _sde: &Sde) -> Result<()> {
        check_grid(self.steps, self.rho, self.t_end)?;
        in_range("sampler.eta", self.eta, 0.0, 1.0).map(|_| ())
    }

    fn start<B: Backend>(&self, sde: &Sde, mut init: Init<'_, B>) -> Result<Started<B>> {
        let levels = Levels::new(sde, self.schedule, self.steps, self.rho, self.t_end)?;
        let walk = LevelWalk::new(levels, Ddim { eta: self.eta });
        Ok((Box::new(walk), init.prior(sde)))
    }
}

/// DDIM's update.
pub struct Ddim {
    pub eta: f64,
}

/// One DDIM step as `x' = c_x x + c_d D + c_z z` in the SDE's own coordinates, from
/// (mean scale, noise level) `(m, σ)` to `(m', σ')`.
pub fn ddim_coefficients(m: f64, s: f64, m_next: f64, s_next: f64, eta: f64) -> [f64; 3] {
    let up = eta
        * (s_next * s_next * (s * s - s_next * s_next) / (s * s))
            .max(0.0)
            .sqrt();
    let down = (s_next * s_next - up * up).max(0.0).sqrt();
    // y' = D + (σ_down/σ)(y − D) + σ_up z with y = x/m, x' = m' y'
    [
        m_next * down / (s * m),
        m_next * (1.0 - down / s),
        m_next * up,
    ]
}

impl<B: Backend> LevelStep<B> for Ddim {
    fn update(
        &mut self,
        x: Tensor<B, 2>,
        l: &Levels,
        i: usize,
        cx: &mut StepContext<'_, B>,
    ) -> (Tensor<B, 2>, usize) {
        let [c_x, c_d, c_z] =
            ddim_coefficients(l.ms[i], l.sigmas[i], l.ms[i + 1], l.sigmas[i + 1], self.eta);
        let d = denoiser(cx.model, cx.sde, x.clone() / l.ms[i], l.ts[i]);
        let mut x_next = x * c_x + d * c_d;
        if c_z > 0.0 {
            let z = cx.normal_like(&x_next);
            x_next = x_next + z * c_z;
        }
        (x_next, 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Under VP, DDIM's step is the paper's eq. 12: η = 1 is DDPM's posterior
    /// `q(x_{t'} | x_t, x_0)` (Ho et al. 2020, eq. 7), η = 0 its deterministic limit.
    #[test]
    fn under_vp_the_step_is_ddims_and_ddpms() {
        let sde = Sde::from_name("vp").unwrap();
        for (t, t_next) in [(0.9, 0.85), (0.5, 0.3), (0.02, 0.001)] {
            let (m, m2) = (sde.mean_scale(t), sde.mean_scale(t_next));
            let (ab, ab2) = (m * m, m2 * m2); // ᾱ_t, ᾱ_{t'}
            let (s, s2) = (sde.noise_level(t), sde.noise_level(t_next));
            let beta = 1.0 - ab / ab2; // β of the step, 1 − α_t
            let [cx, cd, cz] = ddim_coefficients(m, s, m2, s2, 1.0);
            let close = |a: f64, b: f64| (a - b).abs() < 1e-9 * (1.0 + b.abs());
            assert!(
                close(cx, (1.0 - beta).sqrt() * (1.0 - ab2) / (1.0 - ab)),
                "{t}"
            );
            assert!(close(cd, ab2.sqrt() * beta / (1.0 - ab)), "{t}");
            assert!(close(cz * cz, (1.0 - ab2) / (1.0 - ab) * beta), "{t}");
            // η = 0: x' = √ᾱ' D + √(1 − ᾱ') ε̂ with ε̂ = (x − √ᾱ D)/√(1 − ᾱ)
            let [cx, cd, cz] = ddim_coefficients(m, s, m2, s2, 0.0);
            let k = ((1.0 - ab2) / (1.0 - ab)).sqrt();
            assert!(close(cx, k) && close(cd, ab2.sqrt() - k * ab.sqrt()) && cz == 0.0);
        }
    }
}
