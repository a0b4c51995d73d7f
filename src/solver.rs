//! ODE steppers for `dy/dt = f(t, y)` on a batch state `y: [n, c]`, integrating from `t0` to
//! `t1` in either direction (the probability-flow ODE runs 1 → ε for sampling and ε → 1 for
//! likelihood). Fixed-step Euler, Heun and RK4, and adaptive Dormand–Prince RK45 with
//! scipy's step-size controller (the notebook's `solve_ivp(method='RK45')`): one step size
//! for the whole batch, error norm = RMS of `err / (atol + rtol·max(|y|, |y_new|))` over all
//! elements. Each call to [`Integrator::step`] is one attempt, accepted or rejected, with the
//! number of function evaluations (NFE) counted.

use crate::error::{count, in_range, Error, Result};
use crate::registry::{Entry, Registry};
use crate::tensor::read_scalar;
use burn::tensor::{backend::Backend, Tensor};
use serde::{Deserialize, Serialize};

/// Which ODE stepper.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SolverKind {
    Euler,
    Heun,
    Rk4,
    Rk45,
}

impl SolverKind {
    pub fn from_name(name: &str) -> Result<Self> {
        match name {
            "euler" => Ok(SolverKind::Euler),
            "heun" => Ok(SolverKind::Heun),
            "rk4" => Ok(SolverKind::Rk4),
            "rk45" => Ok(SolverKind::Rk45),
            o => Err(registry().unknown(o)),
        }
    }
}

/// The right-hand side `f(t, y)`.
///
/// # Shapes
/// `y: [n, c]` → `[n, c]`
pub type OdeFn<'a, B> = dyn FnMut(f64, Tensor<B, 2>) -> Tensor<B, 2> + 'a;

/// What one attempt did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SolverStep {
    /// Time after the attempt (unchanged when rejected).
    pub t: f64,
    /// Signed step size attempted.
    pub h: f64,
    pub accepted: bool,
}

// Dormand–Prince 5(4) tableau (scipy.integrate.RK45).
const C: [f64; 6] = [0.0, 1.0 / 5.0, 3.0 / 10.0, 4.0 / 5.0, 8.0 / 9.0, 1.0];
const A: [&[f64]; 6] = [
    &[],
    &[1.0 / 5.0],
    &[3.0 / 40.0, 9.0 / 40.0],
    &[44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0],
    &[
        19372.0 / 6561.0,
        -25360.0 / 2187.0,
        64448.0 / 6561.0,
        -212.0 / 729.0,
    ],
    &[
        9017.0 / 3168.0,
        -355.0 / 33.0,
        46732.0 / 5247.0,
        49.0 / 176.0,
        -5103.0 / 18656.0,
    ],
];
const BW: [f64; 6] = [
    35.0 / 384.0,
    0.0,
    500.0 / 1113.0,
    125.0 / 192.0,
    -2187.0 / 6784.0,
    11.0 / 84.0,
];
const E: [f64; 7] = [
    -71.0 / 57600.0,
    0.0,
    71.0 / 16695.0,
    -71.0 / 1920.0,
    17253.0 / 339200.0,
    -22.0 / 525.0,
    1.0 / 40.0,
];
const SAFETY: f64 = 0.9;
const MIN_FACTOR: f64 = 0.2;
const MAX_FACTOR: f64 = 10.0;
/// Attempts before giving up (a stiff or blown-up problem must not spin forever).
pub const MAX_ATTEMPTS: usize = 100_000;

enum Mode<B: Backend> {
    Fixed {
        kind: SolverKind,
        h: f64,
        steps: usize,
    },
    Rk45 {
        rtol: f64,
        atol: f64,
        h: Option<f64>,
        k1: Option<Tensor<B, 2>>,
        last_rejected: bool,
    },
}

/// An ODE integration in progress.
pub struct Integrator<B: Backend> {
    mode: Mode<B>,
    pub t: f64,
    pub t_end: f64,
    pub y: Tensor<B, 2>,
    /// Function evaluations so far.
    pub nfe: usize,
    /// Attempts so far (accepted + rejected).
    pub attempts: usize,
    pub accepted: usize,
}

fn rms<B: Backend>(x: Tensor<B, 2>) -> Tensor<B, 1> {
    (x.clone() * x).mean().sqrt()
}

