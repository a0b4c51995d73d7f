//! The JavaScript façade (the only code that knows JavaScript; DESIGN.md). Settings come in
//! through serde-wasm-bindgen in the same JSON shape as `--config`, particles go out as
//! `Float32Array`, errors as `JsError` (one line naming the field), and every readback is
//! async. The same core [`Sampler`] runs here and in the CLI.
//!
//! The crate is built into two modules for the page (`make wasm`; ARCHITECTURE.md): without
//! the `webgpu` feature it is the CPU module (burn's ndarray backend, what every visit loads),
//! with it the WebGPU module (burn-wgpu). Each has one backend, [`Be`], so neither carries
//! the other's code; the worker (`www/worker.ts`) loads the WebGPU module only when a WebGPU
//! session or training is asked for, and sends the rest to the CPU module.

use crate::app::checkpoint;
use crate::app::data::{points_file, unknown_data, TrainingData};
use crate::app::model::ModelSource;
use crate::app::sampling::SamplingRun;
use crate::config::Settings;
use crate::data::toy::TOY_SETS;
use crate::model::gmm::{ExactGmm, Gmm, GmmSpec};
use crate::model::presets;
use crate::model::ScoreModel;
use crate::sample::{Sampler, StepInfo};
use crate::sde::Sde;
use crate::tensor::read_f32;
use crate::train::{TrainConfig, Trainer};
use crate::weights::{self, Manifest, WeightFile};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::backend::Backend;
use js_sys::Float32Array;
use js_sys::Promise;
use js_sys::Uint8Array;
use serde::Serialize;
#[cfg(feature = "webgpu")]
use std::cell::Cell;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;
#[cfg(feature = "webgpu")]
use wasm_bindgen_futures::JsFuture;

/// Sampling runs on the plain backends: burn's autodiff registers every operation, tracked or
/// not, in its graph and frees the graph only on `backward()`, so a sampler stepping on an
/// autodiff backend grew the worker by 20-40 MB per 500-step run, for good (wasm memory
/// never shrinks). The likelihoods, which need input gradients, build an autodiff twin of
/// the run for the call ([`Run::autodiff`]); training calls `backward()` every step.
#[cfg(feature = "webgpu")]
type Be = burn::backend::Wgpu;
#[cfg(not(feature = "webgpu"))]
type Be = burn::backend::NdArray<f32>;
type Ad<B> = burn::backend::Autodiff<B>;

/// The backend this module runs: "webgpu" or "cpu".
pub const BACKEND: &str = if cfg!(feature = "webgpu") {
    "webgpu"
} else {
    "cpu"
};

#[cfg(feature = "webgpu")]
thread_local! {
    static GPU_READY: Cell<bool> = const { Cell::new(false) };
}

#[cfg(feature = "threads")]
pub use wasm_bindgen_rayon::init_thread_pool;

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

