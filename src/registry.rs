//! What a registry is: the choices of one kind of thing a user picks by name (SDEs,
//! samplers, predictors, correctors, ODE solvers, training objectives, networks, data sets,
//! mixture presets, likelihood estimators), each declared once with its name, a one-line
//! description and its parameters.
//!
//! Each kind's registry is declared by the module that owns the kind, beside its settings
//! type (`crate::sde::registry`, `crate::sample::samplers`, ...), so this module depends on
//! nothing; `crate::app::registry` gathers them for `scorelab list`, the CLI's `--help` and the
//! page's menus (the wasm function `choices`), and checks them against the settings types.

use crate::error::Error;
use serde::Serialize;

/// One setting of an entry: its key in the settings JSON (`snr`, `sigma_max`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Param {
    pub name: &'static str,
    pub description: &'static str,
}

/// One choice: its name, what it is, and the settings it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub name: &'static str,
    pub description: &'static str,
    pub params: &'static [Param],
}

impl Entry {
    /// An entry without parameters.
    pub const fn plain(name: &'static str, description: &'static str) -> Self {
        Entry {
            name,
            description,
            params: &[],
        }
    }

    pub const fn with(
        name: &'static str,
        description: &'static str,
        params: &'static [Param],
    ) -> Self {
        Entry {
            name,
            description,
            params,
        }
    }

    pub fn has_param(&self, key: &str) -> bool {
        self.params.iter().any(|p| p.name == key)
    }
}

/// The choices of one kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Registry {
    /// What a choice is called in messages ("sampler", "SDE").
    pub kind: &'static str,
    /// The settings field that holds the choice (`sampler`, `sde`, `objective`).
    pub field: &'static str,
    pub entries: Vec<Entry>,
}

impl Registry {
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.entries.iter().map(|e| e.name)
    }

    /// The names as a message lists them: `em, pc, langevin`.
    pub fn accepted(&self) -> String {
        self.names().collect::<Vec<_>>().join(", ")
    }

    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// The error for a name that is not here, naming the field and every accepted name.
    pub fn unknown(&self, name: &str) -> Error {
        Error::invalid(
            self.field,
            format!(
                "unknown {} '{name}'; accepted: {}",
                self.kind,
                self.accepted()
            ),
        )
    }

    /// The entries that take the parameter `key`.
    pub fn taking(&self, key: &str) -> Vec<&'static str> {
        self.entries
            .iter()
            .filter(|e| e.has_param(key))
            .map(|e| e.name)
            .collect()
    }
}

/// A parameter (for `const` tables).
pub const fn param(name: &'static str, description: &'static str) -> Param {
    Param { name, description }
}
