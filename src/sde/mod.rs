//! Forward SDEs `dx = f(x,t) dt + g(t) dw` on t ∈ [0, 1] (Song et al. 2021, score_sde's
//! `sde_lib.py`; SCIENCE.md §2).
//!
//! Every SDE here has a drift linear in x, `f(x,t) = a(t)·x`, so an SDE is a handful of
//! scalar functions of t (DESIGN.md invariant 2). Tensors are broadcast where they are used.
//! The transition `x(t) | x(0) ~ N(m(t)·x(0), v(t)·I)` is closed form, so a Gaussian
//! mixture stays a Gaussian mixture at every t: the exact-score oracle.
//!
//! Variance conventions:
//! - **VE**: `σ(t) = σ_min (σ_max/σ_min)^t`, `g² = dσ²/dt`. We use the *exact* transition
//!   variance of that SDE started at t = 0, `v(t) = σ(t)² − σ_min²` (score_sde writes
//!   `σ(t)²`, i.e. it treats the data as already blurred by σ_min). Both have the same
//!   `g`, so samplers are identical; ours makes `v(0) = 0` and the Monte-Carlo check exact.
//! - **VE (notebook)**: `dx = σ^t dw`, `v(t) = (σ^{2t} − 1)/(2 ln σ)` (the tutorial, σ = 25).
//! - **VP** (DDPM): `a = −β(t)/2`, `g² = β(t)`, `β(t) = β_min + t(β_max − β_min)`,
//!   `m = e^{−B/2}`, `v = 1 − e^{−B}` with `B(t) = ∫₀ᵗ β`.
//! - **sub-VP**: as VP but `g² = β(t)(1 − e^{−2B})`, `v = (1 − e^{−B})²`.
//! - **linear** (the flow-matching / rectified-flow path, Lipman et al. 2023 §4.1 with
//!   σ_min = 0; Liu et al. 2023): `x_t = (1 − t) x₀ + t z`, i.e. `m = 1 − t`, `v = t²`; as a
//!   linear SDE `a = −1/(1 − t)`, `g² = 2t/(1 − t)` (from `ṁ = a m`, `v̇ = 2 a v + g²`). Its
//!   probability-flow velocity `a x − ½ g² s = −(x + t s)/(1 − t)` is `E[z − x₀ | x_t]`, the
//!   flow-matching target. `m(1) = 0` makes `a`, `g²` and the noise level `σ = t/(1 − t)`
//!   infinite at t = 1, so every sampler starts (and the likelihood ends) at
//!   [`Sde::t_max`] `= 1 − 10⁻³`, from `N(0, t_max² I)`: the marginal there is
//!   `10⁻³ x₀ + t_max z`, the same kind of approximation as VP's `m(1) ≈ 0.007`.
//!
//! The prior is `N(0, v(T)·I)` with T = [`Sde::t_max`] (1 except on the linear path):
//! ≈ N(0, σ_max²) for VE, ≈ N(0, I) for VP and the linear path.

pub mod ladder;

use crate::error::{positive, Error, Result};
use crate::registry::{param, Entry, Param, Registry};
use serde::{Deserialize, Serialize};

/// The SDE, as it appears in `--config` JSON, the URL hash and weight manifests.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Sde {
    /// Variance exploding (SMLD / NCSN).
    Ve {
        #[serde(default = "default_sigma_min")]
        sigma_min: f64,
        #[serde(default = "default_sigma_max")]
        sigma_max: f64,
    },
    /// The tutorial notebook's VE SDE `dx = σ^t dw`.
    VeNotebook {
        #[serde(default = "default_sigma_notebook")]
        sigma: f64,
    },
    /// Variance preserving (DDPM).
    Vp {
        #[serde(default = "default_beta_min")]
        beta_min: f64,
        #[serde(default = "default_beta_max")]
        beta_max: f64,
    },
    /// Sub-variance preserving.
    Subvp {
        #[serde(default = "default_beta_min")]
        beta_min: f64,
        #[serde(default = "default_beta_max")]
        beta_max: f64,
    },
    /// The linear interpolation path `x_t = (1 − t) x₀ + t z` of flow matching.
    Linear,
}

