//! The training objectives' loss (SCIENCE.md §1; the objectives are
//! [`crate::config::training::Objective`]): the random draws of a batch ([`Draws`]: times,
//! noise, probes, in a fixed order from the run's stream), importance-sampled times, the
//! per-row weights λ(t), and the loss on the perturbed marginals ([`loss`], [`loss_with`]).

use crate::config::training::{Objective, SlicedProbe, TimeSampling, TrainConfig, Weighting};
use crate::error::{Error, Result};
use crate::model::net::{Architecture, Net, Output};
use crate::rng::Noise;
use crate::sde::ladder::ncsn_sigmas;
use crate::sde::Sde;
use crate::tensor::host_tensor;
use burn::tensor::{backend::Backend, Tensor};
use rand::Rng;

/// The time whose log noise level is the fraction `u ∈ [0, 1)` of the way from
/// `log σ(ε)` to `log σ(1)` ([`TimeSampling::Importance`]; inverse-CDF sampling).
pub fn importance_time(sde: &Sde, t_eps: f64, u: f64) -> f64 {
    let (a, b) = (sde.noise_level(t_eps).ln(), sde.max_noise_level().ln());
    sde.t_of_noise_level((a + u * (b - a)).exp())
        .unwrap_or(t_eps)
        .clamp(t_eps, sde.t_max())
}

/// What an objective needs of the network and the SDE: flow matching trains a velocity
/// network on the linear path; one message naming the field otherwise.
pub fn check_objective(cfg: &TrainConfig, arch: &Architecture, sde: &Sde) -> Result<()> {
    if cfg.objective != Objective::FlowMatching {
        return Ok(());
    }
    if *sde != Sde::Linear {
        return Err(Error::invalid(
            "sde",
            format!(
                "flow-matching is defined on the linear path x_t = (1 − t) x₀ + t z; accepted: linear, got {}",
                sde.name()
            ),
        ));
    }
    if arch.output() != Output::Velocity {
        return Err(Error::invalid(
            "model",
            format!(
                "flow-matching trains a velocity network; accepted: flow, unet-flow, got {}",
                arch.name()
            ),
        ));
    }
    Ok(())
}

/// Per-row loss weights `λ(t)/std(t)²` (the rows are `‖std·s + z‖²`), divided by the
/// sampling density's `g²/std²` under [`TimeSampling::Importance`]; `None` for all ones.
fn row_weights(cfg: &TrainConfig, sde: &Sde, ts: &[f64], std: &[f64]) -> Option<Vec<f64>> {
    let continuous = matches!(
        cfg.objective,
        Objective::Dsm | Objective::Ssm | Objective::Ism
    );
    let importance = continuous && cfg.time_sampling == TimeSampling::Importance;
    let g2_over_v = |t: f64, sd: f64| (sde.diffusion(t) / sd).powi(2);
    match (cfg.weighting, importance) {
        (Weighting::Std2, false) | (Weighting::Likelihood, true) => None,
        (Weighting::Likelihood, false) => Some(
            ts.iter()
                .zip(std)
                .map(|(t, sd)| g2_over_v(*t, *sd))
                .collect(),
        ),
        (Weighting::Std2, true) => Some(
            ts.iter()
                .zip(std)
                .map(|(t, sd)| 1.0 / g2_over_v(*t, *sd))
                .collect(),
        ),
    }
}

/// Training times for a batch of n: `U(ε, 1)`, the ladder's or the chain's discrete times.
fn draw_times(
    cfg: &TrainConfig,
    sde: &Sde,
    ladder: &[f64],
    n: usize,
    noise: &mut Noise,
) -> Vec<f64> {
    let rng = noise.rng();
    (0..n)
        .map(|_| match cfg.objective {
            Objective::Ncsn => ladder[rng.random_range(0..ladder.len())],
            Objective::Ddpm => {
                let i = rng.random_range(1..=cfg.ddpm_steps) as f64;
                (i / cfg.ddpm_steps as f64).min(sde.t_max())
            }
            _ => match cfg.time_sampling {
                TimeSampling::Uniform => {
                    cfg.t_eps + (sde.t_max() - cfg.t_eps) * rng.random::<f64>()
                }
                TimeSampling::Importance => importance_time(sde, cfg.t_eps, rng.random::<f64>()),
            },
        })
        .collect()
}

/// The random draws of one training batch of `n` rows, made on the host from the run's seeded
/// stream in a fixed order (times, noise z, SSM's probe), so a batch is the same on every
/// backend and a data-parallel run can split it by rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Draws {
    /// Training times, `[n]`.
    pub t: Vec<f64>,
    /// The perturbation `z ~ N(0, I)`, row-major `[n, d]`.
    pub z: Vec<f64>,
    /// SSM's projection v, row-major `[n, d]` (`None` for other objectives; ISM uses the
    /// coordinate directions).
    pub probe: Option<Vec<f64>>,
    /// The rows' class labels for a class-conditional network, `[n]`, after label dropout
    /// (the null label is the number of classes; [`crate::model::labels`]); `None` otherwise.
    pub labels: Option<Vec<usize>>,
}

