//! Which score model a run uses: an exact Gaussian mixture or a trained network, its SDE,
//! and the mixture its samples are compared with.
//!
//! What: [`ModelSource`] is a resolved `model` setting (the CLI's `--model`, the page's
//! `model`): the mixture itself, or a parsed weight file. Why here: the CLI and the page both
//! need "the network's SDE unless another was asked for, which is an error", "the preset a
//! network was trained on is its reference", "clip the denoiser only where the data are
//! bounded" and "the likelihood's ε is the network's smallest training time"; written once,
//! tested natively. Reading files is the adapters' business: they hand over a [`Gmm`] or a
//! parsed [`WeightFile`].

use crate::error::{Error, Result};
use crate::likelihood::LikelihoodConfig;
use crate::model::gmm::{ExactGmm, Gmm};
use crate::model::guidance::{Guidance, Guided};
use crate::model::net::NetScore;
use crate::model::presets;
use crate::model::ScoreModel;
use crate::sde::Sde;
use crate::weights::{self, WeightFile};
use burn::tensor::backend::Backend;
use std::sync::Arc;

/// A resolved model setting.
#[derive(Clone)]
pub enum ModelSource {
    /// An exact mixture (a preset, a gmm file, or the settings' own mixture): exact scores
    /// and densities under every SDE.
    Exact(Gmm),
    /// A trained network and its manifest.
    Net(Arc<WeightFile>),
}

impl ModelSource {
    /// The mixture samples are compared with: the model itself, or the preset a network was
    /// trained on (none for toy sets, images and files).
    pub fn reference_mixture(&self) -> Option<Gmm> {
        match self {
            ModelSource::Exact(g) => Some(g.clone()),
            ModelSource::Net(f) => presets::preset(&f.manifest.data).ok(),
        }
    }

    /// The SDE a run uses. A mixture takes the requested one (`None`: the default SDE). A
    /// network was trained under one SDE and only scores under it: `None` gives that one, and
    /// asking for another is an error on the field `sde`.
    pub fn sde(&self, requested: Option<Sde>) -> Result<Sde> {
        match (self, requested) {
            (ModelSource::Exact(_), r) => Ok(r.unwrap_or_default()),
            (ModelSource::Net(f), Some(s)) if s != f.manifest.sde => Err(Error::invalid(
                "sde",
                format!(
                    "this model was trained with {}",
                    serde_json::to_string(&f.manifest.sde).expect("an SDE serialises")
                ),
            )),
            (ModelSource::Net(f), _) => Ok(f.manifest.sde),
        }
    }

    /// The ε of the density a likelihood reports by default: a network's smallest training
    /// time (`Manifest::likelihood_t_eps`), the library default for a mixture.
    pub fn likelihood_t_eps(&self) -> f64 {
        match self {
            ModelSource::Exact(_) => LikelihoodConfig::default().t_end,
            ModelSource::Net(f) => f.manifest.likelihood_t_eps(),
        }
    }

    /// The data dimension.
    pub fn dim(&self) -> usize {
        match self {
            ModelSource::Exact(g) => g.dim(),
            ModelSource::Net(f) => f.manifest.architecture.dim(),
        }
    }

    /// The score model on backend `B` under `sde` (from [`ModelSource::sde`]). `clip` sets
    /// the network's denoiser clipping (Tweedie's estimate clamped to the data's range):
    /// `None` keeps the data's default (on for the image sets), `Some(false)` turns it off,
    /// `Some(true)` asks for it, an error on the field `clip_denoised` where the data have no
    /// bounded range (mixtures, toy sets). `what` names the weight file in errors.
    pub fn score_model<B: Backend>(
        &self,
        sde: Sde,
        clip: Option<bool>,
        what: &str,
        device: &B::Device,
    ) -> Result<Box<dyn ScoreModel<B>>> {
        match self {
            ModelSource::Exact(_) if clip == Some(true) => Err(no_clip_range("an exact mixture")),
            ModelSource::Exact(g) => Ok(Box::new(ExactGmm::<B>::new(g.clone(), sde, device))),
            ModelSource::Net(f) => Ok(Box::new(net_score::<B>(f, clip, what, device)?)),
        }
    }

    /// The score model of a guided run ([`crate::model::guidance`]) under `sde`, with the
    /// denoiser clipping `clip` as in [`ModelSource::score_model`]: a mixture's component
    /// `guidance.class` as the conditional model and the whole mixture as the unconditional
    /// one; a class-conditional network's class and null label ([`crate::model::labels`]),
    /// the denoiser clipped after guiding. An unconditional network: an error on the field
    /// `guidance`.
    pub fn guided_model<B: Backend>(
        &self,
        guidance: &Guidance,
        sde: Sde,
        clip: Option<bool>,
        what: &str,
        device: &B::Device,
    ) -> Result<Box<dyn ScoreModel<B>>> {
        match self {
            ModelSource::Exact(g) => {
                guidance.validate(g.components(), "the mixture (its components)")?;
                Ok(Box::new(Guided {
                    conditional: Box::new(ExactGmm::<B>::new(
                        g.component(guidance.class),
                        sde,
                        device,
                    )),
                    unconditional: self.score_model(sde, clip, what, device)?,
                    scale: guidance.scale,
                    clip: None,
                }))
            }
            ModelSource::Net(f) => {
                let arch = &f.manifest.architecture;
                let Some(classes) = arch.classes() else {
                    return Err(Error::invalid(
                        "guidance",
                        format!(
                            "the {} network is unconditional (it has no classes); class and guidance apply to class-conditional networks (`scorelab train --conditional`) and mixtures (a class is a component)",
                            arch.name()
                        ),
                    ));
                };
                guidance.validate(classes, &format!("the {} network", arch.name()))?;
                // one network (loaded once) under two labels; the clip after guiding
                let mut conditional = net_score::<B>(f, clip, what, device)?;
                let clip = conditional.clip.take().map(|c| (c, sde));
                let unconditional = NetScore {
                    net: conditional.net.clone(),
                    arch: conditional.arch.clone(),
                    sde: conditional.sde,
                    clip: None,
                    class: None,
                };
                conditional.class = Some(guidance.class);
                Ok(Box::new(Guided {
                    conditional: Box::new(conditional),
                    unconditional: Box::new(unconditional),
                    scale: guidance.scale,
                    clip,
                }))
            }
        }
    }
}

/// A weight file's network with the denoiser clipping `clip` ([`ModelSource::score_model`]).
fn net_score<B: Backend>(
    f: &WeightFile,
    clip: Option<bool>,
    what: &str,
    device: &B::Device,
) -> Result<NetScore<B>> {
    let mut model = weights::load_score::<B>(f, what, device)?;
    match clip {
        Some(true) if model.clip.is_none() => {
            return Err(no_clip_range(&format!(
                "the model's data '{}'",
                f.manifest.data
            )))
        }
        Some(false) => model.clip = None,
        _ => {}
    }
    Ok(model)
}

fn no_clip_range(subject: &str) -> Error {
    Error::invalid(
        "clip_denoised",
        format!(
            "{subject} has no bounded range (only the image sets mnist and \
             fashion do); accepted here: false"
        ),
    )
}
