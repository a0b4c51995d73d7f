//! The trainer (one implementation for the CLI and the browser): Adam, linear warm-up,
//! gradient clipping, EMA weights, seeded batches and noise, a NaN/Inf guard that keeps the
//! last good weights. Each [`Trainer::step`] is async because it reads the loss back.

use super::adam::ClippedAdam;
use super::parallel::Shard;
use crate::error::{count, in_range, Error, Result};
use crate::model::net::{Architecture, Net, NetScore};
use crate::rng::Noise;
use crate::sde::ladder::ncsn_sigmas;
use crate::sde::Sde;
use crate::tensor::{host_tensor, read_f32, read_scalar};
use crate::weights::{self, HostTensor, WeightFile};
use burn::module::{AutodiffModule, Module, ModuleMapper, ModuleVisitor, Param};
use burn::optim::record::AdaptorRecord;
use burn::optim::{
    adaptor::OptimizerAdaptor, AdamState, AdaptiveMomentumState, GradientsParams, Optimizer,
};
use burn::tensor::{backend::AutodiffBackend, backend::Backend, Tensor};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Loss weighting λ(t) of continuous-time DSM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Weighting {
    /// λ = std(t)²: the notebook's `‖std·s + z‖²`.
    Std2,
    /// λ = g(t)² (likelihood weighting, Song et al. 2021b).
    Likelihood,
}

/// How the training times t of continuous-time DSM are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TimeSampling {
    /// `t ~ U(ε, 1)` (the notebook).
    Uniform,
    /// Importance sampling (Song et al. 2021b, "Maximum likelihood training of score-based
    /// diffusion models", §4): `t` drawn with density ∝ `g(t)²/std(t)²`, which for every
    /// linear SDE is `d/dt log σ(t)²` with the noise level `σ = std/m`; so `log σ(t)` is
    /// uniform on `[log σ(ε), log σ(1)]`. Each row is weighted by `λ(t)/g(t)²` so the
    /// objective is the same as under `Uniform` up to a constant factor: with likelihood
    /// weighting that weight is 1 and the loss is an unbiased, low-variance estimate of the
    /// likelihood bound's score-matching term (which puts most of its weight at small t,
    /// where uniform t draws almost nothing: σ < 0.1 is 1 % of U(ε, 1) under VE σ = 25).
    Importance,
}

fn d_time_sampling() -> TimeSampling {
    TimeSampling::Uniform
}

fn d_steps() -> usize {
    2000
}
fn d_batch() -> usize {
    512
}
fn d_lr() -> f64 {
    2e-3
}
fn d_warmup() -> usize {
    100
}
fn d_clip() -> f64 {
    1.0
}
fn d_ema() -> f64 {
    0.999
}
fn d_t_eps() -> f64 {
    1e-5
}
/// What the network is trained to minimise (SCIENCE.md §1). All are applied to the
/// perturbed marginals p_t (x_t = m x_0 + std z, t ~ U(ε, 1)) with the weighting λ(t).
///
/// burn's autodiff is first order, so the two objectives that need ∇ₓs inside the loss use
/// central finite differences along a direction v with step `h = 1e-2·std(t)`
/// (finite-difference score matching, Pang et al. 2020): `vᵀ∇ₓs v ≈ vᵀ(s(x+hv) − s(x−hv))/2h`,
/// whose error is O(h²) (tests/train.rs compares it with the autodiff divergence).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Objective {
    /// Denoising score matching (Vincent 2011; Song et al. 2021): `‖std·s + z‖²`.
    Dsm,
    /// Sliced score matching, variance-reduced (Song et al. 2019): `vᵀ∇s v + ½‖s‖²`,
    /// v ~ N(0, I) (or Rademacher with `probe`).
    Ssm,
    /// Implicit (Hyvärinen) score matching with the full trace: `tr ∇s + ½‖s‖²`
    /// (d directional derivatives: fine in 2-D, hopeless for images).
    Ism,
    /// NCSN's multi-scale DSM (Song & Ermon 2019, eq. 6): σ drawn uniformly from the
    /// geometric ladder of `levels` noise levels from σ(1) down to `sigma_last`, λ(σ) = σ²,
    /// i.e. `‖σ s_θ(x̃, σ) + z‖²` with `x̃ = x + σz` (in VE coordinates; for VP/sub-VP the
    /// ladder's times t_i with σ(t_i) = σ_i are used).
    Ncsn,
    /// DDPM's simple ε loss (Ho et al. 2020, eq. 14): `t = i/N`, i uniform in 1..N,
    /// `‖ε_θ(x_t, t) − ε‖²` = `‖r_θ + ε‖²` with `r_θ = −ε_θ` (Tweedie). It is DSM with λ = std²
    /// restricted to the N discrete times of the chain.
    Ddpm,
}

/// Probe distribution of sliced score matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SlicedProbe {
    Gaussian,
    Rademacher,
}

