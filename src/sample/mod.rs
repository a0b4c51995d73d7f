//! Samplers as state machines (DESIGN.md invariant 3): built once from a
//! [`SamplerConfig`], stepped many times; each step returns a [`StepInfo`]. The CLI loops
//! [`Sampler::step`]; the browser calls it once per frame. Cost is counted in score
//! evaluations (NFE), as in k-diffusion's `sampling.py`.
//!
//! - [`pc`]: predictor–corrector (Song et al. 2021, Alg. 1-2): predictors Euler–Maruyama,
//!   reverse diffusion, ancestral, none; correctors Langevin at a target SNR, none.
//! - [`langevin`]: plain Langevin dynamics and annealed Langevin dynamics (NCSN Alg. 1).
//! - [`ode`]: the probability-flow ODE with any [`crate::solver`] stepper.
//!
//! An optional final denoising step applies Tweedie's formula at the last time,
//! `x ← (x + v(t) s(x, t)) / m(t)` = E[x₀ | x_t] (NCSNv2; score_sde's noise removal).

pub mod langevin;
pub mod ode;
pub mod pc;

use crate::error::{count, in_range, positive, Error, Result};
use crate::model::ScoreModel;
use crate::rng::Noise;
use crate::sde::Sde;
use crate::solver::SolverKind;
use burn::tensor::{backend::Backend, Tensor};
use serde::{Deserialize, Serialize};

pub use pc::{CorrectorKind, PredictorKind};

/// What every step reports.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StepInfo {
    /// Steps taken so far (attempts, for adaptive solvers).
    pub index: usize,
    /// Total steps when known in advance.
    pub total: Option<usize>,
    /// Diffusion time after the step.
    pub t: f64,
    /// Score evaluations so far.
    pub nfe: usize,
    /// Step size of this step (Δt for SDE/ODE steps, ε or α_i for Langevin steps).
    pub step_size: f64,
    /// For adaptive solvers: whether this attempt was accepted.
    pub accepted: Option<bool>,
    /// For annealed Langevin: the noise level index (0-based).
    pub level: Option<usize>,
    /// True for the final Tweedie denoising step.
    pub denoise: bool,
    /// True once the sampler has finished.
    pub done: bool,
}

fn d_steps() -> usize {
    500
}
fn d_t_end() -> f64 {
    1e-3
}
fn d_snr() -> f64 {
    0.16
}
fn d_one() -> usize {
    1
}
fn d_lang_eps() -> f64 {
    0.01
}
fn d_lang_steps() -> usize {
    1000
}
fn d_init_low() -> f64 {
    -8.0
}
fn d_init_high() -> f64 {
    8.0
}
/// NCSN used L = 10 over σ 1 → 0.01; our σ_1 defaults to the SDE's whole range (up to
/// 5000 σ_L for VE), and with ratios above ~2 between levels the mode weights of the 0.8/0.2
/// mixture drift (0.75 at L = 10, 0.79 at L = 20; tests/native/samplers.rs), so 20 levels.
fn d_levels() -> usize {
    20
}
fn d_ald_eps() -> f64 {
    2e-5
}
fn d_steps_per_level() -> usize {
    100
}
fn d_sigma_last() -> f64 {
    0.01
}
fn d_solver() -> SolverKind {
    SolverKind::Rk45
}
fn d_tol() -> f64 {
    1e-5
}
fn d_ode_steps() -> usize {
    100
}
fn d_predictor() -> PredictorKind {
    PredictorKind::ReverseDiffusion
}
fn d_corrector() -> CorrectorKind {
    CorrectorKind::Langevin
}