impl<B: Backend> Integrator<B> {
    /// `steps` equal steps of a fixed-step method from `t0` to `t1`.
    pub fn fixed(
        kind: SolverKind,
        y0: Tensor<B, 2>,
        t0: f64,
        t1: f64,
        steps: usize,
    ) -> Result<Self> {
        count("steps", steps, 1, 10_000_000)?;
        if kind == SolverKind::Rk45 {
            return Err(Error::invalid(
                "solver",
                "rk45 is adaptive; use Integrator::adaptive",
            ));
        }
        Ok(Integrator {
            mode: Mode::Fixed {
                kind,
                h: (t1 - t0) / steps as f64,
                steps,
            },
            t: t0,
            t_end: t1,
            y: y0,
            nfe: 0,
            attempts: 0,
            accepted: 0,
        })
    }

    /// Adaptive Dormand–Prince RK45 with relative and absolute tolerances.
    pub fn adaptive(y0: Tensor<B, 2>, t0: f64, t1: f64, rtol: f64, atol: f64) -> Result<Self> {
        in_range("rtol", rtol, 1e-13, 1.0)?;
        in_range("atol", atol, 1e-13, 1.0)?;
        Ok(Integrator {
            mode: Mode::Rk45 {
                rtol,
                atol,
                h: None,
                k1: None,
                last_rejected: false,
            },
            t: t0,
            t_end: t1,
            y: y0,
            nfe: 0,
            attempts: 0,
            accepted: 0,
        })
    }

    /// Total steps when known in advance (fixed-step methods).
    pub fn total_steps(&self) -> Option<usize> {
        match self.mode {
            Mode::Fixed { steps, .. } => Some(steps),
            Mode::Rk45 { .. } => None,
        }
    }

    pub fn is_done(&self) -> bool {
        match self.mode {
            Mode::Fixed { steps, .. } => self.accepted >= steps,
            Mode::Rk45 { .. } => self.t == self.t_end,
        }
    }

    /// One attempt. Fixed-step methods always accept.
    pub async fn step(&mut self, f: &mut OdeFn<'_, B>) -> Result<SolverStep> {
        if self.is_done() {
            return Ok(SolverStep {
                t: self.t,
                h: 0.0,
                accepted: false,
            });
        }
        self.attempts += 1;
        if self.attempts > MAX_ATTEMPTS {
            return Err(Error::invalid(
                "solver",
                format!("gave up after {MAX_ATTEMPTS} attempts at t = {}", self.t),
            ));
        }
        match &mut self.mode {
            Mode::Fixed { kind, h, steps } => {
                let (h, kind, steps) = (*h, *kind, *steps);
                let (t, y) = (self.t, self.y.clone());
                let y_new = match kind {
                    SolverKind::Euler => {
                        self.nfe += 1;
                        y.clone() + f(t, y) * h
                    }
                    SolverKind::Heun => {
                        self.nfe += 2;
                        let k1 = f(t, y.clone());
                        let k2 = f(t + h, y.clone() + k1.clone() * h);
                        y + (k1 + k2) * (h / 2.0)
                    }
                    SolverKind::Rk4 => {
                        self.nfe += 4;
                        let k1 = f(t, y.clone());
                        let k2 = f(t + h / 2.0, y.clone() + k1.clone() * (h / 2.0));
                        let k3 = f(t + h / 2.0, y.clone() + k2.clone() * (h / 2.0));
                        let k4 = f(t + h, y.clone() + k3.clone() * h);
                        y + (k1 + k2 * 2.0 + k3 * 2.0 + k4) * (h / 6.0)
                    }
                    SolverKind::Rk45 => unreachable!(),
                };
                self.accepted += 1;
                self.y = y_new;
                // land exactly on t_end, whatever rounding the sum of h did
                self.t = if self.accepted == steps {
                    self.t_end
                } else {
                    t + h
                };
                Ok(SolverStep {
                    t: self.t,
                    h,
                    accepted: true,
                })
            }
            Mode::Rk45 { .. } => self.rk45_attempt(f).await,
        }
    }