fn d_objective() -> Objective {
    Objective::Dsm
}
fn d_probe() -> SlicedProbe {
    SlicedProbe::Gaussian
}

fn d_levels() -> usize {
    20
}
fn d_sigma_last() -> f64 {
    0.01
}
fn d_ddpm_steps() -> usize {
    1000
}

fn d_weighting() -> Weighting {
    Weighting::Std2
}

/// Training settings (CLI flags, page state, weight manifests).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    #[serde(default = "d_steps")]
    pub steps: usize,
    #[serde(default = "d_batch")]
    pub batch: usize,
    #[serde(default = "d_lr")]
    pub lr: f64,
    /// Linear learning-rate warm-up steps (score_sde: 5000 for images; short for toys).
    #[serde(default = "d_warmup")]
    pub warmup: usize,
    /// Gradient-norm clip per parameter tensor (0 turns it off).
    #[serde(default = "d_clip")]
    pub grad_clip: f64,
    /// EMA decay of the sampling weights (score_sde: 0.999 VE, 0.9999 VP).
    #[serde(default = "d_ema")]
    pub ema: f64,
    #[serde(default)]
    pub seed: u64,
    /// Smallest training time ε (the notebook's 1e-5).
    #[serde(default = "d_t_eps")]
    pub t_eps: f64,
    #[serde(default = "d_weighting")]
    pub weighting: Weighting,
    /// How DSM/SSM/ISM draw t (NCSN and DDPM use their own discrete times).
    #[serde(default = "d_time_sampling")]
    pub time_sampling: TimeSampling,
    #[serde(default = "d_objective")]
    pub objective: Objective,
    /// Sliced score matching's projection distribution.
    #[serde(default = "d_probe")]
    pub probe: SlicedProbe,
    /// NCSN objective: number of noise levels L of the ladder.
    #[serde(default = "d_levels")]
    pub levels: usize,
    /// NCSN objective: the smallest noise level σ_L.
    #[serde(default = "d_sigma_last")]
    pub sigma_last: f64,
    /// DDPM objective: number of discrete steps N.
    #[serde(default = "d_ddpm_steps")]
    pub ddpm_steps: usize,
    /// Uniform dequantisation of 8-bit pixel data, `x = (255x + u)/256` (images).
    #[serde(default)]
    pub dequantize: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        serde_json::from_str("{}").expect("defaults")
    }
}

impl TrainConfig {
    pub fn validate(&self) -> Result<()> {
        count("steps", self.steps, 1, 100_000_000)?;
        count("batch", self.batch, 1, 65_536)?;
        in_range("lr", self.lr, 1e-8, 1.0)?;
        count("warmup", self.warmup, 0, 100_000_000)?;
        in_range("grad_clip", self.grad_clip, 0.0, 1e6)?;
        in_range("ema", self.ema, 0.0, 0.999_999)?;
        in_range("t_eps", self.t_eps, 1e-7, 0.5)?;
        count("levels", self.levels, 1, 100_000)?;
        in_range("sigma_last", self.sigma_last, 1e-6, 1e3)?;
        count("ddpm_steps", self.ddpm_steps, 1, 1_000_000)?;
        Ok(())
    }
}

/// The named objectives of the CLI's `--objective` and the page's training panel: each an
/// [`Objective`] with its [`Weighting`] and [`TimeSampling`]. `dsm-likelihood` is DSM with
/// λ = g²; `dsm-likelihood-is` adds importance-sampled t (the shipped MNIST model's recipe).
pub const NAMED_OBJECTIVES: &[(&str, Objective, Weighting, TimeSampling)] = &[
    (
        "dsm",
        Objective::Dsm,
        Weighting::Std2,
        TimeSampling::Uniform,
    ),
    (
        "dsm-likelihood",
        Objective::Dsm,
        Weighting::Likelihood,
        TimeSampling::Uniform,
    ),
    (
        "dsm-likelihood-is",
        Objective::Dsm,
        Weighting::Likelihood,
        TimeSampling::Importance,
    ),
    (
        "ssm",
        Objective::Ssm,
        Weighting::Std2,
        TimeSampling::Uniform,
    ),
    (
        "ism",
        Objective::Ism,
        Weighting::Std2,
        TimeSampling::Uniform,
    ),
    (
        "ncsn",
        Objective::Ncsn,
        Weighting::Std2,
        TimeSampling::Uniform,
    ),
    (
        "ddpm",
        Objective::Ddpm,
        Weighting::Std2,
        TimeSampling::Uniform,
    ),
];

