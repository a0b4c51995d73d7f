//! The CubeCL kernels of the samplers' update (see the module above). f32 only, inputs
//! contiguous and of one shape `[n, d]` (the launcher makes them so).

use cubecl::prelude::*;

/// `out = c0·x + c1·s + c2·z`, one element per unit.
#[cube(launch)]
pub fn affine3_kernel(
    x: &Tensor<f32>,
    s: &Tensor<f32>,
    z: &Tensor<f32>,
    out: &mut Tensor<f32>,
    c0: f32,
    c1: f32,
    c2: f32,
) {
    let i = ABSOLUTE_POS;
    if i < out.len() {
        out[i] = x[i] * c0 + s[i] * c1 + z[i] * c2;
    }
}

/// Largest cube the corrector runs as (a power of two; shared memory is sized for it).
pub const CORRECTOR_CUBE: u32 = 256;

/// One Langevin corrector step for all `rows × cols` particles in one cube: each unit sums
/// the norms of its rows of `s` and `z`, a tree reduction in shared memory gives the batch
/// means, then every unit writes its share of `x + ε s + √(2ε) z`,
/// `ε = coef · (mean‖z‖ / max(mean‖s‖, 1e-30))²`. The cube's size is a power of two.
#[cube(launch)]
pub fn langevin_kernel(
    x: &Tensor<f32>,
    s: &Tensor<f32>,
    z: &Tensor<f32>,
    out: &mut Tensor<f32>,
    coef: f32,
    rows: u32,
    cols: u32,
) {
    let unit = UNIT_POS_X as usize;
    let dim = CUBE_DIM_X as usize;
    let n = rows as usize;
    let d = cols as usize;
    let mut grad = 0.0f32;
    let mut noise = 0.0f32;
    let mut r = unit;
    while r < n {
        let mut a = 0.0f32;
        let mut b = 0.0f32;
        for j in 0..d {
            let v = s[r * d + j];
            let w = z[r * d + j];
            a += v * v;
            b += w * w;
        }
        grad += f32::sqrt(a);
        noise += f32::sqrt(b);
        r += dim;
    }
    let mut grads = SharedMemory::<f32>::new(CORRECTOR_CUBE as usize);
    let mut noises = SharedMemory::<f32>::new(CORRECTOR_CUBE as usize);
    grads[unit] = grad;
    noises[unit] = noise;
    sync_cube();
    let mut half = dim / 2;
    while half > 0 {
        if unit < half {
            grads[unit] += grads[unit + half];
            noises[unit] += noises[unit + half];
        }
        sync_cube();
        half /= 2;
    }
    let count = f32::cast_from(rows);
    let grad_norm = f32::max(grads[0] / count, 1e-30f32);
    let ratio = noises[0] / count / grad_norm;
    let eps = coef * ratio * ratio;
    let amp = f32::sqrt(eps * 2.0f32);
    let total = n * d;
    let mut i = unit;
    while i < total {
        out[i] = x[i] + s[i] * eps + z[i] * amp;
        i += dim;
    }
}
