//! Trained score networks behind one type: the architectures ([`Architecture`]), the module
//! ([`Net`], a burn enum module so one trainer, one optimiser and one weight format serve all
//! of them) and the score model bound to its SDE ([`NetScore`]).
//!
//! Every network computes the *scaled score* `r_θ(x, t) = std(t)·s_θ(x, t)` and the score is
//! `r_θ / std(t)` (the notebook's output rescaling, SCIENCE.md §6). The variants differ in
//! what they condition on and what their output means:
//!
//! - `mlp`: `r_θ = f_θ(x, γ(t))` (continuous-time score network).
//! - `ncsn`: the noise-conditional form of NCSN (Song & Ermon 2019/2020): the same MLP fed the
//!   noise level, `f_θ(x, γ(ln σ(t)))`, with σ = std/m; `s_θ = f_θ/σ` in VE coordinates.
//! - `eps`: ε-prediction (DDPM, Ho et al. 2020): the network predicts the noise ε in
//!   `x_t = m x₀ + std·ε`, and Tweedie's formula gives `s_θ = −ε_θ / std`, i.e. `r_θ = −ε_θ`.
//! - `flow`: the MLP predicting the probability-flow velocity `v_θ(x, t)` (flow matching,
//!   Lipman et al. 2023; on the linear path `v = E[z − x₀ | x_t]`); the scaled score is
//!   `r_θ = c_x x + c_v v_θ` ([`Sde::velocity_to_scaled_score`]; `−(x + (1 − t) v_θ)` on the
//!   linear path), and the ODE integrates `v_θ` itself ([`ScoreModel::velocity`]).
//! - `energy`: `r_θ = −∇ₓ e_θ(x, γ(t))`, a conservative field ([`super::energy`]).
//! - `unet`: the notebook's U-Net for 28×28 images ([`super::unet`]); `unet-flow` the same
//!   network predicting the velocity.

use super::clip::DenoiserClip;
use super::energy::{EnergyConfig, EnergyMlp};
use super::mlp::{MlpScore, MlpScoreConfig};
use super::unet::{UNet, UNetConfig};
use super::ScoreModel;
use crate::sde::Sde;
use crate::tensor::host_tensor;
use burn::module::Module;
use burn::tensor::{backend::Backend, Tensor};
use serde::{Deserialize, Serialize};

pub use super::parameterization::{Conditioning, Output};
use crate::registry::{Entry, Registry};

/// The networks `scorelab train --model` builds (the network registry, [`networks`]);
/// [`Architecture::named`] maps each to its architecture.
pub const NETWORKS: &[Entry] = &[
    Entry::plain(
        "mlp",
        "an MLP score network conditioned on Fourier features of t (toy data)",
    ),
    Entry::plain(
        "ncsn",
        "the MLP conditioned on ln σ(t) (NCSN's noise conditioning; for the ncsn objective)",
    ),
    Entry::plain(
        "eps",
        "the MLP predicting the noise ε, score = −ε/std (DDPM's parameterisation)",
    ),
    Entry::plain(
        "flow",
        "the MLP predicting the velocity v = E[z − x₀ | x_t] of the linear path (flow matching)",
    ),
    Entry::plain(
        "energy",
        "a scalar energy network whose gradient is the score (an energy-based model)",
    ),
    Entry::plain(
        "unet",
        "the notebook's U-Net for 28x28 images, conditioned on t",
    ),
    Entry::plain(
        "unet-ncsn",
        "the notebook's U-Net conditioned on ln σ(t) (better at small noise levels)",
    ),
    Entry::plain(
        "unet-flow",
        "the notebook's U-Net predicting the velocity of the linear path (flow matching)",
    ),
];

/// Network architectures a weight file can hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Architecture {
    Mlp(MlpScoreConfig),
    Energy(EnergyConfig),
    Unet(UNetConfig),
}

