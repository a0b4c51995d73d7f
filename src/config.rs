//! The one settings shape (DESIGN.md invariant 5): the same JSON is a CLI `--config` file,
//! the page's `window.scorelab.state()`, and its URL hash. Defaults fill missing fields;
//! unknown fields and out-of-range values are rejected naming the field. The training
//! settings are [`training`].

use crate::error::{count, Error, Result};
use crate::model::gmm::{Gmm, GmmSpec};
use crate::model::guidance::Guidance;
use crate::model::presets;

pub mod training;

/// The `model` that names the settings' own `mixture`.
pub const MIXTURE_MODEL: &str = "mixture";
use crate::sample::SamplerConfig;
use crate::sde::Sde;
use serde::{Deserialize, Serialize};

/// Everything a sampling run needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// A preset name (see [`presets::PRESETS`]), or `mixture` for the settings' own
    /// `mixture`; the CLI also takes `gmm:FILE`.
    pub model: String,
    pub sde: Sde,
    pub sampler: SamplerConfig,
    /// Number of particles.
    pub n: usize,
    pub seed: u64,
    /// Final Tweedie denoising step.
    pub denoise: bool,
    /// Mixing weights that replace the preset's (one per component, positive; normalised):
    /// the page's π slider for the mixture-weight pitfall.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weights: Option<Vec<f64>>,
    /// A mixture of one's own (`{"weights":[K],"means":[[d]..],"covs":[..]}`, as a gmm
    /// file), used when `model` is `mixture`. In the settings, so a link or a `--config`
    /// file carries it; ignored for other models.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mixture: Option<GmmSpec>,
    /// Classifier-free guidance towards a class (a mixture's component):
    /// `{"class": k, "scale": w}` ([`crate::model::guidance`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guidance: Option<Guidance>,
}

impl Default for Settings {
    /// ring8 under the default SDE, the default sampler, 1000 particles, seed 0.
    fn default() -> Self {
        Settings {
            model: "ring8".into(),
            sde: Sde::default(),
            sampler: SamplerConfig::default(),
            n: 1000,
            seed: 0,
            denoise: false,
            weights: None,
            mixture: None,
            guidance: None,
        }
    }
}

/// Largest particle count accepted (the page and the CLI).
pub const MAX_PARTICLES: usize = 200_000;

impl Settings {
    /// Parse JSON settings, naming the field of the first problem.
    pub fn from_json(text: &str) -> Result<Self> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| json_error("config", &e))?;
        Self::from_value(value)
    }

    /// Settings from an already-parsed JSON value (the wasm API's objects).
    pub fn from_value(value: serde_json::Value) -> Result<Self> {
        check_types(&value)?;
        match serde_json::from_value(value.clone()) {
            Ok(s) => Ok(s),
            Err(e) => Err(json_error(&failing_field(&value), &e)),
        }
    }

    /// Validate values that JSON parsing cannot (ranges, combinations).
    pub fn validate(&self) -> Result<()> {
        self.sde.validate()?;
        self.sampler.validate(&self.sde)?;
        count("n", self.n, 1, MAX_PARTICLES)?;
        if self.model == MIXTURE_MODEL {
            self.preset_gmm()?;
        }
        if let Some(g) = &self.guidance {
            // the class against the model's classes where the model is known here
            let classes = match presets::preset(&self.model) {
                Ok(m) => m.components(),
                Err(_) if self.model == MIXTURE_MODEL => self.preset_gmm()?.components(),
                Err(_) => usize::MAX,
            };
            g.validate(classes, &format!("'{}' (its components)", self.model))?;
        }
        if let Some(w) = &self.weights {
            if let Ok(g) = presets::preset(&self.model) {
                if w.len() != g.components() {
                    return Err(crate::Error::invalid(
                        "weights",
                        format!(
                            "'{}' has {} components; give one weight each, got {}",
                            self.model,
                            g.components(),
                            w.len()
                        ),
                    ));
                }
            }
            if w.is_empty() || w.iter().any(|v| !v.is_finite() || *v <= 0.0 || *v > 1e6) {
                return Err(crate::Error::invalid(
                    "weights",
                    "must be positive finite numbers (at most 1e6; they are normalised)",
                ));
            }
        }
        Ok(())
    }

    /// The preset's mixture (`model` must be a preset name here), with `weights` applied.
    pub fn preset_gmm(&self) -> Result<Gmm> {
        let mut g = if self.model == MIXTURE_MODEL {
            let spec = self.mixture.clone().ok_or_else(|| {
                Error::invalid(
                    "mixture",
                    "model 'mixture' needs a mixture {\"weights\":[K],\"means\":[[d]..],\"covs\":[..]}",
                )
            })?;
            Gmm::from_spec(spec).map_err(|e| e.within("mixture"))?
        } else {
            presets::preset(&self.model)?
        };
        if let Some(w) = &self.weights {
            if w.len() != g.components() {
                return Err(crate::Error::invalid(
                    "weights",
                    format!("need {} weights, got {}", g.components(), w.len()),
                ));
            }
            let total: f64 = w.iter().sum();
            g.weights = w.iter().map(|v| v / total).collect();
        }
        Ok(g)
    }
}