/// A sampler's settings: the `sampler` object of `--config`, the URL hash and the page API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum SamplerConfig {
    /// Euler–Maruyama on the reverse SDE: `pc` with predictor `em`, corrector `none`.
    Em {
        #[serde(default = "d_steps")]
        steps: usize,
        #[serde(default = "d_t_end")]
        t_end: f64,
    },
    /// Predictor–corrector.
    Pc {
        #[serde(default = "d_predictor")]
        predictor: PredictorKind,
        #[serde(default = "d_corrector")]
        corrector: CorrectorKind,
        /// Target signal-to-noise ratio of the Langevin corrector.
        #[serde(default = "d_snr")]
        snr: f64,
        #[serde(default = "d_one")]
        corrector_steps: usize,
        #[serde(default = "d_steps")]
        steps: usize,
        #[serde(default = "d_t_end")]
        t_end: f64,
    },
    /// Plain Langevin dynamics `x ← x + (ε/2) s(x, t) + √ε z` at one time t, from a uniform start.
    Langevin {
        #[serde(default = "d_lang_eps")]
        eps: f64,
        #[serde(default = "d_lang_steps")]
        steps: usize,
        #[serde(default = "d_t_end")]
        t: f64,
        #[serde(default = "d_init_low")]
        init_low: f64,
        #[serde(default = "d_init_high")]
        init_high: f64,
    },
    /// Annealed Langevin dynamics (NCSN Algorithm 1).
    Ald {
        #[serde(default = "d_levels")]
        levels: usize,
        /// σ_1 (a VE-equivalent noise level std/m); default: the SDE's level at t = 1.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sigma_first: Option<f64>,
        #[serde(default = "d_sigma_last")]
        sigma_last: f64,
        #[serde(default = "d_ald_eps")]
        eps: f64,
        #[serde(default = "d_steps_per_level")]
        steps_per_level: usize,
    },
    /// The probability-flow ODE.
    Ode {
        #[serde(default = "d_solver")]
        solver: SolverKind,
        /// Steps for the fixed-step solvers (ignored by rk45).
        #[serde(default = "d_ode_steps")]
        steps: usize,
        #[serde(default = "d_tol")]
        rtol: f64,
        #[serde(default = "d_tol")]
        atol: f64,
        #[serde(default = "d_t_end")]
        t_end: f64,
    },
}

pub const SAMPLER_NAMES: &str = "em, pc, langevin, ald, ode";

impl Default for SamplerConfig {
    fn default() -> Self {
        SamplerConfig::from_name("pc").unwrap()
    }
}

impl SamplerConfig {
    /// The sampler with its defaults (`--sampler NAME`).
    pub fn from_name(name: &str) -> Result<Self> {
        let json = match name {
            "em" | "pc" | "langevin" | "ald" | "ode" => format!(r#"{{"kind":"{name}"}}"#),
            o => {
                return Err(Error::invalid(
                    "sampler",
                    format!("unknown sampler '{o}'; accepted: {SAMPLER_NAMES}"),
                ))
            }
        };
        Ok(serde_json::from_str(&json).expect("defaults deserialise"))
    }

    pub fn name(&self) -> &'static str {
        match self {
            SamplerConfig::Em { .. } => "em",
            SamplerConfig::Pc { .. } => "pc",
            SamplerConfig::Langevin { .. } => "langevin",
            SamplerConfig::Ald { .. } => "ald",
            SamplerConfig::Ode { .. } => "ode",
        }
    }

