//! Built-in Gaussian-mixture presets: exact models for the page, the CLI and the tests.
//! Each is a plain [`GmmSpec`], so `scorelab info PRESET` prints the same JSON that
//! `--model gmm:FILE` accepts.

use super::gmm::{Gmm, GmmSpec};
use crate::error::{Error, Result};
use serde_json::Value;

/// (name, one-line description)
pub const PRESETS: &[(&str, &str)] = &[
    ("two-modes", "two far modes at (-5,-5) and (5,5) with weights 0.8/0.2: the mixture-weight pitfall (NCSN)"),
    ("ring8", "eight equal modes on a ring of radius 5, std 0.5"),
    ("anisotropic3", "three anisotropic modes with full covariances and unequal weights"),
    ("grid25", "a 5x5 grid of equal modes, spacing 3, std 0.4"),
];

/// Names accepted for a preset.
pub fn preset_names() -> String {
    PRESETS.iter().map(|p| p.0).collect::<Vec<_>>().join(", ")
}

/// The preset's mixture.
pub fn preset(name: &str) -> Result<Gmm> {
    let desc = PRESETS
        .iter()
        .find(|p| p.0 == name)
        .ok_or_else(|| {
            Error::invalid(
                "model",
                format!("unknown preset '{name}'; accepted: {}", preset_names()),
            )
        })?
        .1;
    // (weights, means, covariances: a number is an isotropic variance, a matrix a full one)
    let iso = |v: f64, k: usize| vec![Value::from(v); k];
    let full = |m: [[f64; 2]; 2]| Value::from(m.iter().map(|r| r.to_vec()).collect::<Vec<_>>());
    let (weights, means, covs): (Vec<f64>, Vec<Vec<f64>>, Vec<Value>) = match name {
        "two-modes" => (
            vec![0.8, 0.2],
            vec![vec![-5.0, -5.0], vec![5.0, 5.0]],
            iso(1.0, 2),
        ),
        "ring8" => {
            let means = (0..8)
                .map(|i| {
                    let a = i as f64 * std::f64::consts::PI / 4.0;
                    vec![5.0 * a.cos(), 5.0 * a.sin()]
                })
                .collect();
            (vec![0.125; 8], means, iso(0.25, 8))
        }
        "anisotropic3" => (
            vec![0.45, 0.35, 0.2],
            vec![vec![-4.0, -2.0], vec![4.0, -2.0], vec![0.0, 4.0]],
            vec![
                full([[2.0, 1.2], [1.2, 1.0]]),
                full([[1.0, -0.7], [-0.7, 1.5]]),
                Value::from(vec![3.0, 0.3]),
            ],
        ),
        "grid25" => {
            let mut means = vec![];
            for i in 0..5 {
                for j in 0..5 {
                    means.push(vec![3.0 * (i as f64 - 2.0), 3.0 * (j as f64 - 2.0)]);
                }
            }
            (vec![0.04; 25], means, iso(0.16, 25))
        }
        _ => unreachable!("listed in PRESETS"),
    };
    let spec = GmmSpec {
        weights,
        means,
        covs,
        name: Some(name.to_string()),
        description: Some(desc.to_string()),
    };
    Gmm::from_spec(spec)
}

/// The exact Gaussian-mixture presets (`--model NAME`, `data` of training): the preset
/// registry, from [`PRESETS`].
pub fn registry() -> crate::registry::Registry {
    crate::registry::Registry {
        kind: "preset",
        field: "model",
        entries: PRESETS
            .iter()
            .map(|(name, description)| crate::registry::Entry::plain(name, description))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_preset_builds() {
        for (name, _) in super::PRESETS {
            let g = super::preset(name).unwrap();
            assert_eq!(g.dim(), 2);
        }
        assert!(super::preset("nope")
            .unwrap_err()
            .to_string()
            .contains("two-modes, ring8"));
    }
}
