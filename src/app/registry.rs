//! The registries gathered (`crate::registry` says what one is; each kind's is declared by
//! the module that owns it): what `scorelab list` prints, what the CLI's `--help` lists and
//! the page's menus offer (the wasm function `choices`).
//!
//! The tests here check every registry against its settings type: each name parses, each
//! parameter is a field of that kind's settings and each field is listed, so the names
//! cannot drift from what `--config` and the URL accept.

pub use crate::config::training::objectives;
pub use crate::data::data_sets;
pub use crate::likelihood::estimators;
pub use crate::model::net::networks;
pub use crate::model::presets::registry as presets;
pub use crate::registry::Registry;
pub use crate::sample::levels::schedules;
pub use crate::sample::pc::{correctors, predictors};
pub use crate::sample::samplers;
pub use crate::sde::registry as sdes;
pub use crate::solver::registry as solvers;

/// Every registry, in the order `scorelab list` prints them.
pub fn all() -> Vec<Registry> {
    vec![
        presets(),
        sdes(),
        samplers(),
        predictors(),
        correctors(),
        solvers(),
        schedules(),
        objectives(),
        networks(),
        data_sets(),
        estimators(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::likelihood::Estimator;
    use crate::sample::{CorrectorKind, PredictorKind, SamplerConfig};
    use crate::sde::Sde;
    use crate::solver::SolverKind;
    use serde_json::{json, Value};

    /// No registry repeats a name or has an entry without a description.
    #[test]
    fn names_are_unique_and_described() {
        for r in all() {
            let mut names: Vec<&str> = r.names().collect();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), r.entries.len(), "{} repeats a name", r.kind);
            for e in &r.entries {
                assert!(
                    !e.description.is_empty(),
                    "{} {} undescribed",
                    r.kind,
                    e.name
                );
                for p in e.params {
                    assert!(
                        !p.description.is_empty(),
                        "{}.{} undescribed",
                        e.name,
                        p.name
                    );
                }
            }
        }
    }

    /// The JSON keys an entry's settings have, besides `kind`.
    fn keys(v: &Value) -> Vec<String> {
        let mut k: Vec<String> = v
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| *k != "kind")
            .cloned()
            .collect();
        k.sort();
        k
    }

    /// Every sampler name builds its settings, every listed parameter is a field those
    /// settings accept, and every field of its defaults is listed.
    #[test]
    fn samplers_match_their_settings() {
        for e in samplers().entries {
            let cfg = SamplerConfig::from_name(e.name).unwrap();
            assert_eq!(cfg.name(), e.name);
            let v = serde_json::to_value(&cfg).unwrap();
            assert_eq!(v["kind"], e.name);
            for k in keys(&v) {
                assert!(e.has_param(&k), "{}: field {k} is not registered", e.name);
            }
            for p in e.params {
                let mut w = v.clone();
                if w.get(p.name).is_none() {
                    w[p.name] = json!(0.5); // an optional field left out of the defaults
                }
                let r: Result<SamplerConfig, _> = serde_json::from_value(w);
                assert!(
                    !format!("{r:?}").contains("unknown field"),
                    "{}: {} is not a field: {r:?}",
                    e.name,
                    p.name
                );
            }
        }
        assert!(SamplerConfig::from_name("unipc").is_err());
    }

    /// Every SDE name builds that SDE, whose settings fields are the listed parameters.
    #[test]
    fn sdes_match_their_settings() {
        for e in sdes().entries {
            let sde = Sde::from_name(e.name).unwrap();
            assert_eq!(sde.name(), e.name);
            let v = serde_json::to_value(sde).unwrap();
            let mut params: Vec<String> = e.params.iter().map(|p| p.name.to_string()).collect();
            params.sort();
            assert_eq!(keys(&v), params, "{}", e.name);
        }
    }

    /// Every name of the enumerated kinds parses to the value whose serde name it is.
    #[test]
    fn enumerated_names_parse() {
        for e in predictors().entries {
            let k = PredictorKind::from_name(e.name).unwrap();
            assert_eq!(serde_json::to_value(k).unwrap(), e.name);
        }
        for e in correctors().entries {
            let k = CorrectorKind::from_name(e.name).unwrap();
            assert_eq!(serde_json::to_value(k).unwrap(), e.name);
        }
        for e in solvers().entries {
            let k = SolverKind::from_name(e.name).unwrap();
            assert_eq!(serde_json::to_value(k).unwrap(), e.name);
        }
        for e in schedules().entries {
            let k = crate::sample::levels::Schedule::from_name(e.name).unwrap();
            assert_eq!(serde_json::to_value(k).unwrap(), e.name);
        }
        for e in estimators().entries {
            let k: Estimator = serde_json::from_value(json!(e.name)).unwrap();
            assert_eq!(serde_json::to_value(k).unwrap(), e.name);
        }
        for e in objectives().entries {
            crate::config::training::TrainConfig::default()
                .with_named_objective(e.name)
                .unwrap();
        }
        for e in presets().entries {
            crate::model::presets::preset(e.name).unwrap();
        }
        for e in data_sets().entries {
            if crate::data::toy::TOY_SETS.iter().any(|t| t.0 == e.name) {
                crate::data::toy::toy(e.name, 4, 0).unwrap();
            }
        }
    }

    /// The error for an unknown name names the field and lists every name.
    #[test]
    fn unknown_names_list_every_choice() {
        let e = PredictorKind::from_name("heun").unwrap_err().to_string();
        assert!(e.contains("predictor"), "{e}");
        for n in predictors().names() {
            assert!(e.contains(n), "{e}");
        }
        let e = SamplerConfig::from_name("unipc").unwrap_err().to_string();
        assert!(e.contains("unknown sampler 'unipc'"), "{e}");
        assert!(e.contains(&samplers().accepted()), "{e}");
    }
}
