//! The Gaussian-mixture model with an exact score under every SDE (the test oracle and a
//! teaching model). Under a linear SDE, `p_0 = Σ_k w_k N(μ_k, Σ_k)` becomes
//! `p_t = Σ_k w_k N(m(t) μ_k, m(t)² Σ_k + v(t) I)` (SCIENCE.md §2), so
//!
//! `∇ log p_t(x) = −Σ_k r_k(x) C_k⁻¹ (x − m μ_k)`, with responsibilities
//! `r_k ∝ w_k N(x; m μ_k, C_k)` and `C_k = m² Σ_k + v I`.
//!
//! The per-t matrices `C_k⁻¹` and `log det C_k` are computed on the host in f64 (K small
//! d×d Cholesky factorisations); the batch work is tensor ops on the backend, so the score
//! runs on WebGPU and is differentiable by burn's autodiff (exact divergence in likelihood).

use crate::error::{Error, Result};
use crate::model::ScoreModel;
use crate::sde::Sde;
use crate::tensor::host_tensor;
use burn::tensor::{activation::softmax, backend::Backend, Tensor};
use rand::Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A validated Gaussian mixture in d dimensions (host data, f64).
#[derive(Debug, Clone, PartialEq)]
pub struct Gmm {
    pub weights: Vec<f64>,
    pub means: Vec<Vec<f64>>,
    /// Full covariances, row-major d×d each.
    pub covs: Vec<Vec<f64>>,
    pub name: Option<String>,
    pub description: Option<String>,
}

/// The JSON form: `{"weights":[K], "means":[[d]...], "covs":[...]}` where a covariance is a
/// scalar (isotropic), a length-d vector (diagonal) or a d×d matrix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GmmSpec {
    pub weights: Vec<f64>,
    pub means: Vec<Vec<f64>>,
    pub covs: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Largest dimension and component count accepted (keeps K d×d host work and uploads small).
pub const MAX_DIM: usize = 4096;
pub const MAX_COMPONENTS: usize = 1024;

impl Gmm {
    /// Parse and validate mixture JSON.
    pub fn from_json(text: &str) -> Result<Self> {
        let spec: GmmSpec = serde_json::from_str(text).map_err(|e| {
            Error::invalid(
                "mixture",
                format!(
                    "not a mixture JSON {{\"weights\":[K],\"means\":[[d]..],\"covs\":[..]}}: {e}"
                ),
            )
        })?;
        Self::from_spec(spec)
    }

    /// Validate a parsed spec: weights ≥ 0 summing to 1, equal-length means,
    /// symmetric positive-definite covariances.
    pub fn from_spec(spec: GmmSpec) -> Result<Self> {
        let k = spec.weights.len();
        if k == 0 || k > MAX_COMPONENTS {
            return Err(Error::invalid(
                "weights",
                format!("need 1 to {MAX_COMPONENTS} components, got {k}"),
            ));
        }
        for (i, w) in spec.weights.iter().enumerate() {
            if !(w.is_finite() && *w >= 0.0) {
                return Err(Error::invalid(
                    format!("weights[{i}]"),
                    format!("must be a finite number >= 0, got {w}"),
                ));
            }
        }
        let sum: f64 = spec.weights.iter().sum();
        if (sum - 1.0).abs() > 1e-6 {
            return Err(Error::invalid(
                "weights",
                format!("must sum to 1, got {sum}"),
            ));
        }
        if spec.means.len() != k {
            return Err(Error::invalid(
                "means",
                format!("need one mean per weight ({k}), got {}", spec.means.len()),
            ));
        }
        if spec.covs.len() != k {
            return Err(Error::invalid(
                "covs",
                format!(
                    "need one covariance per weight ({k}), got {}",
                    spec.covs.len()
                ),
            ));
        }
        let d = spec.means[0].len();
        if d == 0 || d > MAX_DIM {
            return Err(Error::invalid(
                "means[0]",
                format!("dimension must be 1 to {MAX_DIM}, got {d}"),
            ));
        }
        for (i, m) in spec.means.iter().enumerate() {
            if m.len() != d {
                return Err(Error::invalid(
                    format!("means[{i}]"),
                    format!("must have {d} entries like means[0], got {}", m.len()),
                ));
            }
            if m.iter().any(|v| !v.is_finite()) {
                return Err(Error::invalid(
                    format!("means[{i}]"),
                    "must contain finite numbers",
                ));
            }
        }
        let mut covs = Vec::with_capacity(k);
        for (i, c) in spec.covs.iter().enumerate() {
            let field = format!("covs[{i}]");
            let full = parse_cov(c, d).map_err(|m| Error::invalid(&field, m))?;
            if cholesky(&full, d).is_none() {
                return Err(Error::invalid(
                    &field,
                    "must be symmetric positive definite",
                ));
            }
            covs.push(full);
        }
        Ok(Gmm {
            weights: spec.weights,
            means: spec.means,
            covs,
            name: spec.name,
            description: spec.description,
        })
    }

