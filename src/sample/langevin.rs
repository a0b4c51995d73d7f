//! Langevin dynamics (SCIENCE.md §4) and annealed Langevin dynamics (NCSN, Song & Ermon
//! 2019, Algorithm 1).
//!
//! Plain Langevin, `x ← x + (ε/2) s(x) + √ε z`, samples p as ε → 0 and steps → ∞ but mixes
//! badly between separated modes: with disjoint supports the score ignores the mixture
//! weights (the pitfall in SCIENCE.md §7.3). ALD anneals through σ_1 > … > σ_L with
//! `α_i = ε σ_i²/σ_L²` and T steps per level, which recovers the weights.
//!
//! ALD runs in NCSN's (VE) coordinates `y = x/m(t)` with noise level `σ(t) = std(t)/m(t)`
//! ([`Sde::noise_level`]): level i uses the time t_i with σ(t_i) = σ_i and the score
//! `∇_y log p = m(t_i) s(m(t_i) y, t_i)`. Under VE (m = 1) this is exactly Algorithm 1; under
//! VP and sub-VP it is the same algorithm on the rescaled marginals. The particles are
//! returned as `x = m(t_L) y`.

use super::{ready, Init, Moved, SamplerSpec, Started, StepContext, StepFuture, Stepper};
use crate::error::{count, in_range, positive, Error, Result};
use crate::model::ScoreModel;
use crate::registry::Param;
use crate::rng::Noise;
use crate::sde::{ladder::ncsn_sigmas, Sde};
use burn::tensor::{backend::Backend, Tensor};
use serde::{Deserialize, Serialize};

const EPS: Param = Param {
    name: "eps",
    description:
        "ε, the step size: x ← x + (ε/2) s + √ε z (ald: the last level's, α_i = ε σ_i²/σ_L²)",
};

/// `langevin`: plain Langevin dynamics `x ← x + (ε/2) s(x, t) + √ε z` at one time t, from a
/// uniform start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LangevinConfig {
    pub eps: f64,
    pub steps: usize,
    pub t: f64,
    pub init_low: f64,
    pub init_high: f64,
}

impl Default for LangevinConfig {
    fn default() -> Self {
        LangevinConfig {
            eps: 0.01,
            steps: 1000,
            t: 1e-3,
            init_low: -8.0,
            init_high: 8.0,
        }
    }
}

impl SamplerSpec for LangevinConfig {
    const DESCRIPTION: &'static str =
        "plain Langevin dynamics with the score at one small time: mixes badly between far modes";
    const PARAMS: &'static [Param] = &[
        EPS,
        Param {
            name: "steps",
            description: "Langevin steps x ← x + (ε/2) s(x, t) + √ε z",
        },
        Param {
            name: "t",
            description:
                "the time t of the score s(x, t) used throughout (small: close to the data's)",
        },
        Param {
            name: "init_low",
            description: "lower end of the uniform start, every coordinate",
        },
        Param {
            name: "init_high",
            description: "upper end of the uniform start, every coordinate",
        },
    ];

    fn validate(&self, _sde: &Sde) -> Result<()> {
        in_range("sampler.eps", self.eps, 1e-12, 100.0)?;
        count("sampler.steps", self.steps, 1, 10_000_000)?;
        in_range("sampler.t", self.t, 1e-6, 1.0)?;
        in_range("sampler.init_low", self.init_low, -1e6, 1e6)?;
        in_range("sampler.init_high", self.init_high, -1e6, 1e6)?;
        if self.init_high <= self.init_low {
            return Err(Error::invalid(
                "sampler.init_high",
                format!("must exceed init_low ({})", self.init_low),
            ));
        }
        Ok(())
    }

    fn start<B: Backend>(&self, _sde: &Sde, mut init: Init<'_, B>) -> Result<Started<B>> {
        let x = init.uniform(self.init_low, self.init_high);
        let l = Langevin {
            eps: self.eps,
            steps: self.steps,
            t: self.t,
            k: 0,
        };
        Ok((Box::new(l), x))
    }
}

/// `ald`: annealed Langevin dynamics (NCSN Algorithm 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AldConfig {
    pub levels: usize,
    /// σ_1 (a VE-equivalent noise level std/m); default: the SDE's level at t = 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sigma_first: Option<f64>,
    pub sigma_last: f64,
    pub eps: f64,
    pub steps_per_level: usize,
}

/// NCSN used L = 10 over σ 1 → 0.01; our σ_1 defaults to the SDE's whole range (up to
/// 5000 σ_L for VE), and with ratios above ~2 between levels the mode weights of the 0.8/0.2
/// mixture drift (0.75 at L = 10, 0.79 at L = 20; tests/native/samplers.rs), so 20 levels.
impl Default for AldConfig {
    fn default() -> Self {
        AldConfig {
            levels: 20,
            sigma_first: None,
            sigma_last: 0.01,
            eps: 2e-5,
            steps_per_level: 100,
        }
    }
}

