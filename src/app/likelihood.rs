//! Log-densities of a table of points, and bits per dimension of images: the pipeline the
//! CLI's `likelihood` and the page's bits/dim both run.
//!
//! What: optional uniform dequantisation of 8-bit pixels (x = (k + u)/256, Theis et al.
//! 2016), then the probability-flow ODE likelihood ([`crate::likelihood::log_likelihood`],
//! SCIENCE.md, eq. (39) of Song et al. 2021) chunk by chunk. Why one place: the page and the
//! CLI used to seed the dequantisation differently, so the same digit got different bits/dim
//! in each. Here the seeds are fixed once: the dequantisation draws from `seed + 0xde9`, and
//! chunk `i` of the ODE (its Hutchinson probes) from `seed + i`.

use crate::data::images::{dequantize, PIXELS};
use crate::error::{Error, Result};
use crate::likelihood::{bits_per_dim, log_likelihood, Estimator, LikelihoodConfig};
use crate::model::ScoreModel;
use crate::rng::Noise;
use crate::sde::Sde;
use crate::tensor::host_tensor;
use burn::tensor::backend::AutodiffBackend;

/// The offset of the dequantisation's seed from the run's seed (kept from the CLI, whose
/// figures in the README were measured with it).
pub const DEQUANTIZE_SEED_OFFSET: u64 = 0xde9;

/// How a table of points is evaluated.
#[derive(Debug, Clone, PartialEq)]
pub struct DensityJob {
    pub cfg: LikelihoodConfig,
    /// Dequantise the rows first (pixel values in [0, 1]).
    pub dequantize: bool,
    /// Rows per ODE solve (one adaptive step size per chunk), at least 1.
    pub chunk: usize,
    pub seed: u64,
}

/// Per-row log-densities (nats) and the ODE's function evaluations, summed over chunks.
#[derive(Debug, Clone, PartialEq)]
pub struct Densities {
    pub log_p: Vec<f64>,
    pub nfe: usize,
}

/// Replace pixel values in [0, 1] by their uniformly dequantised values, drawn from the
/// run's `seed` (see the module docs). An error on the field `dequantize` if a value is
/// outside [0, 1].
pub fn dequantize_pixels(rows: &mut [f64], seed: u64) -> Result<()> {
    if let Some(v) = rows.iter().find(|v| !(0.0..=1.0).contains(*v)) {
        return Err(Error::invalid(
            "dequantize",
            format!("needs pixel values in [0, 1]; the data has {v}"),
        ));
    }
    let mut noise = Noise::new(seed.wrapping_add(DEQUANTIZE_SEED_OFFSET));
    dequantize(rows, noise.rng());
    Ok(())
}

/// `log p_ε(x)` of each row of `rows` (`[n, dim]`, row-major) under `model` and `sde`.
/// `progress` is told the rows done after each chunk.
///
/// # Shapes
/// `rows.len() = n · dim`; returns `n` values.
pub async fn log_densities<B: AutodiffBackend>(
    model: &dyn ScoreModel<B>,
    sde: &Sde,
    rows: &[f64],
    job: &DensityJob,
    device: &B::Device,
    mut progress: impl FnMut(usize),
) -> Result<Densities> {
    let d = model.dim();
    job.cfg.validate()?;
    crate::error::count("chunk", job.chunk, 1, usize::MAX)?;
    if rows.is_empty() || !rows.len().is_multiple_of(d) {
        return Err(Error::invalid(
            "data",
            format!(
                "need rows of the model's dimension {d}, got {} values",
                rows.len()
            ),
        ));
    }
    let mut owned;
    let rows = if job.dequantize {
        owned = rows.to_vec();
        dequantize_pixels(&mut owned, job.seed)?;
        &owned[..]
    } else {
        rows
    };
    let mut out = Densities {
        log_p: Vec::with_capacity(rows.len() / d),
        nfe: 0,
    };
    for (i, chunk) in rows.chunks(job.chunk * d).enumerate() {
        let x = host_tensor::<B, 2>(chunk.to_vec(), [chunk.len() / d, d], device);
        let r = log_likelihood(model, sde, x, &job.cfg, job.seed.wrapping_add(i as u64)).await?;
        out.nfe += r.nfe;
        out.log_p.extend(r.log_p);
        progress(out.log_p.len());
    }
    Ok(out)
}

/// The most images one bits/dim call takes (one ODE solve over all of them).
pub const MAX_BPD_IMAGES: usize = 64;

/// Bits per dimension of 28×28 images (`pixels`: n·784 values in [0, 1], n ≤ 64) under an
/// image model: dequantised, then one probability-flow ODE solve with one Hutchinson probe,
/// of `p_ε` at `t_eps` (a network's smallest training time). The same numbers as `scorelab
/// likelihood --estimator hutchinson --dequantize true --bpd --seed SEED` on those images.
pub async fn images_bits_per_dim<B: AutodiffBackend>(
    model: &dyn ScoreModel<B>,
    sde: &Sde,
    pixels: &[f64],
    t_eps: f64,
    seed: u64,
    device: &B::Device,
) -> Result<(Vec<f64>, usize)> {
    let d = model.dim();
    if d != PIXELS {
        return Err(Error::invalid(
            "model",
            format!("bits/dim is for 28x28 image models; this model has dimension {d}"),
        ));
    }
    if pixels.is_empty() || !pixels.len().is_multiple_of(d) || pixels.len() > MAX_BPD_IMAGES * d {
        return Err(Error::invalid(
            "pixels",
            format!(
                "need 1 to {MAX_BPD_IMAGES} images of {d} values, got {} values",
                pixels.len()
            ),
        ));
    }
    if let Some(v) = pixels.iter().find(|v| !(0.0..=1.0).contains(*v)) {
        return Err(Error::invalid(
            "pixels",
            format!("values must be in [0, 1], got {v}"),
        ));
    }
    let job = DensityJob {
        cfg: LikelihoodConfig {
            estimator: Estimator::Hutchinson,
            t_end: t_eps,
            ..Default::default()
        },
        dequantize: true,
        chunk: MAX_BPD_IMAGES,
        seed,
    };
    let r = log_densities(model, sde, pixels, &job, device, |_| {}).await?;
    Ok((
        r.log_p.iter().map(|lp| bits_per_dim(*lp, d)).collect(),
        r.nfe,
    ))
}