fn js_err(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

fn to_js<T: Serialize>(v: &T) -> Result<JsValue, JsError> {
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(js_err)
}

/// Networks loaded into a session, by model name (`weights:NAME`).
type Nets = Rc<RefCell<HashMap<String, Arc<WeightFile>>>>;

struct Run<B: Backend> {
    device: B::Device,
    settings: Settings,
    /// The resolved model setting (`crate::app::model`).
    source: ModelSource,
    /// The mixture samples are compared with: the preset, or the preset a network was trained on.
    gmm: Option<Gmm>,
    model: Box<dyn ScoreModel<B>>,
    sampler: Sampler<B>,
    last: Option<StepInfo>,
}

impl<B: Backend> Run<B> {
    fn new(settings: Settings, device: B::Device, nets: &Nets) -> crate::Result<Self> {
        settings.validate()?;
        let source = if settings.model.starts_with("weights:") {
            let file = nets.borrow().get(&settings.model).cloned().ok_or_else(|| {
                crate::Error::invalid(
                    "model",
                    format!(
                        "'{}' is not loaded; load the weight file first",
                        settings.model
                    ),
                )
            })?;
            ModelSource::Net(file)
        } else {
            ModelSource::Exact(settings.preset_gmm()?)
        };
        let SamplingRun { model, sampler, .. } = SamplingRun::new(
            &source,
            &settings,
            Some(settings.sde),
            None,
            "model",
            &device,
        )?;
        Ok(Run {
            device,
            settings,
            gmm: source.reference_mixture(),
            source,
            model,
            sampler,
            last: None,
        })
    }

    /// The network on the autodiff backend, for one likelihood call (its graph goes with
    /// it). Only the network: a mixture's density is in closed form on the plain backend, and
    /// neither the sampler nor the mixture is built (or compiled) twice.
    fn autodiff(&self) -> crate::Result<Twin<Ad<B>>> {
        let ModelSource::Net(file) = &self.source else {
            return Err(crate::Error::invalid(
                "model",
                "an exact mixture's density is in closed form; the ODE likelihood is for networks",
            ));
        };
        Ok(Twin {
            model: Box::new(weights::load_score::<Ad<B>>(file, "model", &self.device)?),
            sde: file.manifest.sde,
            seed: self.settings.seed,
            t_eps: self.source.likelihood_t_eps(),
            device: self.device.clone(),
        })
    }

    async fn step(&mut self, k: u32) -> crate::Result<Option<StepInfo>> {
        for _ in 0..k {
            if self.sampler.is_done() {
                break;
            }
            self.last = Some(self.sampler.step(self.model.as_ref()).await?);
        }
        Ok(self.last)
    }

    async fn run(&mut self) -> crate::Result<Option<StepInfo>> {
        while !self.sampler.is_done() {
            self.last = Some(self.sampler.step(self.model.as_ref()).await?);
        }
        Ok(self.last)
    }

    async fn particles(&self) -> crate::Result<Vec<f32>> {
        read_f32(self.sampler.particles()).await
    }

    fn points(&self, points: &[f32]) -> crate::Result<burn::Tensor<B, 2>> {
        points_tensor(points, self.model.dim(), &self.device)
    }

    /// `log p_t(x)` at `points`: closed form for a mixture (here), else the probability-flow
    /// ODE likelihood on the autodiff twin ([`Twin::log_density`]).
    async fn log_density(&self, points: &[f32], t: f64, rtol: f64) -> crate::Result<Vec<f32>> {
        crate::error::in_range("t", t, 1e-5, 0.5)?;
        if let Some(lp) = self.model.log_prob(self.points(points)?, t) {
            return read_f32(lp).await;
        }
        self.autodiff()?.log_density(points, t, rtol).await
    }

    /// The model's score and, where a reference mixture exists, the exact score at `points`.
    async fn score_field(&self, points: &[f32], t: f64) -> crate::Result<ScoreField> {
        crate::error::in_range("t", t, 1e-5, 1.0)?;
        let x = self.points(points)?;
        let model = read_f32(self.model.score(x.clone(), t).detach()).await?;
        // a guided run's exact score is the mixture's guided one, (1 + w) ∇log p_c − w ∇log p
        let exact = match &self.gmm {
            Some(g) if g.dim() == self.model.dim() => {
                let source = ModelSource::Exact(g.clone());
                let sde = self.settings.sde;
                let e = match &self.settings.guidance {
                    Some(guidance) => {
                        source.guided_model::<B>(guidance, sde, None, "model", &self.device)?
                    }
                    None => Box::new(ExactGmm::<B>::new(g.clone(), sde, &self.device)),
                };
                Some(read_f32(e.score(x, t)).await?)
            }
            _ => None,
        };
        Ok(ScoreField { model, exact })
    }
}

/// A run's score model on the autodiff backend (the divergence of the likelihood needs
/// gradients): built per likelihood call by [`Run::autodiff`].
struct Twin<B: AutodiffBackend> {
    model: Box<dyn ScoreModel<B>>,
    sde: crate::sde::Sde,
    seed: u64,
    /// The likelihood's ε for images (`ModelSource::likelihood_t_eps`).
    t_eps: f64,
    device: B::Device,
}

impl<B: AutodiffBackend> Twin<B> {
    /// The probability-flow ODE likelihood `log p_t(x)` from t to 1 at `points` (exact
    /// divergence; `rtol` sets the solver's accuracy).
    async fn log_density(&self, points: &[f32], t: f64, rtol: f64) -> crate::Result<Vec<f32>> {
        let x = points_tensor(points, self.model.dim(), &self.device)?;
        let cfg = crate::likelihood::LikelihoodConfig {
            rtol,
            atol: rtol,
            t_end: t,
            ..Default::default()
        };
        let r =
            crate::likelihood::log_likelihood(self.model.as_ref(), &self.sde, x, &cfg, self.seed)
                .await?;
        Ok(r.log_p.iter().map(|v| *v as f32).collect())
    }

    /// Bits per dimension of 28×28 images (n·784 values in [0, 1]): the CLI's `likelihood
    /// --estimator hutchinson --dequantize true --bpd` for the same seed
    /// (`crate::app::likelihood::images_bits_per_dim`).
    async fn bits_per_dim(&self, pixels: &[f32]) -> crate::Result<BitsPerDim> {
        let pixels: Vec<f64> = pixels.iter().map(|v| *v as f64).collect();
        let (bpd, nfe) = crate::app::likelihood::images_bits_per_dim(
            self.model.as_ref(),
            &self.sde,
            &pixels,
            self.t_eps,
            self.seed,
            &self.device,
        )
        .await?;
        Ok(BitsPerDim { bpd, nfe })
    }
}

/// Rows of `points` (n·d values) as a tensor, validated.
///
/// # Shapes
/// `points.len() == n·d` → `[n, d]`
fn points_tensor<B: Backend>(
    points: &[f32],
    d: usize,
    device: &B::Device,
) -> crate::Result<burn::Tensor<B, 2>> {
    if points.is_empty() || points.len() % d != 0 || points.len() > 4_000_000 {
        return Err(crate::Error::invalid(
            "points",
            format!(
                "need a positive multiple of {d} values (at most 4,000,000), got {}",
                points.len()
            ),
        ));
    }
    if points.iter().any(|v| !v.is_finite()) {
        return Err(crate::Error::invalid(
            "points",
            "contain a non-finite value",
        ));
    }
    let n = points.len() / d;
    Ok(crate::tensor::host_tensor::<B, 2>(
        points.iter().map(|v| *v as f64).collect(),
        [n, d],
        device,
    ))
}

#[derive(Serialize)]
struct BitsPerDim {
    bpd: Vec<f64>,
    nfe: usize,
}

#[derive(Serialize)]
struct ScoreField {
    model: Vec<f32>,
    exact: Option<Vec<f32>>,
}

type Engine = Run<Be>;

macro_rules! with_run {
    ($engine:expr, $r:ident => $body:expr) => {{
        let $r = $engine;
        $body
    }};
}

/// Check that `backend` ("webgpu", "cpu" or "auto") is this module's, and open WebGPU once
/// (WebGPU module). "auto" is the module's backend: the worker chose the module.
async fn open_backend(backend: &str) -> Result<(), JsError> {
    match backend {
        "auto" => {}
        b if b == BACKEND => {}
        "webgpu" | "cpu" => {
            return Err(JsError::new(&format!(
                "invalid backend: '{backend}' is not in this module (the {BACKEND} module); \
                 the page's worker loads the module of each backend"
            )))
        }
        o => {
            return Err(JsError::new(&format!(
                "invalid backend: unknown '{o}'; accepted: auto, webgpu, cpu"
            )))
        }
    }
    #[cfg(feature = "webgpu")]
    if !GPU_READY.with(|c| c.get()) {
        if !webgpu_adapter_available().await {
            return Err(JsError::new(
                "invalid backend: this browser offers no WebGPU adapter; use cpu",
            ));
        }
        let device = burn::backend::wgpu::WgpuDevice::default();
        burn::backend::wgpu::init_setup_async::<burn::backend::wgpu::graphics::WebGpu>(
            &device,
            Default::default(),
        )
        .await;
        GPU_READY.with(|c| c.set(true));
    }
    Ok(())
}

#[cfg(feature = "webgpu")]
/// Is a WebGPU adapter available? (`navigator.gpu.requestAdapter()` resolves non-null.)
async fn webgpu_adapter_available() -> bool {
    let global = js_sys::global();
    let Ok(nav) = js_sys::Reflect::get(&global, &"navigator".into()) else {
        return false;
    };
    let Ok(gpu) = js_sys::Reflect::get(&nav, &"gpu".into()) else {
        return false;
    };
    if gpu.is_undefined() || gpu.is_null() {
        return false;
    }
    let Ok(req) = js_sys::Reflect::get(&gpu, &"requestAdapter".into()) else {
        return false;
    };
    let Ok(req) = req.dyn_into::<js_sys::Function>() else {
        return false;
    };
    let Ok(p) = req.call0(&gpu) else { return false };
    match JsFuture::from(Promise::from(p)).await {
        Ok(a) => !a.is_null() && !a.is_undefined(),
        Err(_) => false,
    }
}

/// A sampling session on one backend.
#[wasm_bindgen]
pub struct Session {
    engine: Rc<RefCell<Engine>>,
    backend: String,
    nets: Nets,
    /// The reports' exact-vs-exact baselines, kept between runs ([`crate::stats::Baselines`]).
    baselines: RefCell<crate::stats::Baselines>,
}

fn busy() -> JsValue {
    JsError::new("busy: the previous command on this session has not finished").into()
}

#[wasm_bindgen]
impl Session {
    /// Create a session. `backend`: this module's ("webgpu" or "cpu", [`BACKEND`]) or "auto".
    /// `settings`: an object in the `--config` shape (missing fields take defaults).
    pub async fn create(backend: String, settings: JsValue) -> Result<Session, JsError> {
        let settings: Settings = parse_settings(settings)?;
        let nets: Nets = Default::default();
        open_backend(&backend).await?;
        let run = Run::<Be>::new(settings, Default::default(), &nets).map_err(js_err)?;
        Ok(Session {
            engine: Rc::new(RefCell::new(run)),
            backend: BACKEND.into(),
            nets,
            baselines: Default::default(),
        })
    }

    /// Load a weight file (bytes of a `.safetensors` written by `scorelab train` or by
    /// [`Training::export`]) as model `weights:NAME`, and switch to it with its SDE.
    /// Returns the manifest. Nothing changes if the file is invalid.
    #[wasm_bindgen(js_name = loadWeights)]
    pub fn load_weights(&self, name: String, bytes: Uint8Array) -> Result<JsValue, JsError> {
        let file = weights::parse(&bytes.to_vec(), &name).map_err(js_err)?;
        let manifest = to_js(&file.manifest)?;
        let key = format!("weights:{name}");
        let sde = file.manifest.sde;
        let previous = self.nets.borrow_mut().insert(key.clone(), Arc::new(file));
        let mut s: Settings = {
            let e = self.engine.try_borrow().map_err(|_| JsError::new("busy"))?;
            with_run!(&*e, r => r.settings.clone())
        };
        s.model = key.clone();
        s.sde = sde;
        s.guidance = None; // classes are each model's own (the lab's class menu offers the new one's)
        if let Err(e) = self.set_state(to_js(&s)?) {
            let mut nets = self.nets.borrow_mut();
            match previous {
                Some(p) => nets.insert(key, p),
                None => nets.remove(&key),
            };
            return Err(e);
        }
        Ok(manifest)
    }

    /// "webgpu" or "cpu".
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.backend.clone()
    }

    /// The current settings (the `--config` shape, defaults filled in).
    pub fn state(&self) -> Result<JsValue, JsError> {
        let e = self.engine.try_borrow().map_err(|_| JsError::new("busy"))?;
        with_run!(&*e, r => to_js(&r.settings))
    }

    /// Validate and apply settings; restarts the sampler. On error nothing changes.
    #[wasm_bindgen(js_name = setState)]
    pub fn set_state(&self, settings: JsValue) -> Result<(), JsError> {
        let settings = parse_settings(settings)?;
        let mut e = self
            .engine
            .try_borrow_mut()
            .map_err(|_| JsError::new("busy: a sampler step is running"))?;
        let r = &mut *e;
        *r = Run::new(settings, r.device.clone(), &self.nets).map_err(js_err)?;
        Ok(())
    }

    /// Restart the sampler from its seed.
    pub fn reset(&self) -> Result<(), JsError> {
        let s = {
            let e = self.engine.try_borrow().map_err(|_| JsError::new("busy"))?;
            with_run!(&*e, r => r.settings.clone())
        };
        self.set_state(to_js(&s)?)
    }

    /// Restart the sampler conditioned on known coordinates (inpainting, the score-SDE
    /// paper's PC inpainter; `em` and `pc` samplers): `known` holds the values where `mask`
    /// is 1 and the rest is sampled. Each holds d values (one row for every particle) or n·d.
    pub fn inpaint(&self, known: Float32Array, mask: Float32Array) -> Result<(), JsError> {
        self.reset()?;
        let mut e = self
            .engine
            .try_borrow_mut()
            .map_err(|_| JsError::new("busy: a sampler step is running"))?;
        let (known, mask) = (known.to_vec(), mask.to_vec());
        with_run!(&mut *e, r => r.sampler.inpaint(&known, &mask)).map_err(js_err)
    }

    /// Take up to `k` steps; resolves to the last step's info (or null before any step).
    pub fn step(&self, k: u32) -> Promise {
        self.prepare_report();
        let engine = self.engine.clone();
        future_to_promise(async move {
            let mut e = engine.try_borrow_mut().map_err(|_| busy())?;
            let info =
                with_run!(&mut *e, r => r.step(k).await).map_err(|x| JsValue::from(js_err(x)))?;
            to_js(&info).map_err(JsValue::from)
        })
    }

    /// Run the sampler to the end; resolves to the last step's info.
    pub fn run(&self) -> Promise {
        self.prepare_report();
        let engine = self.engine.clone();
        future_to_promise(async move {
            let mut e = engine.try_borrow_mut().map_err(|_| busy())?;
            let info =
                with_run!(&mut *e, r => r.run().await).map_err(|x| JsValue::from(js_err(x)))?;
            to_js(&info).map_err(JsValue::from)
        })
    }

    /// The last step's info (null before the first step).
    #[wasm_bindgen(js_name = lastInfo)]
    pub fn last_info(&self) -> Result<JsValue, JsError> {
        let e = self.engine.try_borrow().map_err(|_| JsError::new("busy"))?;
        with_run!(&*e, r => to_js(&r.last))
    }

    /// Particles as a `Float32Array` of n·d values, row-major (async readback).
    pub fn particles(&self) -> Promise {
        let engine = self.engine.clone();
        future_to_promise(async move {
            let e = engine.try_borrow().map_err(|_| busy())?;
            let v =
                with_run!(&*e, r => r.particles().await).map_err(|x| JsValue::from(js_err(x)))?;
            Ok(Float32Array::from(&v[..]).into())
        })
    }

    /// The current model's score at `points` (n·d values) and time `t`, and the exact
    /// mixture score where the model has a reference mixture: resolves to
    /// `{model: number[], exact: number[] | null}` (n·d values each).
    #[wasm_bindgen(js_name = scoreField)]
    pub fn score_field(&self, points: Float32Array, t: f64) -> Promise {
        let engine = self.engine.clone();
        let points = points.to_vec();
        future_to_promise(async move {
            let e = engine.try_borrow().map_err(|_| busy())?;
            let f = with_run!(&*e, r => r.score_field(&points, t).await)
                .map_err(|x| JsValue::from(js_err(x)))?;
            to_js(&f).map_err(JsValue::from)
        })
    }

    /// `log p_t` at `points` (n·d values): closed form for a mixture, the probability-flow
    /// ODE likelihood (exact divergence, tolerance `rtol`) for a network. Resolves to a
    /// `Float32Array` of n values.
    #[wasm_bindgen(js_name = logDensity)]
    pub fn log_density(&self, points: Float32Array, t: f64, rtol: f64) -> Promise {
        let engine = self.engine.clone();
        let points = points.to_vec();
        future_to_promise(async move {
            let e = engine.try_borrow().map_err(|_| busy())?;
            let v = with_run!(&*e, r => r.log_density(&points, t, rtol).await)
                .map_err(|x| JsValue::from(js_err(x)))?;
            Ok(Float32Array::from(&v[..]).into())
        })
    }

    /// Bits per dimension of 28×28 images (n·784 values in [0, 1]) under the current image
    /// model: resolves to `{bpd: number[], nfe}`.
    #[wasm_bindgen(js_name = bitsPerDim)]
    pub fn bits_per_dim(&self, pixels: Float32Array) -> Promise {
        let engine = self.engine.clone();
        let pixels = pixels.to_vec();
        future_to_promise(async move {
            let e = engine.try_borrow().map_err(|_| busy())?;
            let r = with_run!(&*e, r => match r.autodiff() {
                Ok(ad) => ad.bits_per_dim(&pixels).await,
                Err(x) => Err(x),
            })
            .map_err(|x| JsValue::from(js_err(x)))?;
            to_js(&r).map_err(JsValue::from)
        })
    }

    /// Dimension of the current model.
    pub fn dim(&self) -> Result<usize, JsError> {
        let e = self.engine.try_borrow().map_err(|_| JsError::new("busy"))?;
        Ok(with_run!(&*e, r => r.model.dim()))
    }

    /// Compare particles (n·d values) with the current mixture: mode weights, sliced
    /// Wasserstein, and the exact-vs-exact spread of both at the same n; a guided run's
    /// `guided` ([`crate::app::sampling::compare`]).
    pub fn report(&self, particles: Float32Array, repeats: u32) -> Result<JsValue, JsError> {
        let e = self.engine.try_borrow().map_err(|_| JsError::new("busy"))?;
        let (gmm, guidance) = with_run!(&*e, r => (r.gmm.clone(), r.settings.guidance));
        let gmm = gmm.ok_or_else(|| {
            JsError::new("report: this model has no reference mixture to compare with")
        })?;
        let x: Vec<f64> = particles.to_vec().into_iter().map(|v| v as f64).collect();
        if x.is_empty() || x.len() % gmm.dim() != 0 {
            return Err(JsError::new(&format!(
                "invalid particles: need a multiple of {} values, got {}",
                gmm.dim(),
                x.len()
            )));
        }
        to_js(&crate::app::sampling::compare(
            &mut self.baselines.borrow_mut(),
            &gmm,
            guidance.as_ref(),
            &x,
            repeats.clamp(1, 200) as usize,
            1,
        ))
    }
}