/// Where samplers start on the linear path ([`Sde::t_max`]).
pub const LINEAR_T_MAX: f64 = 1.0 - 1e-3;

fn default_sigma_min() -> f64 {
    0.01
}
/// 50 (score_sde's CIFAR-10 value): comfortably above the largest pairwise distance of the
/// built-in presets (Song & Ermon 2020's rule). The prior `N(0, σ_max²)` ignores the data
/// mean, so off-centre data (two-modes, mean (−3, −3)) needs σ_max ≫ ‖E x‖:
/// KL(p_1 ‖ prior) ≈ ‖E x‖²/(2σ_max²), which the deterministic ODE sampler shows as skewed
/// mode weights.
fn default_sigma_max() -> f64 {
    50.0
}
fn default_sigma_notebook() -> f64 {
    25.0
}
fn default_beta_min() -> f64 {
    0.1
}
fn default_beta_max() -> f64 {
    20.0
}

impl Default for Sde {
    fn default() -> Self {
        Sde::Vp {
            beta_min: default_beta_min(),
            beta_max: default_beta_max(),
        }
    }
}

/// One step of the SDE's own discretisation `x_{i+1} = x_i + f_i(x_i) + G_i z`
/// (score_sde `SDE.discretize`), with `f_i = a_i·x`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Discrete {
    /// Linear drift coefficient of the step: `f_i = a_i x`.
    pub a: f64,
    /// Noise scale of the step.
    pub g: f64,
}

impl Sde {
    /// Build an SDE from its name with default parameters (`--sde NAME`).
    pub fn from_name(name: &str) -> Result<Self> {
        match name {
            "ve" => Ok(Sde::Ve {
                sigma_min: default_sigma_min(),
                sigma_max: default_sigma_max(),
            }),
            "ve-notebook" => Ok(Sde::VeNotebook {
                sigma: default_sigma_notebook(),
            }),
            "vp" => Ok(Sde::Vp {
                beta_min: default_beta_min(),
                beta_max: default_beta_max(),
            }),
            "subvp" | "sub-vp" => Ok(Sde::Subvp {
                beta_min: default_beta_min(),
                beta_max: default_beta_max(),
            }),
            "linear" => Ok(Sde::Linear),
            other => Err(registry().unknown(other)),
        }
    }

