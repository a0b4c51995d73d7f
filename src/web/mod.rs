//! The JavaScript façade (the only code that knows JavaScript; DESIGN.md). Settings come in
//! through serde-wasm-bindgen in the same JSON shape as `--config`, particles go out as
//! `Float32Array`, errors as `JsError` (one line naming the field), and every readback is
//! async. The same core [`Sampler`] runs here and in the CLI.
//!
//! A [`Session`] holds one backend: WebGPU (burn-wgpu) when the browser gives an adapter,
//! else burn's ndarray CPU backend compiled to wasm.

use crate::config::Settings;
use crate::model::gmm::{ExactGmm, Gmm};
use crate::model::presets;
use crate::sample::{Sampler, StepInfo};
use crate::stats;
use crate::tensor::read_f32;
use burn::tensor::backend::Backend;
use js_sys::{Float32Array, Promise};
use serde::Serialize;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, JsFuture};

type Gpu = burn::backend::Autodiff<burn::backend::Wgpu>;
type Cpu = crate::CpuBackend<f32>;

thread_local! {
    static GPU_READY: Cell<bool> = const { Cell::new(false) };
}

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

struct Run<B: Backend> {
    device: B::Device,
    settings: Settings,
    gmm: Gmm,
    model: ExactGmm<B>,
    sampler: Sampler<B>,
    last: Option<StepInfo>,
}

impl<B: Backend> Run<B> {
    fn new(settings: Settings, device: B::Device) -> crate::Result<Self> {
        settings.validate()?;
        let gmm = settings.preset_gmm()?;
        let model = ExactGmm::new(gmm.clone(), settings.sde, &device);
        let sampler = Sampler::new(
            &settings.sampler,
            settings.sde,
            settings.n,
            gmm.dim(),
            settings.seed,
            settings.denoise,
            &device,
        )?;
        Ok(Run {
            device,
            settings,
            gmm,
            model,
            sampler,
            last: None,
        })
    }

    async fn step(&mut self, k: u32) -> crate::Result<Option<StepInfo>> {
        for _ in 0..k {
            if self.sampler.is_done() {
                break;
            }
            self.last = Some(self.sampler.step(&self.model).await?);
        }
        Ok(self.last)
    }

    async fn run(&mut self) -> crate::Result<Option<StepInfo>> {
        while !self.sampler.is_done() {
            self.last = Some(self.sampler.step(&self.model).await?);
        }
        Ok(self.last)
    }

    async fn particles(&self) -> crate::Result<Vec<f32>> {
        read_f32(self.sampler.particles()).await
    }
}

enum Engine {
    Gpu(Run<Gpu>),
    Cpu(Run<Cpu>),
}

macro_rules! with_run {
    ($engine:expr, $r:ident => $body:expr) => {
        match $engine {
            Engine::Gpu($r) => $body,
            Engine::Cpu($r) => $body,
        }
    };
}

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
}

fn busy() -> JsValue {
    JsError::new("busy: the previous command on this session has not finished").into()
}

#[wasm_bindgen]
impl Session {
    /// Create a session. `backend`: "webgpu", "cpu" or "auto" (WebGPU when an adapter exists).
    /// `settings`: an object in the `--config` shape (missing fields take defaults).
    pub async fn create(backend: String, settings: JsValue) -> Result<Session, JsError> {
        let settings: Settings = parse_settings(settings)?;
        let want_gpu = match backend.as_str() {
            "webgpu" => true,
            "cpu" => false,
            "auto" => webgpu_adapter_available().await,
            o => {
                return Err(JsError::new(&format!(
                    "invalid backend: unknown '{o}'; accepted: auto, webgpu, cpu"
                )))
            }
        };
        if want_gpu {
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
            let run = Run::<Gpu>::new(settings, Default::default()).map_err(js_err)?;
            Ok(Session {
                engine: Rc::new(RefCell::new(Engine::Gpu(run))),
                backend: "webgpu".into(),
            })
        } else {
            let run = Run::<Cpu>::new(settings, Default::default()).map_err(js_err)?;
            Ok(Session {
                engine: Rc::new(RefCell::new(Engine::Cpu(run))),
                backend: "cpu".into(),
            })
        }
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
        match &mut *e {
            Engine::Gpu(r) => *r = Run::new(settings, r.device.clone()).map_err(js_err)?,
            Engine::Cpu(r) => *r = Run::new(settings, r.device.clone()).map_err(js_err)?,
        }
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

    /// Take up to `k` steps; resolves to the last step's info (or null before any step).
    pub fn step(&self, k: u32) -> Promise {
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

    /// Dimension of the current model.
    pub fn dim(&self) -> Result<usize, JsError> {
        let e = self.engine.try_borrow().map_err(|_| JsError::new("busy"))?;
        Ok(with_run!(&*e, r => r.gmm.dim()))
    }

    /// Compare particles (n·d values) with the current mixture: mode weights, sliced
    /// Wasserstein, and the exact-vs-exact spread of both at the same n.
    pub fn report(&self, particles: Float32Array, repeats: u32) -> Result<JsValue, JsError> {
        let e = self.engine.try_borrow().map_err(|_| JsError::new("busy"))?;
        let gmm = with_run!(&*e, r => r.gmm.clone());
        let x: Vec<f64> = particles.to_vec().into_iter().map(|v| v as f64).collect();
        if x.is_empty() || x.len() % gmm.dim() != 0 {
            return Err(JsError::new(&format!(
                "invalid particles: need a multiple of {} values, got {}",
                gmm.dim(),
                x.len()
            )));
        }
        to_js(&stats::mixture_report(
            &gmm,
            &x,
            repeats.clamp(1, 200) as usize,
            1,
        ))
    }
}

fn parse_settings(v: JsValue) -> Result<Settings, JsError> {
    if v.is_undefined() || v.is_null() {
        return Ok(Settings::default());
    }
    let s: Settings = serde_wasm_bindgen::from_value(v)
        .map_err(|e| JsError::new(&format!("invalid settings: {e}")))?;
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