impl TrainConfig {
    /// Sets `objective`, `weighting` and `time_sampling` from a name in
    /// [`NAMED_OBJECTIVES`]; an unknown name is an error naming the field `objective`.
    pub fn with_named_objective(mut self, name: &str) -> Result<Self> {
        let Some((_, objective, weighting, time_sampling)) =
            NAMED_OBJECTIVES.iter().find(|o| o.0 == name)
        else {
            let names: Vec<&str> = NAMED_OBJECTIVES.iter().map(|o| o.0).collect();
            return Err(Error::invalid(
                "objective",
                format!("unknown objective '{name}'; accepted: {}", names.join(", ")),
            ));
        };
        self.objective = *objective;
        self.weighting = *weighting;
        self.time_sampling = *time_sampling;
        Ok(self)
    }
}

/// The time whose log noise level is the fraction `u ∈ [0, 1)` of the way from
/// `log σ(ε)` to `log σ(1)` ([`TimeSampling::Importance`]; inverse-CDF sampling).
pub fn importance_time(sde: &Sde, t_eps: f64, u: f64) -> f64 {
    let (a, b) = (sde.noise_level(t_eps).ln(), sde.noise_level(1.0).ln());
    sde.t_of_noise_level((a + u * (b - a)).exp())
        .unwrap_or(t_eps)
        .clamp(t_eps, 1.0)
}

/// Per-row loss weights `λ(t)/std(t)²` (the rows are `‖std·s + z‖²`), divided by the
/// sampling density's `g²/std²` under [`TimeSampling::Importance`]; `None` for all ones.
fn row_weights(cfg: &TrainConfig, sde: &Sde, ts: &[f64], std: &[f64]) -> Option<Vec<f64>> {
    let continuous = matches!(
        cfg.objective,
        Objective::Dsm | Objective::Ssm | Objective::Ism
    );
    let importance = continuous && cfg.time_sampling == TimeSampling::Importance;
    let g2_over_v = |t: f64, sd: f64| (sde.diffusion(t) / sd).powi(2);
    match (cfg.weighting, importance) {
        (Weighting::Std2, false) | (Weighting::Likelihood, true) => None,
        (Weighting::Likelihood, false) => Some(
            ts.iter()
                .zip(std)
                .map(|(t, sd)| g2_over_v(*t, *sd))
                .collect(),
        ),
        (Weighting::Std2, true) => Some(
            ts.iter()
                .zip(std)
                .map(|(t, sd)| 1.0 / g2_over_v(*t, *sd))
                .collect(),
        ),
    }
}

/// The float parameters of a module in visiting order, flattened.
struct Collect<B: Backend>(Vec<Tensor<B, 1>>);
impl<B: Backend> ModuleVisitor<B> for Collect<B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let v = param.val();
        let n = v.shape().num_elements();
        self.0.push(v.reshape([n]));
    }
}

/// `ema ← decay·ema + (1 − decay)·current`, matched by visiting order: the EMA and the raw
/// network have the same architecture, but not the same parameter ids once either was
/// loaded from a file (`--resume`), so ids cannot pair them.
struct EmaUpdate<B: Backend> {
    current: std::vec::IntoIter<Tensor<B, 1>>,
    decay: f64,
}
impl<B: Backend> ModuleMapper<B> for EmaUpdate<B> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let (id, old, mapper) = param.consume();
        let cur = self
            .current
            .next()
            .expect("the EMA and the raw network have the same parameters");
        let shape = old.shape();
        let new = match super::adam::ema_cpu(&old, &cur, self.decay) {
            Some(new) => new,
            None => old * self.decay + cur.reshape(shape) * (1.0 - self.decay),
        };
        Param::from_mapped_value(id, new, mapper)
    }
}

/// Adam's moments of one parameter, flattened (ranks 1 to 4 occur in our networks).
fn adam_moments<B: AutodiffBackend>(
    rec: &AdaptorRecord<ClippedAdam, B>,
) -> (Tensor<B::InnerBackend, 1>, Tensor<B::InnerBackend, 1>) {
    fn flat<BB: Backend, const D: usize>(s: AdamState<BB, D>) -> (Tensor<BB, 1>, Tensor<BB, 1>) {
        let m = s.momentum;
        let n = m.moment_1.shape().num_elements();
        (m.moment_1.reshape([n]), m.moment_2.reshape([n]))
    }
    // The record does not know its rank; the rank of the stored tensor decides.
    match rec.clone() {
        AdaptorRecord::V1(v) => match v {
            burn::optim::record::AdaptorRecordV1::Rank1(s) => flat(s),
            burn::optim::record::AdaptorRecordV1::Rank2(s) => flat(s),
            burn::optim::record::AdaptorRecordV1::Rank3(s) => flat(s),
            burn::optim::record::AdaptorRecordV1::Rank4(s) => flat(s),
            _ => unreachable!("our networks have parameters of rank 1 to 4"),
        },
    }
}

fn host_f32<IB: Backend, const D: usize>(
    v: &[f32],
    shape: &[usize],
    device: &IB::Device,
) -> Tensor<IB, D> {
    Tensor::from_data(
        burn::tensor::TensorData::new(v.to_vec(), shape.to_vec()).convert::<IB::FloatElem>(),
        device,
    )
}