impl Draws {
    /// Draw times, noise and (SSM) probes for `n` rows of dimension `d`.
    pub fn draw(
        cfg: &TrainConfig,
        sde: &Sde,
        ladder: &[f64],
        n: usize,
        d: usize,
        noise: &mut Noise,
    ) -> Self {
        let t = draw_times(cfg, sde, ladder, n, noise);
        let z = noise.normal_vec(n * d);
        let probe = (cfg.objective == Objective::Ssm).then(|| match cfg.probe {
            SlicedProbe::Gaussian => noise.normal_vec(n * d),
            SlicedProbe::Rademacher => noise.rademacher_vec(n * d),
        });
        Draws {
            t,
            z,
            probe,
            labels: None,
        }
    }

    /// Rows `range` of the batch (dimension `d`).
    pub fn rows(&self, range: std::ops::Range<usize>, d: usize) -> Self {
        let cut = |v: &Vec<f64>| v[range.start * d..range.end * d].to_vec();
        Draws {
            t: self.t[range.clone()].to_vec(),
            z: cut(&self.z),
            probe: self.probe.as_ref().map(cut),
            labels: self.labels.as_ref().map(|l| l[range].to_vec()),
        }
    }
}

/// The times t_i of NCSN's σ ladder under `sde` (σ(t_i) = σ_i).
pub fn ladder_times(sde: &Sde, cfg: &TrainConfig) -> Result<Vec<f64>> {
    let top = sde.max_noise_level();
    ncsn_sigmas(cfg.levels, top, cfg.sigma_last.min(top))?
        .iter()
        .map(|s| {
            sde.t_of_noise_level(*s).ok_or_else(|| {
                Error::invalid(
                    "sigma_last",
                    format!("σ = {s} is not reached by the {} SDE", sde.name()),
                )
            })
        })
        .collect()
}

/// The training loss of the network on a batch: `cfg.objective` on the perturbed
/// marginals with weighting λ (see [`Objective`] and the module docs). `ladder` holds the
/// NCSN ladder's times ([`ladder_times`]) for that objective.
///
/// # Shapes
/// `x0: [n, d]` → `[1]`
pub fn loss<BB: Backend>(
    net: &Net<BB>,
    arch: &Architecture,
    sde: &Sde,
    x0: Tensor<BB, 2>,
    cfg: &TrainConfig,
    ladder: &[f64],
    noise: &mut Noise,
) -> Tensor<BB, 1> {
    let [n, d] = x0.dims();
    let draws = Draws::draw(cfg, sde, ladder, n, d, noise);
    loss_with(net, arch, sde, x0, cfg, &draws)
}

