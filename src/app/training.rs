//! A training run's network from its name and size, as the CLI's `--model`/`--hidden`/
//! `--layers` and the page's training spec (`hidden`, `layers`; always `mlp`) give it.
//!
//! The rest of a run is already one implementation each: the objective by name
//! ([`crate::config::training::TrainConfig::with_named_objective`]), the data
//! ([`super::data::TrainingData`]), the run ([`crate::train::Trainer`]) and its files
//! ([`super::checkpoint`]).

use crate::config::training::Objective;
use crate::error::Result;
use crate::weights::Architecture;

/// The network an objective trains when none is named: `flow` (the MLP's velocity head)
/// for flow matching, else `mlp`.
pub fn default_network(objective: Objective) -> &'static str {
    match objective {
        Objective::FlowMatching => "flow",
        _ => "mlp",
    }
}

/// The network `name` (the network registry, [`crate::model::net::networks`]) for data of
/// dimension `dim`, `layers` hidden layers of width `hidden` where it has them (the MLPs and
/// the energy network; the U-Nets keep the notebook's channels), checked. Errors name the
/// fields `model`, `hidden`, `layers`.
pub fn architecture(name: &str, dim: usize, hidden: usize, layers: usize) -> Result<Architecture> {
    let arch = match Architecture::named(name, dim)? {
        Architecture::Mlp(c) => Architecture::Mlp(c.with_hidden(hidden).with_layers(layers)),
        Architecture::Energy(c) => Architecture::Energy(c.with_hidden(hidden).with_layers(layers)),
        unet => unet,
    };
    arch.validate().map_err(|e| match e {
        crate::Error::Invalid { field, message } => {
            crate::Error::invalid(field.trim_start_matches("model.").to_string(), message)
        }
        o => o,
    })?;
    Ok(arch)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Widths apply to the MLPs and the energy network, not to the U-Net; bad sizes and
    /// names are refused naming their field.
    #[test]
    fn networks_by_name_and_size() {
        let a = architecture("ncsn", 2, 16, 2).unwrap();
        assert_eq!(a.name(), "ncsn");
        let Architecture::Mlp(c) = &a else { panic!() };
        assert_eq!((c.hidden, c.layers), (16, 2));
        let Architecture::Energy(c) = architecture("energy", 2, 8, 1).unwrap() else {
            panic!()
        };
        assert_eq!((c.hidden, c.layers), (8, 1));
        assert_eq!(architecture("unet", 784, 8, 1).unwrap().name(), "unet");
        let e = architecture("mlp", 2, 0, 3).unwrap_err().to_string();
        assert!(e.starts_with("invalid hidden"), "{e}");
        let e = architecture("resnet", 2, 8, 1).unwrap_err().to_string();
        assert!(e.contains("invalid model: unknown network 'resnet'"), "{e}");
        assert!(e.contains("unet-ncsn"), "{e}");
        assert!(architecture("unet", 2, 8, 1).is_err());
    }
}
