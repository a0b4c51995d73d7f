//! Exact log-likelihood through the probability-flow ODE (Song et al. 2021, App. D;
//! SCIENCE.md §5): integrate `dx/dt = f̃(x, t)` and `dδ/dt = ∇·f̃(x, t)` from t = ε to T, then
//! `log p_ε(x) = log p_T(x(T)) + δ(T)` (T = [`Sde::t_max`]: 1, or 1 − 10⁻³ on the linear path).
//!
//! `f̃ = a(t) x − ½ g(t)² s` for a score model, the network's own velocity for a
//! flow-matching model ([`ScoreModel::velocity`]; the continuous normalising flow's
//! likelihood, Lipman et al. 2023 §2); its divergence is differentiated as it is computed,
//! so `∇·f̃ = a(t)·d − ½ g(t)² ∇·s` for scores. The divergence is exact (d backward passes,
//! fine in 2-D) or the Skilling–Hutchinson estimate `E_v[vᵀ ∇f̃ v]` with Gaussian or
//! Rademacher probes fixed for the whole solve (one vector-Jacobian product per probe).
//! Bits per dimension for images in [0,1] with 256-level uniform dequantisation:
//! `−log p/(D ln 2) + 8`.

use crate::error::{count, in_range, Error, Result};
use crate::model::ScoreModel;
use crate::rng::Noise;
use crate::sde::Sde;
use crate::solver::Integrator;
use crate::tensor::read_f64;
use burn::tensor::{backend::AutodiffBackend, Tensor};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Estimator {
    /// d backward passes per function evaluation.
    Exact,
    /// Skilling–Hutchinson trace estimator.
    Hutchinson,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Probe {
    Gaussian,
    Rademacher,
}

/// Which density sits at t = T.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Prior {
    /// The SDE's prior `N(0, v(T) I)` (what a trained model has).
    Sde,
    /// The model's own closed-form `p_T` (the mixture oracle): isolates the ODE error.
    Model,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LikelihoodConfig {
    pub estimator: Estimator,
    pub probe: Probe,
    pub probes: usize,
    pub rtol: f64,
    pub atol: f64,
    /// ε: the likelihood is of `p_ε` (the notebook uses 1e-5).
    pub t_end: f64,
    pub prior: Prior,
}

impl Default for LikelihoodConfig {
    fn default() -> Self {
        LikelihoodConfig {
            estimator: Estimator::Exact,
            probe: Probe::Gaussian,
            probes: 1,
            rtol: 1e-5,
            atol: 1e-5,
            t_end: 1e-5,
            prior: Prior::Sde,
        }
    }
}

impl LikelihoodConfig {
    pub fn validate(&self) -> Result<()> {
        in_range("rtol", self.rtol, 1e-13, 1.0)?;
        in_range("atol", self.atol, 1e-13, 1.0)?;
        in_range("t_end", self.t_end, 1e-7, 0.5)?;
        count("probes", self.probes, 1, 1000)?;
        Ok(())
    }
}

/// Per-row results of one solve.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Likelihood {
    /// `log p_ε(x)` in nats.
    pub log_p: Vec<f64>,
    /// ODE function evaluations.
    pub nfe: usize,
    /// Score-network forward passes (NFE × d for exact, × probes for Hutchinson).
    pub score_evals: usize,
    /// Solver attempts (accepted + rejected).
    pub attempts: usize,
}

/// Bits per dimension of a log-density over `[0,1]^D` with 256-level dequantisation.
pub fn bits_per_dim(log_p: f64, dim: usize) -> f64 {
    -log_p / (dim as f64 * std::f64::consts::LN_2) + 8.0
}

