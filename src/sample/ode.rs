//! Sampling with the probability-flow ODE `dx/dt = a(t) x − ½ g(t)² s(x, t)` (Song et al.
//! 2021, eq. 13), integrated from t = 1 to ε with any [`crate::solver`] stepper.

use crate::error::Result;
use crate::model::ScoreModel;
use crate::sde::Sde;
use crate::solver::{Integrator, SolverKind, SolverStep};
use burn::tensor::{backend::Backend, Tensor};

/// The probability-flow drift `f̃(x, t) = a(t) x − ½ g(t)² s(x, t)`.
///
/// # Shapes
/// `x: [n, d]` → `[n, d]`
pub fn probability_flow_drift<B: Backend>(
    model: &dyn ScoreModel<B>,
    sde: &Sde,
    t: f64,
    x: Tensor<B, 2>,
) -> Tensor<B, 2> {
    let g = sde.diffusion(t);
    let s = model.score(x.clone(), t);
    x * sde.drift_coef(t) - s * (0.5 * g * g)
}

pub struct Ode<B: Backend> {
    pub integrator: Integrator<B>,
    pub t_end: f64,
}

impl<B: Backend> Ode<B> {
    pub fn new(
        solver: SolverKind,
        x0: Tensor<B, 2>,
        steps: usize,
        rtol: f64,
        atol: f64,
        t_end: f64,
    ) -> Result<Self> {
        let integrator = match solver {
            SolverKind::Rk45 => Integrator::adaptive(x0, 1.0, t_end, rtol, atol),
            k => Integrator::fixed(k, x0, 1.0, t_end, steps),
        }
        .map_err(|e| e.within("sampler"))?;
        Ok(Ode { integrator, t_end })
    }

    pub async fn step(&mut self, model: &dyn ScoreModel<B>, sde: &Sde) -> Result<SolverStep> {
        let mut f = |t: f64, x: Tensor<B, 2>| probability_flow_drift(model, sde, t, x);
        self.integrator.step(&mut f).await
    }
}