impl Session {
    /// When a run on a mixture takes its first step, start the baseline of the report at its
    /// end ([`REPORT_REPEATS`] draws, seed 1, as the page asks for) on the threaded module's
    /// pool, which the toy sampler leaves idle ([`crate::app::sampling::prepare_comparison`]).
    fn prepare_report(&self) {
        let Ok(e) = self.engine.try_borrow() else {
            return;
        };
        let Ok(mut baselines) = self.baselines.try_borrow_mut() else {
            return;
        };
        with_run!(&*e, r => if let (None, Some(gmm)) = (&r.last, &r.gmm) {
            crate::app::sampling::prepare_comparison(
                &mut baselines,
                gmm,
                r.settings.guidance.as_ref(),
                r.settings.n,
                REPORT_REPEATS,
                1,
            );
        });
    }
}

/// The exact-vs-exact draws of the page's reports (`report(particles, 20)` in view.ts and
/// api.ts): the repeats a run's prepared baseline is for.
const REPORT_REPEATS: usize = 20;

fn parse_settings(v: JsValue) -> Result<Settings, JsError> {
    if v.is_undefined() || v.is_null() {
        return Ok(Settings::default());
    }
    let json: serde_json::Value = serde_wasm_bindgen::from_value(v)
        .map_err(|e| JsError::new(&format!("invalid settings: not a plain JSON object ({e})")))?;
    let s = Settings::from_value(json).map_err(js_err)?;
    s.validate().map_err(js_err)?;
    Ok(s)
}

