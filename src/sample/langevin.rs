//! Langevin dynamics (SCIENCE.md §4) and annealed Langevin dynamics (NCSN, Song & Ermon
//! 2019, Algorithm 1).
//!
//! Plain Langevin, `x ← x + (ε/2) s(x) + √ε z`, samples p as ε → 0 and steps → ∞ but mixes
//! badly between separated modes: with disjoint supports the score ignores the mixture
//! weights (the pitfall in SCIENCE.md §7.3). ALD anneals through σ_1 > … > σ_L with
//! `α_i = ε σ_i²/σ_L²` and T steps per level, which recovers the weights.
//!
//! ALD runs in NCSN's (VE) coordinates `y = x/m(t)` with noise level `σ(t) = std(t)/m(t)`
//! ([`Sde::noise_level`]): level i uses the time t_i with σ(t_i) = σ_i and the score
//! `∇_y log p = m(t_i) s(m(t_i) y, t_i)`. Under VE (m = 1) this is exactly Algorithm 1; under
//! VP and sub-VP it is the same algorithm on the rescaled marginals. The particles are
//! returned as `x = m(t_L) y`.

use crate::error::{Error, Result};
use crate::model::ScoreModel;
use crate::rng::Noise;
use crate::sde::{ladder::ncsn_sigmas, Sde};
use burn::tensor::{backend::Backend, Tensor};

pub struct Langevin {
    pub eps: f64,
    pub steps: usize,
    /// The diffusion time whose score is used (small: the data distribution).
    pub t: f64,
}

impl Langevin {
    /// # Shapes
    /// `x: [n, d]` → `[n, d]`
    pub fn step<B: Backend>(
        &self,
        x: Tensor<B, 2>,
        model: &dyn ScoreModel<B>,
        noise: &mut Noise,
        device: &B::Device,
    ) -> Tensor<B, 2> {
        let [n, d] = x.dims();
        let s = model.score(x.clone(), self.t);
        x + s * (self.eps / 2.0) + noise.normal::<B>(n, d, device) * self.eps.sqrt()
    }
}

pub struct Ald {
    pub sigmas: Vec<f64>,
    /// `t_i` with noise level σ(t_i) = σ_i.
    pub ts: Vec<f64>,
    /// `m(t_i)`.
    pub ms: Vec<f64>,
    pub eps: f64,
    pub steps_per_level: usize,
    pub level: usize,
    pub inner: usize,
}

impl Ald {
    pub fn new(
        sde: &Sde,
        levels: usize,
        sigma_first: f64,
        sigma_last: f64,
        eps: f64,
        steps_per_level: usize,
    ) -> Result<Self> {
        let sigmas =
            ncsn_sigmas(levels, sigma_first, sigma_last).map_err(|e| e.within("sampler"))?;
        let ts = sigmas
            .iter()
            .map(|s| {
                sde.t_of_noise_level(s.min(sde.noise_level(1.0)))
                    .ok_or_else(|| {
                        Error::invalid(
                            "sampler.sigma_last",
                            format!("σ = {s} is not reached by the {} SDE", sde.name()),
                        )
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        let ms = ts.iter().map(|t| sde.mean_scale(*t)).collect();
        Ok(Ald {
            sigmas,
            ts,
            ms,
            eps,
            steps_per_level,
            level: 0,
            inner: 0,
        })
    }

    /// One Langevin step at the current level on `y = x/m`. Returns (y, t_i, α_i, level);
    /// after the very last step the returned particles are `x = m(t_L) y`.
    ///
    /// # Shapes
    /// `y: [n, d]` → `[n, d]`
    pub fn step<B: Backend>(
        &mut self,
        x: Tensor<B, 2>,
        model: &dyn ScoreModel<B>,
        noise: &mut Noise,
        device: &B::Device,
    ) -> (Tensor<B, 2>, f64, f64, usize) {
        let [n, d] = x.dims();
        let level = self.level;
        let sigma_l = *self.sigmas.last().unwrap();
        let alpha = self.eps * (self.sigmas[level] / sigma_l).powi(2);
        let (t, m) = (self.ts[level], self.ms[level]);
        let s = model.score(x.clone() * m, t) * m;
        let mut x = x + s * (alpha / 2.0) + noise.normal::<B>(n, d, device) * alpha.sqrt();
        self.inner += 1;
        if self.inner == self.steps_per_level {
            self.inner = 0;
            self.level += 1;
            if self.level == self.sigmas.len() {
                x = x * m;
            }
        }
        (x, t, alpha, level)
    }
}
