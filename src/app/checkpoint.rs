//! What a training run writes: its manifest, and checkpoints (the EMA weights a sampler
//! loads, with or without the state a resumed run continues from).
//!
//! Why here: the CLI's `train --out` and the page's "save" / "export" write the same file
//! format (`crate::weights`); the manifest fields that make a file loadable (architecture,
//! SDE, data, steps, the training configuration) come from the trainer in one place, and
//! each adapter adds only its own metrics (the CLI its command line and backend, the page
//! "trained_in": "browser").

use crate::error::Result;
use crate::train::Trainer;
use crate::weights::{self, Manifest, WeightFile};
use burn::tensor::backend::AutodiffBackend;
use std::collections::BTreeMap;

/// The manifest of `trainer`'s current state, trained on `data` (the data setting as given),
/// with the adapter's `metrics` ("seconds" is read back by [`recorded_seconds`]).
pub fn training_manifest<B: AutodiffBackend>(
    trainer: &Trainer<B>,
    data: &str,
    metrics: BTreeMap<String, serde_json::Value>,
) -> Manifest {
    Manifest {
        format_version: weights::FORMAT_VERSION,
        architecture: trainer.arch.clone(),
        sde: trainer.sde,
        data: data.to_string(),
        steps: trainer.step,
        training: Some(trainer.cfg.clone()),
        ema: true,
        metrics,
    }
}

/// Weight-file bytes of `trainer` under `manifest`: the EMA weights, and with `state` the
/// raw weights, Adam's moments and the step (what [`Trainer::restore`] continues from, on
/// this backend or another).
pub async fn checkpoint_bytes<B: AutodiffBackend>(
    trainer: &Trainer<B>,
    manifest: &Manifest,
    state: bool,
) -> Result<Vec<u8>> {
    let mut tensors = weights::host_tensors(trainer.ema(), "").await?;
    if state {
        tensors.extend(trainer.state().await?);
    }
    Ok(weights::encode(tensors, manifest))
}

/// The training seconds a checkpoint recorded (its "seconds" metric), if any.
pub fn recorded_seconds(file: &WeightFile) -> Option<f64> {
    file.manifest
        .metrics
        .get("seconds")
        .and_then(|v| v.as_f64())
}