/// An Adam record for one parameter from host moments.
fn adam_record<B: AutodiffBackend>(
    time: usize,
    m1: &[f32],
    m2: &[f32],
    shape: &[usize],
    device: &B::Device,
) -> AdaptorRecord<ClippedAdam, B> {
    fn make<BB: AutodiffBackend, const D: usize>(
        time: usize,
        m1: &[f32],
        m2: &[f32],
        shape: &[usize],
        device: &BB::Device,
    ) -> AdaptorRecord<ClippedAdam, BB> {
        let t = |v: &[f32]| host_f32::<BB::InnerBackend, D>(v, shape, device);
        AdaptorRecord::from_state::<D>(AdamState {
            momentum: AdaptiveMomentumState::new(time, t(m1), t(m2)),
        })
    }
    match shape.len() {
        1 => make::<B, 1>(time, m1, m2, shape, device),
        2 => make::<B, 2>(time, m1, m2, shape, device),
        3 => make::<B, 3>(time, m1, m2, shape, device),
        _ => make::<B, 4>(time, m1, m2, shape, device),
    }
}

/// Training times for a batch of n: `U(ε, 1)`, the ladder's or the chain's discrete times.
fn draw_times(
    cfg: &TrainConfig,
    sde: &Sde,
    ladder: &[f64],
    n: usize,
    noise: &mut Noise,
) -> Vec<f64> {
    let rng = noise.rng();
    (0..n)
        .map(|_| match cfg.objective {
            Objective::Ncsn => ladder[rng.random_range(0..ladder.len())],
            Objective::Ddpm => rng.random_range(1..=cfg.ddpm_steps) as f64 / cfg.ddpm_steps as f64,
            _ => match cfg.time_sampling {
                TimeSampling::Uniform => cfg.t_eps + (1.0 - cfg.t_eps) * rng.random::<f64>(),
                TimeSampling::Importance => importance_time(sde, cfg.t_eps, rng.random::<f64>()),
            },
        })
        .collect()
}

/// The random draws of one training batch of `n` rows, made on the host from the run's seeded
/// stream in a fixed order (times, noise z, SSM's probe), so a batch is the same on every
/// backend and a data-parallel run can split it by rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Draws {
    /// Training times, `[n]`.
    pub t: Vec<f64>,
    /// The perturbation `z ~ N(0, I)`, row-major `[n, d]`.
    pub z: Vec<f64>,
    /// SSM's projection v, row-major `[n, d]` (`None` for other objectives; ISM uses the
    /// coordinate directions).
    pub probe: Option<Vec<f64>>,
}

impl Draws {
    /// Draw times, noise and (SSM) probes for `n` rows of dimension `d`.
    pub fn draw(
        cfg: &TrainConfig,
        sde: &Sde,
        ladder: &[f64],
        n: usize,
        d: usize,
        noise: &mut Noise,
    ) -> Self {
        let t = draw_times(cfg, sde, ladder, n, noise);
        let z = noise.normal_vec(n * d);
        let probe = (cfg.objective == Objective::Ssm).then(|| match cfg.probe {
            SlicedProbe::Gaussian => noise.normal_vec(n * d),
            SlicedProbe::Rademacher => noise.rademacher_vec(n * d),
        });
        Draws { t, z, probe }
    }

    /// Rows `range` of the batch (dimension `d`).
    pub fn rows(&self, range: std::ops::Range<usize>, d: usize) -> Self {
        let cut = |v: &Vec<f64>| v[range.start * d..range.end * d].to_vec();
        Draws {
            t: self.t[range.clone()].to_vec(),
            z: cut(&self.z),
            probe: self.probe.as_ref().map(cut),
        }
    }
}

/// A training run in progress on host data `[N, d]`.
pub struct Trainer<B: AutodiffBackend> {
    pub cfg: TrainConfig,
    pub arch: Architecture,
    pub sde: Sde,
    model: Option<Net<B>>,
    ema: Net<B::InnerBackend>,
    optim: OptimizerAdaptor<ClippedAdam, Net<B>, B>,
    /// Shared by the ranks of a data-parallel run.
    data: std::sync::Arc<[f64]>,
    n_data: usize,
    noise: Noise,
    device: B::Device,
    /// The NCSN objective's ladder times t_i (σ(t_i) = σ_i); empty for other objectives.
    ladder: Vec<f64>,
    /// Optimiser steps taken.
    pub step: usize,
    /// The last finite loss.
    pub last_loss: Option<f64>,
    /// This rank's part of a data-parallel run (`None`: the whole batch on one device).
    shard: Option<Shard>,
}

impl<B: AutodiffBackend> Trainer<B> {
    /// Adam with the run's gradient clipping (burn's arithmetic, one pass per parameter on
    /// the CPU: [`super::adam`]).
    fn optimizer(cfg: &TrainConfig) -> OptimizerAdaptor<ClippedAdam, Net<B>, B> {
        let clip = (cfg.grad_clip > 0.0).then_some(cfg.grad_clip as f32);
        OptimizerAdaptor::from(ClippedAdam::new(clip))
    }

