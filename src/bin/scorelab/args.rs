//! What the subcommands share: the SDE flags, `--model` mixtures, enum flags, progress
//! bars, and the checks of a `--backend` (so `cli.rs` and `train.rs` need not import each
//! other).

use clap::builder::{PossibleValue, TypedValueParser};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use scorelab::app::registry::{self, Registry};
use scorelab::config::json_error;
use scorelab::model::gmm::Gmm;
use scorelab::model::presets::{self, preset_names};
use scorelab::sde::Sde;
use scorelab::{Error, Result};
use serde_json::{json, Value};

/// A flag whose values are a registry's names (`--sampler`, `--sde`, ...): `--help` lists
/// them with their descriptions; the check is the library's, whose message names the flag
/// and every accepted name (clap's own would differ between flags and `--config`).
#[derive(Clone)]
pub(crate) struct Choice(pub(crate) fn() -> Registry);

impl TypedValueParser for Choice {
    type Value = String;

    fn parse_ref(
        &self,
        _cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> std::result::Result<String, clap::Error> {
        Ok(value.to_string_lossy().into_owned())
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        let entries = (self.0)().entries;
        Some(Box::new(
            entries
                .into_iter()
                .map(|e| PossibleValue::new(e.name).help(e.description)),
        ))
    }
}

#[derive(Args)]
pub(crate) struct SdeArgs {
    /// Forward SDE [default: vp]
    #[arg(long, value_parser = Choice(registry::sdes))]
    pub(crate) sde: Option<String>,
    /// VE: smallest noise std [default: 0.01]
    #[arg(long)]
    pub(crate) sigma_min: Option<f64>,
    /// VE: largest noise std [default: 50]; ve-notebook: its sigma [default: 25]
    #[arg(long)]
    pub(crate) sigma_max: Option<f64>,
    /// VP/sub-VP: beta at t=0 [default: 0.1]
    #[arg(long)]
    pub(crate) beta_min: Option<f64>,
    /// VP/sub-VP: beta at t=1 [default: 20]
    #[arg(long)]
    pub(crate) beta_max: Option<f64>,
}

impl SdeArgs {
    /// No SDE flag was given.
    pub(crate) fn is_default(&self) -> bool {
        self.sde.is_none()
            && self.sigma_min.is_none()
            && self.sigma_max.is_none()
            && self.beta_min.is_none()
            && self.beta_max.is_none()
    }
}

/// Resolve `--model`: a preset name or `gmm:FILE`.
pub(crate) fn load_model(spec: &str) -> Result<Gmm> {
    if let Some(path) = spec.strip_prefix("gmm:") {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Gmm::from_json(&text).map_err(|e| match e {
            Error::Invalid { field, message } => {
                Error::invalid(format!("{path}: {field}"), message)
            }
            o => o,
        })
    } else if presets::PRESETS.iter().any(|p| p.0 == spec) {
        presets::preset(spec)
    } else {
        Err(Error::invalid(
            "--model",
            format!(
                "unknown model '{spec}'; accepted: a preset ({}), gmm:FILE.json or a .safetensors weight file",
                preset_names()
            ),
        ))
    }
}

/// Apply `--sde` and its parameter flags over a starting SDE.
pub(crate) fn apply_sde(base: Sde, a: &SdeArgs) -> Result<Sde> {
    let mut sde = match &a.sde {
        Some(name) if name != base.name() => {
            Sde::from_name(name).map_err(|e| e.relabel("--sde"))?
        }
        _ => base,
    };
    let mut v = serde_json::to_value(sde).unwrap();
    let name = sde.name();
    let set = |v: &mut Value, flag: &str, key: &str, val: Option<f64>, ok: bool| -> Result<()> {
        if let Some(x) = val {
            if !ok {
                return Err(Error::invalid(
                    flag,
                    format!("does not apply to the {name} SDE"),
                ));
            }
            if !x.is_finite() {
                return Err(Error::invalid(
                    flag,
                    format!("must be a finite number, got {x}"),
                ));
            }
            v[key] = json!(x);
        }
        Ok(())
    };
    let is_ve = name == "ve";
    let is_vp = name == "vp" || name == "subvp";
    set(&mut v, "--sigma-min", "sigma_min", a.sigma_min, is_ve)?;
    if name == "ve-notebook" {
        set(&mut v, "--sigma-max", "sigma", a.sigma_max, true)?;
    } else {
        set(&mut v, "--sigma-max", "sigma_max", a.sigma_max, is_ve)?;
    }
    set(&mut v, "--beta-min", "beta_min", a.beta_min, is_vp)?;
    set(&mut v, "--beta-max", "beta_max", a.beta_max, is_vp)?;
    sde = serde_json::from_value(v).map_err(|e| json_error("--sde", &e))?;
    sde.validate().map_err(|e| match e {
        Error::Invalid { field, message } => Error::invalid(
            format!("--{}", field.trim_start_matches("sde.").replace('_', "-")),
            message,
        ),
        o => o,
    })?;
    Ok(sde)
}

/// A progress bar over `total` steps (a spinner without a total).
pub(crate) fn progress(total: Option<usize>) -> ProgressBar {
    match total {
        Some(t) => {
            let pb = ProgressBar::new(t as u64);
            pb.set_style(
                ProgressStyle::with_template(
                    "{bar:40} {pos}/{len} steps  {msg}  [{elapsed_precise} < {eta_precise}]",
                )
                .unwrap(),
            );
            pb
        }
        None => {
            let pb = ProgressBar::new_spinner();
            pb.set_style(
                ProgressStyle::with_template("{spinner} {pos} steps  {msg}  [{elapsed_precise}]")
                    .unwrap(),
            );
            pb
        }
    }
}

/// Parse a flag's value into a kebab-case serde enum, or one line naming the flag and the
/// accepted values.
pub(crate) fn parse_choice<T: serde::de::DeserializeOwned>(
    flag: &str,
    value: &str,
    accepted: &str,
) -> Result<T> {
    serde_json::from_value(Value::String(value.to_string()))
        .map_err(|_| Error::invalid(flag, format!("unknown '{value}'; accepted: {accepted}")))
}

/// Check that a CUDA device answers before anything is trained or read: without a driver
/// or a GPU, burn-cuda panics on a worker thread; here that becomes one clear error.
#[cfg(feature = "cuda")]
pub fn cuda_probe() -> Result<()> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let probe = std::thread::spawn(|| {
        let device = Default::default();
        burn::tensor::Tensor::<burn::backend::Cuda, 1>::zeros([1], &device).into_data()
    })
    .join();
    std::panic::set_hook(hook);
    probe.map(|_| ()).map_err(|_| {
        Error::invalid(
            "--backend",
            "cuda: no CUDA device could be opened (is the NVIDIA driver installed, is a GPU visible, and is libnvrtc on LD_LIBRARY_PATH?); accepted here: cpu, wgpu",
        )
    })
}

/// The error for a `--backend` this build cannot run: one compiled out, or an unknown name.
pub fn backend_error(name: &str) -> Error {
    match name {
        "wgpu" | "cuda" => Error::invalid(
            "--backend",
            format!("this build has no {name} backend; rebuild with `cargo build --release --features {name}`"),
        ),
        other => Error::invalid(
            "--backend",
            format!("unknown backend '{other}'; accepted: cpu, wgpu, cuda"),
        ),
    }
}
