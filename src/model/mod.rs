//! Score models: anything that maps `(x, t)` to `s(x, t) ≈ ∇ₓ log p_t(x)`.
//!
//! Samplers and the likelihood take a `&dyn ScoreModel<B>`, so the exact Gaussian
//! mixture (the oracle, [`gmm`]) and trained networks are interchangeable.

pub mod classifier;
pub mod clip;
pub mod energy;
pub mod gmm;
pub mod guidance;
pub mod labels;
pub mod mlp;
pub mod net;
pub mod parameterization;
pub mod presets;
pub mod unet;

use burn::tensor::{backend::Backend, Tensor};

/// A score model bound to its SDE: `score(x, t)` is the score of the marginal `p_t`.
pub trait ScoreModel<B: Backend> {
    /// Data dimension d.
    fn dim(&self) -> usize;

    /// `s(x, t) ≈ ∇ₓ log p_t(x)` for a whole batch at one time t.
    ///
    /// # Shapes
    /// `x: [n, d]` → `[n, d]`
    fn score(&self, x: Tensor<B, 2>, t: f64) -> Tensor<B, 2>;

    /// The probability-flow velocity `dx/dt = a(t) x − ½ g(t)² s(x, t)` when the model
    /// predicts it directly (a flow-matching network: `E[z − x₀ | x_t]` on the linear path);
    /// `None` for score models, whose velocity the ODE computes from the score.
    ///
    /// # Shapes
    /// `x: [n, d]` → `[n, d]`
    fn velocity(&self, _x: Tensor<B, 2>, _t: f64) -> Option<Tensor<B, 2>> {
        None
    }

    /// `log p_t(x)` in nats when the model knows it in closed form (the mixture oracle);
    /// `None` for learned models.
    ///
    /// # Shapes
    /// `x: [n, d]` → `[n]`
    fn log_prob(&self, _x: Tensor<B, 2>, _t: f64) -> Option<Tensor<B, 1>> {
        None
    }
}
