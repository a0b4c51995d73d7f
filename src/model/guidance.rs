//! Classifier-free guidance (Ho & Salimans 2022, eq. 6, written for scores):
//! `s̃_w(x, t | c) = (1 + w) s(x, t | c) − w s(x, t)`, the score of
//! `p_t(x | c)^{1+w} p_t(x)^{−w}` (up to normalisation): w = 0 samples the class-conditional
//! distribution, w > 0 sharpens it towards what tells class c from the rest.
//!
//! On a Gaussian mixture the class is the component: `p_t(x | k)` is the k-th component's
//! marginal, so guided sampling is checked against the exact conditional
//! (tests/native/guidance.rs). A class-conditional network gives both scores from one
//! network, the unconditional one with the null label.

use super::clip::DenoiserClip;
use super::ScoreModel;
use crate::error::{in_range, Error, Result};
use crate::sde::Sde;
use burn::tensor::{backend::Backend, Tensor};
use serde::{Deserialize, Serialize};

/// The guidance of a sampling run (the settings' `guidance`; the CLI's `--class`,
/// `--guidance`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Guidance {
    /// The class c: a mixture's component index, or a class-conditional network's label.
    pub class: usize,
    /// The guidance scale w ≥ 0 (0: the conditional distribution itself).
    #[serde(default)]
    pub scale: f64,
}

/// Largest guidance scale accepted (guided samplers diverge well before).
pub const MAX_GUIDANCE: f64 = 20.0;

impl Guidance {
    /// The scale in `[0, MAX_GUIDANCE]` and the class below `classes`, naming the field.
    pub fn validate(&self, classes: usize, what: &str) -> Result<()> {
        in_range("guidance.scale", self.scale, 0.0, MAX_GUIDANCE)?;
        if self.class >= classes {
            return Err(Error::invalid(
                "guidance.class",
                format!(
                    "{what} has classes 0 to {}, got {}",
                    classes - 1,
                    self.class
                ),
            ));
        }
        Ok(())
    }
}

/// The guided score `(1 + w) s_c − w s` of a conditional and an unconditional model.
pub struct Guided<B: Backend> {
    pub conditional: Box<dyn ScoreModel<B>>,
    pub unconditional: Box<dyn ScoreModel<B>>,
    pub scale: f64,
    /// Keep the guided score's denoiser in the data's box (image networks; the two scores
    /// unclipped): the mix of two clipped denoisers, `(1 + w) D_c − w D`, leaves the box.
    pub clip: Option<(DenoiserClip, Sde)>,
}

impl<B: Backend> Guided<B> {
    /// `(1 + w) a − w b`; the conditional alone at w = 0 (one evaluation, not two).
    fn mix(&self, a: Tensor<B, 2>, b: impl FnOnce() -> Tensor<B, 2>) -> Tensor<B, 2> {
        if self.scale == 0.0 {
            a
        } else {
            a * (1.0 + self.scale) - b() * self.scale
        }
    }
}

impl<B: Backend> ScoreModel<B> for Guided<B> {
    fn dim(&self) -> usize {
        self.conditional.dim()
    }

    fn score(&self, x: Tensor<B, 2>, t: f64) -> Tensor<B, 2> {
        let c = self.conditional.score(x.clone(), t);
        let s = self.mix(c, || self.unconditional.score(x.clone(), t));
        match &self.clip {
            Some((clip, sde)) => clip.apply(s, x, sde, t),
            None => s,
        }
    }

    /// Guidance is linear, so velocity models are guided in velocity (`v = a x − ½ g² s`);
    /// a clipped model's ODE takes the clipped score's drift.
    fn velocity(&self, x: Tensor<B, 2>, t: f64) -> Option<Tensor<B, 2>> {
        if self.clip.is_some() {
            return None;
        }
        let c = self.conditional.velocity(x.clone(), t)?;
        if self.scale == 0.0 {
            return Some(c);
        }
        let u = self.unconditional.velocity(x, t)?;
        Some(c * (1.0 + self.scale) - u * self.scale)
    }
}
