//! Tweedie's denoiser kept inside the data's range: the score used for image models.
//!
//! Tweedie's formula (SCIENCE.md, DDPM/Tweedie) reads a score as a denoiser: for
//! `x_t = m(t)·x₀ + √v(t)·z`,
//!
//! ```text
//! D(x, t) = E[x₀ | x_t = x] = (x + v(t)·∇ₓ log p_t(x)) / m(t).
//! ```
//!
//! When every data point lies in the box `[lo, hi]^d` (pixels in [0, 1]), so does `D`: it is
//! an average of data points. A learned score's denoiser `D_θ = (x + v·s_θ)/m` need not be,
//! and far from the data, where the network never trained, it is not. On MNIST the
//! probability-flow ODE started at some digits (mostly 1s) carries one background pixel
//! below 0; there the U-Net's `D_θ` follows `x` (it says the clean pixel is 3.2 when x = −7.3
//! at σ = 0.15), the ODE runs away (pixel values near −3,000 at t = 1) and `log p` of the
//! digit comes out ~10⁵ nats low: the bits/dim tail of ARCHITECTURE.md. The exact flow keeps
//! such a pixel at a fixed number of σ below 0.
//!
//! [`DenoiserClip`] projects the denoiser onto the box and reads the result back as a score:
//!
//! ```text
//! s̃(x, t) = (m·clip(D_θ, lo, hi) − x) / v = s_θ + (m/v)·(clip(D_θ) − D_θ).
//! ```
//!
//! Projection onto a box that contains the true `D` never moves `D_θ` away from it, so
//! `|s̃ − ∇log p_t| ≤ |s_θ − ∇log p_t|` in every coordinate; inside the box `s̃ = s_θ` exactly.
//! `s̃` is Lipschitz in x, so the probability-flow ODE still defines a normalised density, and
//! its divergence comes from autodiff as before (clip's derivative is 0 outside the box; a
//! test integrates the density of a clipped 1-D model to 1). DDPM samplers clip the
//! predicted x₀ the same way (Ho et al. 2020, `clip_denoised`).

use crate::sde::Sde;
use burn::tensor::{backend::Backend, Tensor};

/// The box `[lo, hi]^d` that holds every data point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DenoiserClip {
    pub lo: f64,
    pub hi: f64,
}

impl DenoiserClip {
    /// Pixels of the image sets (`mnist`, `fashion`, their `-test` splits): [0, 1].
    pub const PIXELS: DenoiserClip = DenoiserClip { lo: 0.0, hi: 1.0 };

    /// The box of a named data set, when it has one (image sets); `None` for the 2-D sets,
    /// mixtures and user points, whose support is unbounded or unknown.
    pub fn for_data(name: &str) -> Option<DenoiserClip> {
        matches!(name, "mnist" | "mnist-test" | "fashion" | "fashion-test").then_some(Self::PIXELS)
    }

    /// `s̃ = s + (m/v)·(clip(D) − D)` with `D = (x + v·s)/m` (module docs).
    ///
    /// # Shapes
    /// `score: [n, d]`, `x: [n, d]` → `[n, d]`
    pub fn apply<B: Backend>(
        &self,
        score: Tensor<B, 2>,
        x: Tensor<B, 2>,
        sde: &Sde,
        t: f64,
    ) -> Tensor<B, 2> {
        let (m, v) = (sde.mean_scale(t), sde.variance(t));
        let denoised = (x + score.clone() * v) / m;
        let excess = denoised.clone().clamp(self.lo, self.hi) - denoised;
        score + excess * (m / v)
    }
}