impl Architecture {
    /// The architecture the network `name` ([`NETWORKS`]) builds for data of dimension `dim`.
    pub fn named(name: &str, dim: usize) -> crate::Result<Self> {
        Ok(match name {
            "mlp" => Architecture::Mlp(MlpScoreConfig::new(dim)),
            // Low-frequency features: trained on L discrete levels, the network must still
            // interpolate smoothly between them for continuous-time samplers.
            "ncsn" => Architecture::Mlp(
                MlpScoreConfig::new(dim)
                    .with_conditioning(Conditioning::LogSigma)
                    .with_fourier_scale(2.0),
            ),
            "eps" => Architecture::Mlp(MlpScoreConfig::new(dim).with_output(Output::Eps)),
            "flow" => Architecture::Mlp(MlpScoreConfig::new(dim).with_output(Output::Velocity)),
            "energy" => Architecture::Energy(EnergyConfig::new(dim)),
            // The notebook's U-Net, or the same network seeing ln σ(t) instead of t: the
            // notebook's Fourier features of t (scale 30) barely move below t ≈ 1e-4, so a
            // t-conditioned network must guess tiny noise levels from the image itself.
            "unet" | "unet-ncsn" | "unet-flow" => {
                let cfg = UNetConfig::new()
                    .with_conditioning(if name == "unet-ncsn" {
                        Conditioning::LogSigma
                    } else {
                        Conditioning::Time
                    })
                    .with_output((name == "unet-flow").then_some(Output::Velocity));
                if dim != cfg.dim() {
                    return Err(crate::Error::invalid(
                        "model",
                        format!("{name} needs 28x28 images (784 values per row), the data has {dim} per row"),
                    ));
                }
                Architecture::Unet(cfg)
            }
            other => return Err(networks().unknown(other)),
        })
    }