    async fn rk45_attempt(&mut self, f: &mut OdeFn<'_, B>) -> Result<SolverStep> {
        let Mode::Rk45 {
            rtol,
            atol,
            h,
            k1,
            last_rejected,
        } = &mut self.mode
        else {
            unreachable!()
        };
        let (rtol, atol) = (*rtol, *atol);
        let dir = (self.t_end - self.t).signum();
        let (t, y) = (self.t, self.y.clone());
        // FSAL: k1 of this step is k7 of the last accepted one.
        let f0 = match k1.take() {
            Some(k) => k,
            None => {
                self.nfe += 1;
                f(t, y.clone())
            }
        };
        let mut h_abs = match *h {
            Some(h) => h,
            None => {
                // scipy's select_initial_step (Hairer, Nørsett & Wanner II.4).
                let scale = y.clone().abs() * rtol + atol;
                let d0 = read_scalar(rms(y.clone() / scale.clone())).await?;
                let d1 = read_scalar(rms(f0.clone() / scale.clone())).await?;
                let h0 = if d0 < 1e-5 || d1 < 1e-5 {
                    1e-6
                } else {
                    0.01 * d0 / d1
                };
                let h0 = h0.min((self.t_end - t).abs());
                let y1 = y.clone() + f0.clone() * (h0 * dir);
                self.nfe += 1;
                let f1 = f(t + h0 * dir, y1);
                let d2 = read_scalar(rms((f1 - f0.clone()) / scale)).await? / h0;
                let h1 = if d1 <= 1e-15 && d2 <= 1e-15 {
                    (h0 * 1e-3).max(1e-6)
                } else {
                    (0.01 / d1.max(d2)).powf(1.0 / 5.0)
                };
                (100.0 * h0).min(h1).min((self.t_end - t).abs())
            }
        };
        if !h_abs.is_finite() || h_abs <= 0.0 {
            return Err(Error::invalid(
                "solver",
                format!("step size collapsed at t = {t} (the drift is not finite)"),
            ));
        }
        h_abs = h_abs.min((self.t_end - t).abs());
        let hs = h_abs * dir;
        let mut ks: Vec<Tensor<B, 2>> = vec![f0.clone()];
        for s in 1..6 {
            let mut dy = ks[0].clone() * (A[s][0] * hs);
            for (j, a) in A[s].iter().enumerate().skip(1) {
                if *a != 0.0 {
                    dy = dy + ks[j].clone() * (a * hs);
                }
            }
            ks.push(f(t + C[s] * hs, y.clone() + dy));
        }
        let mut dy = ks[0].clone() * (BW[0] * hs);
        for s in 2..6 {
            dy = dy + ks[s].clone() * (BW[s] * hs);
        }
        let y_new = y.clone() + dy;
        let t_new = if (h_abs - (self.t_end - t).abs()).abs() <= 1e-15 {
            self.t_end
        } else {
            t + hs
        };
        let k7 = f(t_new, y_new.clone());
        self.nfe += 6;
        ks.push(k7.clone());
        let mut err = ks[0].clone() * (E[0] * hs);
        for s in 2..7 {
            err = err + ks[s].clone() * (E[s] * hs);
        }
        let scale = y.abs().max_pair(y_new.clone().abs()) * rtol + atol;
        let err_norm = read_scalar(rms(err / scale)).await?;
        if !err_norm.is_finite() {
            return Err(Error::invalid(
                "solver",
                format!("the ODE drift is not finite near t = {t}"),
            ));
        }
        if err_norm < 1.0 {
            let mut factor = if err_norm == 0.0 {
                MAX_FACTOR
            } else {
                (SAFETY * err_norm.powf(-0.2)).min(MAX_FACTOR)
            };
            if *last_rejected {
                factor = factor.min(1.0);
            }
            *h = Some(h_abs * factor);
            *k1 = Some(k7);
            *last_rejected = false;
            self.t = t_new;
            self.y = y_new;
            self.accepted += 1;
            Ok(SolverStep {
                t: self.t,
                h: hs,
                accepted: true,
            })
        } else {
            *h = Some(h_abs * (SAFETY * err_norm.powf(-0.2)).max(MIN_FACTOR));
            *k1 = Some(f0);
            *last_rejected = true;
            Ok(SolverStep {
                t: self.t,
                h: hs,
                accepted: false,
            })
        }
    }

    /// Step until `t_end`.
    pub async fn run(&mut self, f: &mut OdeFn<'_, B>) -> Result<()> {
        while !self.is_done() {
            self.step(f).await?;
        }
        Ok(())
    }
}

/// The probability-flow ODE's steppers (`sampler.solver`, `--solver`): the solver registry.
pub fn registry() -> Registry {
    Registry {
        kind: "solver",
        field: "solver",
        entries: vec![
            Entry::plain(
                "rk45",
                "adaptive Dormand–Prince with scipy's step control (the notebook's solve_ivp)",
            ),
            Entry::plain("rk4", "classic fourth-order Runge–Kutta, fixed steps"),
            Entry::plain("heun", "Heun's second-order method, fixed steps"),
            Entry::plain("euler", "Euler's first-order method, fixed steps"),
        ],
    }
}
