//! Sampling with the probability-flow ODE `dx/dt = a(t) x − ½ g(t)² s(x, t)` (Song et al.
//! 2021, eq. 13), integrated from t = T to ε with any [`crate::solver`] stepper (T =
//! [`Sde::t_max`]: 1, or 1 − 10⁻³ on the linear path). A model that predicts the velocity
//! itself (a flow-matching network, [`ScoreModel::velocity`]) is integrated as `dx/dt = v`:
//! Euler and Heun on the linear path are rectified flow's samplers (Liu et al. 2023).

use super::{check_t_end, Init, Moved, SamplerSpec, Started, StepContext, StepFuture, Stepper};
use crate::error::{count, in_range, Result};
use crate::model::ScoreModel;
use crate::registry::Param;
use crate::sde::Sde;
use crate::solver::{Integrator, SolverKind, SolverStep};
use burn::tensor::{backend::Backend, Tensor};
use serde::{Deserialize, Serialize};

/// `ode`: the probability-flow ODE, integrated from t = T to `t_end`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OdeConfig {
    pub solver: SolverKind,
    /// Steps for the fixed-step solvers (ignored by rk45).
    pub steps: usize,
    pub rtol: f64,
    pub atol: f64,
    pub t_end: f64,
}

impl Default for OdeConfig {
    fn default() -> Self {
        OdeConfig {
            solver: SolverKind::Rk45,
            steps: 100,
            rtol: 1e-5,
            atol: 1e-5,
            t_end: 1e-3,
        }
    }
}

impl SamplerSpec for OdeConfig {
    const DESCRIPTION: &'static str =
        "the probability-flow ODE: deterministic, the same marginals as the SDE, exact likelihoods";
    const PARAMS: &'static [Param] = &[
        Param {
            name: "solver",
            description:
                "the stepper for dx/dt = f(x, t) − ½ g(t)² s(x, t) (rk45, rk4, heun, euler)",
        },
        Param {
            name: "steps",
            description: "steps of the fixed-step solvers (rk45 chooses its own)",
        },
        Param {
            name: "rtol",
            description:
                "rk45's relative tolerance: a step is kept when its error ≤ atol + rtol·|x|",
        },
        Param {
            name: "atol",
            description:
                "rk45's absolute tolerance: a step is kept when its error ≤ atol + rtol·|x|",
        },
        Param {
            name: "t_end",
            description: "ε, the last time: the ODE is integrated from t = 1 (1 − 10⁻³ on the linear path) to t = ε",
        },
    ];

    fn validate(&self, _sde: &Sde) -> Result<()> {
        check_t_end(self.t_end)?;
        if self.solver == SolverKind::Rk45 {
            in_range("sampler.rtol", self.rtol, 1e-13, 1.0)?;
            in_range("sampler.atol", self.atol, 1e-13, 1.0)?;
        } else {
            count("sampler.steps", self.steps, 1, 1_000_000)?;
        }
        Ok(())
    }

    fn start<B: Backend>(&self, sde: &Sde, mut init: Init<'_, B>) -> Result<Started<B>> {
        let x = init.prior(sde);
        let o = Ode::new(
            self.solver,
            x.clone(),
            self.steps,
            self.rtol,
            self.atol,
            (sde.t_max(), self.t_end),
        )?;
        Ok((Box::new(o), x))
    }
}

/// The probability-flow drift `f̃(x, t) = a(t) x − ½ g(t)² s(x, t)`, or the model's own
/// velocity where it predicts one ([`ScoreModel::velocity`]).
///
/// # Shapes
/// `x: [n, d]` → `[n, d]`
pub fn probability_flow_drift<B: Backend>(
    model: &dyn ScoreModel<B>,
    sde: &Sde,
    t: f64,
    x: Tensor<B, 2>,
) -> Tensor<B, 2> {
    if let Some(v) = model.velocity(x.clone(), t) {
        return v;
    }
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
        (t_start, t_end): (f64, f64),
    ) -> Result<Self> {
        let integrator = match solver {
            SolverKind::Rk45 => Integrator::adaptive(x0, t_start, t_end, rtol, atol),
            k => Integrator::fixed(k, x0, t_start, t_end, steps),
        }
        .map_err(|e| e.within("sampler"))?;
        Ok(Ode { integrator, t_end })
    }

    pub async fn advance(&mut self, model: &dyn ScoreModel<B>, sde: &Sde) -> Result<SolverStep> {
        let mut f = |t: f64, x: Tensor<B, 2>| probability_flow_drift(model, sde, t, x);
        self.integrator.step(&mut f).await
    }
}

impl<B: Backend> Stepper<B> for Ode<B> {
    /// One solver attempt; the state is the integrator's, so `x` is not read.
    fn step<'a>(&'a mut self, _x: Tensor<B, 2>, cx: StepContext<'a, B>) -> StepFuture<'a, B> {
        Box::pin(async move {
            let before = self.integrator.nfe;
            let st = self.advance(cx.model, cx.sde).await?;
            Ok(Moved {
                x: self.integrator.y.clone(),
                t: st.t,
                step_size: st.h.abs(),
                nfe: self.integrator.nfe - before,
                accepted: Some(st.accepted),
                level: None,
            })
        })
    }
    fn total_steps(&self) -> Option<usize> {
        self.integrator.total_steps()
    }
    fn is_done(&self) -> bool {
        self.integrator.is_done()
    }
    fn final_t(&self) -> f64 {
        self.t_end
    }
}