    /// Check every value against its accepted range, for the given SDE.
    pub fn validate(&self, sde: &Sde) -> Result<()> {
        let t_end_ok = |t: f64| in_range("sampler.t_end", t, 1e-6, 0.5);
        match *self {
            SamplerConfig::Em { steps, t_end } => {
                count("sampler.steps", steps, 1, 1_000_000)?;
                t_end_ok(t_end)?;
            }
            SamplerConfig::Pc {
                predictor,
                corrector,
                snr,
                corrector_steps,
                steps,
                t_end,
            } => {
                count("sampler.steps", steps, 1, 1_000_000)?;
                t_end_ok(t_end)?;
                in_range("sampler.snr", snr, 1e-6, 10.0)?;
                count("sampler.corrector_steps", corrector_steps, 1, 1000)?;
                if predictor == PredictorKind::Ancestral
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
                if predictor == PredictorKind::None && corrector == CorrectorKind::None {
                    return Err(Error::invalid(
                        "sampler.corrector",
                        "predictor and corrector cannot both be none",
                    ));
                }
            }
            SamplerConfig::Langevin {
                eps,
                steps,
                t,
                init_low,
                init_high,
            } => {
                in_range("sampler.eps", eps, 1e-12, 100.0)?;
                count("sampler.steps", steps, 1, 10_000_000)?;
                in_range("sampler.t", t, 1e-6, 1.0)?;
                in_range("sampler.init_low", init_low, -1e6, 1e6)?;
                in_range("sampler.init_high", init_high, -1e6, 1e6)?;
                if init_high <= init_low {
                    return Err(Error::invalid(
                        "sampler.init_high",
                        format!("must exceed init_low ({init_low})"),
                    ));
                }
            }
            SamplerConfig::Ald {
                levels,
                sigma_first,
                sigma_last,
                eps,
                steps_per_level,
            } => {
                count("sampler.levels", levels, 1, 10_000)?;
                count("sampler.steps_per_level", steps_per_level, 1, 1_000_000)?;
                in_range("sampler.eps", eps, 1e-14, 100.0)?;
                let (lo, hi) = (sde.noise_level(1e-6), sde.noise_level(1.0));
                let first = sigma_first.unwrap_or(hi);
                for (field, s) in [
                    ("sampler.sigma_first", first),
                    ("sampler.sigma_last", sigma_last),
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
                if sigma_last > first {
                    return Err(Error::invalid(
                        "sampler.sigma_last",
                        format!("must not exceed sigma_first ({first})"),
                    ));
                }
            }
            SamplerConfig::Ode {
                solver,
                steps,
                rtol,
                atol,
                t_end,
            } => {
                t_end_ok(t_end)?;
                if solver == SolverKind::Rk45 {
                    in_range("sampler.rtol", rtol, 1e-13, 1.0)?;
                    in_range("sampler.atol", atol, 1e-13, 1.0)?;
                } else {
                    count("sampler.steps", steps, 1, 1_000_000)?;
                }
            }
        }
        Ok(())
    }
}

enum Kind<B: Backend> {
    Pc(pc::Pc),
    Langevin(langevin::Langevin),
    Ald(langevin::Ald),
    Ode(ode::Ode<B>),
}

/// Inpainting / imputation (Song et al. 2021, App. I.2): the known coordinates are replaced
/// after every predictor–corrector step by a draw from the forward process at the
/// particles' time, `m(t) y + std(t) z`, so the unknown ones evolve conditioned on them; the
/// output carries `y` itself in the known coordinates.
struct Inpaint<B: Backend> {
    /// `y` in the known coordinates (anything elsewhere), `[n, d]`.
    known: Tensor<B, 2>,
    /// 1 where known, 0 where sampled, `[n, d]`.
    mask: Tensor<B, 2>,
}

/// A sampler in progress: particles `[n, d]` plus the algorithm's state.
pub struct Sampler<B: Backend> {
    inpaint: Option<Inpaint<B>>,
    kind: Kind<B>,
    x: Tensor<B, 2>,
    noise: Noise,
    sde: Sde,
    device: B::Device,
    nfe: usize,
    index: usize,
    denoise: bool,
    finished: bool,
}

impl<B: Backend> Sampler<B> {
    /// Build a sampler for `n` particles in `d` dimensions. Particles start from the prior
    /// (or the sampler's own start: uniform for Langevin, `N(0, σ_1²)` for ALD).
    pub fn new(
        cfg: &SamplerConfig,
        sde: Sde,
        n: usize,
        d: usize,
        seed: u64,
        denoise: bool,
        device: &B::Device,
    ) -> Result<Self> {
        sde.validate()?;
        cfg.validate(&sde)?;
        count("n", n, 1, 1_000_000)?;
        count("d", d, 1, 1_000_000)?;
        let mut noise = Noise::new(seed);
        let (kind, x) = match *cfg {
            SamplerConfig::Em { steps, t_end } => {
                let x = noise.normal::<B>(n, d, device) * sde.prior_std();
                (
                    Kind::Pc(pc::Pc::new(
                        PredictorKind::Em,
                        CorrectorKind::None,
                        0.16,
                        1,
                        steps,
                        t_end,
                    )),
                    x,
                )
            }
            SamplerConfig::Pc {
                predictor,
                corrector,
                snr,
                corrector_steps,
                steps,
                t_end,
            } => {
                let x = noise.normal::<B>(n, d, device) * sde.prior_std();
                (
                    Kind::Pc(pc::Pc::new(
                        predictor,
                        corrector,
                        snr,
                        corrector_steps,
                        steps,
                        t_end,
                    )),
                    x,
                )
            }
            SamplerConfig::Langevin {
                eps,
                steps,
                t,
                init_low,
                init_high,
            } => {
                let x = noise.uniform::<B>(n, d, init_low, init_high, device);
                (Kind::Langevin(langevin::Langevin { eps, steps, t }), x)
            }
            SamplerConfig::Ald {
                levels,
                sigma_first,
                sigma_last,
                eps,
                steps_per_level,
            } => {
                let ald = langevin::Ald::new(
                    &sde,
                    levels,
                    sigma_first.unwrap_or(sde.noise_level(1.0)),
                    sigma_last,
                    eps,
                    steps_per_level,
                )?;
                let x = noise.normal::<B>(n, d, device) * ald.sigmas[0];
                (Kind::Ald(ald), x)
            }
            SamplerConfig::Ode {
                solver,
                steps,
                rtol,
                atol,
                t_end,
            } => {
                let x = noise.normal::<B>(n, d, device) * sde.prior_std();
                (
                    Kind::Ode(ode::Ode::new(solver, x.clone(), steps, rtol, atol, t_end)?),
                    x,
                )
            }
        };
        Ok(Sampler {
            inpaint: None,
            kind,
            x,
            noise,
            sde,
            device: device.clone(),
            nfe: 0,
            index: 0,
            denoise,
            finished: false,
        })
    }

