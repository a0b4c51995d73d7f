//! The one settings shape (DESIGN.md invariant 5): the same JSON is a CLI `--config` file,
//! the page's `window.scorelab.state()`, and its URL hash. Defaults fill missing fields;
//! unknown fields and out-of-range values are rejected naming the field.

use crate::error::{count, Error, Result};
use crate::model::{gmm::Gmm, presets};
use crate::sample::SamplerConfig;
use crate::sde::Sde;
use serde::{Deserialize, Serialize};

fn d_model() -> String {
    "ring8".into()
}
fn d_n() -> usize {
    1000
}

/// Everything a sampling run needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// A preset name (see [`presets::PRESETS`]); the CLI also takes `gmm:FILE`.
    #[serde(default = "d_model")]
    pub model: String,
    #[serde(default)]
    pub sde: Sde,
    #[serde(default)]
    pub sampler: SamplerConfig,
    /// Number of particles.
    #[serde(default = "d_n")]
    pub n: usize,
    #[serde(default)]
    pub seed: u64,
    /// Final Tweedie denoising step.
    #[serde(default)]
    pub denoise: bool,
}

impl Default for Settings {
    fn default() -> Self {
        serde_json::from_str("{}").expect("defaults")
    }
}

/// Largest particle count accepted (the page and the CLI).
pub const MAX_PARTICLES: usize = 200_000;

impl Settings {
    /// Parse JSON settings, naming the field of the first problem.
    pub fn from_json(text: &str) -> Result<Self> {
        let s: Settings = serde_json::from_str(text).map_err(|e| json_error("config", &e))?;
        Ok(s)
    }

    /// Validate values that JSON parsing cannot (ranges, combinations).
    pub fn validate(&self) -> Result<()> {
        self.sde.validate()?;
        self.sampler.validate(&self.sde)?;
        count("n", self.n, 1, MAX_PARTICLES)?;
        Ok(())
    }

    /// The preset's mixture (`model` must be a preset name here).
    pub fn preset_gmm(&self) -> Result<Gmm> {
        presets::preset(&self.model)
    }
}

/// Turn a serde error into one line naming the offending field and, for unknown variants,
/// the accepted names (serde's own message lists them).
pub fn json_error(what: &str, e: &serde_json::Error) -> Error {
    let msg = e.to_string();
    let msg = msg.split(" at line").next().unwrap_or(&msg).to_string();
    Error::invalid(what, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_round_trip() {
        let s = Settings::default();
        s.validate().unwrap();
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(Settings::from_json(&json).unwrap(), s);
    }

    #[test]
    fn bad_values_name_the_field() {
        let cases = [
            (r#"{"n":0}"#, "invalid n"),
            (
                r#"{"sampler":{"kind":"pc","steps":0}}"#,
                "invalid sampler.steps",
            ),
            (
                r#"{"sampler":{"kind":"pc","snr":-1}}"#,
                "invalid sampler.snr",
            ),
            (
                r#"{"sampler":{"kind":"ode","rtol":0}}"#,
                "invalid sampler.rtol",
            ),
            (
                r#"{"sde":{"kind":"ve","sigma_min":-1}}"#,
                "invalid sde.sigma_min",
            ),
            (
                r#"{"sde":{"kind":"subvp"},"sampler":{"kind":"pc","predictor":"ancestral"}}"#,
                "invalid sampler.predictor",
            ),
            (
                r#"{"sde":{"kind":"vp"},"sampler":{"kind":"ald","sigma_first":20}}"#,
                "invalid sampler.sigma_first",
            ),
        ];
        for (json, want) in cases {
            let e = Settings::from_json(json)
                .and_then(|s| s.validate())
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(want), "{json}: {e}");
        }
        let e = Settings::from_json(r#"{"sampler":{"kind":"magic"}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("magic") && e.contains("langevin"), "{e}");
        let e = Settings::from_json(r#"{"colour":1}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("colour"), "{e}");
        let e = Settings::from_json(r#"{"sampler":{"kind":"pc","steps":-3}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("-3"), "{e}");
    }
}
