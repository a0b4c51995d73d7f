//! Training score networks: objectives and the trainer shared by the CLI and the browser.
//!
//! Objectives ([`Objective`], configured by [`TrainConfig`] in `crate::config::training`): denoising, sliced and implicit score matching on the
//! perturbed marginals. Denoising score matching is the continuous-time form (Song et al. 2021; the
//! notebook's `loss_fn`): `t ~ U(ε, 1)`, `x_t = m(t) x_0 + std(t) z`,
//! `L = E ‖std(t) s_θ(x_t, t) + z‖²` (λ = std², summed over dimensions, averaged over the
//! batch), or with likelihood weighting λ = g(t)², i.e. `(g/std)² ‖std·s_θ + z‖²`.
//! The trainer is Adam with linear learning-rate warm-up, per-parameter gradient-norm
//! clipping (burn's `GradientClippingConfig::Norm`) and an EMA of the weights for sampling.

//!
//! Files: [`trainer`] the run (batches, the optimiser step, EMA, data-parallel ranks),
//! [`loss`] the objectives' loss and a batch's random draws, [`resume`] the state a
//! checkpoint carries, [`parallel`] data-parallel ranks, [`fisher`] the exact Fisher
//! divergence to a mixture.

pub mod fisher;
pub mod loss;
pub mod parallel;
pub mod resume;
pub mod trainer;

pub use crate::config::training::{
    Objective, SlicedProbe, TimeSampling, TrainConfig, Weighting, NAMED_OBJECTIVES,
};
pub use loss::{importance_time, Draws};
pub use trainer::Trainer;