impl SamplerSpec for AldConfig {
    const DESCRIPTION: &'static str =
        "annealed Langevin dynamics (NCSN): Langevin at each of a geometric ladder of noise levels";
    const PARAMS: &'static [Param] = &[
        Param {
            name: "levels",
            description: "L, noise levels of the geometric ladder σ_1 > … > σ_L",
        },
        Param {
            name: "sigma_first",
            description: "σ_1, the first level (default: the SDE's level at t = 1)",
        },
        Param {
            name: "sigma_last",
            description: "σ_L, the last level",
        },
        EPS,
        Param {
            name: "steps_per_level",
            description: "T, Langevin steps x ← x + (α_i/2) s(x, σ_i) + √α_i z at each level",
        },
    ];

    fn validate(&self, sde: &Sde) -> Result<()> {
        count("sampler.levels", self.levels, 1, 10_000)?;
        count(
            "sampler.steps_per_level",
            self.steps_per_level,
            1,
            1_000_000,
        )?;
        in_range("sampler.eps", self.eps, 1e-14, 100.0)?;
        let (lo, hi) = (sde.noise_level(1e-6), sde.max_noise_level());
        let first = self.sigma_first.unwrap_or(hi);
        for (field, s) in [
            ("sampler.sigma_first", first),
            ("sampler.sigma_last", self.sigma_last),
        ] {
            positive(field, s)?;
            if s < lo || s > hi * (1.0 + 1e-9) {
                return Err(Error::invalid(
                    field,
                    format!(
                        "must be a noise level std/m the {} SDE reaches, in [{lo:.3e}, {hi:.4}], got {s}",
                        sde.name()
                    ),
                ));
            }
        }
        if self.sigma_last > first {
            return Err(Error::invalid(
                "sampler.sigma_last",
                format!("must not exceed sigma_first ({first})"),
            ));
        }
        Ok(())
    }

    fn start<B: Backend>(&self, sde: &Sde, mut init: Init<'_, B>) -> Result<Started<B>> {
        let ald = Ald::new(
            sde,
            self.levels,
            self.sigma_first.unwrap_or(sde.max_noise_level()),
            self.sigma_last,
            self.eps,
            self.steps_per_level,
        )?;
        let x = init.normal() * ald.sigmas[0];
        Ok((Box::new(ald), x))
    }
}

pub struct Langevin {
    pub eps: f64,
    pub steps: usize,
    /// The diffusion time whose score is used (small: the data distribution).
    pub t: f64,
    /// Steps taken.
    pub k: usize,
}

impl<B: Backend> Stepper<B> for Langevin {
    /// # Shapes
    /// `x: [n, d]` → `[n, d]`
    fn step<'a>(&'a mut self, x: Tensor<B, 2>, mut cx: StepContext<'a, B>) -> StepFuture<'a, B> {
        let s = cx.model.score(x.clone(), self.t);
        let z = cx.normal_like(&x);
        let x = x + s * (self.eps / 2.0) + z * self.eps.sqrt();
        self.k += 1;
        ready(Moved {
            x,
            t: self.t,
            step_size: self.eps,
            nfe: 1,
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
        self.t
    }
}

pub struct Ald {
    pub sigmas: Vec<f64>,
    /// `t_i` with noise level σ(t_i) = σ_i.
    pub ts: Vec<f64>,
    /// `m(t_i)`.
    pub ms: Vec<f64>,
    pub eps: f64,
    pub steps_per_level: usize,
    pub level: usize,
    pub inner: usize,
}

impl Ald {
    pub fn new(
        sde: &Sde,
        levels: usize,
        sigma_first: f64,
        sigma_last: f64,
        eps: f64,
        steps_per_level: usize,
    ) -> Result<Self> {
        let sigmas =
            ncsn_sigmas(levels, sigma_first, sigma_last).map_err(|e| e.within("sampler"))?;
        let ts = sigmas
            .iter()
            .map(|s| {
                sde.t_of_noise_level(s.min(sde.max_noise_level()))
                    .ok_or_else(|| {
                        Error::invalid(
                            "sampler.sigma_last",
                            format!("σ = {s} is not reached by the {} SDE", sde.name()),
                        )
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        let ms = ts.iter().map(|t| sde.mean_scale(*t)).collect();
        Ok(Ald {
            sigmas,
            ts,
            ms,
            eps,
            steps_per_level,
            level: 0,
            inner: 0,
        })
    }

    /// One Langevin step at the current level on `y = x/m`. Returns (y, t_i, α_i, level);
    /// after the very last step the returned particles are `x = m(t_L) y`.
    ///
    /// # Shapes
    /// `y: [n, d]` → `[n, d]`
    pub fn advance<B: Backend>(
        &mut self,
        x: Tensor<B, 2>,
        model: &dyn ScoreModel<B>,
        noise: &mut Noise,
        device: &B::Device,
    ) -> (Tensor<B, 2>, f64, f64, usize) {
        let [n, d] = x.dims();
        let level = self.level;
        let sigma_l = *self.sigmas.last().unwrap();
        let alpha = self.eps * (self.sigmas[level] / sigma_l).powi(2);
        let (t, m) = (self.ts[level], self.ms[level]);
        let s = model.score(x.clone() * m, t) * m;
        let mut x = x + s * (alpha / 2.0) + noise.normal::<B>(n, d, device) * alpha.sqrt();
        self.inner += 1;
        if self.inner == self.steps_per_level {
            self.inner = 0;
            self.level += 1;
            if self.level == self.sigmas.len() {
                x = x * m;
            }
        }
        (x, t, alpha, level)
    }
}

impl<B: Backend> Stepper<B> for Ald {
    fn step<'a>(&'a mut self, x: Tensor<B, 2>, cx: StepContext<'a, B>) -> StepFuture<'a, B> {
        let (x, t, alpha, level) = self.advance(x, cx.model, cx.noise, cx.device);
        ready(Moved {
            x,
            t,
            step_size: alpha,
            nfe: 1,
            accepted: None,
            level: Some(level),
        })
    }
    fn total_steps(&self) -> Option<usize> {
        Some(self.sigmas.len() * self.steps_per_level)
    }
    fn is_done(&self) -> bool {
        self.level >= self.sigmas.len()
    }
    fn final_t(&self) -> f64 {
        *self.ts.last().expect("at least one level")
    }
}