    /// The JSON form with full covariance matrices.
    pub fn to_spec(&self) -> GmmSpec {
        let d = self.dim();
        GmmSpec {
            weights: self.weights.clone(),
            means: self.means.clone(),
            covs: self
                .covs
                .iter()
                .map(|c| Value::from(c.chunks(d).map(|r| r.to_vec()).collect::<Vec<_>>()))
                .collect(),
            name: self.name.clone(),
            description: self.description.clone(),
        }
    }

    pub fn dim(&self) -> usize {
        self.means[0].len()
    }
    pub fn components(&self) -> usize {
        self.weights.len()
    }

    /// The k-th component alone (weight 1): the class-conditional `p(x | k)` of guidance
    /// ([`crate::model::guidance`]). `k < components()`.
    pub fn component(&self, k: usize) -> Gmm {
        Gmm {
            weights: vec![1.0],
            means: vec![self.means[k].clone()],
            covs: vec![self.covs[k].clone()],
            name: self.name.as_ref().map(|n| format!("{n}, component {k}")),
            description: None,
        }
    }

    /// The mixture's marginal at time t: means `m μ_k`, covariances `m² Σ_k + v I`.
    pub fn marginal(&self, sde: &Sde, t: f64) -> Marginal {
        let (m, v) = (sde.mean_scale(t), sde.variance(t));
        self.with_scale(m, v)
    }

    /// Means `m μ_k`, covariances `m² Σ_k + v I` (per-component precision and log-det).
    pub fn with_scale(&self, m: f64, v: f64) -> Marginal {
        let d = self.dim();
        let mut prec = Vec::with_capacity(self.components() * d * d);
        let mut log_norm = Vec::with_capacity(self.components());
        let mut means = Vec::with_capacity(self.components() * d);
        let mut chol = Vec::with_capacity(self.components());
        for (k, cov) in self.covs.iter().enumerate() {
            let c: Vec<f64> = (0..d * d)
                .map(|ij| m * m * cov[ij] + if ij / d == ij % d { v } else { 0.0 })
                .collect();
            let l = cholesky(&c, d).expect("validated PD covariance stays PD");
            let logdet: f64 = 2.0 * (0..d).map(|i| l[i * d + i].ln()).sum::<f64>();
            prec.extend(spd_inverse(&l, d));
            log_norm.push(
                self.weights[k].ln()
                    - 0.5 * logdet
                    - 0.5 * d as f64 * (2.0 * std::f64::consts::PI).ln(),
            );
            means.extend(self.means[k].iter().map(|x| m * x));
            chol.push(l);
        }
        Marginal {
            d,
            k: self.components(),
            means,
            prec,
            log_norm,
            chol,
            weights: self.weights.clone(),
        }
    }

    /// Exact samples of `p_0` (host RNG).
    pub fn sample<R: Rng>(&self, n: usize, rng: &mut R) -> Vec<f64> {
        self.with_scale(1.0, 0.0).sample(n, rng)
    }

    /// Exact samples and the component each was drawn from (its class, for
    /// class-conditional training); the same points as [`Gmm::sample`] with the same stream.
    pub fn sample_labelled<R: Rng>(&self, n: usize, rng: &mut R) -> (Vec<f64>, Vec<usize>) {
        self.with_scale(1.0, 0.0).sample_labelled(n, rng)
    }

