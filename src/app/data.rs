//! The training data a `data` setting names: a 2-D toy set, samples of a mixture, or points
//! of one's own (a file, or drawn in the page).
//!
//! What: [`TrainingData`], the rows a trainer learns from, with the mixture they were drawn
//! from where there is one (the Fisher divergence's and the samples' reference). Why here:
//! the CLI (`--data`) and the page (`data`, `mixture`, `points`) accept overlapping kinds of
//! data; the draws (which seed, how many) and the checks on points are the same for both.
//! Reading files stays with the CLI; the image sets are `crate::data::images`.

use crate::data::toy::{toy, toy_names, TOY_SETS};
use crate::error::{Error, Result};
use crate::model::gmm::Gmm;
use crate::model::presets::{preset, preset_names, PRESETS};
use crate::rng::Noise;

/// The largest coordinate a training point may have (beyond it the network's inputs and
/// the loss overflow long before anything is learnt).
pub const MAX_ABS_COORDINATE: f64 = 1e6;

/// Rows to train on.
#[derive(Debug, Clone)]
pub struct TrainingData {
    /// `[n, dim]`, row-major.
    pub rows: Vec<f64>,
    pub dim: usize,
    /// The mixture the rows were drawn from, if any.
    pub mixture: Option<Gmm>,
    /// The rows' classes, where the data have them: a mixture's component, an image's label.
    pub labels: Option<ClassLabels>,
}

/// Class labels of training rows (for a class-conditional network,
/// [`crate::model::labels`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ClassLabels {
    /// One label per row, each in `0..classes`.
    pub of_rows: Vec<usize>,
    pub classes: usize,
}

impl TrainingData {
    /// `n` points of a toy set or mixture preset `name`, drawn from `seed`; `None` if `name`
    /// is neither.
    pub fn named(name: &str, n: usize, seed: u64) -> Option<Result<Self>> {
        if TOY_SETS.iter().any(|t| t.0 == name) {
            return Some(toy(name, n, seed).map(|rows| TrainingData {
                rows,
                dim: 2,
                mixture: None,
                labels: None,
            }));
        }
        if PRESETS.iter().any(|p| p.0 == name) {
            return Some(preset(name).map(|g| Self::sampled(g, n, seed)));
        }
        None
    }

    /// `n` points drawn from the mixture `gmm` with `seed`, labelled with their components.
    pub fn sampled(gmm: Gmm, n: usize, seed: u64) -> Self {
        let mut noise = Noise::new(seed);
        let (rows, of_rows) = gmm.sample_labelled(n, noise.rng());
        TrainingData {
            rows,
            dim: gmm.dim(),
            labels: Some(ClassLabels {
                of_rows,
                classes: gmm.components(),
            }),
            mixture: Some(gmm),
        }
    }

    /// Labelled images (MNIST's digits, Fashion-MNIST's ten kinds).
    pub fn images(images: crate::data::images::Images) -> Self {
        TrainingData {
            rows: images.pixels,
            dim: crate::data::images::PIXELS,
            mixture: None,
            labels: Some(ClassLabels {
                of_rows: images.labels.iter().map(|l| *l as usize).collect(),
                classes: 10,
            }),
        }
    }

    /// Points of one's own (`[n, dim]`, row-major): at least two rows, every coordinate
    /// finite and within ±[`MAX_ABS_COORDINATE`]. `field` names them in errors.
    pub fn points(rows: Vec<f64>, dim: usize, field: &str) -> Result<Self> {
        if dim == 0 || !rows.len().is_multiple_of(dim) || rows.len() < 2 * dim {
            return Err(Error::invalid(
                field,
                format!(
                    "need at least 2 points of {dim} coordinates (a multiple of {dim} values), got {} values",
                    rows.len()
                ),
            ));
        }
        if let Some(v) = rows
            .iter()
            .find(|v| !v.is_finite() || v.abs() > MAX_ABS_COORDINATE)
        {
            return Err(Error::invalid(
                field,
                format!("coordinates must be finite and within ±1e6, got {v}"),
            ));
        }
        Ok(TrainingData {
            rows,
            dim,
            mixture: None,
            labels: None,
        })
    }

    /// The rows with classes of one's own (the page's drawn points, each stroke drawn with a
    /// class): one label per row, each below [`MAX_CLASSES`]; the classes are `0..=max`.
    /// `field` names the labels in errors.
    pub fn with_labels(mut self, labels: Vec<usize>, field: &str) -> Result<Self> {
        let n = self.rows.len() / self.dim;
        if labels.len() != n {
            return Err(Error::invalid(
                field,
                format!(
                    "need one class per point ({n} points), got {}",
                    labels.len()
                ),
            ));
        }
        let classes = labels.iter().max().map_or(0, |m| m + 1);
        if classes > MAX_CLASSES {
            return Err(Error::invalid(
                field,
                format!("classes are 0 to {}, got {}", MAX_CLASSES - 1, classes - 1),
            ));
        }
        self.labels = Some(ClassLabels {
            of_rows: labels,
            classes,
        });
        Ok(self)
    }
}

/// The most classes points of one's own may carry.
pub const MAX_CLASSES: usize = 64;

/// Points from a file's bytes, by the extension of its `name`: `.npy` (float32 or float64,
/// `[n, d]`, C order) or `.csv` (`crate::data::csv`). `dim` is the width required (the page
/// trains 2-D points), `None` any. Errors name the file. The one reader of point files: the
/// CLI's `train --data FILE` and the page's file drop both call it.
pub fn points_file(name: &str, bytes: &[u8], dim: Option<usize>) -> Result<TrainingData> {
    let lower = name.to_ascii_lowercase();
    let (rows, d) = if lower.ends_with(".npy") {
        let a = crate::npy::parse(bytes, name)?;
        crate::npy::check_matrix(&a, name, None)?;
        let d = a.shape[1];
        (a.data, d)
    } else if lower.ends_with(".csv") {
        let text = std::str::from_utf8(bytes)
            .map_err(|e| Error::invalid(name, format!("is not UTF-8 text ({e})")))?;
        crate::data::csv::parse(text, name)?
    } else {
        return Err(Error::invalid(
            name,
            "unknown kind of file; accepted: .npy (float32/float64, [n, d]) or .csv",
        ));
    };
    if let Some(want) = dim {
        if d != want {
            return Err(Error::invalid(
                name,
                format!("{d} columns; accepted: {want} (one point per row)"),
            ));
        }
    }
    TrainingData::points(rows, d, name)
}

/// The error for a `data` setting that names nothing: what is accepted, the toy sets and
/// presets first, then `more` (the adapter's own kinds, e.g. "mnist, FILE.npy").
pub fn unknown_data(field: &str, spec: &str, more: &str) -> Error {
    let more = if more.is_empty() {
        String::new()
    } else {
        format!(", {more}")
    };
    Error::invalid(
        field,
        format!(
            "unknown data '{spec}'; accepted: {}, a preset ({}){more}",
            toy_names(),
            preset_names()
        ),
    )
}
