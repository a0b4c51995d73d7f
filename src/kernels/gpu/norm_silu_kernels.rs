//! The CubeCL kernels of `SiLU(GroupNorm(h + e))` and its gradient ([`super::norm_silu`]).
//! f32, NCHW contiguous: the `cpg·P` values of group g of sample n (`cpg = C/G` channels of
//! `P = H·W` pixels) are one contiguous run, so one cube owns one (sample, group) and reduces
//! over it in shared memory. The cube's size is a power of two, at most [`NORM_CUBE`].

use cubecl::prelude::*;

/// Largest cube (a power of two; shared memory is sized for it).
pub const NORM_CUBE: u32 = 256;

/// Sums `v` over the cube (a power-of-two size) through `shared`; every unit gets the sum.
#[cube]
fn cube_sum(v: f32, shared: &mut SharedMemory<f32>) -> f32 {
    let unit = UNIT_POS_X as usize;
    shared[unit] = v;
    sync_cube();
    let mut half = CUBE_DIM_X as usize / 2;
    while half > 0 {
        if unit < half {
            shared[unit] += shared[unit + half];
        }
        sync_cube();
        half /= 2;
    }
    let total = shared[0];
    sync_cube();
    total
}

/// Forward, one cube per (sample n, group g), `cube = n·G + g`:
/// `u = h + e` (e broadcast over pixels), μ and σ² of u over the group (two passes),
/// `x̂ = (u − μ)/sqrt(σ² + ε)`, `z = γ x̂ + β`, `y = z·sigmoid(z)`; writes y, x̂ and
/// `rstd = 1/sqrt(σ² + ε)` per (n, g).
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
pub fn norm_silu_forward_kernel(
    h: &Tensor<f32>,
    e: &Tensor<f32>,
    gamma: &Tensor<f32>,
    beta: &Tensor<f32>,
    y: &mut Tensor<f32>,
    xhat: &mut Tensor<f32>,
    rstd: &mut Tensor<f32>,
    channels: u32,
    groups: u32,
    pixels: u32,
    eps: f32,
) {
    let cube = CUBE_POS_X as usize;
    let unit = UNIT_POS_X as usize;
    let dim = CUBE_DIM_X as usize;
    let c_all = channels as usize;
    let g_all = groups as usize;
    let p = pixels as usize;
    let cpg = c_all / g_all;
    let m = cpg * p;
    let n = cube / g_all;
    let g = cube % g_all;
    let base = cube * m;
    let first = g * cpg;
    let mut shared = SharedMemory::<f32>::new(NORM_CUBE as usize);

    let mut s1 = 0.0f32;
    let mut j = unit;
    while j < m {
        s1 += h[base + j] + e[n * c_all + first + j / p];
        j += dim;
    }
    let mean = cube_sum(s1, &mut shared) / f32::cast_from(m);
    let mut s2 = 0.0f32;
    let mut j = unit;
    while j < m {
        let v = h[base + j] + e[n * c_all + first + j / p] - mean;
        s2 += v * v;
        j += dim;
    }
    let var = cube_sum(s2, &mut shared) / f32::cast_from(m);
    let r = 1.0f32 / f32::sqrt(var + eps);
    let mut j = unit;
    while j < m {
        let c = first + j / p;
        let xh = (h[base + j] + e[n * c_all + c] - mean) * r;
        let z = gamma[c] * xh + beta[c];
        let s = 1.0f32 / (1.0f32 + f32::exp(-z));
        xhat[base + j] = xh;
        y[base + j] = z * s;
        j += dim;
    }
    if unit == 0 {
        rstd[cube] = r;
    }
}

/// Backward, one cube per (n, g), from `dy`, x̂, rstd, γ, β:
///
/// ```text
/// ∂z = ∂y·(s + z s (1 − s)),  ∂x̂ = γ ∂z
/// ∂u = (∂x̂ − mean_g ∂x̂ − x̂ · mean_g(∂x̂ x̂)) · rstd
/// ```
///
/// writes ∂u (= ∂h), and per (n, c) the pixel sums `∂e = Σ_p ∂u`, `Σ_p ∂z x̂` and `Σ_p ∂z`
/// (summed over n by the caller: ∂γ, ∂β).
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
pub fn norm_silu_backward_kernel(
    dy: &Tensor<f32>,
    xhat: &Tensor<f32>,
    rstd: &Tensor<f32>,
    gamma: &Tensor<f32>,
    beta: &Tensor<f32>,
    du: &mut Tensor<f32>,
    de: &mut Tensor<f32>,
    dgamma: &mut Tensor<f32>,
    dbeta: &mut Tensor<f32>,
    channels: u32,
    groups: u32,
    pixels: u32,
) {
    let cube = CUBE_POS_X as usize;
    let unit = UNIT_POS_X as usize;
    let dim = CUBE_DIM_X as usize;
    let c_all = channels as usize;
    let g_all = groups as usize;
    let p = pixels as usize;
    let cpg = c_all / g_all;
    let m = cpg * p;
    let n = cube / g_all;
    let g = cube % g_all;
    let base = cube * m;
    let first = g * cpg;
    let r = rstd[cube];
    let mut shared = SharedMemory::<f32>::new(NORM_CUBE as usize);

    let mut a = 0.0f32;
    let mut b = 0.0f32;
    let mut j = unit;
    while j < m {
        let c = first + j / p;
        let xh = xhat[base + j];
        let z = gamma[c] * xh + beta[c];
        let s = 1.0f32 / (1.0f32 + f32::exp(-z));
        let dxh = gamma[c] * dy[base + j] * (s + z * s * (1.0f32 - s));
        a += dxh;
        b += dxh * xh;
        j += dim;
    }
    let m1 = cube_sum(a, &mut shared) / f32::cast_from(m);
    let m2 = cube_sum(b, &mut shared) / f32::cast_from(m);
    for k in 0..cpg {
        let c = first + k;
        let mut su = 0.0f32;
        let mut sg = 0.0f32;
        let mut sb = 0.0f32;
        let mut q = unit;
        while q < p {
            let i = base + k * p + q;
            let xh = xhat[i];
            let z = gamma[c] * xh + beta[c];
            let s = 1.0f32 / (1.0f32 + f32::exp(-z));
            let dz = dy[i] * (s + z * s * (1.0f32 - s));
            let v = (gamma[c] * dz - m1 - xh * m2) * r;
            du[i] = v;
            su += v;
            sg += dz * xh;
            sb += dz;
            q += dim;
        }
        let tu = cube_sum(su, &mut shared);
        let tg = cube_sum(sg, &mut shared);
        let tb = cube_sum(sb, &mut shared);
        if unit == 0 {
            de[n * c_all + c] = tu;
            dgamma[n * c_all + c] = tg;
            dbeta[n * c_all + c] = tb;
        }
    }
}