    /// Index of the most responsible component for each row of `x` (`[n, d]` row-major) under
    /// `p_0`: the mode a sample belongs to.
    pub fn assign(&self, x: &[f64]) -> Vec<usize> {
        let marg = self.with_scale(1.0, 0.0);
        x.chunks(self.dim())
            .map(|row| {
                let lp = marg.component_log_probs(row);
                lp.iter()
                    .enumerate()
                    .fold(
                        (0, f64::NEG_INFINITY),
                        |b, (i, &v)| if v > b.1 { (i, v) } else { b },
                    )
                    .0
            })
            .collect()
    }

    /// Exact `log p_t(x)` on the host (f64), one value per row.
    pub fn log_prob_host(&self, sde: &Sde, t: f64, x: &[f64]) -> Vec<f64> {
        let marg = self.marginal(sde, t);
        x.chunks(self.dim())
            .map(|row| log_sum_exp(&marg.component_log_probs(row)))
            .collect()
    }
}

/// A mixture at one time t: everything the batch score needs.
#[derive(Debug, Clone)]
pub struct Marginal {
    pub d: usize,
    pub k: usize,
    /// `[K, d]` row-major means `m μ_k`.
    pub means: Vec<f64>,
    /// `[K, d, d]` precisions `C_k⁻¹`.
    pub prec: Vec<f64>,
    /// `[K]` `ln w_k − ½ ln det C_k − (d/2) ln 2π`.
    pub log_norm: Vec<f64>,
    /// Cholesky factors (lower, row-major) of `C_k`.
    pub chol: Vec<Vec<f64>>,
    /// `[K]` mixture weights.
    pub weights: Vec<f64>,
}