    /// Start a run. `data` is row-major `[N, arch.dim()]`.
    pub fn new(
        arch: Architecture,
        sde: Sde,
        cfg: TrainConfig,
        data: impl Into<std::sync::Arc<[f64]>>,
        device: &B::Device,
    ) -> Result<Self> {
        let data: std::sync::Arc<[f64]> = data.into();
        arch.validate()?;
        sde.validate()?;
        cfg.validate()?;
        let d = arch.dim();
        if data.is_empty() || data.len() % d != 0 {
            return Err(Error::invalid(
                "data",
                format!("needs rows of {d} values, got {} values", data.len()),
            ));
        }
        if let Some(i) = data.iter().position(|v| !v.is_finite()) {
            return Err(Error::invalid(
                "data",
                format!("row {} has a non-finite value", i / d),
            ));
        }
        let ladder = if cfg.objective == Objective::Ncsn {
            Self::ladder_times(&sde, &cfg)?
        } else {
            vec![]
        };
        let model = arch.init_seeded::<B>(cfg.seed, device);
        let ema = model.valid();
        let optim = Self::optimizer(&cfg);
        let n_data = data.len() / d;
        Ok(Trainer {
            noise: Noise::new(cfg.seed.wrapping_add(1)),
            cfg,
            arch,
            sde,
            model: Some(model),
            ema,
            optim,
            data,
            n_data,
            device: device.clone(),
            ladder,
            step: 0,
            last_loss: None,
            shard: None,
        })
    }

    /// The times t_i of NCSN's σ ladder under `sde` (σ(t_i) = σ_i).
    pub fn ladder_times(sde: &Sde, cfg: &TrainConfig) -> Result<Vec<f64>> {
        let top = sde.noise_level(1.0);
        ncsn_sigmas(cfg.levels, top, cfg.sigma_last.min(top))?
            .iter()
            .map(|s| {
                sde.t_of_noise_level(*s).ok_or_else(|| {
                    Error::invalid(
                        "sigma_last",
                        format!("σ = {s} is not reached by the {} SDE", sde.name()),
                    )
                })
            })
            .collect()
    }

    /// The training loss of the network on a batch: `cfg.objective` on the perturbed
    /// marginals with weighting λ (see [`Objective`] and the module docs). `ladder` holds the
    /// NCSN ladder's times ([`Trainer::ladder_times`]) for that objective.
    ///
    /// # Shapes
    /// `x0: [n, d]` → `[1]`
    pub fn loss<BB: Backend>(
        net: &Net<BB>,
        arch: &Architecture,
        sde: &Sde,
        x0: Tensor<BB, 2>,
        cfg: &TrainConfig,
        ladder: &[f64],
        noise: &mut Noise,
    ) -> Tensor<BB, 1> {
        let [n, d] = x0.dims();
        let draws = Draws::draw(cfg, sde, ladder, n, d, noise);
        Self::loss_with(net, arch, sde, x0, cfg, &draws)
    }

    /// [`Trainer::loss`] with its random draws given (a data-parallel rank computes the loss
    /// of its rows of the global batch's draws: [`Draws::rows`]).
    ///
    /// # Shapes
    /// `x0: [n, d]`, `draws` of `n` rows → `[1]`
    pub fn loss_with<BB: Backend>(
        net: &Net<BB>,
        arch: &Architecture,
        sde: &Sde,
        x0: Tensor<BB, 2>,
        cfg: &TrainConfig,
        draws: &Draws,
    ) -> Tensor<BB, 1> {
        let [n, d] = x0.dims();
        let device = x0.device();
        let ts = draws.t.clone();
        let m: Vec<f64> = ts.iter().map(|t| sde.mean_scale(*t)).collect();
        let s: Vec<f64> = ts.iter().map(|t| sde.std(*t)).collect();
        let z = host_tensor::<BB, 2>(draws.z.clone(), [n, d], &device);
        let col = |v: Vec<f64>| host_tensor::<BB, 2>(v, [n, 1], &device);
        let xt = x0 * col(m) + z.clone() * col(s.clone());
        let raw = net.scaled_score(arch, sde, xt.clone(), &ts); // = std·s_θ
        let per_row = match cfg.objective {
            Objective::Dsm | Objective::Ncsn | Objective::Ddpm => {
                (raw + z).powi_scalar(2).sum_dim(1) // [n, 1]
            }
            Objective::Ssm | Objective::Ism => {
                // λ = std²: std²(vᵀ∇s v) + ½‖std·s‖², with std·s = raw. The directional
                // derivative of raw along v with step h = 1e-2·std: std²·vᵀ∇s v = std·vᵀ∇raw v.
                let h = col(s.iter().map(|v| 1e-2 * v).collect());
                let dirs: Vec<Tensor<BB, 2>> = match &draws.probe {
                    Some(v) => vec![host_tensor::<BB, 2>(v.clone(), [n, d], &device)],
                    None => (0..d)
                        .map(|i| {
                            let e: Vec<f64> = (0..n * d)
                                .map(|j| if j % d == i { 1.0 } else { 0.0 })
                                .collect();
                            host_tensor::<BB, 2>(e, [n, d], &device)
                        })
                        .collect(),
                };
                let mut trace = Tensor::<BB, 2>::zeros([n, 1], &device);
                for v in dirs {
                    let step = v.clone() * h.clone();
                    let plus = net.scaled_score(arch, sde, xt.clone() + step.clone(), &ts);
                    let minus = net.scaled_score(arch, sde, xt.clone() - step, &ts);
                    trace = trace + ((plus - minus) * v).sum_dim(1) / (h.clone() * 2.0);
                }
                trace * col(s.clone()) + raw.powi_scalar(2).sum_dim(1) * 0.5
            }
        };
        let per_row = match row_weights(cfg, sde, &ts, &s) {
            None => per_row,
            Some(w) => per_row * col(w),
        };
        per_row.mean()
    }

