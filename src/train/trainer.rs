//! The trainer (one implementation for the CLI and the browser): Adam, linear warm-up,
//! gradient clipping, EMA weights, seeded batches and noise, a NaN/Inf guard that keeps the
//! last good weights. Each [`Trainer::step`] is async because it reads the loss back.

use crate::error::{count, in_range, Error, Result};
use crate::model::mlp::{MlpScore, MlpScoreConfig, NetScore};
use crate::rng::Noise;
use crate::sde::Sde;
use crate::tensor::{host_tensor, read_scalar};
use burn::module::{AutodiffModule, Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::{adaptor::OptimizerAdaptor, Adam, AdamConfig, GradientsParams, Optimizer};
use burn::tensor::{backend::AutodiffBackend, backend::Backend, Tensor};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Loss weighting λ(t) of continuous-time DSM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Weighting {
    /// λ = std(t)²: the notebook's `‖std·s + z‖²`.
    Std2,
    /// λ = g(t)² (likelihood weighting, Song et al. 2021b).
    Likelihood,
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
    #[serde(default = "d_objective")]
    pub objective: Objective,
    /// Sliced score matching's projection distribution.
    #[serde(default = "d_probe")]
    pub probe: SlicedProbe,
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
        Ok(())
    }
}

/// Collect every float parameter, flattened, by id.
struct Collect<B: Backend>(HashMap<ParamId, Tensor<B, 1>>);
impl<B: Backend> ModuleVisitor<B> for Collect<B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let v = param.val();
        let n = v.shape().num_elements();
        self.0.insert(param.id, v.reshape([n]));
    }
}

/// `ema ← decay·ema + (1 − decay)·current`, matched by parameter id.
struct EmaUpdate<B: Backend> {
    current: HashMap<ParamId, Tensor<B, 1>>,
    decay: f64,
}
impl<B: Backend> ModuleMapper<B> for EmaUpdate<B> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let (id, old, mapper) = param.consume();
        let new = match self.current.get(&id) {
            Some(cur) => {
                let shape = old.shape();
                old * self.decay + cur.clone().reshape(shape) * (1.0 - self.decay)
            }
            None => old,
        };
        Param::from_mapped_value(id, new, mapper)
    }
}

/// A training run in progress on host data `[N, d]`.
pub struct Trainer<B: AutodiffBackend> {
    pub cfg: TrainConfig,
    pub arch: MlpScoreConfig,
    pub sde: Sde,
    model: Option<MlpScore<B>>,
    ema: MlpScore<B::InnerBackend>,
    optim: OptimizerAdaptor<Adam, MlpScore<B>, B>,
    data: Vec<f64>,
    n_data: usize,
    noise: Noise,
    device: B::Device,
    /// Optimiser steps taken.
    pub step: usize,
    /// The last finite loss.
    pub last_loss: Option<f64>,
}