impl Marginal {
    /// The score ∇ₓ log p_t at each row of `x` on the host, in f64: per row each component's
    /// `C_k⁻¹(x − m μ_k)` and its posterior weight (a softmax of `ln w_k + ln N(x; m μ_k,
    /// C_k)`), in one pass with nothing allocated per row. The same sum as
    /// [`ExactGmm`]'s tensor composition (`score = −Σ_k r_k C_k⁻¹(x − m μ_k)`), which on
    /// burn's CPU backend costs ten passes over `[K, n, d]` tensors, each allocated.
    ///
    /// # Shapes
    /// `x: [n, d]` → `[n, d]`
    pub fn score_rows(&self, x: &[f64]) -> Vec<f64> {
        let (k, d) = (self.k, self.d);
        let mut out = vec![0.0; x.len()];
        let mut pd = vec![0.0; k * d];
        let mut r = vec![0.0; k];
        for (row, o) in x.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
            self.component_terms(row, &mut r, &mut pd);
            let m = r.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let mut z = 0.0;
            for v in r.iter_mut() {
                *v = (*v - m).exp();
                z += *v;
            }
            for (i, o) in o.iter_mut().enumerate() {
                *o = -(0..k).map(|c| r[c] * pd[c * d + i]).sum::<f64>() / z;
            }
        }
        out
    }

    /// [`Marginal::score_rows`] in f32, for burn's CPU backend in f32 (the page's): the same
    /// sum, computed sixteen rows at a time with the rows' coordinates side by side, so every
    /// inner loop runs across rows and vectorises (wasm SIMD: four rows an instruction; the
    /// f64 form is one row at a time, a libm `exp` call per component), with the inline
    /// [`exp_f32`](crate::kernels::cpu_ops::exp_f32) on the max-shifted logits. The values
    /// are those of the f32 tensor composition the other f32 backends run (tested).
    ///
    /// # Shapes
    /// `x: [n, d]` → `[n, d]`
    pub fn score_rows_f32(&self, x: &[f32]) -> Vec<f32> {
        use crate::kernels::cpu_ops::exp_f32;
        const L: usize = 16;
        let (k, d) = (self.k, self.d);
        let f32s = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<f32>>();
        let (means, prec, log_norm) = (f32s(&self.means), f32s(&self.prec), f32s(&self.log_norm));
        let mut out = vec![0f32; x.len()];
        // per block: the coordinates x_j, x_j − m μ_kj, C_k⁻¹(x − m μ_k) and the logits, by row
        let (mut xs, mut diff, mut acc) =
            (vec![[0f32; L]; d], vec![[0f32; L]; d], vec![[0f32; L]; d]);
        let (mut pd, mut logit) = (vec![[0f32; L]; k * d], vec![[0f32; L]; k]);
        for (rows, o) in x.chunks(L * d).zip(out.chunks_mut(L * d)) {
            let b = rows.len() / d;
            for (r, row) in rows.chunks_exact(d).enumerate() {
                for (j, v) in row.iter().enumerate() {
                    xs[j][r] = *v;
                }
            }
            let mut m = [f32::NEG_INFINITY; L];
            for c in 0..k {
                for j in 0..d {
                    let mu = means[c * d + j];
                    for r in 0..L {
                        diff[j][r] = xs[j][r] - mu;
                    }
                }
                let mut q = [0f32; L];
                for i in 0..d {
                    let mut s = [0f32; L];
                    for j in 0..d {
                        let p = prec[(c * d + i) * d + j];
                        for r in 0..L {
                            s[r] += p * diff[j][r];
                        }
                    }
                    for r in 0..L {
                        q[r] += diff[i][r] * s[r];
                    }
                    pd[c * d + i] = s;
                }
                for r in 0..L {
                    let l = log_norm[c] - 0.5 * q[r];
                    logit[c][r] = l;
                    // a select, not `f32::max`: wasm's `f32.max` propagates NaN where
                    // Rust's max ignores it, so `max` is a call to `fmaxf` in the page's
                    // module (17 % of a toy sampling step, measured) and stops this loop
                    // from vectorising
                    m[r] = if l > m[r] { l } else { m[r] };
                }
            }
            let mut z = [0f32; L];
            acc.iter_mut().for_each(|a| *a = [0f32; L]);
            for c in 0..k {
                let mut e = [0f32; L];
                for r in 0..L {
                    e[r] = exp_f32(logit[c][r] - m[r]);
                    z[r] += e[r];
                }
                for i in 0..d {
                    for r in 0..L {
                        acc[i][r] += e[r] * pd[c * d + i][r];
                    }
                }
            }
            for (r, row) in o.chunks_exact_mut(d).enumerate().take(b) {
                for (i, v) in row.iter_mut().enumerate() {
                    *v = -acc[i][r] / z[r];
                }
            }
        }
        out
    }

    /// `ln w_k + ln N(x; mean_k, C_k)` for each component.
    pub fn component_log_probs(&self, x: &[f64]) -> Vec<f64> {
        let mut logits = vec![0.0; self.k];
        self.component_terms(x, &mut logits, &mut vec![0.0; self.k * self.d]);
        logits
    }

    /// For one point `x` (`[d]`): each component's `ln w_k + ln N(x; m μ_k, C_k)` into
    /// `logits` (`[K]`) and `C_k⁻¹(x − m μ_k)` into `pd` (`[K, d]`).
    fn component_terms(&self, x: &[f64], logits: &mut [f64], pd: &mut [f64]) {
        let d = self.d;
        for c in 0..self.k {
            let mean = &self.means[c * d..(c + 1) * d];
            let p = &self.prec[c * d * d..(c + 1) * d * d];
            let mut q = 0.0;
            for i in 0..d {
                let mut s = 0.0;
                for j in 0..d {
                    s += p[i * d + j] * (x[j] - mean[j]);
                }
                pd[c * d + i] = s;
                q += (x[i] - mean[i]) * s;
            }
            logits[c] = self.log_norm[c] - 0.5 * q;
        }
    }

    /// Exact samples (`[n, d]` row-major).
    pub fn sample<R: Rng>(&self, n: usize, rng: &mut R) -> Vec<f64> {
        self.sample_labelled(n, rng).0
    }

    /// Exact samples (`[n, d]` row-major) and the component each was drawn from.
    pub fn sample_labelled<R: Rng>(&self, n: usize, rng: &mut R) -> (Vec<f64>, Vec<usize>) {
        let d = self.d;
        let weights = &self.weights;
        let mut out = Vec::with_capacity(n * d);
        let mut labels = Vec::with_capacity(n);
        for _ in 0..n {
            let u: f64 = rng.random::<f64>();
            let mut acc = 0.0;
            let mut k = self.k - 1;
            for (i, w) in weights.iter().enumerate() {
                acc += w;
                if u < acc {
                    k = i;
                    break;
                }
            }
            let z: Vec<f64> = (0..d).map(|_| rng.sample(StandardNormal)).collect();
            let l = &self.chol[k];
            for i in 0..d {
                let mut s = self.means[k * d + i];
                for j in 0..=i {
                    s += l[i * d + j] * z[j];
                }
                out.push(s);
            }
            labels.push(k);
        }
        (out, labels)
    }
}