    /// The host rows and random draws of a batch of `n` rows, in the stream's fixed order
    /// (row indices, dequantisation, then [`Draws::draw`]).
    fn draw_batch(&mut self, n: usize) -> (Vec<f64>, Draws) {
        let d = self.arch.dim();
        let mut rows = Vec::with_capacity(n * d);
        for _ in 0..n {
            let i = self.noise.rng().random_range(0..self.n_data);
            rows.extend_from_slice(&self.data[i * d..(i + 1) * d]);
        }
        if self.cfg.dequantize {
            crate::data::images::dequantize(&mut rows, self.noise.rng());
        }
        let draws = Draws::draw(&self.cfg, &self.sde, &self.ladder, n, d, &mut self.noise);
        (rows, draws)
    }

    /// This rank's batch: all of it on one device; on rank k of N, rows `k·b..(k+1)·b` of
    /// the global batch of `N·b` rows ([`super::parallel`]).
    ///
    /// # Shapes
    /// → `[cfg.batch, d]`
    fn batch(&mut self) -> (Tensor<B, 2>, Draws) {
        let d = self.arch.dim();
        let b = self.cfg.batch;
        let (rows, draws) = self.draw_batch(b * self.ranks());
        let (rows, draws) = match self.shard {
            None => (rows, draws),
            Some(shard) => {
                let r = shard.rows(b);
                (rows[r.start * d..r.end * d].to_vec(), draws.rows(r, d))
            }
        };
        (host_tensor(rows, [b, d], &self.device), draws)
    }

    /// Devices in this run (1 unless [`Trainer::sharded`]).
    pub fn ranks(&self) -> usize {
        self.shard.map_or(1, |s| s.ranks)
    }

