//! The exact (weighted) Fisher divergence of a score model from a Gaussian mixture's score:
//! the yardstick of the objective bake-off and of the training tests.
//!
//! `D(θ) = 1/|T| Σ_{t∈T} λ(t) E_{x~p_t} ‖s_θ(x, t) − ∇ₓ log p_t(x)‖²` with `λ(t) = std(t)²`
//! (the weighting of the DSM objective, SCIENCE.md §2: score matching equals DSM up to a
//! constant, so `D` is what every objective minimises, without that constant). Under VE/VP/
//! sub-VP the mixture stays a mixture, so `x ~ p_t` and `∇ log p_t` are exact.

use crate::model::gmm::{ExactGmm, Gmm};
use crate::model::ScoreModel;
use crate::rng::Noise;
use crate::sde::Sde;
use crate::tensor::{host_tensor, read_f64};
use crate::Result;
use burn::tensor::backend::Backend;

/// The times the divergence is averaged over (the bulk of the diffusion, avoiding t ≈ 0,
/// where λ = std² vanishes, and t = 1, where every model is near the prior's score).
pub const FISHER_TIMES: [f64; 4] = [0.05, 0.2, 0.5, 0.8];

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
    for t in FISHER_TIMES {
        let x = gmm.marginal(sde, t).sample(n, noise.rng());
        let xt = host_tensor::<B, 2>(x, [n, d], device);
        let diff = model.score(xt.clone(), t) - exact.score(xt, t);
        let e = read_f64((diff.clone() * diff).sum_dim(1).mean()).await?[0];
        total += e * sde.variance(t);
    }
    Ok(total / FISHER_TIMES.len() as f64)
}