fn parse_cov(c: &Value, d: usize) -> std::result::Result<Vec<f64>, String> {
    let num = |v: &Value| {
        v.as_f64()
            .filter(|x| x.is_finite())
            .ok_or_else(|| format!("expected a finite number, got {v}"))
    };
    let mut full = vec![0.0; d * d];
    match c {
        Value::Number(_) => {
            let s = num(c)?;
            for i in 0..d {
                full[i * d + i] = s;
            }
        }
        Value::Array(rows) if rows.len() == d && rows.iter().all(|r| r.is_number()) => {
            for (i, r) in rows.iter().enumerate() {
                full[i * d + i] = num(r)?;
            }
        }
        Value::Array(rows) if rows.len() == d && rows.iter().all(|r| r.is_array()) => {
            for (i, r) in rows.iter().enumerate() {
                let r = r.as_array().unwrap();
                if r.len() != d {
                    return Err(format!("row {i} has {} entries, expected {d}", r.len()));
                }
                for (j, v) in r.iter().enumerate() {
                    full[i * d + j] = num(v)?;
                }
            }
            for i in 0..d {
                for j in 0..i {
                    let (a, b) = (full[i * d + j], full[j * d + i]);
                    if (a - b).abs() > 1e-9 * (1.0 + a.abs().max(b.abs())) {
                        return Err(format!(
                            "must be symmetric: [{i}][{j}] = {a} but [{j}][{i}] = {b}"
                        ));
                    }
                }
            }
        }
        _ => {
            return Err(format!(
                "must be a number, a length-{d} vector or a {d}x{d} matrix"
            ))
        }
    }
    Ok(full)
}

/// Lower Cholesky factor of a row-major d×d matrix, `None` unless positive definite.
pub fn cholesky(a: &[f64], d: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..=i {
            let mut s = a[i * d + j];
            for p in 0..j {
                s -= l[i * d + p] * l[j * d + p];
            }
            if i == j {
                if !(s > 0.0) || !s.is_finite() {
                    return None;
                }
                l[i * d + i] = s.sqrt();
            } else {
                l[i * d + j] = s / l[j * d + j];
            }
        }
    }
    Some(l)
}

/// Inverse of `L Lᵀ` from its Cholesky factor.
fn spd_inverse(l: &[f64], d: usize) -> Vec<f64> {
    // inv(L) by forward substitution, then inv(A) = inv(L)ᵀ inv(L).
    let mut li = vec![0.0; d * d];
    for c in 0..d {
        for i in 0..d {
            let mut s = if i == c { 1.0 } else { 0.0 };
            for p in 0..i {
                s -= l[i * d + p] * li[p * d + c];
            }
            li[i * d + c] = s / l[i * d + i];
        }
    }
    let mut inv = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..d {
            let mut s = 0.0;
            for p in i.max(j)..d {
                s += li[p * d + i] * li[p * d + j];
            }
            inv[i * d + j] = s;
        }
    }
    inv
}

pub fn log_sum_exp(v: &[f64]) -> f64 {
    let m = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    if m == f64::NEG_INFINITY {
        return m;
    }
    m + v.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
}

/// The mixture bound to an SDE and a device: a [`ScoreModel`] with the exact score.
pub struct ExactGmm<B: Backend> {
    pub gmm: Gmm,
    pub sde: Sde,
    pub device: B::Device,
}

impl<B: Backend> ExactGmm<B> {
    pub fn new(gmm: Gmm, sde: Sde, device: &B::Device) -> Self {
        ExactGmm {
            gmm,
            sde,
            device: device.clone(),
        }
    }

