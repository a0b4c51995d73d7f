//! The noise-level view that DDIM, EDM and DPM-Solver++ share (Karras et al. 2022, §2 and
//! Table 1; SCIENCE.md §3).
//!
//! Every SDE here has Gaussian marginals `x_t = m(t) x_0 + std(t) z`, so `y = x/m(t)` is the
//! variance-exploding process `y = x_0 + σ z` with the noise level `σ(t) = std(t)/m(t)`
//! ([`Sde::noise_level`]). In these coordinates the probability-flow ODE of every SDE is the
//! same equation (Karras et al. eq. 4 with s = 1):
//!
//! `dy/dσ = (y − D(y; σ))/σ`,
//!
//! where `D = E[x_0 | x_t] = (x + v(t) s(x, t))/m(t)` is Tweedie's denoiser, one score
//! evaluation. A sampler written in `(y, σ, D)` therefore runs on VE, VP and sub-VP alike; its
//! particles are shown as `x = m(t) y`. A schedule chooses the noise levels `σ_0 > … > σ_N`
//! from the SDE's `σ(1)` down to `σ(ε)`, and each level its time `t_i` with `σ(t_i) = σ_i`.

use super::{ready, Moved, StepContext, StepFuture, Stepper};
use crate::error::{in_range, Error, Result};
use crate::model::ScoreModel;
use crate::registry::{Entry, Registry};
use crate::sde::Sde;
use burn::tensor::{backend::Backend, Tensor};
use serde::{Deserialize, Serialize};

/// How the noise levels between `σ(1)` and `σ(ε)` are spaced (`sampler.schedule`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Schedule {
    /// Uniform in diffusion time, `t_i = 1 − i(1 − ε)/N` (DDIM's and the PC samplers' grid).
    Time,
    /// Karras et al. eq. 5: `σ_i = (σ_max^{1/ρ} + i/N (σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ`.
    Karras,
    /// Uniform in `log σ` (= uniform in log-SNR, DPM-Solver's `logSNR` spacing).
    LogSnr,
}

/// The schedules (`sampler.schedule`, `--schedule`): a registry.
pub fn schedules() -> Registry {
    Registry {
        kind: "schedule",
        field: "schedule",
        entries: vec![
            Entry::plain(
                "time",
                "uniform in diffusion time: t_i = 1 − i(1 − ε)/N (DDIM's grid, the PC samplers')",
            ),
            Entry::plain(
                "karras",
                "Karras et al. (2022) eq. 5: σ_i = (σ_max^{1/ρ} + i/N (σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ, dense near the data",
            ),
            Entry::plain(
                "log-snr",
                "uniform in log σ, i.e. in the log signal-to-noise ratio (DPM-Solver's spacing)",
            ),
        ],
    }
}

impl Schedule {
    pub fn from_name(s: &str) -> Result<Self> {
        serde_json::from_value(serde_json::Value::String(s.into()))
            .map_err(|_| schedules().unknown(s))
    }
}

/// ρ of the Karras schedule: checked where it is used.
pub(crate) fn check_rho(rho: f64) -> Result<()> {
    in_range("sampler.rho", rho, 0.1, 100.0).map(|_| ())
}

/// The noise levels of a run, their times and mean scales: `σ_i`, `t_i`, `m(t_i)` for
/// i = 0..=N, from t = 1 down to t = ε.
#[derive(Debug, Clone)]
pub struct Levels {
    pub sigmas: Vec<f64>,
    pub ts: Vec<f64>,
    pub ms: Vec<f64>,
}

impl Levels {
    /// `steps` + 1 levels from `σ(T)` (T = [`Sde::t_max`]) to `σ(t_end)` spaced by `schedule`.
    pub fn new(sde: &Sde, schedule: Schedule, steps: usize, rho: f64, t_end: f64) -> Result<Self> {
        let n = steps as f64;
        let t_max = sde.t_max();
        let (s_max, s_min) = (sde.noise_level(t_max), sde.noise_level(t_end));
        let ts: Vec<f64> = match schedule {
            Schedule::Time => (0..=steps)
                .map(|i| t_max - i as f64 * (t_max - t_end) / n)
                .collect(),
            Schedule::Karras | Schedule::LogSnr => {
                let sigma = |i: usize| -> f64 {
                    let f = i as f64 / n;
                    match schedule {
                        Schedule::Karras => {
                            let (a, b) = (s_max.powf(1.0 / rho), s_min.powf(1.0 / rho));
                            (a + f * (b - a)).powf(rho)
                        }
                        _ => (s_max.ln() + f * (s_min.ln() - s_max.ln())).exp(),
                    }
                };
                let mut ts = Vec::with_capacity(steps + 1);
                for i in 0..=steps {
                    // the ends exactly, the levels between by inverting σ(t)
                    let t = match i {
                        0 => Some(t_max),
                        i if i == steps => Some(t_end),
                        i => sde.t_of_noise_level(sigma(i).clamp(s_min, s_max)),
                    };
                    ts.push(t.ok_or_else(|| {
                        Error::invalid(
                            "sampler.t_end",
                            format!(
                                "the {} SDE does not reach noise level σ = {}",
                                sde.name(),
                                sigma(i)
                            ),
                        )
                    })?);
                }
                ts
            }
        };
        let mut ts: Vec<f64> = ts.into_iter().map(|t| t.clamp(t_end, t_max)).collect();
        ts[steps] = t_end; // exactly, not 1 − N(1 − ε)/N

        Ok(Levels {
            sigmas: ts.iter().map(|t| sde.noise_level(*t)).collect(),
            ms: ts.iter().map(|t| sde.mean_scale(*t)).collect(),
            ts,
        })
    }