/// Validate settings without applying them; returns the normalised settings (defaults filled).
#[wasm_bindgen(js_name = normalizeSettings)]
pub fn normalize_settings(v: JsValue) -> Result<JsValue, JsError> {
    to_js(&parse_settings(v)?)
}

/// Built-in presets: `[{name, description, mixture}]`.
#[wasm_bindgen]
pub fn presets() -> Result<JsValue, JsError> {
    #[derive(Serialize)]
    struct P {
        name: &'static str,
        description: &'static str,
        mixture: crate::model::gmm::GmmSpec,
    }
    let list = presets::PRESETS
        .iter()
        .map(|(n, d)| {
            Ok(P {
                name: n,
                description: d,
                mixture: presets::preset(n)?.to_spec(),
            })
        })
        .collect::<crate::Result<Vec<_>>>()
        .map_err(js_err)?;
    to_js(&list)
}

/// 2-D training points from a dropped file's bytes (`.npy` or `.csv`), read as the CLI's
/// `train --data FILE` reads them (`crate::app::data::points_file`): n·2 values, row-major,
/// at most 1,000,000 points; otherwise one error naming the file.
#[wasm_bindgen(js_name = parsePoints)]
pub fn parse_points(name: String, bytes: &[u8]) -> Result<Float32Array, JsError> {
    let data = points_file(&name, bytes, Some(2)).map_err(js_err)?;
    crate::error::count(&name, data.rows.len() / 2, 2, 1_000_000).map_err(js_err)?;
    let values: Vec<f32> = data.rows.iter().map(|v| *v as f32).collect();
    Ok(Float32Array::from(&values[..]))
}