    /// The name used by `--sde` and `kind`.
    pub fn name(&self) -> &'static str {
        match self {
            Sde::Ve { .. } => "ve",
            Sde::VeNotebook { .. } => "ve-notebook",
            Sde::Vp { .. } => "vp",
            Sde::Subvp { .. } => "subvp",
            Sde::Linear => "linear",
        }
    }

    /// The time samplers start from and the likelihood integrates to: 1, or
    /// [`LINEAR_T_MAX`] on the linear path, whose drift, diffusion and noise level are
    /// infinite at t = 1 (module docs).
    pub fn t_max(&self) -> f64 {
        match self {
            Sde::Linear => LINEAR_T_MAX,
            _ => 1.0,
        }
    }

    /// Reject non-finite or out-of-range parameters.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Sde::Ve {
                sigma_min,
                sigma_max,
            } => {
                positive("sde.sigma_min", sigma_min)?;
                positive("sde.sigma_max", sigma_max)?;
                if sigma_max <= sigma_min {
                    return Err(Error::invalid(
                        "sde.sigma_max",
                        format!("must be greater than sigma_min ({sigma_min}), got {sigma_max}"),
                    ));
                }
            }
            Sde::VeNotebook { sigma } => {
                if !(sigma.is_finite() && sigma > 1.0) {
                    return Err(Error::invalid(
                        "sde.sigma",
                        format!("must be a finite number > 1, got {sigma}"),
                    ));
                }
            }
            Sde::Vp { beta_min, beta_max } | Sde::Subvp { beta_min, beta_max } => {
                positive("sde.beta_min", beta_min)?;
                positive("sde.beta_max", beta_max)?;
                if beta_max < beta_min {
                    return Err(Error::invalid(
                        "sde.beta_max",
                        format!("must be at least beta_min ({beta_min}), got {beta_max}"),
                    ));
                }
                if beta_max > 1000.0 {
                    return Err(Error::invalid(
                        "sde.beta_max",
                        format!("must be at most 1000, got {beta_max}"),
                    ));
                }
            }
            Sde::Linear => {}
        }
        Ok(())
    }

    /// `β(t)` for VP/sub-VP.
    fn beta(beta_min: f64, beta_max: f64, t: f64) -> f64 {
        beta_min + t * (beta_max - beta_min)
    }
    /// `B(t) = ∫₀ᵗ β(s) ds`.
    fn big_b(beta_min: f64, beta_max: f64, t: f64) -> f64 {
        beta_min * t + 0.5 * (beta_max - beta_min) * t * t
    }

    /// Drift coefficient `a(t)` with `f(x, t) = a(t)·x`.
    pub fn drift_coef(&self, t: f64) -> f64 {
        match *self {
            Sde::Ve { .. } | Sde::VeNotebook { .. } => 0.0,
            Sde::Vp { beta_min, beta_max } | Sde::Subvp { beta_min, beta_max } => {
                -0.5 * Self::beta(beta_min, beta_max, t)
            }
            Sde::Linear => -1.0 / (1.0 - t),
        }
    }

    /// Diffusion coefficient `g(t)`.
    pub fn diffusion(&self, t: f64) -> f64 {
        match *self {
            Sde::Ve {
                sigma_min,
                sigma_max,
            } => {
                let s = sigma_min * (sigma_max / sigma_min).powf(t);
                s * (2.0 * (sigma_max / sigma_min).ln()).sqrt()
            }
            Sde::VeNotebook { sigma } => sigma.powf(t),
            Sde::Vp { beta_min, beta_max } => Self::beta(beta_min, beta_max, t).sqrt(),
            Sde::Subvp { beta_min, beta_max } => {
                let b = Self::big_b(beta_min, beta_max, t);
                (Self::beta(beta_min, beta_max, t) * (-(-2.0 * b).exp_m1())).sqrt()
            }
            Sde::Linear => (2.0 * t / (1.0 - t)).sqrt(),
        }
    }

    /// Marginal mean scale `m(t)`: `E[x(t) | x(0)] = m(t) x(0)`.
    pub fn mean_scale(&self, t: f64) -> f64 {
        match *self {
            Sde::Ve { .. } | Sde::VeNotebook { .. } => 1.0,
            Sde::Vp { beta_min, beta_max } | Sde::Subvp { beta_min, beta_max } => {
                (-0.5 * Self::big_b(beta_min, beta_max, t)).exp()
            }
            Sde::Linear => 1.0 - t,
        }
    }

    /// Marginal variance `v(t)` of `x(t) | x(0)` (per dimension).
    pub fn variance(&self, t: f64) -> f64 {
        match *self {
            Sde::Ve {
                sigma_min,
                sigma_max,
            } => {
                // σ_min² ((σ_max/σ_min)^{2t} − 1), written with expm1 for small t.
                sigma_min * sigma_min * (2.0 * t * (sigma_max / sigma_min).ln()).exp_m1()
            }
            Sde::VeNotebook { sigma } => (2.0 * t * sigma.ln()).exp_m1() / (2.0 * sigma.ln()),
            Sde::Vp { beta_min, beta_max } => -(-Self::big_b(beta_min, beta_max, t)).exp_m1(),
            Sde::Subvp { beta_min, beta_max } => {
                let w = -(-Self::big_b(beta_min, beta_max, t)).exp_m1();
                w * w
            }
            Sde::Linear => t * t,
        }
    }

    /// Marginal standard deviation `√v(t)`.
    pub fn std(&self, t: f64) -> f64 {
        self.variance(t).sqrt()
    }

    /// Standard deviation of the prior `N(0, v(T) I)` samplers start from (T = [`Sde::t_max`]).
    pub fn prior_std(&self) -> f64 {
        self.std(self.t_max())
    }

    /// Log-density of the prior at a point with squared norm `sq_norm` in `d` dimensions.
    pub fn prior_log_prob(&self, sq_norm: f64, d: usize) -> f64 {
        let v = self.variance(self.t_max());
        -0.5 * sq_norm / v - 0.5 * d as f64 * (2.0 * std::f64::consts::PI * v).ln()
    }

    /// The SDE's own discretisation of the step from `t − dt` to `t` (score_sde `discretize`),
    /// used by the reverse-diffusion predictor.
    ///
    /// - VE: `a = 0`, `G² = v(t) − v(t−dt)` (NCSN's σ_i² − σ_{i−1}²).
    /// - VP: DDPM's chain, `α_i = m(t)²/m(t−dt)² = e^{−∫β}`, `a = √α_i − 1`, `G = √(1 − α_i)`
    ///   (`β_i = 1 − α_i ≈ β(t)·dt`, which is what score_sde's `linspace(β_min/N, β_max/N)` is).
    /// - sub-VP: Euler–Maruyama, `a = a(t)·dt`, `G = g(t)·√dt`.
    /// - linear: the exact transition from t − dt to t, `x_t = r x_{t−dt} + G z` with
    ///   `r = m(t)/m(t−dt)`, `G² = v(t) − r² v(t−dt)` (Euler–Maruyama is unstable where
    ///   `a = −1/(1 − t)` is stiff, next to t = 1).
    pub fn discretize(&self, t: f64, dt: f64) -> Discrete {
        match self {
            Sde::Ve { .. } | Sde::VeNotebook { .. } => Discrete {
                a: 0.0,
                g: (self.variance(t) - self.variance(t - dt)).max(0.0).sqrt(),
            },
            Sde::Vp { .. } => {
                let alpha = self.step_alpha(t, dt);
                Discrete {
                    a: alpha.sqrt() - 1.0,
                    g: (1.0 - alpha).max(0.0).sqrt(),
                }
            }
            Sde::Subvp { .. } => Discrete {
                a: self.drift_coef(t) * dt,
                g: self.diffusion(t) * dt.sqrt(),
            },
            Sde::Linear => {
                let r = self.mean_scale(t) / self.mean_scale(t - dt);
                Discrete {
                    a: r - 1.0,
                    g: (self.variance(t) - r * r * self.variance(t - dt))
                        .max(0.0)
                        .sqrt(),
                }
            }
        }
    }

    /// `α_i = m(t)²/m(t−dt)²`: DDPM's `1 − β_i` for the step ending at t (1 for VE).
    pub fn step_alpha(&self, t: f64, dt: f64) -> f64 {
        let r = self.mean_scale(t) / self.mean_scale(t - dt);
        r * r
    }

    /// The time t whose marginal std equals `std` (std is increasing in t), by bisection.
    /// `None` when `std` is outside `[std(0), std(T)]`, T = [`Sde::t_max`].
    pub fn t_of_std(&self, std: f64) -> Option<f64> {
        invert_increasing(|t| self.std(t), std, self.t_max())
    }

    /// The VE-equivalent noise level `σ(t) = std(t)/m(t)`: `x(t)/m(t) = x(0) + σ(t) z`, so a
    /// VP or sub-VP marginal is a rescaled VE marginal with this σ.
    pub fn noise_level(&self, t: f64) -> f64 {
        self.std(t) / self.mean_scale(t)
    }

    /// The time t whose noise level [`Sde::noise_level`] is `sigma`, by bisection; `None`
    /// outside `[noise_level(0), noise_level(T)]`, T = [`Sde::t_max`].
    pub fn t_of_noise_level(&self, sigma: f64) -> Option<f64> {
        invert_increasing(|t| self.noise_level(t), sigma, self.t_max())
    }

    /// `(c_x, c_v)` with `std·s = c_x x + c_v v` for the probability-flow velocity
    /// `v = a x − ½ g² s`: `c_x = std a/(½ g²)`, `c_v = −std/(½ g²)`; on the linear path
    /// `(−1, −(1 − t))`, finite at both ends.
    pub fn velocity_to_scaled_score(&self, t: f64) -> (f64, f64) {
        match self {
            Sde::Linear => (-1.0, -(1.0 - t)),
            _ => {
                let half_g2 = 0.5 * self.diffusion(t).powi(2);
                let std = self.std(t);
                (std * self.drift_coef(t) / half_g2, -std / half_g2)
            }
        }
    }

    /// The largest noise level samplers start from, `σ(T)` (T = [`Sde::t_max`]).
    pub fn max_noise_level(&self) -> f64 {
        self.noise_level(self.t_max())
    }

    /// True for the variance-exploding family (NCSN ancestral step applies).
    pub fn is_ve(&self) -> bool {
        matches!(self, Sde::Ve { .. } | Sde::VeNotebook { .. })
    }
}

