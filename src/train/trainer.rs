//! The trainer (one implementation for the CLI and the browser): Adam, linear warm-up,
//! gradient clipping, EMA weights, seeded batches and noise, a NaN/Inf guard that keeps the
//! last good weights. Each [`Trainer::step`] is async because it reads the loss back.

use super::loss::{ladder_times, loss_with, Draws};
use super::parallel::Shard;
use crate::config::training::{Objective, TrainConfig};
use crate::error::{Error, Result};
use crate::kernels::adam::ClippedAdam;
use crate::kernels::cpu_ops::{batch_parts, par_map};
use crate::model::net::{Architecture, Net, NetScore};
use crate::rng::Noise;
use crate::sde::Sde;
use crate::tensor::{host_tensor, read_scalar};
use burn::module::{AutodiffModule, Module, ModuleMapper, ModuleVisitor, Param};
use burn::optim::{adaptor::OptimizerAdaptor, GradientsParams, Optimizer};
use burn::tensor::{backend::AutodiffBackend, backend::Backend, ElementConversion, Tensor};
use rand::Rng;

/// A step's gradient: computed already (in parts), or the loss to run backward from.
enum Gradient<B: AutodiffBackend> {
    Computed(GradientsParams),
    OfLoss(Tensor<B, 1>),
}

/// Adds `share` × a block's gradients (`part`) to `total`, parameter by parameter
/// ([`Trainer::loss_and_gradients_in_parts`]).
struct SumGradients<B: AutodiffBackend> {
    total: GradientsParams,
    part: GradientsParams,
    share: f64,
    _b: std::marker::PhantomData<B>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for SumGradients<B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = self.part.remove::<B::InnerBackend, D>(param.id) {
            let g = g * self.share;
            let sum = match self.total.remove::<B::InnerBackend, D>(param.id) {
                Some(t) => t + g,
                None => g,
            };
            self.total.register::<B::InnerBackend, D>(param.id, sum);
        }
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
        let new = match crate::kernels::adam::ema_cpu(&old, &cur, self.decay) {
            Some(new) => new,
            None => old * self.decay + cur.reshape(shape) * (1.0 - self.decay),
        };
        Param::from_mapped_value(id, new, mapper)
    }
}

/// A training run in progress on host data `[N, d]`.
pub struct Trainer<B: AutodiffBackend> {
    pub cfg: TrainConfig,
    pub arch: Architecture,
    pub sde: Sde,
    pub(super) model: Option<Net<B>>,
    pub(super) ema: Net<B::InnerBackend>,
    pub(super) optim: OptimizerAdaptor<ClippedAdam, Net<B>, B>,
    /// Shared by the ranks of a data-parallel run.
    pub(super) data: std::sync::Arc<[f64]>,
    /// The rows' class labels, for a class-conditional network (shared as `data` is).
    pub(super) labels: Option<std::sync::Arc<[usize]>>,
    pub(super) n_data: usize,
    pub(super) noise: Noise,
    pub(super) device: B::Device,
    /// The NCSN objective's ladder times t_i (σ(t_i) = σ_i); empty for other objectives.
    pub(super) ladder: Vec<f64>,
    /// Optimiser steps taken.
    pub step: usize,
    /// The last finite loss.
    pub last_loss: Option<f64>,
    /// This rank's part of a data-parallel run (`None`: the whole batch on one device).
    pub(super) shard: Option<Shard>,
}

impl<B: AutodiffBackend> Trainer<B> {
    /// Adam with the run's gradient clipping (burn's arithmetic, one pass per parameter on
    /// the CPU: [`crate::kernels::adam`]).
    pub(super) fn optimizer(cfg: &TrainConfig) -> OptimizerAdaptor<ClippedAdam, Net<B>, B> {
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
        Self::labelled(arch, sde, cfg, data, None, device)
    }

