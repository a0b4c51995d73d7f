//! SiLU, `x·σ(x)` (the notebook's swish `x * torch.sigmoid(x)`), at one `exp` per element.
//!
//! Why not burn's `activation::silu`: burn 0.21 evaluates σ(x) as `exp(−log(1 + exp(−x)))`
//! (two `exp` and a `log`), and its autodiff evaluates σ again in the backward pass, so one
//! SiLU costs six scalar transcendental calls per element on the CPU backends: 25 % of the
//! toy MLP's training step in `perf` (`__expf`, `__logf`). Here σ = 1/(1 + exp(−x)) is
//! evaluated once, outside the autodiff graph, and the derivative
//! `SiLU'(x) = σ + x·σ·(1 − σ)` enters as a constant coefficient:
//!
//! ```text
//! y = x̄·σ̄ + (x − x̄)·k̄,    k̄ = σ̄ + x̄·σ̄·(1 − σ̄)
//! ```
//!
//! where a bar marks a detached value. The value is x·σ(x) (x − x̄ is exactly 0) and
//! dy/dx = k̄, so first derivatives (all that burn's autodiff takes, for parameters and for
//! the likelihood's input VJP) are exact; a derivative of a derivative would not be, which is
//! why the energy network, whose score already is an input gradient, keeps burn's version.
//! Large |x| is safe: exp(−x) = ∞ gives σ̄ = 0 and k̄ = 0, never ∞·0.

use burn::tensor::{backend::Backend, Tensor};

/// SiLU `x·σ(x)` = `x / (1 + exp(−x))` with its derivative written out (see the module
/// docs). Divisions, not `recip()`: burn-ndarray's SIMD `recip` is the approximate
/// `_mm256_rcp_ps` (~12 bits), so results would depend on where a value sits in memory.
///
/// # Shapes
/// any → same
pub fn silu<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    if !B::ad_enabled(&x.device()) {
        return x.clone() / (x.neg().exp() + 1.0);
    }
    let xd = x.clone().detach();
    let d = xd.clone().neg().exp() + 1.0; // 1 + exp(−x̄)
    let s = d.ones_like() / d.clone(); // σ̄
    let value = xd.clone() / d; // x̄σ̄, the same bits as the branch above
    let k = s.clone() + value.clone() * (s.neg() + 1.0); // σ̄ + x̄σ̄(1 − σ̄)
    value + (x - xd) * k
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, NdArray};
    use burn::tensor::{TensorData, Tolerance};

    type AB = Autodiff<NdArray<f32>>;

    /// Value and gradient equal SiLU computed in f64 (and burn's gradient), including where
    /// exp(−x) overflows; long enough for the SIMD kernels; with and without autodiff the
    /// same bits.
    #[test]
    fn silu_matches_f64_in_value_and_gradient() {
        let d = Default::default();
        let mut v: Vec<f32> = vec![-120.0, -30.0, 0.0, 100.0];
        v.extend((0..300).map(|i| -15.0 + 0.1 * i as f32));
        let n = v.len();
        let x = Tensor::<AB, 1>::from_floats(v.as_slice(), &d).require_grad();
        let ours = silu(x.clone());
        let gx = x.grad(&ours.clone().sum().backward()).unwrap();
        let sig = |a: f64| 1.0 / (1.0 + (-a).exp());
        let want: Vec<f32> = v
            .iter()
            .map(|&a| (a as f64 * sig(a as f64)) as f32)
            .collect();
        let dwant: Vec<f32> = v
            .iter()
            .map(|&a| {
                let (a, s) = (a as f64, sig(a as f64));
                (s + a * s * (1.0 - s)) as f32
            })
            .collect();
        let tol = Tolerance::rel_abs(2e-6, 1e-7);
        let value = ours.into_data();
        value.assert_approx_eq::<f32>(&TensorData::new(want, [n]), tol);
        gx.clone()
            .into_data()
            .assert_approx_eq::<f32>(&TensorData::new(dwant, [n]), tol);
        let x2 = Tensor::<AB, 1>::from_floats(v.as_slice(), &d).require_grad();
        let theirs = burn::tensor::activation::silu(x2.clone());
        let g2 = x2.grad(&theirs.sum().backward()).unwrap();
        gx.into_data()
            .assert_approx_eq::<f32>(&g2.into_data(), Tolerance::rel_abs(1e-5, 1e-6));
        // Without autodiff: the same values as the autodiff path (== also equates −0 and +0:
        // x = −120 gives −0 + 0·k̄ = +0 there).
        let plain = silu(Tensor::<NdArray<f32>, 1>::from_floats(v.as_slice(), &d));
        let plain: Vec<f32> = plain.into_data().into_vec().unwrap();
        assert_eq!(plain, value.into_vec::<f32>().unwrap());
    }
}