    /// A short name for messages and manifests.
    pub fn name(&self) -> &'static str {
        match self {
            Architecture::Mlp(c) => match (c.conditioning, c.output) {
                (Conditioning::LogSigma, _) => "ncsn",
                (_, Output::Eps) => "eps",
                (_, Output::Velocity) => "flow",
                _ => "mlp",
            },
            Architecture::Energy(_) => "energy",
            Architecture::Unet(c) => match (c.conditioning, c.output_kind()) {
                (_, Output::Velocity) => "unet-flow",
                (Conditioning::LogSigma, _) => "unet-ncsn",
                _ => "unet",
            },
        }
    }

    pub fn validate(&self) -> crate::Result<()> {
        match self {
            Architecture::Mlp(c) => c.validate(),
            Architecture::Energy(c) => c.validate(),
            Architecture::Unet(c) => c.validate(),
        }
    }

    /// Data dimension d (rows of `[n, d]`; images flattened).
    pub fn dim(&self) -> usize {
        match self {
            Architecture::Mlp(c) => c.dim,
            Architecture::Energy(c) => c.dim,
            Architecture::Unet(c) => c.dim(),
        }
    }

    pub fn conditioning(&self) -> Conditioning {
        match self {
            Architecture::Mlp(c) => c.conditioning,
            Architecture::Energy(c) => c.conditioning,
            Architecture::Unet(c) => c.conditioning,
        }
    }

    /// The number of classes of a class-conditional network ([`super::labels`]); `None` for
    /// an unconditional one.
    pub fn classes(&self) -> Option<usize> {
        match self {
            Architecture::Mlp(c) => c.classes,
            Architecture::Unet(c) => c.classes,
            Architecture::Energy(_) => None,
        }
    }

    /// The same network without classes.
    pub fn unconditional(&self) -> Self {
        match self.clone() {
            Architecture::Mlp(c) => Architecture::Mlp(c.with_classes(None)),
            Architecture::Unet(c) => Architecture::Unet(c.with_classes(None)),
            e @ Architecture::Energy(_) => e,
        }
    }

    /// The same network conditioned on `classes` classes (a label embedding with a null
    /// label); the energy network has no conditional form (an error on the field `model`).
    pub fn with_classes(self, classes: usize) -> crate::Result<Self> {
        Ok(match self {
            Architecture::Mlp(c) => Architecture::Mlp(c.with_classes(Some(classes))),
            Architecture::Unet(c) => Architecture::Unet(c.with_classes(Some(classes))),
            Architecture::Energy(_) => {
                return Err(crate::Error::invalid(
                    "model",
                    "the energy network has no class-conditional form; accepted with classes: mlp, ncsn, eps, flow, unet, unet-ncsn, unet-flow",
                ))
            }
        })
    }

    pub fn output(&self) -> Output {
        match self {
            Architecture::Mlp(c) => c.output,
            Architecture::Unet(c) => c.output_kind(),
            Architecture::Energy(_) => Output::Score,
        }
    }

    /// A freshly initialised network.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Net<B> {
        match self {
            Architecture::Mlp(c) => Net::Mlp(c.init(device)),
            Architecture::Energy(c) => Net::Energy(c.init(device)),
            Architecture::Unet(c) => Net::Unet(c.init(device)),
        }
    }

    /// A network initialised from `seed`, identical whatever else runs in this process.
    /// burn draws initial weights from one process-wide RNG per backend (`B::seed`) and
    /// initialises parameters lazily, so two networks created at once (parallel tests, or a
    /// native program with several) interleaved their draws; the lock covers the seeding and
    /// the materialisation of every parameter. Everything that must be reproducible
    /// initialises through here (the trainer, tests).
    pub fn init_seeded<B: Backend>(&self, seed: u64, device: &B::Device) -> Net<B> {
        struct Touch;
        impl<B: Backend> burn::module::ModuleVisitor<B> for Touch {
            fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<B, D>>) {
                let _ = param.val();
            }
        }
        static INIT: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _guard = INIT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        B::seed(device, seed);
        let model = self.init::<B>(device);
        model.visit(&mut Touch);
        model
    }

    /// The conditioning input for times `ts` under `sde`. The noise-conditional form sees
    /// `u = (ln σ − ln σ_lo)/(ln σ_hi − ln σ_lo)` with σ_lo = 0.01 (the ladder's σ_L) and
    /// σ_hi = σ(1): ln σ rescaled to about [0, 1] so the Fourier features have the same
    /// frequencies as for t (for VE with σ_min = 0.01, u = t exactly: NCSN's ladder is the
    /// VE SDE sampled at L times).
    pub fn cond(&self, sde: &Sde, ts: &[f64]) -> Vec<f64> {
        match self.conditioning() {
            Conditioning::Time => ts.to_vec(),
            Conditioning::LogSigma => {
                let lo = 0.01f64.ln();
                let span = (sde.max_noise_level().ln() - lo).max(1e-6);
                ts.iter()
                    .map(|t| (sde.noise_level(t.min(sde.t_max())).max(1e-12).ln() - lo) / span)
                    .collect()
            }
        }
    }
}

/// Any of the networks (a burn enum module: parameters are named as in the variant's
/// struct; [`crate::weights`] leaves the variant name out of tensor names).
#[derive(Module, Debug)]
pub enum Net<B: Backend> {
    Mlp(MlpScore<B>),
    Energy(EnergyMlp<B>),
    Unet(UNet<B>),
}

impl<B: Backend> Net<B> {
    /// The network's own output for conditioning values `cond` and one-hot class `labels`
    /// (`None`: the null label; ignored by unconditional networks).
    ///
    /// # Shapes
    /// `x: [n, d]`, `cond: [n, 1]`, `labels: [n, classes + 1]` → `[n, d]`
    pub fn forward(
        &self,
        x: Tensor<B, 2>,
        cond: Tensor<B, 2>,
        labels: Option<Tensor<B, 2>>,
    ) -> Tensor<B, 2> {
        let parts = match self {
            Net::Unet(_) => crate::kernels::cpu_ops::batch_parts::<B>(x.dims()[0]),
            _ => 1,
        };
        if parts > 1 {
            return self.forward_in_parts(x, cond, labels, parts);
        }
        self.forward_whole(x, cond, labels)
    }