    /// Start a run on rows with class labels (`labels[i]` in `0..classes` for row i): a
    /// class-conditional network ([`Architecture::classes`]) needs them, learning the null
    /// label from `cfg.label_dropout` of the rows ([`crate::model::labels`]); an unconditional
    /// one ignores them.
    pub fn labelled(
        arch: Architecture,
        sde: Sde,
        cfg: TrainConfig,
        data: impl Into<std::sync::Arc<[f64]>>,
        labels: Option<std::sync::Arc<[usize]>>,
        device: &B::Device,
    ) -> Result<Self> {
        let data: std::sync::Arc<[f64]> = data.into();
        arch.validate()?;
        sde.validate()?;
        cfg.validate()?;
        crate::train::loss::check_objective(&cfg, &arch, &sde)?;
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
        let labels = match (arch.classes(), labels) {
            (None, _) => None,
            (Some(k), None) => {
                return Err(Error::invalid(
                    "model",
                    format!("a class-conditional network ({k} classes) trains on labelled data; these rows have no class labels"),
                ))
            }
            (Some(k), Some(l)) => {
                if l.len() != data.len() / d {
                    return Err(Error::invalid(
                        "data",
                        format!("{} labels for {} rows", l.len(), data.len() / d),
                    ));
                }
                if let Some(i) = l.iter().position(|c| *c >= k) {
                    return Err(Error::invalid(
                        "data",
                        format!("row {i} has label {}; the network has classes 0 to {}", l[i], k - 1),
                    ));
                }
                Some(l)
            }
        };
        let ladder = if cfg.objective == Objective::Ncsn {
            ladder_times(&sde, &cfg)?
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
            labels,
            n_data,
            device: device.clone(),
            ladder,
            step: 0,
            last_loss: None,
            shard: None,
        })
    }

    /// The host rows and random draws of a batch of `n` rows, in the stream's fixed order
    /// (row indices, dequantisation, [`Draws::draw`], then a conditional network's label
    /// dropout: each label becomes the null one with probability `cfg.label_dropout`).
    fn draw_batch(&mut self, n: usize) -> (Vec<f64>, Draws) {
        let d = self.arch.dim();
        let mut rows = Vec::with_capacity(n * d);
        let mut picked = Vec::with_capacity(n);
        for _ in 0..n {
            let i = self.noise.rng().random_range(0..self.n_data);
            rows.extend_from_slice(&self.data[i * d..(i + 1) * d]);
            picked.push(i);
        }
        if self.cfg.dequantize {
            crate::data::images::dequantize(&mut rows, self.noise.rng());
        }
        let mut draws = Draws::draw(&self.cfg, &self.sde, &self.ladder, n, d, &mut self.noise);
        if let (Some(labels), Some(null)) = (&self.labels, self.arch.classes()) {
            let p = self.cfg.label_dropout;
            let rng = self.noise.rng();
            draws.labels = Some(
                picked
                    .iter()
                    .map(|i| {
                        if rng.random::<f64>() < p {
                            null
                        } else {
                            labels[*i]
                        }
                    })
                    .collect(),
            );
        }
        (rows, draws)
    }

    /// This rank's batch: all of it on one device; on rank k of N, rows `k·b..(k+1)·b` of
    /// the global batch of `N·b` rows ([`super::parallel`]).
    ///
    /// # Shapes
    /// → `[cfg.batch, d]`
    fn batch(&mut self) -> (Vec<f64>, Draws) {
        let d = self.arch.dim();
        let b = self.cfg.batch;
        let (rows, draws) = self.draw_batch(b * self.ranks());
        match self.shard {
            None => (rows, draws),
            Some(shard) => {
                let r = shard.rows(b);
                (rows[r.start * d..r.end * d].to_vec(), draws.rows(r, d))
            }
        }
    }

    /// The batch loss and its gradient computed in `parts` blocks of rows at once, one per
    /// thread (the page's threaded CPU module, [`batch_parts`]): each block's loss and
    /// backward pass on its own copy of the network (`Module::fork`: leaves of its own, so
    /// the blocks' autodiff graphs stay apart and run their backward passes at the same
    /// time), then the blocks' losses and gradients weighted by their rows and summed. The
    /// batch loss is a mean over rows, so this is the whole batch's loss and gradient within
    /// float rounding: the in-process form of [`super::parallel`]'s split (ARCHITECTURE.md,
    /// "Toy training in parts").
    ///
    /// # Shapes
    /// `rows: [n, d]` row-major, `draws` of `n` rows
    fn loss_and_gradients_in_parts(
        &self,
        model: &Net<B>,
        rows: &[f64],
        draws: &Draws,
        parts: usize,
    ) -> (f64, GradientsParams) {
        let d = self.arch.dim();
        let n = draws.t.len();
        let per = n.div_ceil(parts);
        let blocks: Vec<_> = (0..n.div_ceil(per))
            .map(|p| {
                let r = p * per..((p + 1) * per).min(n);
                let x0 = host_tensor::<B, 2>(
                    rows[r.start * d..r.end * d].to_vec(),
                    [r.len(), d],
                    &self.device,
                );
                let share = r.len() as f64 / n as f64;
                (
                    model.clone().fork(&self.device),
                    x0,
                    draws.rows(r, d),
                    share,
                )
            })
            .collect();
        let (arch, sde, cfg) = (&self.arch, &self.sde, &self.cfg);
        let computed = par_map(blocks, |(net, x0, draws, share)| {
            let loss = loss_with(&net, arch, sde, x0, cfg, &draws);
            let value: f64 = loss.clone().into_scalar().elem();
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            (value * share, grads, share)
        });
        let mut value = 0.0;
        let mut sum = SumGradients::<B> {
            total: GradientsParams::new(),
            part: GradientsParams::new(),
            share: 0.0,
            _b: std::marker::PhantomData,
        };
        for (v, grads, share) in computed {
            value += v;
            (sum.part, sum.share) = (grads, share);
            model.visit(&mut sum);
        }
        (value, sum.total)
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
        let (rows, draws) = self.batch();
        let model = self.model.take().expect("model present between steps");
        let parts = match self.shard {
            None => batch_parts::<B::InnerBackend>(draws.t.len()),
            Some(_) => 1,
        };
        let (value, gradient) = if parts > 1 {
            let (value, grads) = self.loss_and_gradients_in_parts(&model, &rows, &draws, parts);
            (value, Gradient::Computed(grads))
        } else {
            let x0 = host_tensor(rows, [self.cfg.batch, self.arch.dim()], &self.device);
            let loss = loss_with(&model, &self.arch, &self.sde, x0, &self.cfg, &draws);
            match self.read_loss(&loss).await {
                Ok(v) => (v, Gradient::OfLoss(loss)),
                Err(e) => {
                    self.model = Some(model);
                    return Err(e);
                }
            }
        };
        if !value.is_finite() {
            self.model = Some(model);
            return Err(Error::invalid(
                "loss",
                format!("is {value} at step {}; stopped, the last good weights are kept (try a smaller lr)", self.step + 1),
            ));
        }
        let grads = match gradient {
            Gradient::Computed(grads) => grads,
            Gradient::OfLoss(loss) => GradientsParams::from_grads(loss.backward(), &model),
        };
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

    /// The EMA network as a score model for sampling (no autodiff).
    pub fn ema_score(&self) -> NetScore<B::InnerBackend> {
        NetScore {
            net: self.ema.clone(),
            arch: self.arch.clone(),
            sde: self.sde,
            clip: None,
            class: None,
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
    use crate::model::mlp::MlpScoreConfig;
    use crate::model::presets::preset;

    type AB = crate::CpuBackend<f32>;

    /// Every parameter's gradient in `grads`, flattened (empty without one), in the model's
    /// visiting order.
    struct Values<'a>(&'a GradientsParams, Vec<Vec<f32>>);
    impl<B: AutodiffBackend> ModuleVisitor<B> for Values<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            let g = self.0.get::<B::InnerBackend, D>(param.id);
            self.1
                .push(g.map_or(vec![], |g| g.into_data().to_vec().unwrap()));
        }
    }

    /// A batch in 2 or 3 blocks of rows (the page's threaded training) has the whole batch's
    /// loss and gradient within f32 rounding, for DSM and SSM (its probes split with the rows).
    #[test]
    fn a_batch_in_parts_has_the_whole_batchs_loss_and_gradient() {
        let device = Default::default();
        let data = preset("ring8").unwrap().sample(500, Noise::new(3).rng());
        for objective in [Objective::Dsm, Objective::Ssm] {
            let cfg = TrainConfig {
                batch: 64,
                objective,
                ..Default::default()
            };
            let arch = Architecture::Mlp(MlpScoreConfig::new(2));
            let sde = Sde::from_name("vp").unwrap();
            let mut t = Trainer::<AB>::new(arch, sde, cfg, data.clone(), &device).unwrap();
            let (rows, draws) = t.batch();
            let model = t.model.take().unwrap();
            let x0 = host_tensor::<AB, 2>(rows.clone(), [64, 2], &device);
            let loss = loss_with(&model, &t.arch, &t.sde, x0, &t.cfg, &draws);
            let whole: f64 = loss.clone().into_scalar().elem();
            let whole_grads = GradientsParams::from_grads(loss.backward(), &model);
            let mut want = Values(&whole_grads, vec![]);
            model.visit(&mut want);
            for parts in [2, 3] {
                let (value, grads) = t.loss_and_gradients_in_parts(&model, &rows, &draws, parts);
                assert!(
                    (value - whole).abs() < 1e-5 * whole.abs(),
                    "{objective:?}: {value} vs {whole}"
                );
                let mut got = Values(&grads, vec![]);
                model.visit(&mut got);
                assert_eq!(got.1.len(), want.1.len());
                for (g, w) in got.1.iter().zip(&want.1) {
                    assert_eq!(g.len(), w.len(), "the same parameters have gradients");
                    let scale = w.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
                    for (a, b) in g.iter().zip(w) {
                        assert!(
                            (a - b).abs() < 1e-4 * scale,
                            "{objective:?}, {parts} parts: {a} vs {b}"
                        );
                    }
                }
            }
        }
    }
}