    /// Condition on known coordinates (the score-SDE paper's PC inpainter): `known` holds `y`
    /// where `mask` is 1 (row-major host values). Only for the predictor–corrector samplers
    /// (`em`, `pc`), before the first step.
    ///
    /// # Shapes
    /// `known`, `mask`: `d` values (the same for every particle) or `n·d`
    pub fn inpaint(&mut self, known: &[f32], mask: &[f32]) -> Result<()> {
        let [n, d] = self.x.dims();
        if !matches!(self.kind, Kind::Pc(_)) {
            return Err(Error::invalid(
                "inpaint",
                "works with the predictor-corrector samplers; accepted: em, pc",
            ));
        }
        if self.index > 0 {
            return Err(Error::invalid(
                "inpaint",
                "must be set before the first step (reset the sampler)",
            ));
        }
        let device = self.device.clone();
        let fit = |v: &[f32], what: &str| -> Result<Tensor<B, 2>> {
            if v.iter().any(|x| !x.is_finite()) {
                return Err(Error::invalid(
                    "inpaint",
                    format!("{what} has a non-finite value"),
                ));
            }
            let host: Vec<f64> = v.iter().map(|x| *x as f64).collect();
            if v.len() == d {
                Ok(crate::tensor::host_tensor::<B, 2>(host, [1, d], &device).repeat_dim(0, n))
            } else if v.len() == n * d {
                Ok(crate::tensor::host_tensor::<B, 2>(host, [n, d], &device))
            } else {
                Err(Error::invalid(
                    "inpaint",
                    format!(
                        "{what} has {} values; accepted: {d} (one row for all particles) or {}",
                        v.len(),
                        n * d
                    ),
                ))
            }
        };
        if mask.iter().any(|v| *v != 0.0 && *v != 1.0) {
            return Err(Error::invalid("inpaint", "mask values must be 0 or 1"));
        }
        let known = fit(known, "known")?;
        let mask = fit(mask, "mask")?;
        self.inpaint = Some(Inpaint { known, mask });
        self.replace_known(1.0);
        Ok(())
    }

    /// Known coordinates ← `m(t) y + std(t) z` (or `y` itself at the end).
    fn replace_known(&mut self, t: f64) {
        let Some(ip) = &self.inpaint else { return };
        let [n, d] = self.x.dims();
        let target = if self.finished {
            ip.known.clone()
        } else {
            ip.known.clone() * self.sde.mean_scale(t)
                + self.noise.normal::<B>(n, d, &self.device) * self.sde.variance(t).sqrt()
        };
        let keep = ip.mask.clone().neg() + 1.0;
        self.x = self.x.clone() * keep + target * ip.mask.clone();
    }

