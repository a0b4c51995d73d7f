//! The discrete noise schedules the continuous SDEs generalise (SCIENCE.md §2):
//! NCSN's geometric σ ladder (Song & Ermon 2019) is the VE SDE at L points, and DDPM's
//! linear β schedule (Ho et al. 2020) is the VP SDE discretised with N steps.

use crate::error::{count, positive, Error, Result};

/// NCSN noise levels `σ_1 > … > σ_L`, geometric from `sigma_first` to `sigma_last`.
pub fn ncsn_sigmas(levels: usize, sigma_first: f64, sigma_last: f64) -> Result<Vec<f64>> {
    count("levels", levels, 1, 100_000)?;
    positive("sigma_first", sigma_first)?;
    positive("sigma_last", sigma_last)?;
    if sigma_last > sigma_first {
        return Err(Error::invalid(
            "sigma_last",
            format!("must not exceed sigma_first ({sigma_first}), got {sigma_last}"),
        ));
    }
    if levels == 1 {
        return Ok(vec![sigma_first]);
    }
    let r = (sigma_last / sigma_first).ln() / (levels - 1) as f64;
    Ok((0..levels)
        .map(|i| sigma_first * (r * i as f64).exp())
        .collect())
}

/// DDPM's `β_i = linspace(β_min/N, β_max/N, N)` (score_sde's `VPSDE.discrete_betas`).
pub fn ddpm_betas(n: usize, beta_min: f64, beta_max: f64) -> Vec<f64> {
    let n_f = n as f64;
    (0..n)
        .map(|i| {
            let frac = if n == 1 { 0.0 } else { i as f64 / (n_f - 1.0) };
            (beta_min + frac * (beta_max - beta_min)) / n_f
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sde::Sde;

    #[test]
    fn ncsn_ladder_is_the_ve_sde_sampled() {
        let (smin, smax) = (0.01, 20.0);
        let sde = Sde::Ve {
            sigma_min: smin,
            sigma_max: smax,
        };
        let sig = ncsn_sigmas(10, smax, smin).unwrap();
        assert_eq!(sig.len(), 10);
        for (i, s) in sig.iter().enumerate() {
            // σ(t_i) with t_i = 1 − i/(L−1): the ladder is σ(t) on a uniform time grid.
            let t = 1.0 - i as f64 / 9.0;
            let sigma_t = smin * (smax / smin).powf(t);
            assert!((s - sigma_t).abs() < 1e-9 * sigma_t);
            // and our exact-variance VE differs from σ(t)² by σ_min² only.
            assert!(
                (sde.variance(t) + smin * smin - sigma_t * sigma_t).abs()
                    < 1e-9 * sigma_t * sigma_t
            );
        }
        assert!(ncsn_sigmas(3, 1.0, 2.0).is_err());
    }

    #[test]
    fn ddpm_chain_matches_the_vp_discretisation() {
        let n = 1000;
        let betas = ddpm_betas(n, 0.1, 20.0);
        let sde = Sde::Vp {
            beta_min: 0.1,
            beta_max: 20.0,
        };
        let dt = 1.0 / n as f64;
        // ᾱ_N of the chain vs m(1)² of the SDE.
        let alpha_bar: f64 = betas.iter().map(|b| 1.0 - b).product();
        let m1 = sde.mean_scale(1.0).powi(2);
        assert!(
            (alpha_bar.ln() - m1.ln()).abs() / m1.ln().abs() < 0.02,
            "{alpha_bar} vs {m1}"
        );
        // each step's β_i ≈ 1 − α_i of discretize()
        for i in [10usize, 500, 999] {
            let t = (i + 1) as f64 * dt;
            let one_minus_alpha = 1.0 - sde.step_alpha(t, dt);
            assert!(
                (one_minus_alpha - betas[i]).abs() < 0.05 * betas[i],
                "{i}: {one_minus_alpha} vs {}",
                betas[i]
            );
        }
    }
}
