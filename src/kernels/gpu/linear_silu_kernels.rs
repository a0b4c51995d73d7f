//! The CubeCL kernel of `SiLU(h·W + b)` ([`super::linear_silu`]), f32, contiguous, `W` as
//! burn stores it (`[in, out]`). One unit per output element; the input row `h` is `x`, or for
//! the MLP's first layer `[x, sin 2πtw, cos 2πtw]`, whose features are computed in place.

use cubecl::prelude::*;

/// `z = h·W + b`, `y = z·σ(z)` for `rows × cols` outputs, `h = [x, sin p, cos p]` with
/// `p = t w · 2π` (burn's order) (`features` = F frequencies; F = 0: `h = x`), `in = dim + 2F`. With
/// `keep ≠ 0` also writes z and h (for the backward pass; `h` only when F > 0).
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
pub fn linear_silu_forward_kernel(
    x: &Tensor<f32>,
    t: &Tensor<f32>,
    freqs: &Tensor<f32>,
    weight: &Tensor<f32>,
    bias: &Tensor<f32>,
    y: &mut Tensor<f32>,
    z: &mut Tensor<f32>,
    h: &mut Tensor<f32>,
    rows: u32,
    cols: u32,
    dim: u32,
    features: u32,
    keep: u32,
) {
    let pos = ABSOLUTE_POS;
    let n = rows as usize;
    let out = cols as usize;
    let d = dim as usize;
    let f = features as usize;
    let width = d + 2 * f;
    if pos < n * out {
        let i = pos / out;
        let j = pos % out;
        let mut acc = bias[j];
        for k in 0..d {
            acc += x[i * d + k] * weight[k * out + j];
        }
        if f > 0 {
            for q in 0..f {
                let p = t[i] * freqs[q] * 6.283_185_5f32;
                acc += f32::sin(p) * weight[(d + q) * out + j];
                acc += f32::cos(p) * weight[(d + f + q) * out + j];
            }
        }
        let s = 1.0f32 / (1.0f32 + f32::exp(-acc));
        y[pos] = acc * s;
        if keep != 0 {
            z[pos] = acc;
            if f > 0 {
                // this row's h, shared out among its `out` units
                let mut k = j;
                while k < width {
                    let v = if k < d {
                        x[i * d + k]
                    } else if k < d + f {
                        f32::sin(t[i] * freqs[k - d] * 6.283_185_5f32)
                    } else {
                        f32::cos(t[i] * freqs[k - d - f] * 6.283_185_5f32)
                    };
                    h[i * width + k] = v;
                    k += out;
                }
            }
        }
    }
}
