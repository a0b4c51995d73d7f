//! An energy network: a scalar `e_θ(x, t)` (an MLP on `[x, γ(t)]` with SiLU and one output)
//! whose score is the negative input gradient, `s_θ(x, t) = −∇ₓ e_θ(x, t) / std(t)`, so the
//! learned field is conservative by construction (SCIENCE.md §7, energy-based models; Salimans
//! & Ho 2021 "Should EBMs model the energy or the score?").
//!
//! burn 0.21's autodiff is first order, so training `−∇ₓe` with autodiff would need the
//! gradient of a gradient. Instead the input gradient is written out by hand (reverse mode
//! through the MLP, `silu'(a) = σ(a)(1 + a(1 − σ(a)))`) as ordinary tensor operations, which
//! autodiff then differentiates once with respect to the weights. `tests/native/train.rs` checks the
//! hand-written gradient against autodiff's `∇ₓ e`.

use super::parameterization::Conditioning;
use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{activation::sigmoid, activation::silu, backend::Backend, Distribution, Tensor};

/// Architecture of [`EnergyMlp`] (stored in weight manifests).
#[derive(Config, Debug, PartialEq)]
pub struct EnergyConfig {
    pub dim: usize,
    #[config(default = 128)]
    pub hidden: usize,
    #[config(default = 3)]
    pub layers: usize,
    #[config(default = 16)]
    pub fourier_features: usize,
    #[config(default = 16.0)]
    pub fourier_scale: f64,
    #[config(default = "Conditioning::Time")]
    pub conditioning: Conditioning,
}

impl EnergyConfig {
    pub fn validate(&self) -> crate::Result<()> {
        crate::error::count("model.dim", self.dim, 1, 4096)?;
        crate::error::count("model.hidden", self.hidden, 1, 4096)?;
        crate::error::count("model.layers", self.layers, 1, 32)?;
        crate::error::count("model.fourier_features", self.fourier_features, 1, 1024)?;
        crate::error::in_range("model.fourier_scale", self.fourier_scale, 1e-3, 1e3)?;
        Ok(())
    }

    pub fn init<B: Backend>(&self, device: &B::Device) -> EnergyMlp<B> {
        let w = Tensor::<B, 1>::random(
            [self.fourier_features],
            Distribution::Normal(0.0, self.fourier_scale),
            device,
        );
        EnergyMlp {
            fourier: Param::from_tensor(w).set_require_grad(false),
            input: LinearConfig::new(self.dim + 2 * self.fourier_features, self.hidden)
                .init(device),
            hidden: (1..self.layers)
                .map(|_| LinearConfig::new(self.hidden, self.hidden).init(device))
                .collect(),
            output: LinearConfig::new(self.hidden, 1).init(device),
        }
    }
}

/// `e_θ(x, γ(t))`: see the module docs.
#[derive(Module, Debug)]
pub struct EnergyMlp<B: Backend> {
    pub fourier: Param<Tensor<B, 1>>,
    pub input: Linear<B>,
    pub hidden: Vec<Linear<B>>,
    pub output: Linear<B>,
}

/// `silu'(a) = σ(a)(1 + a(1 − σ(a)))`.
fn silu_grad<B: Backend>(a: Tensor<B, 2>) -> Tensor<B, 2> {
    let s = sigmoid(a.clone());
    s.clone() * (a * (s.neg() + 1.0) + 1.0)
}

impl<B: Backend> EnergyMlp<B> {
    fn features(&self, x: Tensor<B, 2>, cond: Tensor<B, 2>) -> Tensor<B, 2> {
        crate::kernels::linear_silu::fourier_features(x, cond, self.fourier.val())
    }

    /// The energy `e_θ(x, cond)`.
    ///
    /// # Shapes
    /// `x: [n, d]`, `cond: [n, 1]` → `[n, 1]`
    pub fn energy(&self, x: Tensor<B, 2>, cond: Tensor<B, 2>) -> Tensor<B, 2> {
        let mut h = silu(self.input.forward(self.features(x, cond)));
        for layer in &self.hidden {
            h = silu(layer.forward(h));
        }
        self.output.forward(h)
    }

    /// `−∇ₓ e_θ(x, cond)` by the hand-written reverse pass (module docs).
    ///
    /// # Shapes
    /// `x: [n, d]`, `cond: [n, 1]` → `[n, d]`
    pub fn neg_grad(&self, x: Tensor<B, 2>, cond: Tensor<B, 2>) -> Tensor<B, 2> {
        let [n, d] = x.dims();
        // Forward, keeping the pre-activations.
        let mut pre = vec![self.input.forward(self.features(x, cond))];
        for layer in &self.hidden {
            let h = silu(pre.last().unwrap().clone());
            pre.push(layer.forward(h));
        }
        // Backward: ∂e/∂h_L = w_out (broadcast over rows), then through each layer.
        let w_out = self.output.weight.val(); // [H, 1]
        let hidden = w_out.dims()[0];
        let mut g = w_out.reshape([1, hidden]).expand([n, hidden]); // ∂e/∂h_L
        for (l, a) in pre.iter().enumerate().rev() {
            let ga = g * silu_grad(a.clone()); // ∂e/∂a_l
            g = if l == 0 {
                // a_0 = [x, γ] W_in: only the x rows of W_in.
                let w_in = self.input.weight.val(); // [d + 2F, H]
                let w_x = w_in.slice([0..d, 0..hidden]);
                return ga.matmul(w_x.transpose()).neg();
            } else {
                ga.matmul(self.hidden[l - 1].weight.val().transpose())
            };
        }
        unreachable!("the loop returns at the input layer")
    }
}