    /// [`Net::forward`] on `parts` consecutive blocks of rows, one per thread where there are
    /// threads (`cpu_ops::par_map`), concatenated: the same values (every row is computed
    /// on its own).
    ///
    /// # Shapes
    /// as [`Net::forward`]
    pub fn forward_in_parts(
        &self,
        x: Tensor<B, 2>,
        cond: Tensor<B, 2>,
        labels: Option<Tensor<B, 2>>,
        parts: usize,
    ) -> Tensor<B, 2> {
        let n = x.dims()[0];
        let rows = n.div_ceil(parts.max(1)).max(1);
        let blocks: Vec<_> = (0..n)
            .step_by(rows)
            .map(|r0| {
                let r = r0..(r0 + rows).min(n);
                (
                    x.clone().slice(r.clone()),
                    cond.clone().slice(r.clone()),
                    labels.clone().map(|l| l.slice(r)),
                )
            })
            .collect();
        let outs =
            crate::kernels::cpu_ops::par_map(blocks, |(x, c, l)| self.forward_whole(x, c, l));
        Tensor::cat(outs, 0)
    }

    fn forward_whole(
        &self,
        x: Tensor<B, 2>,
        cond: Tensor<B, 2>,
        labels: Option<Tensor<B, 2>>,
    ) -> Tensor<B, 2> {
        match self {
            Net::Mlp(m) => m.forward_raw(x, cond, labels),
            Net::Energy(m) => m.neg_grad(x, cond),
            Net::Unet(m) => m.forward_raw(x, cond, labels),
        }
    }

    /// The network's own output (scaled score, ε or velocity: [`Output`]) at per-row
    /// times `ts` and, for a class-conditional network, per-row labels (`0..classes`, or
    /// `classes` for the null label; `None`: the null label for every row).
    ///
    /// # Shapes
    /// `x: [n, d]`, `ts: n`, `labels: n` → `[n, d]`
    pub fn output(
        &self,
        arch: &Architecture,
        sde: &Sde,
        x: Tensor<B, 2>,
        ts: &[f64],
        labels: Option<&[usize]>,
    ) -> Tensor<B, 2> {
        let n = ts.len();
        let device = x.device();
        let cond = host_tensor::<B, 2>(arch.cond(sde, ts), [n, 1], &device);
        let labels = match (arch.classes(), labels) {
            (Some(k), Some(l)) => Some(super::labels::one_hot::<B>(l, k, &device)),
            _ => None,
        };
        self.forward(x, cond, labels)
    }

    /// The scaled score `r_θ = std(t)·s_θ(x, t)` at per-row times `ts` and labels (as
    /// [`Net::output`]; module docs).
    ///
    /// # Shapes
    /// `x: [n, d]`, `ts: n`, `labels: n` → `[n, d]`
    pub fn scaled_score(
        &self,
        arch: &Architecture,
        sde: &Sde,
        x: Tensor<B, 2>,
        ts: &[f64],
        labels: Option<&[usize]>,
    ) -> Tensor<B, 2> {
        let out = self.output(arch, sde, x.clone(), ts, labels);
        match arch.output() {
            Output::Score => out,
            Output::Eps => out.neg(),
            Output::Velocity => {
                let n = ts.len();
                let (cx, cv): (Vec<f64>, Vec<f64>) =
                    ts.iter().map(|t| sde.velocity_to_scaled_score(*t)).unzip();
                let device = x.device();
                let col = |v: Vec<f64>| host_tensor::<B, 2>(v, [n, 1], &device);
                x * col(cx) + out * col(cv)
            }
        }
    }
}

