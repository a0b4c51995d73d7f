//! How a network's input time and its output are parameterised: what every network module
//! (`mlp`, `energy`, `unet`) is configured with and [`super::net`] interprets.
//!
//! Conditioning on t or on the rescaled noise level ln σ(t) (NCSN's noise-conditional
//! networks, Song & Ermon 2019); output as the scaled score `std·s` or as the noise ε (DDPM,
//! Ho et al. 2020, whose scaled score is `−ε` by Tweedie's formula) or as the
//! probability-flow velocity v (flow matching, Lipman et al. 2023: on the linear path
//! `v = E[z − x₀ | x_t]` and the scaled score is `−(x + (1 − t) v)`).

use serde::{Deserialize, Serialize};

/// What the network's time input is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Conditioning {
    /// The diffusion time t ∈ [0, 1].
    #[default]
    Time,
    /// The noise level ln σ(t), σ = std/m (NCSN's noise-conditional network), rescaled
    /// ([`Architecture::cond`]).
    LogSigma,
}

/// What the network's output means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Output {
    /// The scaled score `std·s`.
    #[default]
    Score,
    /// The noise ε (DDPM); the scaled score is `−ε`.
    Eps,
    /// The probability-flow velocity `v = a x − ½ g² s` (flow matching); the scaled score is
    /// `std (a x − v)/(½ g²)` ([`crate::sde::Sde::velocity_to_scaled_score`]).
    Velocity,
}