    /// Make this trainer rank `shard.rank` of a data-parallel run of `shard.ranks` devices
    /// ([`super::parallel`]): `cfg.batch` rows per device, gradients averaged over the ranks
    /// before each step. Every rank must be built with the same arguments (and the same
    /// checkpoint when resuming) on its own device, and joins the collective here.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn sharded(mut self, shard: Shard) -> Result<Self> {
        shard.join::<B::InnerBackend>(&self.device)?;
        self.shard = Some(shard);
        Ok(self)
    }

    /// Leave the data-parallel run (after the last step; a no-op on one device).
    pub fn finish(&mut self) {
        #[cfg(not(target_arch = "wasm32"))]
        if let Some(shard) = self.shard.take() {
            shard.leave::<B::InnerBackend>();
        }
    }

    /// The batch loss as every rank sees it: the mean over the ranks.
    async fn read_loss(&self, loss: &Tensor<B, 1>) -> Result<f64> {
        match self.shard {
            None => read_scalar(loss.clone()).await,
            #[cfg(not(target_arch = "wasm32"))]
            Some(shard) => read_scalar(shard.mean(loss.clone().inner())?).await,
            #[cfg(target_arch = "wasm32")]
            Some(_) => unreachable!("no data-parallel runs in the browser"),
        }
    }

    /// The gradients averaged over the ranks (unchanged on one device).
    fn mean_gradients(&self, model: &Net<B>, grads: GradientsParams) -> Result<GradientsParams> {
        match self.shard {
            None => Ok(grads),
            #[cfg(not(target_arch = "wasm32"))]
            Some(shard) => shard.mean_gradients(model, grads),
            #[cfg(target_arch = "wasm32")]
            Some(_) => {
                let _ = model;
                unreachable!("no data-parallel runs in the browser")
            }
        }
    }

    /// One optimiser step; returns the batch loss. A non-finite loss stops with an error
    /// naming the step and leaves the weights (and EMA) as they were.
    pub async fn step(&mut self) -> Result<f64> {
        let (x0, draws) = self.batch();
        let model = self.model.take().expect("model present between steps");
        let loss = Self::loss_with(&model, &self.arch, &self.sde, x0, &self.cfg, &draws);
        let value = match self.read_loss(&loss).await {
            Ok(v) => v,
            Err(e) => {
                self.model = Some(model);
                return Err(e);
            }
        };
        if !value.is_finite() {
            self.model = Some(model);
            return Err(Error::invalid(
                "loss",
                format!("is {value} at step {}; stopped, the last good weights are kept (try a smaller lr)", self.step + 1),
            ));
        }
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let grads = match self.mean_gradients(&model, grads) {
            Ok(g) => g,
            Err(e) => {
                self.model = Some(model);
                return Err(e);
            }
        };
        let warm = if self.cfg.warmup == 0 {
            1.0
        } else {
            ((self.step + 1) as f64 / self.cfg.warmup as f64).min(1.0)
        };
        let model = self.optim.step(self.cfg.lr * warm, model, grads);
        let mut current = Collect(Vec::new());
        model.valid().visit(&mut current);
        let decay = self
            .cfg
            .ema
            .min((1.0 + self.step as f64) / (10.0 + self.step as f64));
        let ema = std::mem::replace(&mut self.ema, model.valid());
        self.ema = ema.map(&mut EmaUpdate {
            current: current.0.into_iter(),
            decay,
        });
        self.model = Some(model);
        self.step += 1;
        self.last_loss = Some(value);
        Ok(value)
    }

    /// The training state a checkpoint carries for `--resume`: the raw weights under
    /// `train.model.` and Adam's first and second moments under `train.adam.m1.`/`m2.`
    /// (the sampling weights, the EMA, are written under the plain names by the caller).
    pub async fn state(&self) -> Result<Vec<HostTensor>> {
        let model = self.model();
        let mut out = weights::host_tensors(model, "train.model.").await?;
        let names = weights::param_names(model);
        let record = self.optim.to_record();
        let mut moments = vec![];
        for (name, id, shape) in names {
            if let Some((m1, m2)) = record.get(&id).map(adam_moments) {
                moments.push((format!("train.adam.m1.{name}"), shape.clone(), m1));
                moments.push((format!("train.adam.m2.{name}"), shape, m2));
            }
        }
        for (name, shape, t) in moments {
            out.push((name, shape, read_f32(t).await?));
        }
        Ok(out)
    }

    /// Continue from a checkpoint written with [`Trainer::state`]: raw and EMA weights, Adam
    /// moments and the step count. The batch and noise streams restart from `seed + step`,
    /// so a resumed run is seeded but not bit-identical to an uninterrupted one.
    pub fn restore(&mut self, file: &WeightFile, what: &str) -> Result<()> {
        if file.manifest.architecture != self.arch {
            return Err(Error::invalid(
                what,
                format!(
                    "was trained as {} with a different architecture; resume with the same --model",
                    file.manifest.architecture.name()
                ),
            ));
        }
        if file.manifest.sde != self.sde {
            return Err(Error::invalid(
                what,
                "was trained with a different SDE; resume with the same --sde",
            ));
        }
        if !file.tensors.contains_key(&format!(
            "train.model.{}",
            weights::param_shapes(&self.arch)[0].0
        )) {
            return Err(Error::invalid(
                what,
                "holds no training state (it was written without it); cannot resume",
            ));
        }
        let ema = weights::load_net::<B::InnerBackend>(file, what, &self.device)?;
        let model = weights::load_prefixed::<B>(file, "train.model.", what, &self.device, true)?;
        let names = weights::param_names(&model);
        let steps = file.manifest.steps;
        // (burn's record map type is hashbrown's; start from the optimiser's own, emptied.)
        let mut record = self.optim.to_record();
        record.clear();
        for (name, id, shape) in names {
            let m1 = file.tensors.get(&format!("train.adam.m1.{name}"));
            let m2 = file.tensors.get(&format!("train.adam.m2.{name}"));
            if let (Some((_, m1)), Some((_, m2))) = (m1, m2) {
                record.insert(id, adam_record::<B>(steps, m1, m2, &shape, &self.device));
            }
        }
        let optim = std::mem::replace(&mut self.optim, Self::optimizer(&self.cfg));
        self.optim = optim.load_record(record);
        self.model = Some(model);
        self.ema = ema;
        self.step = steps;
        self.noise = Noise::new(self.cfg.seed.wrapping_add(1).wrapping_add(steps as u64));
        Ok(())
    }

    /// The EMA network as a score model for sampling (no autodiff).
    pub fn ema_score(&self) -> NetScore<B::InnerBackend> {
        NetScore {
            net: self.ema.clone(),
            arch: self.arch.clone(),
            sde: self.sde,
            clip: None,
        }
    }

    /// The raw (non-EMA) network.
    pub fn model(&self) -> &Net<B> {
        self.model.as_ref().expect("model present between steps")
    }

    pub fn ema(&self) -> &Net<B::InnerBackend> {
        &self.ema
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Importance-sampled t has density `g²/std² / Z` on `[ε, 1]`: `Z·E_u[h(t(u))]` equals
    /// `∫ h(t) g(t)²/std(t)² dt` for a smooth test function h, both by fine quadrature (the
    /// tolerance is the quadrature's error, ~1e-6 relative here), for every SDE.
    #[test]
    fn importance_times_have_density_g2_over_variance() {
        let eps = 1e-5;
        let h = |t: f64| 1.0 + (3.0 * t).sin() + t * t;
        for name in ["ve", "ve-notebook", "vp", "subvp"] {
            let sde = Sde::from_name(name).unwrap();
            let z = 2.0 * (sde.noise_level(1.0) / sde.noise_level(eps)).ln();
            let n = 200_000;
            let lhs: f64 = (0..n)
                .map(|i| h(importance_time(&sde, eps, (i as f64 + 0.5) / n as f64)))
                .sum::<f64>()
                / n as f64
                * z;
            // ∫ h g²/v dt on a log-spaced grid in t (the integrand is ~1/t near ε).
            let (la, lb) = (eps.ln(), 0.0f64);
            let rhs: f64 = (0..n)
                .map(|i| {
                    let lt = la + (lb - la) * (i as f64 + 0.5) / n as f64;
                    let t = lt.exp();
                    let w = (sde.diffusion(t) / sde.std(t)).powi(2);
                    h(t) * w * t * (lb - la) / n as f64
                })
                .sum();
            let rel = (lhs - rhs).abs() / rhs;
            assert!(rel < 1e-4, "{name}: {lhs} vs {rhs} (rel {rel:e})");
            // And each draw lands on its target log noise level.
            for u in [0.0, 0.1, 0.5, 0.9, 0.999] {
                let t = importance_time(&sde, eps, u);
                let target = (1.0 - u) * sde.noise_level(eps).ln() + u * sde.noise_level(1.0).ln();
                assert!(
                    (sde.noise_level(t).ln() - target).abs() < 1e-6,
                    "{name} u={u}"
                );
            }
        }
    }

    /// The row weights make uniform and importance sampling estimate one objective (up to
    /// the constant Z): `w_U(t) = q(t)·Z·w_I(t)` with `q = g²/std²/Z` for both weightings.
    #[test]
    fn importance_row_weights_undo_the_sampling_density() {
        let sde = Sde::from_name("ve-notebook").unwrap();
        let ts = [1e-4, 0.01, 0.3, 0.9];
        let s: Vec<f64> = ts.iter().map(|t| sde.std(*t)).collect();
        for weighting in [Weighting::Std2, Weighting::Likelihood] {
            let mut cfg = TrainConfig {
                weighting,
                ..Default::default()
            };
            let uniform = row_weights(&cfg, &sde, &ts, &s).unwrap_or(vec![1.0; 4]);
            cfg.time_sampling = TimeSampling::Importance;
            let importance = row_weights(&cfg, &sde, &ts, &s).unwrap_or(vec![1.0; 4]);
            for i in 0..4 {
                let q = (sde.diffusion(ts[i]) / s[i]).powi(2);
                let r = uniform[i] / (q * importance[i]);
                assert!((r - 1.0).abs() < 1e-12, "{weighting:?} t={}: {r}", ts[i]);
            }
        }
    }

    /// Each named objective sets its objective (whose serde name begins the name), weighting
    /// and time sampling, and replaces earlier settings; no two names are the same settings;
    /// an unknown name is refused naming the field and every accepted name.
    #[test]
    fn named_objectives_set_objective_weighting_and_time_sampling() {
        let start = TrainConfig {
            weighting: Weighting::Likelihood,
            time_sampling: TimeSampling::Importance,
            ..Default::default()
        };
        let mut seen = Vec::new();
        for (name, ..) in NAMED_OBJECTIVES {
            let c = start.clone().with_named_objective(name).unwrap();
            let objective = serde_json::to_value(c.objective).unwrap();
            assert!(name.starts_with(objective.as_str().unwrap()), "{name}");
            assert_eq!(
                c.weighting == Weighting::Likelihood,
                name.contains("likelihood")
            );
            assert_eq!(
                c.time_sampling == TimeSampling::Importance,
                name.ends_with("-is")
            );
            let settings = (c.objective, c.weighting, c.time_sampling);
            assert!(!seen.contains(&settings), "{name}");
            seen.push(settings);
        }
        let e = start.with_named_objective("magic").unwrap_err().to_string();
        assert!(
            e.starts_with("invalid objective: unknown objective 'magic'"),
            "{e}"
        );
        assert!(NAMED_OBJECTIVES.iter().all(|o| e.contains(o.0)), "{e}");
    }
}