    /// Per-component `ln w_k + ln N(x; m μ_k, C_k)` and `C_k⁻¹(x − m μ_k)`.
    ///
    /// # Shapes
    /// `x: [n, d]` → (`[K, n, 1]`, `[K, n, d]`)
    fn components(&self, x: Tensor<B, 2>, t: f64) -> (Tensor<B, 3>, Tensor<B, 3>) {
        let marg = self.gmm.marginal(&self.sde, t);
        let (k, d) = (marg.k, marg.d);
        let means = host_tensor::<B, 3>(marg.means, [k, 1, d], &self.device);
        let prec = host_tensor::<B, 3>(marg.prec, [k, d, d], &self.device);
        let log_norm = host_tensor::<B, 3>(marg.log_norm, [k, 1, 1], &self.device);
        let n = x.dims()[0];
        let diff = x.unsqueeze_dim::<3>(0).expand([k, n, d]) - means; // [K, n, d]
        let pd = diff.clone().matmul(prec); // [K, n, d], C⁻¹ symmetric
        let quad = (diff * pd.clone()).sum_dim(2); // [K, n, 1]
        (log_norm - quad * 0.5, pd)
    }
}

impl<B: Backend> ScoreModel<B> for ExactGmm<B> {
    fn dim(&self) -> usize {
        self.gmm.dim()
    }

    fn score(&self, x: Tensor<B, 2>, t: f64) -> Tensor<B, 2> {
        let [n, d] = x.dims();
        // burn's CPU backend (no autodiff): one pass on the host ([`Marginal::score_rows`])
        if crate::kernels::cpu_ops::plain_cpu::<B>() && crate::kernels::cpu_ops::fusion_enabled() {
            let marginal = self.gmm.marginal(&self.sde, t);
            let x = match crate::kernels::cpu_ops::map_plain_f32(x, |v| marginal.score_rows_f32(v))
            {
                Ok(score) => return score,
                Err(x) => x,
            };
            let values = x
                .into_data()
                .convert::<f64>()
                .to_vec::<f64>()
                .expect("a float tensor converts to f64");
            let score = marginal.score_rows(&values);
            return host_tensor::<B, 2>(score, [n, d], &self.device);
        }
        self.score_composed(x, t)
    }

    fn log_prob(&self, x: Tensor<B, 2>, t: f64) -> Option<Tensor<B, 1>> {
        let n = x.dims()[0];
        let (logits, _) = self.components(x, t);
        let max = logits.clone().max_dim(0).detach(); // [1, n, 1]
        let lse = (logits - max.clone()).exp().sum_dim(0).log() + max;
        Some(lse.reshape([n]))
    }
}

