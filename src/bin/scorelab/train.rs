//! `scorelab train`: flags, data loading, checkpoints and the loss log around the library's
//! [`Trainer`] (the same trainer the browser runs).

#[cfg(feature = "cuda")]
use crate::args::cuda_probe;
use crate::args::{apply_sde, backend_error, load_model, parse_choice, progress, Choice, SdeArgs};
use burn::tensor::backend::AutodiffBackend;
use clap::Args;
use scorelab::app::data::{points_file, unknown_data, TrainingData};
use scorelab::app::registry;
use scorelab::app::{checkpoint, training};
use scorelab::npy;
use scorelab::sde::Sde;
use scorelab::train::parallel::Shard;
use scorelab::train::{Objective, SlicedProbe, TimeSampling, Weighting};
use scorelab::train::{TrainConfig, Trainer};
use scorelab::weights::{self, Architecture};
use scorelab::{Error, Result};
use std::io::Write;
use std::time::Instant;

type TB = scorelab::CpuBackend<f32>;

#[derive(Args)]
pub struct TrainArgs {
    /// A 2-D toy set (swiss-roll, moons, eight-gaussians, checkerboard, rings, pinwheel,
    /// spirals), a mixture preset or gmm:FILE.json (sampled), or points in .npy / .csv
    #[arg(long)]
    data: String,
    /// The network (default: mlp; flow for --objective flow-matching)
    #[arg(long, value_parser = Choice(registry::networks))]
    model: Option<String>,
    #[command(flatten)]
    sde: SdeArgs,
    /// The training objective (each sets the objective, --weighting and --t-sampling; later
    /// flags override the last two)
    #[arg(long, default_value = "dsm", value_parser = Choice(registry::objectives))]
    objective: String,
    /// λ(t): std2 (the notebook) or likelihood (g²)
    #[arg(long, default_value = "std2")]
    weighting: String,
    /// How t is drawn (dsm, ssm, ism): uniform on [--t-eps, 1], or importance (log noise level
    /// uniform, density ∝ g²/std², Song et al. 2021b; rows reweighted so the objective is
    /// unchanged; with --weighting likelihood it is the low-variance likelihood objective)
    #[arg(long, default_value = "uniform")]
    t_sampling: String,
    /// Smallest training time ε (dsm, ssm, ism): t is drawn from [ε, 1], so σ(ε) is the
    /// smallest noise level the network learns, and `scorelab likelihood` computes the density
    /// of p_ε by default. 1e-7 to 0.5
    #[arg(long, default_value_t = 1e-5)]
    t_eps: f64,
    /// ssm: projection distribution, gaussian or rademacher
    #[arg(long, default_value = "gaussian")]
    probe: String,
    #[arg(long, default_value_t = 2000)]
    steps: usize,
    #[arg(long, default_value_t = 512)]
    batch: usize,
    #[arg(long, default_value_t = 2e-3)]
    lr: f64,
    /// Linear learning-rate warm-up steps
    #[arg(long, default_value_t = 100)]
    warmup: usize,
    /// Gradient-norm clip per parameter tensor (0: off)
    #[arg(long, default_value_t = 1.0)]
    grad_clip: f64,
    /// EMA decay of the saved (sampling) weights
    #[arg(long, default_value_t = 0.999)]
    ema: f64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// MLP width
    #[arg(long, default_value_t = 128)]
    hidden: usize,
    /// MLP hidden layers
    #[arg(long, default_value_t = 3)]
    layers: usize,
    /// Points drawn from a generated data set (toy sets, mixtures)
    #[arg(long, default_value_t = 20_000)]
    n_data: usize,
    /// cpu (ndarray), wgpu (Vulkan/Metal/DX12; build with --features wgpu), cuda (build with
    /// --features cuda)
    #[arg(long, default_value = "cpu")]
    backend: String,
    /// Data-parallel training on N devices of the backend (GPUs 0..N-1; with cpu, N replicas
    /// on the CPU's cores): --batch rows per device, gradients averaged by burn's all-reduce,
    /// the same run as one device with N times the batch
    #[arg(long, default_value_t = 1)]
    devices: usize,
    /// Continue from the checkpoint at --out (weights, EMA and Adam state) up to --steps
    #[arg(long)]
    resume: bool,
    /// Start from this weight file's (EMA) weights: the same network, or its unconditional
    /// form for --conditional (the label embedding starts at zero); fresh optimiser, step 0
    #[arg(long, conflicts_with = "resume")]
    init: Option<String>,
    /// Train a class-conditional network on the data's classes (a preset's components, the
    /// image sets' labels): a label embedding with a null label, learnt from --label-dropout
    /// of the rows, for classifier-free guidance (`sample --class K --guidance W`)
    #[arg(long)]
    conditional: bool,
    /// Probability that a row's label is replaced by the null label (--conditional; 0 to 1)
    #[arg(long, default_value_t = 0.1)]
    label_dropout: f64,
    /// Write only the sampling (EMA) weights: smaller files that cannot be resumed
    #[arg(long)]
    no_state: bool,
    /// Uniform dequantisation of pixel data, (255x + u)/256 (default: on for image sets)
    #[arg(long)]
    dequantize: Option<bool>,
    /// ncsn objective: noise levels L
    #[arg(long, default_value_t = 20)]
    levels: usize,
    /// ddpm objective: discrete steps N
    #[arg(long, default_value_t = 1000)]
    ddpm_steps: usize,
    /// Weight file to write (.safetensors), atomically
    #[arg(long)]
    out: String,
    /// Loss log, JSON lines [default: OUT.loss.jsonl]
    #[arg(long)]
    log: Option<String>,
    /// Write a checkpoint every K steps
    #[arg(long, default_value_t = 500)]
    checkpoint_every: usize,
    /// Stop after this many seconds of this run (checkpointed; --resume continues)
    #[arg(long)]
    time_limit: Option<f64>,
}