impl<B: AutodiffBackend> Trainer<B> {
    /// Start a run. `data` is row-major `[N, arch.dim]`.
    pub fn new(
        arch: MlpScoreConfig,
        sde: Sde,
        cfg: TrainConfig,
        data: Vec<f64>,
        device: &B::Device,
    ) -> Result<Self> {
        arch.validate()?;
        sde.validate()?;
        cfg.validate()?;
        let d = arch.dim;
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
        B::seed(device, cfg.seed);
        let model = arch.init::<B>(device);
        let ema = model.valid();
        let mut adam = AdamConfig::new();
        if cfg.grad_clip > 0.0 {
            adam =
                adam.with_grad_clipping(Some(GradientClippingConfig::Norm(cfg.grad_clip as f32)));
        }
        let optim = adam.init::<B, MlpScore<B>>();
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
            step: 0,
            last_loss: None,
        })
    }

    /// The training loss of the network on a batch: `objective` on the perturbed marginals
    /// with weighting λ (see [`Objective`] and the module docs).
    ///
    /// # Shapes
    /// `x0: [n, d]` → `[1]`
    pub fn loss<BB: Backend>(
        net: &MlpScore<BB>,
        sde: &Sde,
        x0: Tensor<BB, 2>,
        weighting: Weighting,
        objective: Objective,
        probe: SlicedProbe,
        t_eps: f64,
        noise: &mut Noise,
    ) -> Tensor<BB, 1> {
        let [n, d] = x0.dims();
        let device = x0.device();
        let ts: Vec<f64> = (0..n)
            .map(|_| t_eps + (1.0 - t_eps) * noise.rng().random::<f64>())
            .collect();
        let m: Vec<f64> = ts.iter().map(|t| sde.mean_scale(*t)).collect();
        let s: Vec<f64> = ts.iter().map(|t| sde.std(*t)).collect();
        let z = noise.normal::<BB>(n, d, &device);
        let col = |v: Vec<f64>| host_tensor::<BB, 2>(v, [n, 1], &device);
        let xt = x0 * col(m) + z.clone() * col(s.clone());
        let tcol = col(ts.clone());
        let raw = net.forward_raw(xt.clone(), tcol.clone()); // = std·s_θ
        let per_row = match objective {
            Objective::Dsm => (raw + z).powi_scalar(2).sum_dim(1), // [n, 1]
            Objective::Ssm | Objective::Ism => {
                // λ = std²: std²(vᵀ∇s v) + ½‖std·s‖², with std·s = raw. The directional
                // derivative of raw along v with step h = 1e-2·std: std²·vᵀ∇s v = std·vᵀ∇raw v.
                let h = col(s.iter().map(|v| 1e-2 * v).collect());
                let dirs: Vec<Tensor<BB, 2>> = match objective {
                    Objective::Ssm => vec![match probe {
                        SlicedProbe::Gaussian => noise.normal::<BB>(n, d, &device),
                        SlicedProbe::Rademacher => noise.rademacher::<BB>(n, d, &device),
                    }],
                    _ => (0..d)
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
                    let plus = net.forward_raw(xt.clone() + step.clone(), tcol.clone());
                    let minus = net.forward_raw(xt.clone() - step, tcol.clone());
                    trace = trace + ((plus - minus) * v).sum_dim(1) / (h.clone() * 2.0);
                }
                trace * col(s.clone()) + raw.powi_scalar(2).sum_dim(1) * 0.5
            }
        };
        let per_row = match weighting {
            Weighting::Std2 => per_row,
            Weighting::Likelihood => {
                let w: Vec<f64> = ts
                    .iter()
                    .zip(&s)
                    .map(|(t, sd)| (sde.diffusion(*t) / sd).powi(2))
                    .collect();
                per_row * col(w)
            }
        };
        per_row.mean()
    }

    fn batch(&mut self) -> Tensor<B, 2> {
        let d = self.arch.dim;
        let b = self.cfg.batch;
        let mut rows = Vec::with_capacity(b * d);
        for _ in 0..b {
            let i = self.noise.rng().random_range(0..self.n_data);
            rows.extend_from_slice(&self.data[i * d..(i + 1) * d]);
        }
        host_tensor(rows, [b, d], &self.device)
    }

    /// One optimiser step; returns the batch loss. A non-finite loss stops with an error
    /// naming the step and leaves the weights (and EMA) as they were.
    pub async fn step(&mut self) -> Result<f64> {
        let x0 = self.batch();
        let model = self.model.take().expect("model present between steps");
        let loss = Self::loss(
            &model,
            &self.sde,
            x0,
            self.cfg.weighting,
            self.cfg.objective,
            self.cfg.probe,
            self.cfg.t_eps,
            &mut self.noise,
        );
        let value = match read_scalar(loss.clone()).await {
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
        let warm = if self.cfg.warmup == 0 {
            1.0
        } else {
            ((self.step + 1) as f64 / self.cfg.warmup as f64).min(1.0)
        };
        let model = self.optim.step(self.cfg.lr * warm, model, grads);
        let mut current = Collect(HashMap::new());
        model.valid().visit(&mut current);
        let decay = self
            .cfg
            .ema
            .min((1.0 + self.step as f64) / (10.0 + self.step as f64));
        let ema = std::mem::replace(&mut self.ema, model.valid());
        self.ema = ema.map(&mut EmaUpdate {
            current: current.0,
            decay,
        });
        self.model = Some(model);
        self.step += 1;
        self.last_loss = Some(value);
        Ok(value)
    }

    /// The EMA network as a score model for sampling (no autodiff).
    pub fn ema_score(&self) -> NetScore<B::InnerBackend> {
        NetScore {
            net: self.ema.clone(),
            sde: self.sde,
            dim: self.arch.dim,
        }
    }

    /// The raw (non-EMA) network.
    pub fn model(&self) -> &MlpScore<B> {
        self.model.as_ref().expect("model present between steps")
    }

    pub fn ema(&self) -> &MlpScore<B::InnerBackend> {
        &self.ema
    }
}