/// The top-level field a settings object fails to deserialise in (serde's message names the
/// problem, not where it is): each field alone against its type; `config` if none fails
/// alone. Inside `sde` and `sampler`, [`check_types`] has named the field already.
fn failing_field(value: &serde_json::Value) -> String {
    fn fails<T: serde::de::DeserializeOwned>(v: &serde_json::Value) -> bool {
        serde_json::from_value::<T>(v.clone()).is_err()
    }
    let Some(obj) = value.as_object() else {
        return "config".into();
    };
    for (key, v) in obj {
        let bad = match key.as_str() {
            "model" => fails::<String>(v),
            "sde" => fails::<Sde>(v),
            "sampler" => fails::<SamplerConfig>(v),
            "n" => fails::<usize>(v),
            "seed" => fails::<u64>(v),
            "denoise" => fails::<bool>(v),
            "weights" => fails::<Option<Vec<f64>>>(v),
            "mixture" => fails::<Option<GmmSpec>>(v),
            "guidance" => fails::<Option<Guidance>>(v),
            _ => true, // not a field: serde's message lists the accepted ones
        };
        if bad {
            return key.clone();
        }
    }
    "config".into()
}

/// Type-check the fields of the tagged `sde` and `sampler` objects against their kind's
/// defaults, so a wrong value names its field (serde reports only the enclosing object).
fn check_types(value: &serde_json::Value) -> Result<()> {
    use serde_json::Value;
    let defaults = |section: &str, kind: &str| -> Option<Value> {
        match section {
            "sde" => Sde::from_name(kind)
                .ok()
                .and_then(|d| serde_json::to_value(d).ok()),
            _ => SamplerConfig::from_name(kind)
                .ok()
                .and_then(|d| serde_json::to_value(d).ok()),
        }
    };
    let Some(obj) = value.as_object() else {
        return Ok(());
    };
    for section in ["sde", "sampler"] {
        let Some(given) = obj.get(section).and_then(|v| v.as_object()) else {
            continue;
        };
        let Some(kind) = given.get("kind").and_then(|k| k.as_str()) else {
            continue;
        };
        let Some(Value::Object(def)) = defaults(section, kind) else {
            continue;
        };
        for (key, v) in given {
            let field = format!("{section}.{key}");
            let want = match def.get(key) {
                Some(d) => d,
                // optional fields absent from the defaults (ALD's sigma_first) are numbers
                None if section == "sampler" && key == "sigma_first" => &Value::from(1.0),
                None => continue,
            };
            let ok = match want {
                Value::Number(n) if n.is_u64() => v.is_u64(),
                Value::Number(_) => v.is_number(),
                Value::String(_) => v.is_string(),
                Value::Bool(_) => v.is_boolean(),
                _ => true,
            };
            if !ok {
                let what = match want {
                    Value::Number(n) if n.is_u64() => "a non-negative integer".to_string(),
                    Value::Number(_) => "a number".to_string(),
                    Value::Bool(_) => "true or false".to_string(),
                    _ => "a string".to_string(),
                };
                return Err(Error::invalid(field, format!("must be {what}, got {v}")));
            }
        }
    }
    for (key, what) in [
        ("n", "a non-negative integer"),
        ("seed", "a non-negative integer"),
    ] {
        if let Some(v) = obj.get(key) {
            if !v.is_u64() {
                return Err(Error::invalid(key, format!("must be {what}, got {v}")));
            }
        }
    }
    Ok(())
}

pub use crate::error::json_error;

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
                r#"{"sde":{"kind":"vp"},"sampler":{"kind":"ald","sigma_first":200}}"#,
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
        // a mixture of one's own: errors name the field inside it
        for (json, want) in [
            (r#"{"model":"mixture"}"#, "invalid mixture:"),
            (
                r#"{"model":"mixture","mixture":{"weights":[0.5,0.4],"means":[[0,0],[1,1]],"covs":[1,1]}}"#,
                "invalid mixture.weights",
            ),
            (
                r#"{"model":"mixture","mixture":{"weights":[1],"means":[[0,0]],"covs":[-1]}}"#,
                "invalid mixture.covs",
            ),
            (
                r#"{"model":"mixture","mixture":{"weights":[1],"means":[[0,0]],"covs":[1]},"weights":[1,2]}"#,
                "invalid weights",
            ),
        ] {
            let e = Settings::from_json(json)
                .and_then(|s| s.validate())
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(want), "{json}: {e}");
        }
        let s = Settings::from_json(
            r#"{"model":"mixture","mixture":{"weights":[0.25,0.75],"means":[[0,0],[4,0]],"covs":[1,[1,2]]}}"#,
        )
        .unwrap();
        s.validate().unwrap();
        assert_eq!(s.preset_gmm().unwrap().components(), 2);
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(Settings::from_json(&json).unwrap(), s, "round trip");
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
