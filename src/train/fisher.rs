//! The exact (weighted) Fisher divergence of a score model from a Gaussian mixture's score:
//! the yardstick of the objective bake-off and of the training tests.
//!
//! `D(θ) = 1/|T| Σ_{t∈T} λ(t) E_{x~p_t} ‖s_θ(x, t) − ∇ₓ log p_t(x)‖²` with `λ(t) = std(t)²`
//! (the weighting of the DSM objective, SCIENCE.md §2: score matching equals DSM up to a
//! constant, so `D` is what every objective minimises, without that constant). Under VE/VP/
//! sub-VP the mixture stays a mixture, so `x ~ p_t` and `∇ log p_t` are exact.
//!
//! [`velocity_error`] is the same yardstick for the probability-flow velocity
//! `v = a x − ½ g² s` (on the linear path the flow-matching target `E[z − x₀ | x_t]`), which
//! puts score networks and flow-matching networks on one scale: for a score model it is the
//! Fisher divergence weighted by `(½ g²)²` (on the linear path `t²/(1 − t)²` = σ(t)²). Its
//! times cover the whole path uniformly ([`VELOCITY_TIMES`]), so on the linear path it is
//! flow matching's own objective less its constant, as the Fisher divergence is DSM's:
//! each objective wins on its own yardstick (tests/native/flow.rs).

use crate::model::gmm::{ExactGmm, Gmm};
use crate::model::ScoreModel;
use crate::rng::Noise;
use crate::sample::ode::probability_flow_drift;
use crate::sde::Sde;
use crate::tensor::{host_tensor, read_f64};
use crate::Result;
use burn::tensor::{backend::Backend, Tensor};

/// The times the divergence is averaged over (the bulk of the diffusion, avoiding t ≈ 0,
/// where λ = std² vanishes, and t = 1, where every model is near the prior's score).
pub const FISHER_TIMES: [f64; 4] = [0.05, 0.2, 0.5, 0.8];

/// The times of [`velocity_error`]: the midpoints of ten equal parts of [0, 1], a midpoint
/// rule for `∫₀¹ E‖v_θ − v‖² dt` (flow matching's `t ~ U(0, 1)`).
pub const VELOCITY_TIMES: [f64; 10] = [0.05, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85, 0.95];

/// λ-weighted Fisher divergence of `model` from the mixture `gmm` under `sde`, by Monte Carlo
/// with `n` exact samples per time (seeded: the same `seed` gives the same points, so two
/// models or two training steps are compared on the same sample).
///
/// # Shapes
/// `model.dim() == gmm.dim()`; `n` points of that dimension per time.
pub async fn fisher_divergence<B: Backend>(
    model: &dyn ScoreModel<B>,
    gmm: &Gmm,
    sde: &Sde,
    n: usize,
    seed: u64,
    device: &B::Device,
) -> Result<f64> {
    mean_error(
        model,
        gmm,
        sde,
        n,
        seed,
        device,
        &FISHER_TIMES,
        |m, e, x, t| (m.score(x.clone(), t) - e.score(x, t)) * sde.std(t),
    )
    .await
}

/// Mean squared error of the model's probability-flow velocity (its own, or
/// `a x − ½ g² s_θ`) against the mixture's exact one, `1/|T| Σ_{t∈T} E_{x~p_t} ‖v_θ − v‖²`
/// over [`VELOCITY_TIMES`], with `n` exact points per time drawn from `seed`.
///
/// # Shapes
/// `model.dim() == gmm.dim()`; `n` points of that dimension per time.
pub async fn velocity_error<B: Backend>(
    model: &dyn ScoreModel<B>,
    gmm: &Gmm,
    sde: &Sde,
    n: usize,
    seed: u64,
    device: &B::Device,
) -> Result<f64> {
    mean_error(
        model,
        gmm,
        sde,
        n,
        seed,
        device,
        &VELOCITY_TIMES,
        |m, e, x, t| {
            probability_flow_drift(m, sde, t, x.clone()) - probability_flow_drift(e, sde, t, x)
        },
    )
    .await
}

/// `1/|T| Σ_{t∈T} E_{x~p_t} ‖diff(model, exact, x, t)‖²` on `n` exact samples per time.
#[allow(clippy::too_many_arguments)]
async fn mean_error<B: Backend>(
    model: &dyn ScoreModel<B>,
    gmm: &Gmm,
    sde: &Sde,
    n: usize,
    seed: u64,
    device: &B::Device,
    times: &[f64],
    diff: impl Fn(&dyn ScoreModel<B>, &ExactGmm<B>, Tensor<B, 2>, f64) -> Tensor<B, 2>,
) -> Result<f64> {
    let d = gmm.dim();
    if model.dim() != d {
        return Err(crate::Error::invalid(
            "model",
            format!(
                "is {}-dimensional; the mixture is {d}-dimensional",
                model.dim()
            ),
        ));
    }
    crate::error::count("n", n, 1, 1_000_000)?;
    let exact = ExactGmm::<B>::new(gmm.clone(), *sde, device);
    let mut noise = Noise::new(seed);
    let mut total = 0.0;
    for &t in times {
        let x = gmm.marginal(sde, t).sample(n, noise.rng());
        let xt = host_tensor::<B, 2>(x, [n, d], device);
        let e = diff(model, &exact, xt, t);
        total += read_f64((e.clone() * e).sum_dim(1).mean()).await?[0];
    }
    Ok(total / times.len() as f64)
}