/// Training points `[N, d]` from the `--data` argument: a toy set or preset
/// (`scorelab::app::data`), a gmm file, points in .npy or .csv, or an image set; with their
/// classes where they have them.
fn load_data(spec: &str, n: usize, seed: u64) -> Result<TrainingData> {
    let data = if let Some(named) = TrainingData::named(spec, n, seed) {
        named?
    } else if spec.starts_with("gmm:") {
        TrainingData::sampled(load_model(spec)?, n, seed)
    } else if spec.ends_with(".npy") || spec.ends_with(".csv") {
        let bytes = std::fs::read(spec).map_err(|e| Error::io(spec, e))?;
        points_file(spec, &bytes, None)?
    } else if let Some(images) = scorelab::data::images::named(spec) {
        TrainingData::images(images?)
    } else {
        return Err(unknown_data(
            "--data",
            spec,
            "mnist, fashion, gmm:FILE.json, FILE.npy, FILE.csv",
        ));
    };
    Ok(data)
}

pub async fn train(a: TrainArgs) -> Result<()> {
    if a.devices == 0 {
        return Err(Error::invalid("--devices", "must be at least 1"));
    }
    match a.backend.as_str() {
        "cpu" => {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            if a.devices > cores {
                return Err(Error::invalid(
                    "--devices",
                    format!(
                        "{} CPU replicas asked for, this machine has {cores} cores; accepted: 1 to {cores}",
                        a.devices
                    ),
                ));
            }
            let devices = vec![Default::default(); a.devices];
            train_on::<TB>(a, devices).await
        }
        #[cfg(feature = "wgpu")]
        "wgpu" => {
            use burn::backend::wgpu::WgpuDevice;
            let devices = if a.devices == 1 {
                vec![WgpuDevice::default()]
            } else {
                probe_devices::<burn::backend::Wgpu>(
                    "wgpu",
                    (0..a.devices).map(WgpuDevice::DiscreteGpu).collect(),
                )?
            };
            train_on::<burn::backend::Autodiff<burn::backend::Wgpu>>(a, devices).await
        }
        #[cfg(feature = "cuda")]
        "cuda" => {
            use burn::backend::cuda::CudaDevice;
            cuda_probe()?;
            let devices = probe_devices::<burn::backend::Cuda>(
                "cuda",
                (0..a.devices).map(CudaDevice::new).collect(),
            )?;
            train_on::<burn::backend::Autodiff<burn::backend::Cuda>>(a, devices).await
        }
        other => Err(backend_error(other)),
    }
}

