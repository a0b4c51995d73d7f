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

/// σ(x) = 1/(1 + exp(−x)), one `exp` per element.
///
/// # Shapes
/// any → same
pub fn sigmoid<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    (x.neg().exp() + 1.0).recip()
}

/// SiLU `x·σ(x)` with its derivative written out (see the module docs).
///
/// # Shapes
/// any → same
pub fn silu<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    if !B::ad_enabled(&x.device()) {
        return x.clone() * sigmoid(x);
    }
    let xd = x.clone().detach();
    let s = sigmoid(xd.clone());
    let k = s.clone() + xd.clone() * s.clone() * (s.clone().neg() + 1.0);
    let value = xd.clone() * s;
    value + (x - xd) * k
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, NdArray};
    use burn::tensor::Tolerance;

    type AB = Autodiff<NdArray<f32>>;

    /// Value and gradient equal burn's SiLU, including where exp(−x) overflows.
    #[test]
    fn silu_matches_burn_in_value_and_gradient() {
        let d = Default::default();
        let v: Vec<f32> = vec![-120.0, -30.0, -5.0, -1.0, -0.1, 0.0, 0.3, 2.0, 9.0, 100.0];
        let x = Tensor::<AB, 1>::from_floats(v.as_slice(), &d).require_grad();
        let ours = silu(x.clone());
        let g = (ours.clone() * Tensor::arange(1..11, &d).float())
            .sum()
            .backward();
        let gx = x.grad(&g).unwrap();
        let x2 = Tensor::<AB, 1>::from_floats(v.as_slice(), &d).require_grad();
        let theirs = burn::tensor::activation::silu(x2.clone());
        let g2 = (theirs.clone() * Tensor::arange(1..11, &d).float())
            .sum()
            .backward();
        let gx2 = x2.grad(&g2).unwrap();
        ours.into_data()
            .assert_approx_eq::<f32>(&theirs.into_data(), Tolerance::rel_abs(1e-5, 1e-6));
        gx.into_data()
            .assert_approx_eq::<f32>(&gx2.into_data(), Tolerance::rel_abs(1e-5, 1e-6));
        // Without autodiff: the plain product.
        let y = silu(Tensor::<NdArray<f32>, 1>::from_floats(v.as_slice(), &d));
        let want: Vec<f32> = v.iter().map(|&a| a / (1.0 + (-a).exp())).collect();
        y.into_data().assert_approx_eq::<f32>(
            &burn::tensor::TensorData::new(want, [10]),
            Tolerance::rel_abs(1e-6, 1e-7),
        );
    }
}