/// The probability-flow drift `f̃(x, t)` and `∇ₓ·f̃` per row, exactly (d backward passes) or
/// by Hutchinson with `probes`. For a score model the divergence taken is the score's and
/// `∇·f̃ = a(t)·d − ½ g(t)² ∇·s`, so the `a·d` part is exact, never estimated.
///
/// Returns (`f̃(x,t)` detached, divergence, forward passes).
///
/// # Shapes
/// `x: [n, d]`, each probe `[n, d]` → (`[n, d]`, `[n, 1]`)
fn drift_and_divergence<B: AutodiffBackend>(
    model: &dyn ScoreModel<B>,
    sde: &Sde,
    x: Tensor<B, 2>,
    t: f64,
    probes: Option<&[Tensor<B, 2>]>,
) -> (Tensor<B, 2>, Tensor<B, 2>, usize) {
    let [n, d] = x.dims();
    let x = x.detach();
    // the field differentiated: the velocity (Some) or the score (None)
    let mut first: Option<(Tensor<B, 2>, bool)> = None;
    let mut div: Option<Tensor<B, 2>> = None;
    let passes = match probes {
        None => d,
        Some(p) => p.len(),
    };
    for i in 0..passes {
        let xi = x.clone().require_grad();
        let (f, is_velocity) = match model.velocity(xi.clone(), t) {
            Some(v) => (v, true),
            None => (model.score(xi.clone(), t), false),
        };
        if first.is_none() {
            first = Some((f.clone().detach(), is_velocity));
        }
        let (objective, probe) = match probes {
            None => (f.slice([0..n, i..i + 1]).sum(), None),
            Some(p) => ((f * p[i].clone()).sum(), Some(p[i].clone())),
        };
        let grads = objective.backward();
        let g = Tensor::<B, 2>::from_inner(xi.grad(&grads).expect("x requires grad"));
        let term = match probe {
            None => g.slice([0..n, i..i + 1]),
            Some(v) => (g * v).sum_dim(1),
        };
        div = Some(match div {
            None => term,
            Some(acc) => acc + term,
        });
    }
    let div = div.unwrap();
    let div = if probes.is_some() {
        div / passes as f64
    } else {
        div
    };
    let (f, is_velocity) = first.unwrap();
    if is_velocity {
        (f, div, passes)
    } else {
        let (a, g) = (sde.drift_coef(t), sde.diffusion(t));
        let drift = x * a - f * (0.5 * g * g);
        (drift, div * (-0.5 * g * g) + a * d as f64, passes)
    }
}

/// `log p_ε(x)` for each row of `x` by the probability-flow ODE.
///
/// # Shapes
/// `x: [n, d]` → `log_p.len() == n`
pub async fn log_likelihood<B: AutodiffBackend>(
    model: &dyn ScoreModel<B>,
    sde: &Sde,
    x: Tensor<B, 2>,
    cfg: &LikelihoodConfig,
    seed: u64,
) -> Result<Likelihood> {
    cfg.validate()?;
    sde.validate()?;
    let [n, d] = x.dims();
    if d != model.dim() {
        return Err(Error::invalid(
            "data",
            format!(
                "has {d} columns but the model is {}-dimensional",
                model.dim()
            ),
        ));
    }
    let device = x.device();
    let mut noise = Noise::new(seed);
    let probes: Option<Vec<Tensor<B, 2>>> = match cfg.estimator {
        Estimator::Exact => None,
        Estimator::Hutchinson => Some(
            (0..cfg.probes)
                .map(|_| match cfg.probe {
                    Probe::Gaussian => noise.normal::<B>(n, d, &device),
                    Probe::Rademacher => noise.rademacher::<B>(n, d, &device),
                })
                .collect(),
        ),
    };
    let y0 = Tensor::cat(
        vec![
            x.detach(),
            Tensor::zeros([n, 1], crate::tensor::float_options::<B>(&device)),
        ],
        1,
    );
    let t_max = sde.t_max();
    let mut integrator = Integrator::adaptive(y0, cfg.t_end, t_max, cfg.rtol, cfg.atol)?;
    let mut score_evals = 0usize;
    {
        let mut f = |t: f64, y: Tensor<B, 2>| {
            let xs = y.slice([0..n, 0..d]);
            let (drift, div, passes) = drift_and_divergence(model, sde, xs, t, probes.as_deref());
            score_evals += passes;
            Tensor::cat(vec![drift, div], 1)
        };
        integrator.run(&mut f).await?;
    }
    let y1 = integrator.y.clone();
    let x1 = y1.clone().slice([0..n, 0..d]);
    let delta = read_f64(y1.slice([0..n, d..d + 1])).await?;
    let prior = match cfg.prior {
        Prior::Sde => {
            let sq = read_f64((x1.clone() * x1).sum_dim(1)).await?;
            sq.iter()
                .map(|s| sde.prior_log_prob(*s, d))
                .collect::<Vec<_>>()
        }
        Prior::Model => {
            let lp = model.log_prob(x1, t_max).ok_or_else(|| {
                Error::invalid(
                    "prior",
                    "this model has no closed-form density; accepted here: sde",
                )
            })?;
            read_f64(lp).await?
        }
    };
    Ok(Likelihood {
        log_p: prior.iter().zip(&delta).map(|(p, dl)| p + dl).collect(),
        nfe: integrator.nfe,
        score_evals,
        attempts: integrator.attempts,
    })
}

/// The likelihood estimators (`--estimator`): the estimator registry.
pub fn estimators() -> crate::registry::Registry {
    use crate::registry::Entry;
    crate::registry::Registry {
        kind: "estimator",
        field: "estimator",
        entries: vec![
            Entry::plain(
                "exact",
                "the divergence by d backward passes (exact, for small d)",
            ),
            Entry::plain(
                "hutchinson",
                "the Skilling–Hutchinson trace estimator (one backward pass, unbiased)",
            ),
        ],
    }
}
