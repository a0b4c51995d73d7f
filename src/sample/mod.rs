//! Samplers as state machines (DESIGN.md invariant 3): built once from a
//! [`SamplerConfig`], stepped many times; each step returns a [`StepInfo`]. The CLI loops
//! [`Sampler::step`]; the browser calls it once per frame. Cost is counted in score
//! evaluations (NFE), as in k-diffusion's `sampling.py`.
//!
//! - [`pc`]: predictor–corrector (Song et al. 2021, Alg. 1-2): predictors Euler–Maruyama,
//!   reverse diffusion, ancestral, none; correctors Langevin at a target SNR, none.
//! - [`langevin`]: plain Langevin dynamics and annealed Langevin dynamics (NCSN Alg. 1).
//! - [`ode`]: the probability-flow ODE with any [`crate::solver`] stepper.
//! - [`ddim`], [`edm`], [`dpm_solver`]: the samplers of today's diffusion models (DDIM, EDM's
//!   Heun with churn, DPM-Solver++ 2M and 2S), written once in the noise-level view
//!   ([`levels`]: `y = x/m`, `σ = std/m`, Tweedie's denoiser), so they run on every SDE.
//!
//! An optional final denoising step applies Tweedie's formula at the last time,
//! `x ← (x + v(t) s(x, t)) / m(t)` = E[x₀ | x_t] (NCSNv2; score_sde's noise removal).

pub mod ddim;
pub mod dpm_solver;
pub mod edm;
pub mod langevin;
pub mod levels;
pub mod ode;
pub mod pc;

use crate::error::{count, in_range, Error, Result};
use crate::model::ScoreModel;
use crate::registry::{Entry, Param, Registry};
use crate::rng::Noise;
use crate::sde::Sde;
use burn::tensor::{backend::Backend, Tensor};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::pin::Pin;

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

/// What every sampler's settings type provides: its description and parameters (the
/// registry entry), its checks, and its start (the state machine and the first particles).
/// Defaults come from the type's `Default`, so a missing JSON field takes it.
pub(crate) trait SamplerSpec: Default {
    const DESCRIPTION: &'static str;
    /// The settings' fields, as the registry lists them.
    const PARAMS: &'static [Param];
    /// Check every value against its accepted range, for the given SDE.
    fn validate(&self, sde: &Sde) -> Result<()>;
    /// The state machine and the particles it starts from.
    fn start<B: Backend>(&self, sde: &Sde, init: Init<'_, B>) -> Result<Started<B>>;
}

/// A sampler's state machine and its first particles (`[n, d]`).
pub(crate) type Started<B> = (Box<dyn Stepper<B>>, Tensor<B, 2>);

/// What a start draws its first particles with: their number and dimension, the run's noise
/// and the device.
pub(crate) struct Init<'a, B: Backend> {
    pub n: usize,
    pub d: usize,
    pub noise: &'a mut Noise,
    pub device: &'a B::Device,
}

impl<B: Backend> Init<'_, B> {
    /// The particles drawn from the SDE's prior `N(0, v(T) I)`, T = [`Sde::t_max`].
    ///
    /// # Shapes
    /// → `[n, d]`
    pub fn prior(&mut self, sde: &Sde) -> Tensor<B, 2> {
        self.normal() * sde.prior_std()
    }

    /// Standard normal particles, `[n, d]`.
    pub fn normal(&mut self) -> Tensor<B, 2> {
        self.noise.normal::<B>(self.n, self.d, self.device)
    }

    /// Particles uniform in `[low, high]` in every coordinate, `[n, d]`.
    pub fn uniform(&mut self, low: f64, high: f64) -> Tensor<B, 2> {
        self.noise
            .uniform::<B>(self.n, self.d, low, high, self.device)
    }
}