/// Default settings for a sampler kind (`em`, `pc`, `langevin`, `ald`, `ode`).
#[wasm_bindgen(js_name = samplerDefaults)]
pub fn sampler_defaults(kind: String) -> Result<JsValue, JsError> {
    to_js(&crate::sample::SamplerConfig::from_name(&kind).map_err(js_err)?)
}

/// Default settings for an SDE kind (`ve`, `ve-notebook`, `vp`, `subvp`).
#[wasm_bindgen(js_name = sdeDefaults)]
pub fn sde_defaults(kind: String) -> Result<JsValue, JsError> {
    to_js(&crate::sde::Sde::from_name(&kind).map_err(js_err)?)
}

/// What to train in the page: the `--config`-like JSON of [`Training::create`].
#[derive(serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
struct TrainSpec {
    /// A toy set, a mixture preset, or a label for `points` or `mixture` (required: an
    /// empty name is refused as unknown data, listing the accepted ones).
    data: String,
    /// A mixture of one's own to sample the training data from (as a gmm file).
    mixture: Option<GmmSpec>,
    /// Training points (n·2 values, row-major): drawn in the page or read from a file.
    points: Option<Vec<f64>>,
    /// The points' classes (one per point, each below 64): points drawn with a class.
    labels: Option<Vec<usize>>,
    /// Train a class-conditional network on the data's classes (a mixture's components, the
    /// points' `labels`), with label dropout `train.label_dropout` (classifier-free guidance).
    conditional: bool,
    n_data: usize,
    sde: Sde,
    train: Option<TrainConfig>,
    /// A named objective ([`crate::train::NAMED_OBJECTIVES`], as the CLI's `--objective`): sets
    /// `train.objective`, `train.weighting` and `train.time_sampling`.
    objective: Option<String>,
    hidden: usize,
    layers: usize,
}

