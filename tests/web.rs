//! The wasm API in headless Chromium (wasm-bindgen-test): sessions on the CPU backend and on
//! WebGPU (SwiftShader), settings validation as JsError, particles as Float32Array.
//! Run with `make test-wasm` (CHROMEDRIVER=/usr/bin/chromedriver), which runs it for both of
//! the page's modules: the CPU one (default features) and the WebGPU one (`--features webgpu`).
#![cfg(target_arch = "wasm32")]

use js_sys::{Float32Array, Reflect, JSON};
use scorelab::web::{normalize_settings, presets, Session, BACKEND};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn obj(json: &str) -> JsValue {
    JSON::parse(json).unwrap()
}

/// The message of a `JsError`.
fn message(e: wasm_bindgen::JsError) -> String {
    Reflect::get(&JsValue::from(e), &"message".into())
        .unwrap()
        .as_string()
        .unwrap()
}

fn num(v: &JsValue, key: &str) -> f64 {
    Reflect::get(v, &key.into())
        .unwrap()
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is not a number"))
}

async fn check_session(backend: &str, settings: &str) {
    let s = Session::create(backend.into(), obj(settings))
        .await
        .map_err(JsValue::from)
        .unwrap();
    assert_eq!(s.backend(), backend);
    let info = JsFuture::from(s.step(3)).await.unwrap();
    assert_eq!(num(&info, "index"), 3.0);
    let info = JsFuture::from(s.run()).await.unwrap();
    assert_eq!(Reflect::get(&info, &"done".into()).unwrap(), JsValue::TRUE);
    let p: Float32Array = JsFuture::from(s.particles()).await.unwrap().into();
    let n = num(&s.state().map_err(JsValue::from).unwrap(), "n") as u32;
    assert_eq!(p.length(), n * 2);
    let r = s.report(p, 20).map_err(JsValue::from).unwrap();
    assert_eq!(num(&r, "non_finite"), 0.0);
    assert!(
        num(&r, "sw") < 1.25 * num(&r, "sw_q99"),
        "sliced W2 {} vs q99 {}",
        num(&r, "sw"),
        num(&r, "sw_q99")
    );
    assert!(num(&r, "max_weight_error") <= 1.25 * num(&r, "weight_error_q99"));
}