    /// The current particles.
    ///
    /// # Shapes
    /// → `[n, d]`
    pub fn particles(&self) -> Tensor<B, 2> {
        self.x.clone()
    }

    pub fn is_done(&self) -> bool {
        self.finished
    }

    /// Steps the main loop takes when known (plus one for denoising).
    pub fn total_steps(&self) -> Option<usize> {
        let main = match &self.kind {
            Kind::Pc(p) => Some(p.steps),
            Kind::Langevin(l) => Some(l.steps),
            Kind::Ald(a) => Some(a.sigmas.len() * a.steps_per_level),
            Kind::Ode(o) => o.integrator.total_steps(),
        };
        main.map(|m| m + self.denoise as usize)
    }

    fn main_done(&self) -> bool {
        match &self.kind {
            Kind::Pc(p) => p.k >= p.steps,
            Kind::Langevin(l) => self.index >= l.steps,
            Kind::Ald(a) => a.level >= a.sigmas.len(),
            Kind::Ode(o) => o.integrator.is_done(),
        }
    }

    /// The time the main loop ends at (where the denoising step evaluates the score).
    fn final_t(&self) -> f64 {
        match &self.kind {
            Kind::Pc(p) => p.t_end,
            Kind::Langevin(l) => l.t,
            Kind::Ald(a) => *a.ts.last().unwrap(),
            Kind::Ode(o) => o.t_end,
        }
    }

    /// Take one step. After the last one, further calls return the final info unchanged.
    pub async fn step(&mut self, model: &dyn ScoreModel<B>) -> Result<StepInfo> {
        if self.finished {
            return Ok(self.info(self.final_t(), 0.0, None, None, false));
        }
        if self.main_done() {
            // Tweedie denoising: E[x0 | x_t] = (x + v s) / m.
            let t = self.final_t();
            let s = model.score(self.x.clone(), t);
            self.nfe += 1;
            self.x = (self.x.clone() + s * self.sde.variance(t)) / self.sde.mean_scale(t);
            self.index += 1;
            self.finished = true;
            self.replace_known(t);
            return Ok(self.info(t, 0.0, None, None, true));
        }
        let (t, step_size, accepted, level) = match &mut self.kind {
            Kind::Pc(p) => {
                let (x, t, dt, nfe) = p.step(
                    self.x.clone(),
                    model,
                    &self.sde,
                    &mut self.noise,
                    &self.device,
                );
                self.x = x;
                self.nfe += nfe;
                (t, dt, None, None)
            }
            Kind::Langevin(l) => {
                self.x = l.step(self.x.clone(), model, &mut self.noise, &self.device);
                self.nfe += 1;
                (l.t, l.eps, None, None)
            }
            Kind::Ald(a) => {
                let (x, t, alpha, level) =
                    a.step(self.x.clone(), model, &mut self.noise, &self.device);
                self.x = x;
                self.nfe += 1;
                (t, alpha, None, Some(level))
            }
            Kind::Ode(o) => {
                let st = o.step(model, &self.sde).await?;
                self.x = o.integrator.y.clone();
                self.nfe = o.integrator.nfe;
                (st.t, st.h.abs(), Some(st.accepted), None)
            }
        };
        self.index += 1;
        if self.main_done() && !self.denoise {
            self.finished = true;
        }
        self.replace_known(t);
        Ok(self.info(t, step_size, accepted, level, false))
    }

    fn info(
        &self,
        t: f64,
        step_size: f64,
        accepted: Option<bool>,
        level: Option<usize>,
        denoise: bool,
    ) -> StepInfo {
        StepInfo {
            index: self.index,
            total: self.total_steps(),
            t,
            nfe: self.nfe,
            step_size,
            accepted,
            level,
            denoise,
            done: self.finished,
        }
    }

    /// Run to the end, calling `on_step` after every step (progress bars, trajectories).
    pub async fn run(
        &mut self,
        model: &dyn ScoreModel<B>,
        mut on_step: impl FnMut(&StepInfo, &Tensor<B, 2>),
    ) -> Result<StepInfo> {
        let mut last = self.info(1.0, 0.0, None, None, false);
        while !self.finished {
            last = self.step(model).await?;
            on_step(&last, &self.x);
        }
        Ok(last)
    }
}