/// The field of a training spec that fails to deserialise (serde names the problem, not
/// where it is): each field alone against its type.
fn spec_field(json: &serde_json::Value) -> String {
    fn fails<T: serde::de::DeserializeOwned>(v: &serde_json::Value) -> bool {
        serde_json::from_value::<T>(v.clone()).is_err()
    }
    let Some(obj) = json.as_object() else {
        return ".".into();
    };
    for (key, v) in obj {
        let bad = match key.as_str() {
            "data" | "objective" => fails::<Option<String>>(v),
            "mixture" => fails::<Option<GmmSpec>>(v),
            "points" => fails::<Option<Vec<f64>>>(v),
            "labels" => fails::<Option<Vec<usize>>>(v),
            "conditional" => fails::<bool>(v),
            "n_data" | "hidden" | "layers" => fails::<usize>(v),
            "sde" => fails::<Sde>(v),
            "train" => fails::<Option<TrainConfig>>(v),
            _ => true,
        };
        if bad {
            return key.clone();
        }
    }
    ".".into()
}

impl Default for TrainSpec {
    /// 10,000 points, the default SDE and training settings, an MLP of 3 layers of 128.
    fn default() -> Self {
        TrainSpec {
            data: String::new(),
            mixture: None,
            points: None,
            labels: None,
            conditional: false,
            n_data: 10_000,
            sde: Sde::default(),
            train: None,
            objective: None,
            hidden: 128,
            layers: 3,
        }
    }
}

struct TrainRun<B: AutodiffBackend> {
    trainer: Trainer<B>,
    data: String,
    /// The mixture the data were drawn from (a preset or `mixture`): the Fisher divergence's
    /// reference.
    gmm: Option<Gmm>,
    seconds: f64,
}

impl<B: AutodiffBackend> TrainRun<B> {
    fn new(spec: TrainSpec, device: &B::Device) -> crate::Result<Self> {
        crate::error::count("n_data", spec.n_data, 1, 1_000_000)?;
        let mut config = spec.train.clone().unwrap_or_default();
        if let Some(name) = &spec.objective {
            config = config.with_named_objective(name)?;
        }
        let seed = spec.train.as_ref().map_or(0, |t| t.seed);
        let data = if let Some(points) = spec.points {
            crate::error::count("points", points.len() / 2, 2, 1_000_000)?;
            let data = TrainingData::points(points, 2, "points")?;
            match spec.labels {
                Some(labels) => data.with_labels(labels, "labels")?,
                None => data,
            }
        } else if spec.labels.is_some() {
            return Err(crate::Error::invalid(
                "labels",
                "classes of one's own go with points; a named data set or mixture has its own",
            ));
        } else if let Some(m) = &spec.mixture {
            let gmm = Gmm::from_spec(m.clone()).map_err(|e| e.within("mixture"))?;
            TrainingData::sampled(gmm, spec.n_data, seed)
        } else {
            TrainingData::named(&spec.data, spec.n_data, seed)
                .ok_or_else(|| unknown_data("data", &spec.data, ""))??
        };
        // Drawn or loaded points keep the preset their label names as reference, if any.
        let gmm = data
            .mixture
            .clone()
            .or_else(|| presets::preset(&spec.data).ok());
        let network = crate::app::training::default_network(config.objective);
        let arch = crate::app::training::architecture(network, data.dim, spec.hidden, spec.layers)?;
        let (arch, labels) = crate::app::training::conditioning(
            arch,
            &data,
            spec.conditional,
            "conditional",
            &spec.data,
            "a mixture preset or a mixture of one's own (a class is a component), or points drawn with classes",
        )?;
        let dim = data.dim;
        let trainer = Trainer::labelled(arch, spec.sde, config, data.rows, labels, device)?;
        Ok(TrainRun {
            trainer,
            data: spec.data,
            gmm: if dim == 2 { gmm } else { None },
            seconds: 0.0,
        })
    }

    /// The EMA model's λ-weighted Fisher divergence from the data's mixture, or with
    /// `velocity` its probability-flow velocity's mean squared error (None without a mixture).
    async fn fisher(&self, n: usize, velocity: bool) -> crate::Result<Option<f64>> {
        let Some(gmm) = &self.gmm else {
            return Ok(None);
        };
        let device = burn::module::Module::devices(self.trainer.ema())[0].clone();
        let model = self.trainer.ema_score();
        let sde = &self.trainer.sde;
        use crate::train::fisher::{fisher_divergence, velocity_error};
        if velocity {
            velocity_error(&model, gmm, sde, n, 77, &device).await
        } else {
            fisher_divergence(&model, gmm, sde, n, 77, &device).await
        }
        .map(Some)
    }

    async fn train(&mut self, k: u32) -> crate::Result<TrainReport> {
        let t0 = js_sys::Date::now();
        let mut loss = f64::NAN;
        for _ in 0..k {
            loss = self.trainer.step().await?;
        }
        let dt = (js_sys::Date::now() - t0) / 1000.0;
        self.seconds += dt;
        Ok(TrainReport {
            loss,
            step: self.trainer.step,
            steps_per_second: k as f64 / dt.max(1e-9),
        })
    }

    /// The whole training state (EMA, raw weights, Adam moments, step) as weight-file bytes:
    /// what [`TrainRun::restore`] continues from, on this backend or the other.
    async fn checkpoint(&self) -> crate::Result<Vec<u8>> {
        checkpoint::checkpoint_bytes(&self.trainer, &self.manifest(), true).await
    }

    /// Continue from [`TrainRun::checkpoint`] bytes of a run with the same spec.
    fn restore(&mut self, bytes: &[u8]) -> crate::Result<usize> {
        let file = weights::parse(bytes, "checkpoint")?;
        self.trainer.restore(&file, "checkpoint")?;
        self.seconds = checkpoint::recorded_seconds(&file).unwrap_or(self.seconds);
        Ok(self.trainer.step)
    }