/// The samplers: each line is a name (the JSON `kind` and `--sampler`), the
/// [`SamplerConfig`] variant and its settings type, which implements [`SamplerSpec`] in
/// the sampler's module. This list is the sampler registry ([`samplers`]):
/// adding a sampler is its module plus one line here (ARCHITECTURE.md, "Adding a sampler").
macro_rules! samplers {
    ($($name:literal => $variant:ident($config:ty),)*) => {
        /// A sampler's settings: the `sampler` object of `--config`, the URL hash and the
        /// page API, tagged by `kind`.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "kind")]
        pub enum SamplerConfig {
            $( #[serde(rename = $name)] $variant($config), )*
        }

        /// Every sampler's registry entry, in menu order ([`samplers`]).
        pub const SAMPLERS: &[Entry] = &[$(
            Entry {
                name: $name,
                description: <$config as SamplerSpec>::DESCRIPTION,
                params: <$config as SamplerSpec>::PARAMS,
            },
        )*];

        impl SamplerConfig {
            /// The sampler with its defaults (`--sampler NAME`).
            pub fn from_name(name: &str) -> Result<Self> {
                match name {
                    $( $name => Ok(SamplerConfig::$variant(<$config>::default())), )*
                    other => Err(samplers().unknown(other)),
                }
            }

            pub fn name(&self) -> &'static str {
                match self {
                    $( SamplerConfig::$variant(_) => $name, )*
                }
            }

            /// Check every value against its accepted range, for the given SDE.
            pub fn validate(&self, sde: &Sde) -> Result<()> {
                match self {
                    $( SamplerConfig::$variant(c) => c.validate(sde), )*
                }
            }

            fn start<B: Backend>(&self, sde: &Sde, init: Init<'_, B>) -> Result<Started<B>> {
                match self {
                    $( SamplerConfig::$variant(c) => c.start(sde, init), )*
                }
            }
        }
    };
}

samplers! {
    "em" => Em(pc::EmConfig),
    "pc" => Pc(pc::PcConfig),
    "langevin" => Langevin(langevin::LangevinConfig),
    "ald" => Ald(langevin::AldConfig),
    "ode" => Ode(ode::OdeConfig),
    "ddim" => Ddim(ddim::DdimConfig),
    "edm" => Edm(edm::EdmConfig),
    "dpmpp-2m" => Dpmpp2m(dpm_solver::Dpmpp2mConfig),
    "dpmpp-2s" => Dpmpp2s(dpm_solver::Dpmpp2sConfig),
}

impl Default for SamplerConfig {
    fn default() -> Self {
        SamplerConfig::Pc(pc::PcConfig::default())
    }
}

impl SamplerConfig {
    /// A copy with some settings replaced by name (`steps`, `snr`, ...), as the CLI's flags
    /// do. A setting this sampler does not take is refused, naming the samplers that take it.
    pub fn with_params(&self, params: &[(&str, serde_json::Value)]) -> Result<Self> {
        let kind = self.name();
        let registry = samplers();
        let entry = registry
            .get(kind)
            .copied()
            .expect("every sampler is registered");
        let mut v = serde_json::to_value(self).expect("settings serialise");
        for (key, value) in params {
            if !entry.has_param(key) {
                return Err(Error::invalid(
                    *key,
                    format!(
                        "does not apply to sampler '{kind}' (it applies to {})",
                        registry.taking(key).join(", ")
                    ),
                ));
            }
            v[*key] = value.clone();
        }
        serde_json::from_value(v).map_err(|e| crate::error::json_error("sampler", &e))
    }
}

/// The ways of sampling (`sampler.kind`, `--sampler`): the sampler registry, from the
/// `samplers!` list above.
pub fn samplers() -> Registry {
    Registry {
        kind: "sampler",
        field: "sampler",
        entries: SAMPLERS.to_vec(),
    }
}

/// The end time `ε` of the reverse-time samplers.
pub(crate) fn check_t_end(t_end: f64) -> Result<()> {
    in_range("sampler.t_end", t_end, 1e-6, 0.5).map(|_| ())
}