/// A trained network bound to its SDE: a [`ScoreModel`] like the exact mixture.
pub struct NetScore<B: Backend> {
    pub net: Net<B>,
    pub arch: Architecture,
    pub sde: Sde,
    /// Keep Tweedie's denoiser inside the data's box ([`DenoiserClip`]); on for image models
    /// loaded from a weight file, off for the raw network.
    pub clip: Option<DenoiserClip>,
    /// The class a class-conditional network scores `s(x, t | class)` for; `None`: the
    /// null label, its unconditional score (unconditional networks have no classes).
    pub class: Option<usize>,
}

impl<B: Backend> NetScore<B> {
    /// The per-row labels of a batch of n for [`Net::output`]: the class, or the null label.
    fn labels(&self, n: usize) -> Option<Vec<usize>> {
        let k = self.arch.classes()?;
        Some(vec![self.class.unwrap_or(k); n])
    }
}

impl<B: Backend> ScoreModel<B> for NetScore<B> {
    fn dim(&self) -> usize {
        self.arch.dim()
    }

    fn score(&self, x: Tensor<B, 2>, t: f64) -> Tensor<B, 2> {
        let n = x.dims()[0];
        let labels = self.labels(n);
        let s = self.net.scaled_score(
            &self.arch,
            &self.sde,
            x.clone(),
            &vec![t; n],
            labels.as_deref(),
        ) / self.sde.std(t);
        match &self.clip {
            Some(clip) => clip.apply(s, x, &self.sde, t),
            None => s,
        }
    }

    /// The network's velocity, for a velocity network without a denoiser clip (a clipped
    /// model's ODE takes the clipped score's drift).
    fn velocity(&self, x: Tensor<B, 2>, t: f64) -> Option<Tensor<B, 2>> {
        (self.arch.output() == Output::Velocity && self.clip.is_none()).then(|| {
            let n = x.dims()[0];
            let labels = self.labels(n);
            self.net
                .output(&self.arch, &self.sde, x, &vec![t; n], labels.as_deref())
        })
    }
}

/// The networks (`scorelab train --model`): the network registry.
pub fn networks() -> Registry {
    Registry {
        kind: "network",
        field: "model",
        entries: NETWORKS.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::NdArray;
    use burn::tensor::Distribution;

    /// The batch in parts (the page's threaded module runs one part per thread) gives the
    /// whole batch's values: every row is computed on its own, so only the GEMM blocking
    /// could differ (1e-5 of the output's scale), whatever the split (uneven parts, more
    /// parts than rows) and with class labels split alongside the rows.
    #[test]
    fn a_batch_in_parts_is_the_whole_batch() {
        type B = NdArray<f32>;
        let d = Default::default();
        let arch = Architecture::Unet(
            UNetConfig::new()
                .with_channels([32, 32, 32, 32])
                .with_embed_dim(16)
                .with_classes(Some(3)),
        );
        let net = arch.init_seeded::<B>(3, &d);
        let n = 5;
        let x = Tensor::<B, 2>::random([n, 784], Distribution::Normal(0.0, 1.0), &d);
        let cond = Tensor::<B, 2>::random([n, 1], Distribution::Uniform(0.0, 1.0), &d);
        let labels = super::super::labels::one_hot::<B>(&[0, 1, 2, 3, 1], 3, &d);
        let whole = net.forward_whole(x.clone(), cond.clone(), Some(labels.clone()));
        let scale = whole.clone().abs().max().into_scalar();
        assert!(scale > 0.0);
        for parts in [2, 3, 8] {
            let split = net.forward_in_parts(x.clone(), cond.clone(), Some(labels.clone()), parts);
            assert_eq!(split.dims(), [n, 784]);
            let err = (split - whole.clone()).abs().max().into_scalar();
            assert!(err <= 1e-5 * scale, "{parts} parts: {err} (scale {scale})");
        }
    }
}