    /// Steps between the levels (N).
    pub fn steps(&self) -> usize {
        self.ts.len() - 1
    }
}

/// Tweedie's denoiser in the noise-level view: `D(y; σ(t)) = (x + v(t) s(x, t))/m(t)` with
/// `x = m(t) y`. One score evaluation.
///
/// # Shapes
/// `y: [n, d]` → `[n, d]`
pub fn denoiser<B: Backend>(
    model: &dyn ScoreModel<B>,
    sde: &Sde,
    y: Tensor<B, 2>,
    t: f64,
) -> Tensor<B, 2> {
    let m = sde.mean_scale(t);
    let x = y * m;
    let s = model.score(x.clone(), t);
    (x + s * sde.variance(t)) / m
}

/// A sampler that walks the levels one step at a time (DDIM, EDM, DPM-Solver++): its
/// update from level `i` to `i + 1`; [`LevelWalk`] does the rest.
pub(crate) trait LevelStep<B: Backend> {
    /// `x` at level `i` → `x` at level `i + 1`, and the score evaluations it took.
    ///
    /// # Shapes
    /// `x: [n, d]` → `[n, d]`
    fn update(
        &mut self,
        x: Tensor<B, 2>,
        levels: &Levels,
        i: usize,
        cx: &mut StepContext<'_, B>,
    ) -> (Tensor<B, 2>, usize);
}

/// The state machine of a [`LevelStep`] sampler: the levels and the next one.
pub(crate) struct LevelWalk<M> {
    pub levels: Levels,
    pub method: M,
    pub i: usize,
}

impl<M> LevelWalk<M> {
    pub fn new(levels: Levels, method: M) -> Self {
        LevelWalk {
            levels,
            method,
            i: 0,
        }
    }
}

impl<B: Backend, M: LevelStep<B>> Stepper<B> for LevelWalk<M> {
    fn step<'a>(&'a mut self, x: Tensor<B, 2>, mut cx: StepContext<'a, B>) -> StepFuture<'a, B> {
        let i = self.i;
        let (x, nfe) = self.method.update(x, &self.levels, i, &mut cx);
        self.i += 1;
        let (t, t_next) = (self.levels.ts[i], self.levels.ts[i + 1]);
        ready(Moved {
            x,
            t: t_next,
            step_size: t - t_next,
            nfe,
            accepted: None,
            level: None,
        })
    }
    fn total_steps(&self) -> Option<usize> {
        Some(self.levels.steps())
    }
    fn is_done(&self) -> bool {
        self.i >= self.levels.steps()
    }
    fn final_t(&self) -> f64 {
        *self.levels.ts.last().expect("at least two levels")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_run_from_one_to_t_end_and_decrease() {
        for sde in ["ve", "vp", "subvp", "ve-notebook"] {
            let sde = Sde::from_name(sde).unwrap();
            for sched in [Schedule::Time, Schedule::Karras, Schedule::LogSnr] {
                let l = Levels::new(&sde, sched, 10, 7.0, 1e-3).unwrap();
                assert_eq!(l.steps(), 10);
                assert_eq!(l.ts[0], 1.0);
                assert_eq!(l.ts[10], 1e-3);
                for w in l.sigmas.windows(2) {
                    assert!(w[1] < w[0], "{sched:?} {sde:?}: {:?}", l.sigmas);
                }
                for (s, t) in l.sigmas.iter().zip(&l.ts) {
                    assert!((sde.noise_level(*t) / s - 1.0).abs() < 1e-9);
                }
            }
            // Karras with ρ = 1 is uniform in σ; the log-SNR schedule is geometric
            let k = Levels::new(&sde, Schedule::Karras, 4, 1.0, 1e-3).unwrap();
            let step = k.sigmas[0] - k.sigmas[1];
            for w in k.sigmas.windows(2) {
                assert!(((w[0] - w[1]) / step - 1.0).abs() < 1e-6, "{:?}", k.sigmas);
            }
            let g = Levels::new(&sde, Schedule::LogSnr, 4, 7.0, 1e-3).unwrap();
            let r = g.sigmas[1] / g.sigmas[0];
            for w in g.sigmas.windows(2) {
                assert!((w[1] / w[0] / r - 1.0).abs() < 1e-6, "{:?}", g.sigmas);
            }
        }
    }
}
