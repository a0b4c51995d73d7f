//! Kernel launches per step on the GPU backends: the dispatch budget (issue 19).
//!
//! What: the number of GPU kernels one training step and one sampler step launch, for the
//! toy MLP and the notebook's U-Net. Why: each launch costs a dispatch (microseconds on a
//! real GPU, far more through WebGPU), and small element-wise kernels dominate these
//! models, so the count is what fusion and hand-written kernels must cut. Unlike a time it
//! is the same on every machine: lavapipe (Mesa's software Vulkan) in CI counts what an
//! H100 launches.
//!
//! How: cubecl logs every launch ("Executing <kernel>") when its profiling logger is at
//! level `minimal`; [`LaunchCounter::install`] points that logger at a file before the
//! first GPU client exists (cubecl reads its configuration once per process), and
//! [`LaunchCounter::count`] counts the lines. One process, one counter: a test or bench
//! that counts must run in its own process (its own test binary).

use crate::config::Settings;
use crate::model::net::Architecture;
use crate::model::presets::preset;
use crate::rng::Noise;
use crate::sample::Sampler;
use crate::sde::Sde;
use crate::tensor::read_f32;
use crate::train::{TrainConfig, Trainer};
use crate::{Error, Result};
use burn::tensor::backend::AutodiffBackend;
use cubecl_runtime::config::profiling::ProfilingLogLevel;
use cubecl_runtime::config::{CubeClRuntimeConfig, RuntimeConfig};
use rand::Rng;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Counts the kernel launches of this process (see the module docs).
pub struct LaunchCounter {
    path: PathBuf,
}

impl LaunchCounter {
    /// Log every kernel launch of this process to `path` (overwritten). Call before any GPU
    /// tensor exists: cubecl reads its configuration once, at its first client.
    pub fn install(path: &Path) -> Result<Self> {
        let mut cfg = CubeClRuntimeConfig::default();
        cfg.profiling.logger.level = ProfilingLogLevel::Minimal;
        cfg.profiling.logger.file = Some(path.to_path_buf());
        cfg.profiling.logger.append = false;
        std::fs::write(path, b"").map_err(|e| Error::io(path.display().to_string(), e))?;
        std::panic::catch_unwind(|| CubeClRuntimeConfig::set(cfg)).map_err(|_| {
            Error::Backend("cubecl's configuration was already set in this process; count launches in a process of their own".into())
        })?;
        Ok(LaunchCounter {
            path: path.to_path_buf(),
        })
    }

    /// Launches logged so far. The logger writes asynchronously: this waits until the count
    /// holds still for 100 ms (at most 10 s).
    pub fn count(&self) -> usize {
        let start = Instant::now();
        let mut last = self.kernels().len();
        loop {
            std::thread::sleep(Duration::from_millis(100));
            let now = self.kernels().len();
            if now == last || start.elapsed() > Duration::from_secs(10) {
                return now;
            }
            last = now;
        }
    }

    /// The kernels launched so far, in order: each logged line from "Executing " on.
    pub fn kernels(&self) -> Vec<String> {
        std::fs::read_to_string(&self.path)
            .map(|s| {
                s.lines()
                    .filter_map(|l| l.find("Executing ").map(|i| l[i + 10..].to_string()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// How often each kernel (its name up to the first `<` or space) was launched among
    /// launches `from..to`, most frequent first: where a step's launches go.
    pub fn breakdown(&self, from: usize, to: usize) -> Vec<(String, usize)> {
        let mut counts = std::collections::BTreeMap::<String, usize>::new();
        for k in self.kernels().iter().take(to).skip(from) {
            let name = k
                .split(['<', ' ', '{', '('])
                .next()
                .unwrap_or(k)
                .to_string();
            *counts.entry(name).or_default() += 1;
        }
        let mut v: Vec<_> = counts.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    }
}

/// Launches per step of one workload, after a warm-up (autotuning and first compilations
/// launch extra kernels once).
#[derive(Debug, Clone)]
pub struct Counts {
    pub train_step: f64,
    pub sampler_step: f64,
    /// Launch indices of the counted intervals: training `[c0, c1)`, sampling `[c2, c3)`
    /// (for [`LaunchCounter::breakdown`]).
    pub intervals: [(usize, usize); 2],
}

/// Count the toy MLP (batch 256, ring8, VP) or the notebook U-Net (batch 4 of random
/// 28×28 images, VE σ = 25): `steps` training steps, then `steps` PC sampler steps of the
/// EMA network (64 particles for the MLP, 4 images for the U-Net), each after 3 warm-up
/// steps. Each interval ends with one readback (the loss or the particles), counted in.
pub async fn count_workload<B: AutodiffBackend>(
    counter: &LaunchCounter,
    unet: bool,
    steps: usize,
    device: &B::Device,
) -> Result<Counts> {
    let (arch, sde, batch, data) = if unet {
        let mut noise = Noise::new(3);
        let rng = noise.rng();
        let data: Vec<f64> = (0..64 * 784).map(|_| rng.random::<f64>()).collect();
        (
            Architecture::named("unet", 784)?,
            Sde::from_name("ve-notebook")?,
            4,
            data,
        )
    } else {
        let data = preset("ring8")?.sample(5000, Noise::new(1).rng());
        (
            Architecture::named("mlp", 2)?,
            Sde::from_name("vp")?,
            256,
            data,
        )
    };
    let d = arch.dim();
    let cfg = TrainConfig {
        batch,
        ..Default::default()
    };
    let mut t = Trainer::<B>::new(arch, sde, cfg, data, device)?;
    for _ in 0..3 {
        t.step().await?;
    }
    let c0 = counter.count();
    for _ in 0..steps {
        t.step().await?;
    }
    let c1 = counter.count();
    let model = t.ema_score();
    let s = Settings::from_value(serde_json::json!({"sampler": {"kind": "pc", "steps": 100}}))?;
    let n = if unet { 4 } else { 64 };
    let mut sampler = Sampler::<B::InnerBackend>::new(&s.sampler, sde, n, d, 0, false, device)?;
    for _ in 0..3 {
        sampler.step(&model).await?;
    }
    read_f32(sampler.particles()).await?;
    let c2 = counter.count();
    for _ in 0..steps {
        sampler.step(&model).await?;
    }
    read_f32(sampler.particles()).await?;
    let c3 = counter.count();
    Ok(Counts {
        train_step: (c1 - c0) as f64 / steps as f64,
        sampler_step: (c3 - c2) as f64 / steps as f64,
        intervals: [(c0, c1), (c2, c3)],
    })
}