    fn manifest(&self) -> Manifest {
        let metrics = [
            ("loss", serde_json::json!(self.trainer.last_loss)),
            ("seconds", serde_json::json!(self.seconds)),
            ("trained_in", serde_json::json!("browser")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        checkpoint::training_manifest(&self.trainer, &self.data, metrics)
    }

    /// The sampling (EMA) weights only, as a weight file.
    async fn export(&self) -> crate::Result<Vec<u8>> {
        checkpoint::checkpoint_bytes(&self.trainer, &self.manifest(), false).await
    }
}

#[derive(Serialize)]
struct TrainReport {
    loss: f64,
    step: usize,
    steps_per_second: f64,
}

type TrainEngine = TrainRun<Ad<Be>>;

macro_rules! with_train {
    ($engine:expr, $r:ident => $body:expr) => {{
        let $r = $engine;
        $body
    }};
}

/// A score network trained in the page (the same [`Trainer`] as `scorelab train`).
#[wasm_bindgen]
pub struct Training {
    engine: Rc<RefCell<TrainEngine>>,
    backend: String,
}

#[wasm_bindgen]
impl Training {
    /// `spec`: `{data, n_data?, sde?, train?: {steps, batch, lr, ...}, hidden?, layers?}`.
    pub async fn create(backend: String, spec: JsValue) -> Result<Training, JsError> {
        let json: serde_json::Value = serde_wasm_bindgen::from_value(spec)
            .map_err(|e| JsError::new(&format!("invalid training: {e}")))?;
        let spec: TrainSpec = serde_json::from_value(json.clone())
            .map_err(|e| JsError::new(&format!("invalid training.{}: {e}", spec_field(&json))))?;
        open_backend(&backend).await?;
        let run = TrainRun::<Ad<Be>>::new(spec, &Default::default()).map_err(js_err)?;
        Ok(Training {
            engine: Rc::new(RefCell::new(run)),
            backend: BACKEND.into(),
        })
    }

    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.backend.clone()
    }

    /// Train `k` steps; resolves to `{loss, step, steps_per_second}`. A non-finite loss
    /// rejects with the step and keeps the last good weights.
    pub fn train(&self, k: u32) -> Promise {
        let engine = self.engine.clone();
        future_to_promise(async move {
            let mut e = engine.try_borrow_mut().map_err(|_| busy())?;
            let r = with_train!(&mut *e, r => r.train(k).await)
                .map_err(|x| JsValue::from(js_err(x)))?;
            to_js(&r).map_err(JsValue::from)
        })
    }

    /// The EMA model's λ-weighted Fisher divergence from the exact score of the mixture the
    /// data came from (`n` exact samples at each of four times); null for data without one.
    pub fn fisher(&self, n: u32) -> Promise {
        let engine = self.engine.clone();
        future_to_promise(async move {
            let e = engine.try_borrow().map_err(|_| busy())?;
            let r = with_train!(&*e, r => r.fisher(n as usize, false).await)
                .map_err(|x| JsValue::from(js_err(x)))?;
            to_js(&r).map_err(JsValue::from)
        })
    }

    /// The EMA model's probability-flow velocity error `E_t E‖v_θ − v‖²` against the exact
    /// velocity of the data's mixture (the same points as [`Training::fisher`]): the yardstick
    /// that puts score and flow-matching networks on one scale; null without a mixture.
    #[wasm_bindgen(js_name = velocityError)]
    pub fn velocity_error(&self, n: u32) -> Promise {
        let engine = self.engine.clone();
        future_to_promise(async move {
            let e = engine.try_borrow().map_err(|_| busy())?;
            let r = with_train!(&*e, r => r.fisher(n as usize, true).await)
                .map_err(|x| JsValue::from(js_err(x)))?;
            to_js(&r).map_err(JsValue::from)
        })
    }

    /// The whole training state as bytes (Uint8Array): weights, EMA, Adam moments and the
    /// step. The page keeps the last one while training on WebGPU, so a lost GPU device
    /// costs at most the steps since it ([`Training::restore`] on the CPU continues).
    pub fn checkpoint(&self) -> Promise {
        let engine = self.engine.clone();
        future_to_promise(async move {
            let e = engine.try_borrow().map_err(|_| busy())?;
            let bytes = with_train!(&*e, r => r.checkpoint().await)
                .map_err(|x| JsValue::from(js_err(x)))?;
            Ok(Uint8Array::from(&bytes[..]).into())
        })
    }

    /// Continue from [`Training::checkpoint`] bytes of a run created with the same spec (on
    /// either backend); returns the step it continues from.
    pub fn restore(&self, bytes: Uint8Array) -> Result<u32, JsError> {
        let mut e = self.engine.try_borrow_mut().map_err(|_| {
            JsError::new("busy: the previous command on this training has not finished")
        })?;
        let step = with_train!(&mut *e, r => r.restore(&bytes.to_vec())).map_err(js_err)?;
        Ok(step as u32)
    }

    /// The EMA weights as a `.safetensors` file (Uint8Array) that `scorelab sample` reads.
    pub fn export(&self) -> Promise {
        let engine = self.engine.clone();
        future_to_promise(async move {
            let e = engine.try_borrow().map_err(|_| busy())?;
            let bytes =
                with_train!(&*e, r => r.export().await).map_err(|x| JsValue::from(js_err(x)))?;
            Ok(Uint8Array::from(&bytes[..]).into())
        })
    }
}

/// The choices of each setting, from the library's registries (`crate::app::registry`; the
/// page's menus read them here, not from a copy): `{sde, sampler, predictor, corrector,
/// solver, schedule, objective}`, each `[{name, description, params: [{name, description}]}]`.
#[wasm_bindgen]
pub fn choices() -> Result<JsValue, JsError> {
    use crate::app::registry;
    let mut c = std::collections::BTreeMap::new();
    for r in [
        registry::sdes(),
        registry::samplers(),
        registry::predictors(),
        registry::correctors(),
        registry::solvers(),
        registry::schedules(),
        registry::objectives(),
    ] {
        c.insert(r.field, r.entries);
    }
    to_js(&c)
}

/// The named objectives a [`Training`] accepts as `objective` (the CLI's `--objective`).
#[wasm_bindgen]
pub fn objectives() -> Result<JsValue, JsError> {
    to_js(
        &crate::app::registry::objectives()
            .names()
            .collect::<Vec<_>>(),
    )
}

/// `n` points (at most 100,000) of a named training set, a toy set or a 2-D preset's samples,
/// row-major `[n, 2]`: the training panel's preview (seed 0).
#[wasm_bindgen(js_name = dataPreview)]
pub fn data_preview(name: String, n: usize) -> Result<Float32Array, JsError> {
    crate::error::count("n", n, 1, 100_000).map_err(js_err)?;
    let data = TrainingData::named(&name, n, 0)
        .ok_or_else(|| js_err(unknown_data("data", &name, "")))?
        .map_err(js_err)?;
    let rows: Vec<f32> = data.rows.iter().map(|v| *v as f32).collect();
    Ok(Float32Array::from(&rows[..]))
}

/// The 2-D toy data sets a [`Training`] accepts: `[{name, description}]`.
#[wasm_bindgen(js_name = toySets)]
pub fn toy_sets() -> Result<JsValue, JsError> {
    #[derive(Serialize)]
    struct T {
        name: &'static str,
        description: &'static str,
    }
    to_js(
        &TOY_SETS
            .iter()
            .map(|(name, description)| T { name, description })
            .collect::<Vec<_>>(),
    )
}

/// What a weight file holds, without loading it: `{manifest, dim, architecture}`. The page
/// routes by it: 2-D networks to the lab, 28×28 image networks to the image lab, anything
/// else gets a message (the page draws only those two).
#[wasm_bindgen(js_name = inspectWeights)]
pub fn inspect_weights(name: String, bytes: Uint8Array) -> Result<JsValue, JsError> {
    #[derive(Serialize)]
    struct Inspected {
        manifest: Manifest,
        dim: usize,
        architecture: &'static str,
    }
    let file = weights::parse(&bytes.to_vec(), &name).map_err(js_err)?;
    to_js(&Inspected {
        dim: file.manifest.architecture.dim(),
        architecture: file.manifest.architecture.name(),
        manifest: file.manifest,
    })
}

/// The lab's exact mixture (a preset or a drawn mixture) and SDE, for the frontier (the CPU
/// modules only: the worker asks them every free function, so the WebGPU module needs no
/// CPU backend for it): a
/// network's score is not exact, so its errors would not be the samplers' alone.
#[cfg(not(feature = "webgpu"))]
fn frontier_model(settings: JsValue) -> Result<(Gmm, Sde), JsError> {
    let s = parse_settings(settings)?;
    if s.model.starts_with("weights:") {
        return Err(js_err(crate::Error::invalid(
            "model",
            "the frontier runs on an exact mixture (a preset or a drawn mixture), whose score is exact; choose one in the model menu",
        )));
    }
    Ok((s.preset_gmm().map_err(js_err)?, s.sde))
}

/// The NFE–quality frontier's plan for the lab's mixture and SDE with `n` particles per run
/// (`crate::app::frontier`): `{band, plan: [{sampler, budget}]}`, every sampler defined
/// for the SDE at every budget; run each with `frontierPoint`.
#[cfg(not(feature = "webgpu"))]
#[wasm_bindgen(js_name = frontierPlan)]
pub fn frontier_plan(settings: JsValue, n: usize) -> Result<JsValue, JsError> {
    use crate::app::frontier::{Band, Frontier, BUDGETS};
    #[derive(Serialize)]
    struct Planned {
        sampler: &'static str,
        budget: usize,
    }
    #[derive(Serialize)]
    struct Plan {
        band: Band,
        plan: Vec<Planned>,
    }
    let (gmm, sde) = frontier_model(settings)?;
    let f = Frontier::new(gmm, sde, n, &BUDGETS, 0).map_err(js_err)?;
    let plan = f
        .plan
        .iter()
        .map(|(c, b)| Planned {
            sampler: c.label,
            budget: *b,
        })
        .collect();
    to_js(&Plan { band: f.band, plan })
}

/// One point of the frontier: `sampler` (a label of the plan) at `budget` score evaluations
/// on `n` particles, `{sampler, budget, nfe, steps, sw, weight_error, non_finite}`.
#[cfg(not(feature = "webgpu"))]
#[wasm_bindgen(js_name = frontierPoint)]
pub async fn frontier_point(
    settings: JsValue,
    n: usize,
    sampler: String,
    budget: usize,
) -> Result<JsValue, JsError> {
    use crate::app::frontier::{contender, run_point, Yardstick};
    let (gmm, sde) = frontier_model(settings)?;
    crate::error::count("budget", budget, 1, 100_000).map_err(js_err)?;
    let c = contender(&sampler).map_err(js_err)?;
    let yardstick = Yardstick::new(&gmm, &sde, n, 0).map_err(js_err)?;
    let device = Default::default();
    let p = run_point::<Be>(&gmm, sde, &yardstick, 0, c, budget, &device)
        .await
        .map_err(js_err)?;
    to_js(&p)
}