/// What one step of a sampler's main loop did.
pub(crate) struct Moved<B: Backend> {
    /// The particles after the step, `[n, d]`.
    pub x: Tensor<B, 2>,
    /// Diffusion time after the step.
    pub t: f64,
    /// Δt for SDE/ODE steps, ε or α_i for Langevin steps.
    pub step_size: f64,
    /// Score evaluations of this step.
    pub nfe: usize,
    /// For adaptive solvers: whether this attempt was accepted.
    pub accepted: Option<bool>,
    /// For annealed Langevin: the noise level index.
    pub level: Option<usize>,
}

/// A step in progress (only the ODE's adaptive solver awaits a device read-back).
pub(crate) type StepFuture<'a, B> = Pin<Box<dyn Future<Output = Result<Moved<B>>> + 'a>>;

/// What a step uses besides the sampler's own state: the score model, the SDE, the run's
/// noise and the device.
pub(crate) struct StepContext<'a, B: Backend> {
    pub model: &'a dyn ScoreModel<B>,
    pub sde: &'a Sde,
    pub noise: &'a mut Noise,
    pub device: &'a B::Device,
}

impl<B: Backend> StepContext<'_, B> {
    /// Standard normal noise shaped like `x: [n, d]`.
    pub fn normal_like(&mut self, x: &Tensor<B, 2>) -> Tensor<B, 2> {
        let [n, d] = x.dims();
        self.noise.normal::<B>(n, d, self.device)
    }
}

/// A sampler's state machine: its main loop. The final denoising step, inpainting and the
/// counting ([`StepInfo`]) are [`Sampler`]'s, the same for every sampler.
pub(crate) trait Stepper<B: Backend> {
    /// One step from the particles `x: [n, d]`.
    fn step<'a>(&'a mut self, x: Tensor<B, 2>, cx: StepContext<'a, B>) -> StepFuture<'a, B>;
    /// Steps the main loop takes, when known in advance.
    fn total_steps(&self) -> Option<usize>;
    /// Whether the main loop is over.
    fn is_done(&self) -> bool;
    /// The time the main loop ends at (where the denoising step evaluates the score).
    fn final_t(&self) -> f64;
    /// Whether known coordinates may be imposed between steps (the PC inpainter).
    fn inpaints(&self) -> bool {
        false
    }
}

/// A step that is done when it returns (every sampler but the adaptive ODE).
pub(crate) fn ready<'a, B: Backend>(moved: Moved<B>) -> StepFuture<'a, B> {
    Box::pin(std::future::ready(Ok(moved)))
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
    stepper: Box<dyn Stepper<B>>,
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
        let init = Init {
            n,
            d,
            noise: &mut noise,
            device,
        };
        let (stepper, x) = cfg.start::<B>(&sde, init)?;
        Ok(Sampler {
            inpaint: None,
            stepper,
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
        if !self.stepper.inpaints() {
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
        self.replace_known(self.sde.t_max());
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
        let main = self.stepper.total_steps();
        main.map(|m| m + self.denoise as usize)
    }

    fn main_done(&self) -> bool {
        self.stepper.is_done()
    }

    /// The time the main loop ends at (where the denoising step evaluates the score).
    fn final_t(&self) -> f64 {
        self.stepper.final_t()
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
        let moved = self
            .stepper
            .step(
                self.x.clone(),
                StepContext {
                    model,
                    sde: &self.sde,
                    noise: &mut self.noise,
                    device: &self.device,
                },
            )
            .await?;
        self.x = moved.x;
        self.nfe += moved.nfe;
        let (t, step_size, accepted, level) =
            (moved.t, moved.step_size, moved.accepted, moved.level);
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
        let mut last = self.info(self.sde.t_max(), 0.0, None, None, false);
        while !self.finished {
            last = self.step(model).await?;
            on_step(&last, &self.x);
        }
        Ok(last)
    }
}
