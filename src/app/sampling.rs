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
use crate::model::gmm::Gmm;
use crate::model::guidance::Guidance;
use crate::model::ScoreModel;
use crate::sample::Sampler;
use crate::sde::Sde;
use crate::stats::{self, MixtureReport};
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

/// A run's samples against its reference mixture, guidance considered
/// ([`crate::model::guidance`]): the CLI's report after `sample` and the page's line under
/// the plot.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Comparison {
    /// Against the whole mixture: mode weights and sliced W2 with their exact-vs-exact spread.
    #[serde(flatten)]
    pub mixture: MixtureReport,
    /// A guided run's comparison; `None` without guidance.
    pub guided: Option<GuidedComparison>,
}

/// What a guided run can be compared with.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GuidedComparison {
    pub class: usize,
    pub scale: f64,
    /// The fraction of the samples in the class's mode (its component is the likeliest).
    pub share: f64,
    /// At w = 0 the target is the class's component itself: the samples against it. At
    /// w > 0, p(x|c)^{1+w} p(x)^{−w} is no mixture and has no closed-form samples: `None`.
    pub component: Option<MixtureReport>,
}

/// Compare samples `x` (`[n, d]`) with `gmm`, the run's reference mixture, and with the
/// class's component where `guidance` is at w = 0. `repeats` exact-vs-exact draws give the
/// spreads ([`stats::mixture_report`]), kept in `baselines` between calls (the page reports
/// after every run).
pub fn compare(
    baselines: &mut stats::Baselines,
    gmm: &Gmm,
    guidance: Option<&Guidance>,
    x: &[f64],
    repeats: usize,
    seed: u64,
) -> Comparison {
    let mixture = baselines.report(gmm, x, repeats, seed);
    let guided = guidance
        .filter(|g| g.class < gmm.components())
        .map(|g| GuidedComparison {
            class: g.class,
            scale: g.scale,
            share: mixture.mode_weights[g.class],
            component: (g.scale == 0.0)
                .then(|| baselines.report(&gmm.component(g.class), x, repeats, seed)),
        });
    Comparison { mixture, guided }
}

/// Start the baselines [`compare`] will need for `n` samples (the mixture's and, for a
/// guided run at w = 0, its class's) on rayon's pool where there are threads
/// ([`stats::Baselines::prepare`]): the page calls it when a run starts, so the report at its
/// end does not wait for the exact-vs-exact draws.
pub fn prepare_comparison(
    baselines: &mut stats::Baselines,
    gmm: &Gmm,
    guidance: Option<&Guidance>,
    n: usize,
    repeats: usize,
    seed: u64,
) {
    let component = guidance
        .filter(|g| g.class < gmm.components() && g.scale == 0.0)
        .map(|g| gmm.component(g.class));
    let mut wanted = vec![(gmm, n, repeats, seed)];
    wanted.extend(component.as_ref().map(|c| (c, n, repeats, seed)));
    baselines.prepare(&wanted);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::presets::preset;
    use crate::rng::Noise;

    /// Exact samples of one component: at w = 0 they match it (within the exact-vs-exact
    /// spread) and all lie in its mode; at w > 0 only the share is reported; without
    /// guidance they are far from the whole mixture.
    #[test]
    fn a_guided_run_is_compared_with_its_class() {
        let gmm = preset("ring8").unwrap();
        let x = gmm.component(3).sample(500, Noise::new(4).rng());
        let at = |scale| Guidance { class: 3, scale };
        let c = compare(&mut Default::default(), &gmm, Some(&at(0.0)), &x, 20, 1);
        let g = c.guided.as_ref().unwrap();
        let r = g.component.as_ref().unwrap();
        assert!(r.sw < 1.25 * r.sw_q99, "{} vs {}", r.sw, r.sw_q99);
        assert!(g.share > 0.99, "{}", g.share);
        assert!(c.mixture.sw > 2.0 * c.mixture.sw_q99, "{}", c.mixture.sw);
        let c = compare(&mut Default::default(), &gmm, Some(&at(2.0)), &x, 20, 1);
        let g = c.guided.unwrap();
        assert!(g.component.is_none() && g.share > 0.99 && g.scale == 2.0);
        assert!(compare(&mut Default::default(), &gmm, None, &x, 20, 1)
            .guided
            .is_none());
    }
}