/// [`loss`] with its random draws given (a data-parallel rank computes the loss
/// of its rows of the global batch's draws: [`Draws::rows`]).
///
/// # Shapes
/// `x0: [n, d]`, `draws` of `n` rows → `[1]`
pub fn loss_with<BB: Backend>(
    net: &Net<BB>,
    arch: &Architecture,
    sde: &Sde,
    x0: Tensor<BB, 2>,
    cfg: &TrainConfig,
    draws: &Draws,
) -> Tensor<BB, 1> {
    let [n, d] = x0.dims();
    let device = x0.device();
    let ts = draws.t.clone();
    let m: Vec<f64> = ts.iter().map(|t| sde.mean_scale(*t)).collect();
    let s: Vec<f64> = ts.iter().map(|t| sde.std(*t)).collect();
    let z = host_tensor::<BB, 2>(draws.z.clone(), [n, d], &device);
    let col = |v: Vec<f64>| host_tensor::<BB, 2>(v, [n, 1], &device);
    let xt = x0.clone() * col(m) + z.clone() * col(s.clone());
    let labels = draws.labels.as_deref();
    if cfg.objective == Objective::FlowMatching {
        // the velocity network's output against the conditional velocity z − x₀ (the
        // trainer checked the path and the network: `check_objective`)
        let v = net.output(arch, sde, xt, &ts, labels);
        return (v - (z - x0)).powi_scalar(2).sum_dim(1).mean();
    }
    let raw = net.scaled_score(arch, sde, xt.clone(), &ts, labels); // = std·s_θ
    let per_row = match cfg.objective {
        Objective::Dsm | Objective::Ncsn | Objective::Ddpm | Objective::FlowMatching => {
            (raw + z).powi_scalar(2).sum_dim(1) // [n, 1]
        }
        Objective::Ssm | Objective::Ism => {
            // λ = std²: std²(vᵀ∇s v) + ½‖std·s‖², with std·s = raw. The directional
            // derivative of raw along v with step h = 1e-2·std: std²·vᵀ∇s v = std·vᵀ∇raw v.
            let h = col(s.iter().map(|v| 1e-2 * v).collect());
            let dirs: Vec<Tensor<BB, 2>> = match &draws.probe {
                Some(v) => vec![host_tensor::<BB, 2>(v.clone(), [n, d], &device)],
                None => (0..d)
                    .map(|i| {
                        let e: Vec<f64> = (0..n * d)
                            .map(|j| if j % d == i { 1.0 } else { 0.0 })
                            .collect();
                        host_tensor::<BB, 2>(e, [n, d], &device)
                    })
                    .collect(),
            };
            let mut trace =
                Tensor::<BB, 2>::zeros([n, 1], crate::tensor::float_options::<BB>(&device));
            for v in dirs {
                let step = v.clone() * h.clone();
                let plus = net.scaled_score(arch, sde, xt.clone() + step.clone(), &ts, labels);
                let minus = net.scaled_score(arch, sde, xt.clone() - step, &ts, labels);
                trace = trace + ((plus - minus) * v).sum_dim(1) / (h.clone() * 2.0);
            }
            trace * col(s.clone()) + raw.powi_scalar(2).sum_dim(1) * 0.5
        }
    };
    let per_row = match row_weights(cfg, sde, &ts, &s) {
        None => per_row,
        Some(w) => per_row * col(w),
    };
    per_row.mean()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Importance-sampled t has density `g²/std² / Z` on `[ε, 1]`: `Z·E_u[h(t(u))]` equals
    /// `∫ h(t) g(t)²/std(t)² dt` for a smooth test function h, both by fine quadrature (the
    /// tolerance is the quadrature's error, ~1e-6 relative here), for every SDE.
    #[test]
    fn importance_times_have_density_g2_over_variance() {
        let eps = 1e-5;
        let h = |t: f64| 1.0 + (3.0 * t).sin() + t * t;
        for name in ["ve", "ve-notebook", "vp", "subvp"] {
            let sde = Sde::from_name(name).unwrap();
            let z = 2.0 * (sde.max_noise_level() / sde.noise_level(eps)).ln();
            let n = 200_000;
            let lhs: f64 = (0..n)
                .map(|i| h(importance_time(&sde, eps, (i as f64 + 0.5) / n as f64)))
                .sum::<f64>()
                / n as f64
                * z;
            // ∫ h g²/v dt on a log-spaced grid in t (the integrand is ~1/t near ε).
            let (la, lb) = (eps.ln(), 0.0f64);
            let rhs: f64 = (0..n)
                .map(|i| {
                    let lt = la + (lb - la) * (i as f64 + 0.5) / n as f64;
                    let t = lt.exp();
                    let w = (sde.diffusion(t) / sde.std(t)).powi(2);
                    h(t) * w * t * (lb - la) / n as f64
                })
                .sum();
            let rel = (lhs - rhs).abs() / rhs;
            assert!(rel < 1e-4, "{name}: {lhs} vs {rhs} (rel {rel:e})");
            // And each draw lands on its target log noise level.
            for u in [0.0, 0.1, 0.5, 0.9, 0.999] {
                let t = importance_time(&sde, eps, u);
                let target = (1.0 - u) * sde.noise_level(eps).ln() + u * sde.max_noise_level().ln();
                assert!(
                    (sde.noise_level(t).ln() - target).abs() < 1e-6,
                    "{name} u={u}"
                );
            }
        }
    }

    /// The row weights make uniform and importance sampling estimate one objective (up to
    /// the constant Z): `w_U(t) = q(t)·Z·w_I(t)` with `q = g²/std²/Z` for both weightings.
    #[test]
    fn importance_row_weights_undo_the_sampling_density() {
        let sde = Sde::from_name("ve-notebook").unwrap();
        let ts = [1e-4, 0.01, 0.3, 0.9];
        let s: Vec<f64> = ts.iter().map(|t| sde.std(*t)).collect();
        for weighting in [Weighting::Std2, Weighting::Likelihood] {
            let mut cfg = TrainConfig {
                weighting,
                ..Default::default()
            };
            let uniform = row_weights(&cfg, &sde, &ts, &s).unwrap_or(vec![1.0; 4]);
            cfg.time_sampling = TimeSampling::Importance;
            let importance = row_weights(&cfg, &sde, &ts, &s).unwrap_or(vec![1.0; 4]);
            for i in 0..4 {
                let q = (sde.diffusion(ts[i]) / s[i]).powi(2);
                let r = uniform[i] / (q * importance[i]);
                assert!((r - 1.0).abs() < 1e-12, "{weighting:?} t={}: {r}", ts[i]);
            }
        }
    }
}
