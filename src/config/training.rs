//! The training settings (CLI flags, the page's training spec, weight manifests): the
//! objectives of SCIENCE.md §1 with their weighting λ(t) and time sampling, the optimiser's
//! settings, and the named objectives the CLI's `--objective` and the page's menu offer.
//!
//! Plain data with its checks, apart from the trainer (`crate::train`) that runs it, so the
//! weight format (`crate::weights`, whose manifests carry it) need not depend on the trainer.

use crate::error::{count, in_range, Result};
use crate::registry::{Entry, Registry};
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

/// What the network is trained to minimise (SCIENCE.md §1). All are applied to the
/// perturbed marginals p_t (x_t = m x_0 + std z, t ~ U(ε, 1)) with the weighting λ(t).
///
/// burn's autodiff is first order, so the two objectives that need ∇ₓs inside the loss use
/// central finite differences along a direction v with step `h = 1e-2·std(t)`
/// (finite-difference score matching, Pang et al. 2020): `vᵀ∇ₓs v ≈ vᵀ(s(x+hv) − s(x−hv))/2h`,
/// whose error is O(h²) (tests/native/train.rs compares it with the autodiff divergence).
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
    /// Conditional flow matching on the linear path (Lipman et al. 2023, eq. 23 with
    /// σ_min = 0; rectified flow, Liu et al. 2023): `x_t = (1 − t) x₀ + t z`,
    /// `‖v_θ(x_t, t) − (z − x₀)‖²`, t ~ U(ε, T). Its minimiser is the probability-flow
    /// velocity `E[z − x₀ | x_t] = −(x + t s)/(1 − t)`; written with the scaled score it is DSM
    /// with λ = std²/(1 − t)² = σ(t)², the noise level squared. Needs a velocity network
    /// (`flow`, `unet-flow`) and the linear SDE.
    FlowMatching,
}

/// Probe distribution of sliced score matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SlicedProbe {
    Gaussian,
    Rademacher,
}

/// Training settings (CLI flags, page state, weight manifests).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    pub steps: usize,
    pub batch: usize,
    pub lr: f64,
    /// Linear learning-rate warm-up steps (score_sde: 5000 for images; short for toys).
    pub warmup: usize,
    /// Gradient-norm clip per parameter tensor (0 turns it off).
    pub grad_clip: f64,
    /// EMA decay of the sampling weights (score_sde: 0.999 VE, 0.9999 VP).
    pub ema: f64,
    pub seed: u64,
    /// Smallest training time ε (the notebook's 1e-5).
    pub t_eps: f64,
    pub weighting: Weighting,
    /// How DSM/SSM/ISM draw t (NCSN and DDPM use their own discrete times).
    pub time_sampling: TimeSampling,
    pub objective: Objective,
    /// Sliced score matching's projection distribution.
    pub probe: SlicedProbe,
    /// NCSN objective: number of noise levels L of the ladder.
    pub levels: usize,
    /// NCSN objective: the smallest noise level σ_L.
    pub sigma_last: f64,
    /// DDPM objective: number of discrete steps N.
    pub ddpm_steps: usize,
    /// Uniform dequantisation of 8-bit pixel data, `x = (255x + u)/256` (images).
    pub dequantize: bool,
    /// A class-conditional network's label dropout: the probability that a row's label is
    /// replaced by the null label (Ho & Salimans 2022: 0.1; [`crate::model::labels`]).
    pub label_dropout: f64,
}

impl Default for TrainConfig {
    /// The CLI's defaults (a fitted toy model in a few seconds): 2000 steps of 512 rows,
    /// lr 2e-3 after 100 warm-up steps, clip 1, EMA 0.999, ε = 1e-5, DSM with λ = std² and
    /// uniform t; NCSN's 20 levels down to 0.01, DDPM's 1000 steps.
    fn default() -> Self {
        TrainConfig {
            steps: 2000,
            batch: 512,
            lr: 2e-3,
            warmup: 100,
            grad_clip: 1.0,
            ema: 0.999,
            seed: 0,
            t_eps: 1e-5,
            weighting: Weighting::Std2,
            time_sampling: TimeSampling::Uniform,
            objective: Objective::Dsm,
            probe: SlicedProbe::Gaussian,
            levels: 20,
            sigma_last: 0.01,
            ddpm_steps: 1000,
            dequantize: false,
            label_dropout: 0.1,
        }
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
        in_range("label_dropout", self.label_dropout, 0.0, 1.0)?;
        Ok(())
    }
}

