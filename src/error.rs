//! One error type for the crate: every boundary (CLI, wasm API, file readers)
//! turns bad input into a single line that names the field and what is accepted.

use std::fmt;

/// An error with a one-line, user-facing message.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// A user-supplied value is out of range or unknown. `field` is the
    /// configuration path (`sampler.steps`, `--snr`, `weights[2]`, ...).
    Invalid { field: String, message: String },
    /// A file could not be read or written.
    Io { path: String, message: String },
    /// The compute backend failed (device lost, readback failed, ...).
    Backend(String),
}

impl Error {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
    pub fn io(path: impl Into<String>, message: impl fmt::Display) -> Self {
        Error::Io {
            path: path.into(),
            message: message.to_string(),
        }
    }
    /// Replace the field name (e.g. a config key by the CLI flag that set it).
    pub fn relabel(self, field: &str) -> Self {
        match self {
            Error::Invalid { message, .. } => Error::Invalid {
                field: field.into(),
                message,
            },
            other => other,
        }
    }
    /// Prefix the field path, e.g. `steps` inside `sampler` becomes `sampler.steps`.
    pub fn within(self, parent: &str) -> Self {
        match self {
            Error::Invalid { field, message } => Error::Invalid {
                field: format!("{parent}.{field}"),
                message,
            },
            other => other,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Invalid { field, message } => write!(f, "invalid {field}: {message}"),
            Error::Io { path, message } => write!(f, "{path}: {message}"),
            Error::Backend(m) => write!(f, "backend error: {m}"),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// Check that a number is finite and strictly positive.
pub fn positive(field: &str, v: f64) -> Result<f64> {
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(Error::invalid(
            field,
            format!("must be a finite number > 0, got {v}"),
        ))
    }
}

/// Check that a number is finite and inside `[lo, hi]`.
pub fn in_range(field: &str, v: f64, lo: f64, hi: f64) -> Result<f64> {
    if v.is_finite() && v >= lo && v <= hi {
        Ok(v)
    } else {
        Err(Error::invalid(
            field,
            format!("must be in [{lo}, {hi}], got {v}"),
        ))
    }
}

/// Check that a count is inside `[lo, hi]`.
pub fn count(field: &str, v: usize, lo: usize, hi: usize) -> Result<usize> {
    if v >= lo && v <= hi {
        Ok(v)
    } else {
        Err(Error::invalid(
            field,
            format!("must be an integer in [{lo}, {hi}], got {v}"),
        ))
    }
}

/// Turn a serde error into one line naming the offending field and, for unknown variants,
/// the accepted names (serde's own message lists them).
pub fn json_error(what: &str, e: &serde_json::Error) -> Error {
    let msg = e.to_string();
    let msg = msg.split(" at line").next().unwrap_or(&msg).to_string();
    Error::invalid(what, msg)
}
