//! Statistics that compare particles with a Gaussian mixture: per-mode weights and the
//! sliced Wasserstein distance, with a reference spread from exact-vs-exact samples of the
//! same size. Tests, the CLI and the page share them (the page's live mode ratio).

use crate::model::gmm::Gmm;
use crate::rng::Noise;
use serde::Serialize;

/// Sliced 2-Wasserstein distance between two equal-size samples (`[n, d]` row-major):
/// `sqrt(mean over random unit directions of W2² of the 1-D projections)`.
pub fn sliced_wasserstein(a: &[f64], b: &[f64], d: usize, directions: usize, seed: u64) -> f64 {
    assert_eq!(
        a.len(),
        b.len(),
        "sliced_wasserstein needs equal sample sizes"
    );
    let n = a.len() / d;
    let mut noise = Noise::new(seed);
    let mut total = 0.0;
    for _ in 0..directions {
        let mut dir = noise.normal_vec(d);
        let norm = dir.iter().map(|v| v * v).sum::<f64>().sqrt();
        dir.iter_mut().for_each(|v| *v /= norm);
        let project = |x: &[f64]| {
            let mut p: Vec<f64> = x
                .chunks(d)
                .map(|r| r.iter().zip(&dir).map(|(u, v)| u * v).sum())
                .collect();
            p.sort_by(|u, v| u.total_cmp(v));
            p
        };
        let (pa, pb) = (project(a), project(b));
        total += pa
            .iter()
            .zip(&pb)
            .map(|(u, v)| (u - v) * (u - v))
            .sum::<f64>()
            / n as f64;
    }
    (total / directions as f64).sqrt()
}

/// Fraction of rows assigned to each component.
pub fn mode_weights(gmm: &Gmm, x: &[f64]) -> Vec<f64> {
    let assign = gmm.assign(x);
    let mut w = vec![0.0; gmm.components()];
    for k in &assign {
        w[*k] += 1.0;
    }
    let n = assign.len().max(1) as f64;
    w.iter_mut().for_each(|v| *v /= n);
    w
}

/// How well particles match a mixture, next to what exact samples of the same size give.
#[derive(Debug, Clone, Serialize)]
pub struct MixtureReport {
    /// Rows compared (at most [`MAX_ROWS`]).
    pub n: usize,
    /// Fraction of particles per mode.
    pub mode_weights: Vec<f64>,
    /// Fraction of *exact* samples per mode (their spread is the yardstick).
    pub expected_weights: Vec<f64>,
    /// max_k |mode_weights − mixture weights|.
    pub max_weight_error: f64,
    /// The same for exact samples: the 99th percentile over `repeats` draws.
    pub weight_error_q99: f64,
    /// Sliced Wasserstein distance, particles vs an exact sample.
    pub sw: f64,
    /// Exact-vs-exact sliced Wasserstein distances of the same size: median and 99th percentile.
    pub sw_median: f64,
    pub sw_q99: f64,
    /// Particles that are not finite.
    pub non_finite: usize,
}

fn quantile(mut v: Vec<f64>, q: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((v.len() - 1) as f64 * q).round() as usize;
    v[i]
}

/// Rows compared at most: particles are exchangeable, so the first `MAX_ROWS` are a fair
/// sample, and the report stays fast for the page's largest particle counts.
pub const MAX_ROWS: usize = 5000;

/// Compare particles `x` (`[n, d]`) with exact samples of `gmm`; `repeats` exact-vs-exact
/// draws set the reference spread. Uses the first [`MAX_ROWS`] rows.
pub fn mixture_report(gmm: &Gmm, x: &[f64], repeats: usize, seed: u64) -> MixtureReport {
    let d = gmm.dim();
    let x = &x[..x.len().min(MAX_ROWS * d)];
    let n = x.len() / d;
    let non_finite = x
        .chunks(d)
        .filter(|r| r.iter().any(|v| !v.is_finite()))
        .count();
    let clean: Vec<f64> = x
        .iter()
        .map(|v| if v.is_finite() { *v } else { 1e6 })
        .collect();
    let mut noise = Noise::new(seed ^ 0x5eed);
    let reference = gmm.sample(n, noise.rng());
    let directions = 64;
    let sw = sliced_wasserstein(&clean, &reference, d, directions, seed);
    let werr = |w: &[f64]| {
        w.iter()
            .zip(&gmm.weights)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max)
    };
    let mode = mode_weights(gmm, &clean);
    let mut sws = vec![];
    let mut werrs = vec![];
    for r in 0..repeats.max(1) {
        let a = gmm.sample(n, noise.rng());
        let b = gmm.sample(n, noise.rng());
        sws.push(sliced_wasserstein(
            &a,
            &b,
            d,
            directions,
            seed.wrapping_add(r as u64 + 1),
        ));
        werrs.push(werr(&mode_weights(gmm, &a)));
    }
    MixtureReport {
        n,
        max_weight_error: werr(&mode),
        mode_weights: mode,
        expected_weights: mode_weights(gmm, &reference),
        weight_error_q99: quantile(werrs, 0.99),
        sw,
        sw_median: quantile(sws.clone(), 0.5),
        sw_q99: quantile(sws, 0.99),
        non_finite,
    }
}