/// A named objective of the CLI's `--objective` and the page's training panel: an
/// [`Objective`] with its [`Weighting`] and [`TimeSampling`] (the objective registry,
/// [`crate::registry::objectives`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamedObjective {
    pub name: &'static str,
    pub description: &'static str,
    pub objective: Objective,
    pub weighting: Weighting,
    pub time_sampling: TimeSampling,
}

const fn named(
    name: &'static str,
    description: &'static str,
    objective: Objective,
    weighting: Weighting,
    time_sampling: TimeSampling,
) -> NamedObjective {
    NamedObjective {
        name,
        description,
        objective,
        weighting,
        time_sampling,
    }
}

/// The named objectives. `dsm-likelihood` is DSM with λ = g²; `dsm-likelihood-is` adds
/// importance-sampled t (the shipped MNIST model's recipe).
pub const NAMED_OBJECTIVES: &[NamedObjective] = &[
    named(
        "dsm",
        "denoising score matching, λ = std² (the notebook)",
        Objective::Dsm,
        Weighting::Std2,
        TimeSampling::Uniform,
    ),
    named(
        "dsm-likelihood",
        "DSM with likelihood weighting λ = g² (a bound on the negative log-likelihood)",
        Objective::Dsm,
        Weighting::Likelihood,
        TimeSampling::Uniform,
    ),
    named(
        "dsm-likelihood-is",
        "likelihood-weighted DSM with importance-sampled t (lower variance; the MNIST model's recipe)",
        Objective::Dsm,
        Weighting::Likelihood,
        TimeSampling::Importance,
    ),
    named(
        "ssm",
        "sliced score matching: needs no noise model, only random projections",
        Objective::Ssm,
        Weighting::Std2,
        TimeSampling::Uniform,
    ),
    named(
        "ism",
        "implicit (Hyvärinen) score matching with the full trace: exact, costs d passes",
        Objective::Ism,
        Weighting::Std2,
        TimeSampling::Uniform,
    ),
    named(
        "ncsn",
        "NCSN's multi-scale DSM on a geometric ladder of noise levels",
        Objective::Ncsn,
        Weighting::Std2,
        TimeSampling::Uniform,
    ),
    named(
        "ddpm",
        "DDPM's simple loss ‖ε − ε_θ‖² on its discrete steps",
        Objective::Ddpm,
        Weighting::Std2,
        TimeSampling::Uniform,
    ),
    named(
        "flow-matching",
        "flow matching / rectified flow: ‖v_θ − (z − x₀)‖² on the linear path (a velocity network; Lipman et al. 2023)",
        Objective::FlowMatching,
        Weighting::Std2,
        TimeSampling::Uniform,
    ),
];

impl TrainConfig {
    /// Sets `objective`, `weighting` and `time_sampling` from a name in
    /// [`NAMED_OBJECTIVES`]; an unknown name is an error naming the field `objective`.
    pub fn with_named_objective(mut self, name: &str) -> Result<Self> {
        let Some(named) = NAMED_OBJECTIVES.iter().find(|o| o.name == name) else {
            return Err(objectives().unknown(name));
        };
        self.objective = named.objective;
        self.weighting = named.weighting;
        self.time_sampling = named.time_sampling;
        Ok(self)
    }
}

/// The training objectives (`--objective`, the page's objective menu): the objective
/// registry, from [`NAMED_OBJECTIVES`].
pub fn objectives() -> Registry {
    Registry {
        kind: "objective",
        field: "objective",
        entries: NAMED_OBJECTIVES
            .iter()
            .map(|o| Entry::plain(o.name, o.description))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        for NamedObjective { name, .. } in NAMED_OBJECTIVES {
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
        assert!(NAMED_OBJECTIVES.iter().all(|o| e.contains(o.name)), "{e}");
    }
}
