//! A training run's network from its name and size, as the CLI's `--model`/`--hidden`/
//! `--layers` and the page's training spec (`hidden`, `layers`; always `mlp`) give it, and
//! its classes for a class-conditional run (`--conditional`, the page's `conditional`).
//!
//! The rest of a run is already one implementation each: the objective by name
//! ([`crate::config::training::TrainConfig::with_named_objective`]), the data
//! ([`super::data::TrainingData`]), the run ([`crate::train::Trainer`]) and its files
//! ([`super::checkpoint`]).

use super::data::TrainingData;
use crate::config::training::Objective;
use crate::error::{Error, Result};
use crate::weights::Architecture;
use std::sync::Arc;

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

/// A class-conditional run's network and row labels ([`crate::model::labels`]): without
/// `conditional` the network as it is and no labels; with it, the data's classes (a
/// mixture's components, an image's digit, points drawn with classes) give the network its
/// label count. Data without classes: an error on `field` (the CLI's `--conditional`, the
/// page's `conditional`) naming `data` and what has classes (`accepted`).
pub fn conditioning(
    arch: Architecture,
    data: &TrainingData,
    conditional: bool,
    field: &str,
    data_name: &str,
    accepted: &str,
) -> Result<(Architecture, Option<Arc<[usize]>>)> {
    if !conditional {
        return Ok((arch, None));
    }
    let Some(labels) = &data.labels else {
        return Err(Error::invalid(
            field,
            format!("the data '{data_name}' have no classes; accepted: {accepted}"),
        ));
    };
    let arch = arch.with_classes(labels.classes)?;
    Ok((arch, Some(Arc::from(labels.of_rows.clone()))))
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

    /// A conditional run takes the data's classes (a mixture's components, labels of one's
    /// own); data without classes and bad labels are refused naming their field.
    #[test]
    fn conditioning_takes_the_data_classes() {
        let arch = architecture("mlp", 2, 16, 2).unwrap();
        let gmm = crate::model::presets::preset("ring8").unwrap();
        let sampled = TrainingData::sampled(gmm, 50, 0);
        let (a, labels) =
            conditioning(arch.clone(), &sampled, true, "conditional", "ring8", "").unwrap();
        assert_eq!(a.classes(), Some(8));
        assert_eq!(labels.unwrap().len(), 50);
        let (a, labels) =
            conditioning(arch.clone(), &sampled, false, "conditional", "ring8", "").unwrap();
        assert_eq!((a.classes(), labels), (None, None));
        let points = TrainingData::points(vec![0.0, 0.0, 1.0, 1.0, 2.0, 2.0], 2, "points").unwrap();
        let e = conditioning(
            arch.clone(),
            &points,
            true,
            "conditional",
            "drawn",
            "points with classes",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("invalid conditional: the data 'drawn' have no classes; accepted: points with classes"), "{e}");
        let drawn = points.clone().with_labels(vec![0, 2, 2], "labels").unwrap();
        let (a, labels) = conditioning(arch, &drawn, true, "conditional", "drawn", "").unwrap();
        assert_eq!(a.classes(), Some(3));
        assert_eq!(&*labels.unwrap(), &[0, 2, 2]);
        let e = points
            .clone()
            .with_labels(vec![0, 1], "labels")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("invalid labels: need one class per point (3 points), got 2"),
            "{e}"
        );
        let e = points
            .with_labels(vec![0, 1, 64], "labels")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("invalid labels: classes are 0 to 63, got 64"),
            "{e}"
        );
    }
}
