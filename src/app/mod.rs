//! The application layer: what the CLI (`src/bin/scorelab`) and the page (`src/web`) both
//! do above the algorithms, written once and tested natively.
//!
//! The adapters only translate: the CLI reads files and flags, the page reads JSON and
//! bytes from JavaScript; both hand the results to these functions and translate their
//! errors (a field name such as `sde` becomes the flag `--sde` or stays the JSON key).
//!
//! - [`model`]: a `model` setting resolved to an exact mixture or a network, its SDE (a
//!   network only scores under its own), its reference mixture, the score model on a backend.
//! - [`data`]: the training data a `data` setting names (toy sets, mixture samples, points).
//! - [`likelihood`]: log-densities of a table of points and bits/dim of images, with the
//!   dequantisation and the probes seeded the same way everywhere.
//! - [`checkpoint`]: a training run's manifest and its checkpoint bytes.
//! - [`sampling`]: a sampling run, the score model and the sampler over it.
//! - [`training`]: a training run's network from its name and size.
//! - [`frontier`]: every sampler at budgets of score evaluations against the exact answer.
//! - [`registry`]: every kind's choices (names, descriptions, parameters) for `list`, the
//!   CLI's help and the page's menus.

pub mod checkpoint;
pub mod data;
pub mod frontier;
pub mod likelihood;
pub mod model;
pub mod registry;
pub mod sampling;
pub mod training;