/// Open each device of a multi-device run before anything is trained: a device the machine
/// does not have makes burn panic on first use; here that becomes one clear error.
#[cfg(any(feature = "wgpu", feature = "cuda"))]
fn probe_devices<B: burn::tensor::backend::Backend>(
    backend: &str,
    devices: Vec<B::Device>,
) -> Result<Vec<B::Device>>
where
    B::Device: Send + 'static,
{
    let n = devices.len();
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut found = 0;
    for device in &devices {
        let d = device.clone();
        let ok = std::thread::spawn(move || {
            burn::tensor::Tensor::<B, 1>::zeros([1], &d).into_data();
        })
        .join()
        .is_ok();
        if !ok {
            break;
        }
        found += 1;
    }
    std::panic::set_hook(hook);
    if found < n {
        let accepted = match found {
            0 | 1 => "1 (one device, the backend's default)".to_string(),
            k => format!("1 to {k}"),
        };
        return Err(Error::invalid(
            "--devices",
            format!(
                "{n} {backend} devices asked for, but device {found} ({:?}) could not be opened; accepted: {accepted}",
                devices[found],
            ),
        ));
    }
    Ok(devices)
}

async fn train_on<B: AutodiffBackend>(a: TrainArgs, devices: Vec<B::Device>) -> Result<()>
where
    B::Device: Send + 'static,
{
    let device = devices[0].clone();
    let flag = |e: Error| match e {
        Error::Invalid { field, message } => Error::invalid(
            format!("--{}", field.trim_start_matches("model.").replace('_', "-")),
            message,
        ),
        o => o,
    };
    let named = TrainConfig::default()
        .with_named_objective(&a.objective)
        .map_err(flag)?;
    // --weighting and --t-sampling can only add to the named objective's settings.
    let weighting: Weighting = parse_choice("--weighting", &a.weighting, "std2, likelihood")?;
    let time_sampling: TimeSampling =
        parse_choice("--t-sampling", &a.t_sampling, "uniform, importance")?;
    let probe: SlicedProbe = parse_choice("--probe", &a.probe, "gaussian, rademacher")?;
    if a.checkpoint_every == 0 {
        return Err(Error::invalid("--checkpoint-every", "must be at least 1"));
    }
    if !a.out.ends_with(".safetensors") {
        return Err(Error::invalid("--out", "must end in .safetensors"));
    }
    if let Some(limit) = a.time_limit {
        scorelab::error::in_range("--time-limit", limit, 1.0, 1e7)?;
    }
    scorelab::error::count("--n-data", a.n_data, 1, 10_000_000)?;
    // flow matching's path is the linear one: the default SDE there
    let default_sde = match named.objective {
        Objective::FlowMatching => Sde::Linear,
        _ => Sde::default(),
    };
    let sde: Sde = apply_sde(default_sde, &a.sde)?;
    let previous = if a.resume {
        let bytes = std::fs::read(&a.out).map_err(|e| {
            Error::io(
                &a.out,
                format!("{e} (--resume continues the checkpoint at --out)"),
            )
        })?;
        Some(weights::parse(&bytes, &a.out)?)
    } else {
        None
    };
    // A resumed run keeps the checkpoint's SDE unless one was given.
    let sde = match &previous {
        Some(f) if a.sde.is_default() => f.manifest.sde,
        _ => sde,
    };
    let image_data = scorelab::data::images::named(&a.data).is_some();
    let data = load_data(&a.data, a.n_data, a.seed)?;
    let dim = data.dim;
    let cfg = TrainConfig {
        steps: a.steps,
        batch: a.batch,
        lr: a.lr,
        warmup: a.warmup,
        grad_clip: a.grad_clip,
        ema: a.ema,
        seed: a.seed,
        t_eps: a.t_eps,
        weighting: match weighting {
            Weighting::Likelihood => weighting,
            Weighting::Std2 => named.weighting,
        },
        time_sampling: match time_sampling {
            TimeSampling::Importance => time_sampling,
            TimeSampling::Uniform => named.time_sampling,
        },
        objective: named.objective,
        probe,
        levels: a.levels,
        sigma_last: 0.01,
        ddpm_steps: a.ddpm_steps,
        dequantize: a.dequantize.unwrap_or(image_data),
        label_dropout: a.label_dropout,
    };
    cfg.validate().map_err(flag)?;
    let network = a
        .model
        .as_deref()
        .unwrap_or(training::default_network(named.objective));
    let arch = training::architecture(network, dim, a.hidden, a.layers).map_err(flag)?;
    let (arch, labels) = training::conditioning(
        arch,
        &data,
        a.conditional,
        "conditional",
        &a.data,
        "a mixture preset or gmm:FILE (a class is a component), mnist, fashion",
    )
    .map_err(flag)?;
    scorelab::train::loss::check_objective(&cfg, &arch, &sde).map_err(flag)?;
    let data: std::sync::Arc<[f64]> = data.rows.into();
    let mut trainer = Trainer::<B>::labelled(
        arch.clone(),
        sde,
        cfg.clone(),
        data.clone(),
        labels.clone(),
        &device,
    )?;
    let mut init_note = None;
    if let Some(path) = &a.init {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let file = weights::parse(&bytes, path)?;
        trainer.initialize(&file, path)?;
        init_note = Some(format!(
            "{path} ({}, {} steps)",
            file.manifest.architecture.name(),
            file.manifest.steps
        ));
    }
    let mut seconds_before = 0.0;
    if let Some(file) = &previous {
        // a resumed run keeps the record of the weights its first run started from
        init_note = file
            .manifest
            .metrics
            .get("initialized_from")
            .and_then(|v| v.as_str())
            .map(String::from);
        trainer.restore(file, &a.out)?;
        seconds_before = checkpoint::recorded_seconds(file).unwrap_or(0.0);
        if trainer.step >= a.steps {
            return Err(Error::invalid(
                "--steps",
                format!(
                    "the checkpoint has already taken {} steps; ask for more to resume",
                    trainer.step
                ),
            ));
        }
    }
    // Data-parallel: ranks 1..N on threads, each a trainer on its own device, stepping when
    // rank 0 (this thread: the log, the checkpoints) says so.
    let previous = previous.map(std::sync::Arc::new);
    let mut go = vec![];
    let mut workers = vec![];
    for (rank, device) in devices.iter().enumerate().skip(1) {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        go.push(tx);
        let (arch, cfg, data, device) = (arch.clone(), cfg.clone(), data.clone(), device.clone());
        let (previous, out, ranks) = (previous.clone(), a.out.clone(), devices.len());
        let (labels, init) = (labels.clone(), a.init.clone());
        workers.push(std::thread::spawn(move || {
            let run = Run {
                arch,
                sde,
                cfg,
                data,
                labels,
                init,
            };
            rank_worker::<B>(rank, ranks, run, device, previous, out, rx)
        }));
    }
    if devices.len() > 1 {
        trainer = trainer.sharded(Shard {
            rank: 0,
            ranks: devices.len(),
        })?;
    }
    let first = trainer.step + 1;
    let log_path = a
        .log
        .clone()
        .unwrap_or_else(|| format!("{}.loss.jsonl", a.out));
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(a.resume)
        .truncate(!a.resume)
        .open(&log_path)
        .map_err(|e| Error::io(&log_path, e))?;
    let command: Vec<String> = std::env::args().collect();
    let pb = progress(Some(a.steps));
    pb.set_position(trainer.step as u64);
    let started = Instant::now();
    let mut ema_loss: Option<f64> = None;
    let save = |trainer: &Trainer<B>, ema_loss: Option<f64>, secs: f64| {
        let mut metrics = std::collections::BTreeMap::new();
        metrics.insert("loss_ema".to_string(), serde_json::json!(ema_loss));
        metrics.insert("seconds".to_string(), serde_json::json!(secs));
        metrics.insert(
            "steps_per_second".to_string(),
            serde_json::json!(
                (trainer.step + 1 - first) as f64 / (secs - seconds_before).max(1e-9)
            ),
        );
        metrics.insert("backend".to_string(), serde_json::json!(a.backend));
        metrics.insert("devices".to_string(), serde_json::json!(devices.len()));
        metrics.insert("command".to_string(), serde_json::json!(command.join(" ")));
        if let Some(note) = &init_note {
            metrics.insert("initialized_from".to_string(), serde_json::json!(note));
        }
        let manifest = checkpoint::training_manifest(trainer, &a.data, metrics);
        let bytes = pollster::block_on(checkpoint::checkpoint_bytes(
            trainer,
            &manifest,
            !a.no_state,
        ))?;
        npy::write_atomic(&a.out, &bytes)
    };
    let mut last = trainer.step;
    for k in first..=a.steps {
        for tx in &go {
            let _ = tx.send(());
        }
        let loss = match trainer.step().await {
            Ok(l) => l,
            Err(e) => {
                pb.abandon();
                let kept = if std::path::Path::new(&a.out).exists() {
                    format!("{} keeps the last checkpoint", a.out)
                } else {
                    "no checkpoint was written".into()
                };
                return Err(Error::invalid("training", format!("{e} ({kept})")));
            }
        };
        ema_loss = Some(match ema_loss {
            None => loss,
            Some(m) => 0.98 * m + 0.02 * loss,
        });
        let secs = seconds_before + started.elapsed().as_secs_f64();
        writeln!(
            log,
            "{}",
            serde_json::json!({"step": k, "loss": loss, "seconds": secs})
        )
        .map_err(|e| Error::io(&log_path, e))?;
        if k % 10 == 0 || k == a.steps {
            pb.set_position(k as u64);
            pb.set_message(format!(
                "loss {:.4}  {:.1} steps/s",
                ema_loss.unwrap(),
                (k + 1 - first) as f64 / started.elapsed().as_secs_f64().max(1e-9)
            ));
        }
        last = k;
        let out_of_time = a
            .time_limit
            .is_some_and(|limit| started.elapsed().as_secs_f64() >= limit);
        if k % a.checkpoint_every == 0 || k == a.steps || out_of_time {
            save(&trainer, ema_loss, secs)?;
        }
        if out_of_time {
            break;
        }
    }
    drop(go);
    trainer.finish();
    for w in workers {
        let _ = w.join();
    }
    pb.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    let backend = match devices.len() {
        1 => a.backend.clone(),
        n => format!("{} x{n}", a.backend),
    };
    eprintln!(
        "trained steps {first}..{last} on {} ({} SDE, {backend}) in {secs:.1} s ({:.1} steps/s), loss {:.4} -> {} (log: {log_path})",
        a.data,
        sde.name(),
        (last + 1 - first) as f64 / secs,
        ema_loss.unwrap_or(f64::NAN),
        a.out
    );
    Ok(())
}