/// The t in [0, t_max] with `f(t) = target` for an increasing `f`, by bisection; `None`
/// when `target` is outside `[f(0), f(t_max)]`.
fn invert_increasing(f: impl Fn(f64) -> f64, target: f64, t_max: f64) -> Option<f64> {
    if !(target >= f(0.0) && target <= f(t_max)) {
        return None;
    }
    let (mut lo, mut hi) = (0.0f64, t_max);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if f(mid) < target {
            lo = mid
        } else {
            hi = mid
        }
    }
    Some(0.5 * (lo + hi))
}

/// The forward SDEs (`sde.kind`, `--sde`): the SDE registry.
pub fn registry() -> Registry {
    const VE: &[Param] = &[
        param(
            "sigma_min",
            "σ_min, the noise std at t = 0: σ(t) = σ_min (σ_max/σ_min)^t",
        ),
        param(
            "sigma_max",
            "σ_max, the noise std at t = 1 (about the data's largest pairwise distance)",
        ),
    ];
    const NOTEBOOK: &[Param] = &[param(
        "sigma",
        "σ of dx = σ^t dw: the noise std at t = 1 is √((σ² − 1)/(2 ln σ))",
    )];
    const VP: &[Param] = &[
        param(
            "beta_min",
            "β_min, the noise rate at t = 0: β(t) = β_min + t (β_max − β_min)",
        ),
        param("beta_max", "β_max, the noise rate at t = 1"),
    ];
    Registry {
        kind: "SDE",
        field: "sde",
        entries: vec![
            Entry::with(
                "ve",
                "variance exploding: σ(t) = σ_min (σ_max/σ_min)^t, no drift (SMLD/NCSN)",
                VE,
            ),
            Entry::with(
                "ve-notebook",
                "the notebook's VE SDE dx = σ^t dw, variance (σ^{2t} − 1)/(2 ln σ)",
                NOTEBOOK,
            ),
            Entry::with(
                "vp",
                "variance preserving: the continuous DDPM, dx = −½β(t)x dt + √β(t) dw",
                VP,
            ),
            Entry::with(
                "subvp",
                "sub-VP: VP's drift with less noise, variance at most VP's (better likelihoods)",
                VP,
            ),
            Entry::plain(
                "linear",
                "the flow-matching / rectified-flow path x_t = (1 − t) x₀ + t z (Lipman et al. 2023; Liu et al. 2023); samplers start at t = 1 − 10⁻³",
            ),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<Sde> {
        ["ve", "ve-notebook", "vp", "subvp", "linear"]
            .iter()
            .map(|n| Sde::from_name(n).unwrap())
            .collect()
    }

    /// `d v/dt = 2 a v + g²` and `d m/dt = a m` hold for every SDE (linear-SDE moment equations).
    #[test]
    fn moments_satisfy_the_linear_sde_ode() {
        for sde in all() {
            for &t in &[0.05, 0.3, 0.7, 0.95] {
                let h = 1e-6;
                let dv = (sde.variance(t + h) - sde.variance(t - h)) / (2.0 * h);
                let rhs = 2.0 * sde.drift_coef(t) * sde.variance(t) + sde.diffusion(t).powi(2);
                assert!(
                    (dv - rhs).abs() < 1e-5 * rhs.abs().max(1.0),
                    "{} t={t}: {dv} vs {rhs}",
                    sde.name()
                );
                let dm = (sde.mean_scale(t + h) - sde.mean_scale(t - h)) / (2.0 * h);
                assert!((dm - sde.drift_coef(t) * sde.mean_scale(t)).abs() < 1e-6);
            }
            assert!(sde.variance(0.0).abs() < 1e-12);
        }
    }

    /// On the linear path the SDE's transition from t − dt to t, composed with the marginal
    /// at t − dt, is the marginal at t: `r m(t−dt) = m(t)`, `r² v(t−dt) + G² = v(t)`.
    #[test]
    fn linear_path_discretisation_is_exact() {
        let sde = Sde::Linear;
        for &(t, dt) in &[(0.999, 0.01), (0.5, 0.1), (0.02, 0.01)] {
            let step = sde.discretize(t, dt);
            let r = 1.0 + step.a;
            assert!((r * sde.mean_scale(t - dt) - sde.mean_scale(t)).abs() < 1e-12);
            let v = r * r * sde.variance(t - dt) + step.g * step.g;
            assert!((v - sde.variance(t)).abs() < 1e-12, "t={t}: {v}");
        }
        assert_eq!(sde.prior_std(), LINEAR_T_MAX);
        assert!((sde.max_noise_level() - 999.0).abs() < 1e-6);
    }

    /// `velocity_to_scaled_score` inverts `v = a x − ½ g² s` for every SDE.
    #[test]
    fn velocity_and_scaled_score_convert() {
        for sde in all() {
            for &t in &[0.05, 0.5, 0.9] {
                let (x, s) = (0.7, -1.3);
                let g2 = sde.diffusion(t).powi(2);
                let v = sde.drift_coef(t) * x - 0.5 * g2 * s;
                let (cx, cv) = sde.velocity_to_scaled_score(t);
                let r = cx * x + cv * v;
                assert!((r - sde.std(t) * s).abs() < 1e-9, "{} t={t}", sde.name());
            }
        }
    }

    #[test]
    fn t_of_std_inverts_std() {
        for sde in all() {
            for &t in &[0.01, 0.5, 0.99] {
                let back = sde.t_of_std(sde.std(t)).unwrap();
                assert!((back - t).abs() < 1e-9, "{}: {back} vs {t}", sde.name());
            }
            assert!(sde.t_of_std(sde.std(1.0) * 1.01).is_none());
            for &t in &[0.01, 0.5, 0.99] {
                let back = sde.t_of_noise_level(sde.noise_level(t)).unwrap();
                assert!((back - t).abs() < 1e-9, "{}: {back} vs {t}", sde.name());
            }
        }
    }

    #[test]
    fn rejects_bad_parameters() {
        let bad = [
            Sde::Ve {
                sigma_min: 0.0,
                sigma_max: 1.0,
            },
            Sde::Ve {
                sigma_min: 2.0,
                sigma_max: 1.0,
            },
            Sde::Ve {
                sigma_min: f64::NAN,
                sigma_max: 1.0,
            },
            Sde::VeNotebook { sigma: 0.5 },
            Sde::Vp {
                beta_min: -0.1,
                beta_max: 20.0,
            },
            Sde::Subvp {
                beta_min: 1.0,
                beta_max: f64::INFINITY,
            },
        ];
        for s in bad {
            let e = s.validate().unwrap_err().to_string();
            assert!(e.starts_with("invalid sde."), "{e}");
        }
        assert!(Sde::from_name("vq")
            .unwrap_err()
            .to_string()
            .contains("ve, ve-notebook, vp, subvp, linear"));
    }

    #[test]
    fn json_round_trip_and_defaults() {
        let s: Sde = serde_json::from_str(r#"{"kind":"ve","sigma_max":50}"#).unwrap();
        assert_eq!(
            s,
            Sde::Ve {
                sigma_min: 0.01,
                sigma_max: 50.0
            }
        );
        let back: Sde = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
        assert!(serde_json::from_str::<Sde>(r#"{"kind":"ve","sigma":3}"#).is_err());
    }
}