impl<B: Backend> ExactGmm<B> {
    /// The score by burn's tensor operations (every backend but the plain CPU one, where
    /// [`Marginal::score_rows`] gives the same values in one pass; autodiff backends keep
    /// this graph).
    ///
    /// # Shapes
    /// `x: [n, d]` → `[n, d]`
    fn score_composed(&self, x: Tensor<B, 2>, t: f64) -> Tensor<B, 2> {
        let [n, d] = x.dims();
        let (logits, pd) = self.components(x, t);
        let r = softmax(logits, 0); // [K, n, 1]
        (r * pd).sum_dim(0).reshape([n, d]).neg()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-pass host score equals the tensor composition (the path of every other
    /// backend) on a ring of narrow modes, full covariances and a 3-D mixture, under VP and VE, from t near 0 to 1: to f64 rounding on
    /// `NdArray<f64>`, to f32 rounding relative to the score's size on `NdArray<f32>`.
    #[test]
    fn one_pass_score_matches_the_composition() {
        use burn::backend::NdArray;
        fn check<B: Backend>(tol: f64) {
            let device = Default::default();
            let ring: Vec<String> = (0..8)
                .map(|k| {
                    format!(
                        "[{:.4},{:.4}]",
                        4.0 * (k as f64).cos(),
                        4.0 * (k as f64).sin()
                    )
                })
                .collect();
            let mixtures = [
                format!(r#"{{"weights":[{}],"means":[{}],"covs":[{}]}}"#, ["0.125"; 8].join(","), ring.join(","), ["0.01"; 8].join(",")),
                r#"{"weights":[0.5,0.25,0.25],"means":[[0,0],[1,1],[2,2]],"covs":[2.0,[1,3],[[2,0.5],[0.5,1]]]}"#.into(),
                r#"{"weights":[0.3,0.7],"means":[[1,0,-1],[-2,1,0]],"covs":[0.5,[1,2,0.3]]}"#.into(),
            ];
            for (name, json) in mixtures.iter().enumerate() {
                let gmm = Gmm::from_json(json).unwrap();
                let d = gmm.dim();
                let mut rng = crate::rng::Noise::new(3);
                let x: Vec<f64> = (0..200 * d)
                    .map(|_| 6.0 * rng.rng().random::<f64>() - 3.0)
                    .collect();
                for sde in [
                    Sde::default(),
                    serde_json::from_str(r#"{"kind":"ve"}"#).unwrap(),
                ] {
                    let model = ExactGmm::<B>::new(gmm.clone(), sde, &device);
                    for t in [1e-3, 0.05, 0.5, 1.0] {
                        let xt = host_tensor::<B, 2>(x.clone(), [200, d], &device);
                        let fused = model
                            .score(xt.clone(), t)
                            .into_data()
                            .convert::<f64>()
                            .to_vec::<f64>()
                            .unwrap();
                        let composed = model
                            .score_composed(xt, t)
                            .into_data()
                            .convert::<f64>()
                            .to_vec::<f64>()
                            .unwrap();
                        for (a, b) in fused.iter().zip(&composed) {
                            assert!(
                                (a - b).abs() <= tol * (1.0 + b.abs()),
                                "{name} t={t}: {a} vs {b}"
                            );
                        }
                    }
                }
            }
        }
        check::<NdArray<f64>>(1e-9);
        check::<NdArray<f32>>(2e-3);
    }

    #[test]
    fn parses_scalar_diagonal_and_full_covariances() {
        let g = Gmm::from_json(
            r#"{"weights":[0.5,0.25,0.25],"means":[[0,0],[1,1],[2,2]],
            "covs":[2.0,[1,3],[[2,0.5],[0.5,1]]],"name":"x"}"#,
        )
        .unwrap();
        assert_eq!(g.covs[0], vec![2.0, 0.0, 0.0, 2.0]);
        assert_eq!(g.covs[1], vec![1.0, 0.0, 0.0, 3.0]);
        assert_eq!(g.covs[2], vec![2.0, 0.5, 0.5, 1.0]);
    }

    #[test]
    fn rejects_bad_mixtures_naming_the_field() {
        let cases = [
            (
                r#"{"weights":[0.5,0.6],"means":[[0],[1]],"covs":[1,1]}"#,
                "weights",
            ),
            (
                r#"{"weights":[1.0],"means":[[0,0]],"covs":[[[1,2],[2,1]]]}"#,
                "covs[0]",
            ),
            (
                r#"{"weights":[1.0],"means":[[0,0]],"covs":[-1]}"#,
                "covs[0]",
            ),
            (
                r#"{"weights":[0.5,0.5],"means":[[0,0],[1]],"covs":[1,1]}"#,
                "means[1]",
            ),
            (
                r#"{"weights":[1.0],"means":[[0,0]],"covs":[[[1,0],[0.5,1]]]}"#,
                "covs[0]",
            ),
            (r#"{"weights":[],"means":[],"covs":[]}"#, "weights"),
            (
                r#"{"weights":[1.0],"means":[[0]],"covs":[1],"extra":1}"#,
                "mixture",
            ),
        ];
        for (json, field) in cases {
            let e = Gmm::from_json(json).unwrap_err().to_string();
            assert!(e.starts_with(&format!("invalid {field}")), "{json}: {e}");
        }
    }

    #[test]
    fn inverse_and_log_det_are_right() {
        let a = vec![4.0, 1.0, 0.5, 1.0, 3.0, 0.2, 0.5, 0.2, 2.0];
        let l = cholesky(&a, 3).unwrap();
        let inv = spd_inverse(&l, 3);
        for i in 0..3 {
            for j in 0..3 {
                let s: f64 = (0..3).map(|p| a[i * 3 + p] * inv[p * 3 + j]).sum();
                assert!((s - if i == j { 1.0 } else { 0.0 }).abs() < 1e-12);
            }
        }
    }
}
