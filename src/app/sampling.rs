//! A sampling run: a resolved model's score model under its SDE, and a sampler over it.
//!
//! What: [`SamplingRun::new`] takes a [`ModelSource`] and the [`Settings`] (sampler,
//! particles, seed, denoising) and builds what both adapters step: the CLI to the end with a
//! progress bar, the page a few steps per frame. Why here: "a network samples under its own
//! SDE, a mixture under the one asked for", the denoiser's clipping rule, guidance
//! (`settings.guidance`: a class and a scale) and the sampler's checks against that SDE are
//! decided once.

use super::model::ModelSource;
use crate::config::Settings;
use crate::error::Result;
use crate::model::ScoreModel;
use crate::sample::Sampler;
use crate::sde::Sde;
use burn::tensor::backend::Backend;

/// The score model and the sampler of one run.
pub struct SamplingRun<B: Backend> {
    /// The SDE the run uses (a network's own).
    pub sde: Sde,
    pub model: Box<dyn ScoreModel<B>>,
    pub sampler: Sampler<B>,
}

impl<B: Backend> SamplingRun<B> {
    /// `requested`: the SDE asked for (`None`: a network's own, the default for a mixture;
    /// another than a network's is an error on the field `sde`). `clip`: the denoiser's
    /// clipping ([`ModelSource::score_model`]). `what` names the model in errors.
    pub fn new(
        source: &ModelSource,
        settings: &Settings,
        requested: Option<Sde>,
        clip: Option<bool>,
        what: &str,
        device: &B::Device,
    ) -> Result<Self> {
        let sde = source.sde(requested)?;
        let model = match &settings.guidance {
            Some(guidance) => source.guided_model::<B>(guidance, sde, clip, what, device)?,
            None => source.score_model::<B>(sde, clip, what, device)?,
        };
        let sampler = Sampler::new(
            &settings.sampler,
            sde,
            settings.n,
            model.dim(),
            settings.seed,
            settings.denoise,
            device,
        )?;
        Ok(SamplingRun {
            sde,
            model,
            sampler,
        })
    }
}