/// What every rank of a data-parallel run builds its trainer from (the same as rank 0's).
struct Run {
    arch: Architecture,
    sde: Sde,
    cfg: TrainConfig,
    data: std::sync::Arc<[f64]>,
    labels: Option<std::sync::Arc<[usize]>>,
    init: Option<String>,
}

/// Rank `rank` of a data-parallel run: the same trainer as rank 0 on its own device, one step
/// per message from rank 0 until rank 0 hangs up. The loss is averaged over the ranks before
/// anyone reads it, so a non-finite loss stops every rank at the same step (rank 0 reports
/// it). Any other failure here (a device lost) would leave the other ranks waiting in an
/// all-reduce: it is reported in one line and ends the process; the checkpoint at --out is
/// rank 0's last complete one (written atomically).
fn rank_worker<B: AutodiffBackend>(
    rank: usize,
    ranks: usize,
    r: Run,
    device: B::Device,
    previous: Option<std::sync::Arc<scorelab::weights::WeightFile>>,
    out: String,
    go: std::sync::mpsc::Receiver<()>,
) {
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| -> Result<()> {
        let mut t = Trainer::<B>::labelled(r.arch, r.sde, r.cfg, r.data, r.labels, &device)?;
        if let Some(file) = &previous {
            t.restore(file, &out)?;
        }
        if let Some(path) = &r.init {
            let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
            t.initialize(&weights::parse(&bytes, path)?, path)?;
        }
        let mut t = t.sharded(Shard { rank, ranks })?;
        while go.recv().is_ok() {
            match pollster::block_on(t.step()) {
                Ok(_) => {}
                // The loss every rank read: rank 0 stops and reports it.
                Err(Error::Invalid { field, .. }) if field == "loss" => break,
                Err(e) => return Err(e),
            }
        }
        t.finish();
        Ok(())
    }));
    let failure = match run {
        Ok(Ok(())) => return,
        Ok(Err(e)) => e.to_string(),
        Err(panic) => panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "it panicked".into()),
    };
    let kept = if std::path::Path::new(&out).exists() {
        format!("{out} keeps the last checkpoint")
    } else {
        "no checkpoint was written".into()
    };
    eprintln!("error: --devices: rank {rank} of {ranks} ({device:?}) failed: {failure} ({kept})");
    std::process::exit(1);
}