#[cfg(not(feature = "webgpu"))]
#[wasm_bindgen_test]
async fn cpu_session_samples_the_mixture() {
    check_session("cpu", r#"{"model":"ring8","sde":{"kind":"vp"},"sampler":{"kind":"pc","steps":200},"n":1000,"seed":2}"#).await;
    check_session("cpu", r#"{"model":"anisotropic3","sde":{"kind":"subvp"},"sampler":{"kind":"ode"},"n":1000,"seed":3}"#).await;
}

#[cfg(feature = "webgpu")]
#[wasm_bindgen_test]
async fn webgpu_session_samples_the_mixture() {
    check_session("webgpu", r#"{"model":"ring8","sde":{"kind":"vp"},"sampler":{"kind":"em","steps":100},"n":500,"seed":4}"#).await;
}

#[wasm_bindgen_test]
async fn bad_settings_are_errors_not_panics() {
    let e = JsValue::from(
        normalize_settings(obj(r#"{"sampler":{"kind":"ode","rtol":-1}}"#)).unwrap_err(),
    );
    let msg = Reflect::get(&e, &"message".into())
        .unwrap()
        .as_string()
        .unwrap();
    assert!(msg.contains("sampler.rtol"), "{msg}");
    let e = Session::create("quantum".into(), JsValue::NULL)
        .await
        .map(|_| ())
        .unwrap_err();
    let msg = message(e);
    assert!(msg.contains("auto, webgpu, cpu"), "{msg}");
    // the other module's backend is refused by name (the worker routes it to that module)
    let other = if BACKEND == "cpu" { "webgpu" } else { "cpu" };
    let e = Session::create(other.into(), JsValue::NULL)
        .await
        .map(|_| ())
        .unwrap_err();
    let msg = message(e);
    assert!(msg.contains("not in this module"), "{msg}");
    let s = Session::create(BACKEND.into(), JsValue::NULL)
        .await
        .map_err(JsValue::from)
        .unwrap();
    assert!(s.set_state(obj(r#"{"model":"no-such-preset"}"#)).is_err());
    assert!(s.set_state(JsValue::from(3)).is_err());
    // the session still works with its old settings
    let info = JsFuture::from(s.step(1)).await.unwrap();
    assert_eq!(num(&info, "index"), 1.0);
    let list = presets().map_err(JsValue::from).unwrap();
    assert_eq!(js_sys::Array::from(&list).length(), 4);
}

#[cfg(not(feature = "webgpu"))]
#[wasm_bindgen_test]
async fn training_in_the_page_lowers_the_loss_and_exports_a_loadable_model() {
    use scorelab::web::Training;
    let spec = obj(
        r#"{"data":"ring8","sde":{"kind":"vp"},"hidden":64,"layers":2,"train":{"batch":128,"lr":0.003,"warmup":10,"seed":1}}"#,
    );
    let t = Training::create("cpu".into(), spec)
        .await
        .map_err(JsValue::from)
        .unwrap();
    let first = JsFuture::from(t.train(20)).await.unwrap();
    let mut last = first.clone();
    for _ in 0..10 {
        last = JsFuture::from(t.train(30)).await.unwrap();
    }
    assert_eq!(num(&last, "step"), 320.0);
    assert!(
        num(&last, "loss") < num(&first, "loss"),
        "loss {} -> {}",
        num(&first, "loss"),
        num(&last, "loss")
    );
    let bytes: js_sys::Uint8Array = JsFuture::from(t.export()).await.unwrap().into();
    let s = Session::create(
        "cpu".into(),
        obj(r#"{"sde":{"kind":"vp"},"sampler":{"kind":"em","steps":50},"n":200}"#),
    )
    .await
    .map_err(JsValue::from)
    .unwrap();
    let manifest = s
        .load_weights("ring8-net".into(), bytes.clone())
        .map_err(JsValue::from)
        .unwrap();
    assert_eq!(num(&manifest, "steps"), 320.0);
    let state = s.state().map_err(JsValue::from).unwrap();
    assert_eq!(
        Reflect::get(&state, &"model".into())
            .unwrap()
            .as_string()
            .unwrap(),
        "weights:ring8-net"
    );
    let info = JsFuture::from(s.run()).await.unwrap();
    assert_eq!(num(&info, "nfe"), 50.0);
    // a truncated file is refused and the session keeps its model
    let cut = bytes.slice(0, bytes.length() / 2);
    assert!(s.load_weights("cut".into(), cut).is_err());
    let state = s.state().map_err(JsValue::from).unwrap();
    assert_eq!(
        Reflect::get(&state, &"model".into())
            .unwrap()
            .as_string()
            .unwrap(),
        "weights:ring8-net"
    );
    // bad training specs
    let e = Training::create("cpu".into(), obj(r#"{"data":"blobs"}"#))
        .await
        .map(|_| ())
        .unwrap_err();
    let msg = message(e);
    assert!(msg.contains("swiss-roll"), "{msg}");
    let e = Training::create("cpu".into(), obj(r#"{"data":"moons","train":{"lr":-1}}"#))
        .await
        .map(|_| ())
        .unwrap_err();
    let msg = message(e);
    assert!(msg.contains("lr"), "{msg}");
}

#[cfg(feature = "webgpu")]
#[wasm_bindgen_test]
async fn training_runs_on_webgpu() {
    use scorelab::web::Training;
    let spec = obj(r#"{"data":"moons","hidden":32,"layers":2,"train":{"batch":64}}"#);
    let t = Training::create("webgpu".into(), spec)
        .await
        .map_err(JsValue::from)
        .unwrap();
    assert_eq!(t.backend(), "webgpu");
    let r = JsFuture::from(t.train(3)).await.unwrap();
    assert!(num(&r, "loss").is_finite());
    assert_eq!(num(&r, "step"), 3.0);
}

/// The noise generator's wasm SIMD form (src/rng/chacha.rs) draws `rand_chacha`'s ChaCha8
/// stream word for word, as its portable form does natively.
#[wasm_bindgen_test]
fn the_simd_chacha8_is_rand_chachas_stream() {
    use rand::{RngCore, SeedableRng};
    for seed in [0u64, 7, u64::MAX] {
        let mut want = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut got = scorelab::rng::ChaCha8::seed_from_u64(seed);
        for i in 0..1000 {
            assert_eq!(got.next_u64(), want.next_u64(), "seed {seed}, draw {i}");
        }
    }
}

/// The wasm build's SGEMM in its SIMD form (src/kernels/sgemm.rs) is the product within
/// float rounding, for every transposition, at the shapes its native tests use.
#[wasm_bindgen_test]
fn the_simd_sgemm_is_the_product_within_rounding() {
    scorelab::kernels::sgemm::assert_within_rounding_at_test_shapes();
}
