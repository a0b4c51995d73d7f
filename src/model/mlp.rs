//! The toy score network: an MLP on `[x, γ(t)]` with Gaussian random Fourier time features
//! `γ(t) = [sin 2πWt, cos 2πWt]`, `W ~ N(0, s²)` fixed (Tancik et al. 2020; the notebook uses
//! s = 30, score_sde `fourier_scale` 16), SiLU activations, and the output divided by the
//! marginal std(t) so the network learns a unit-scale quantity (SCIENCE.md §6):
//! `s_θ(x, t) = f_θ(x, γ(t)) / std(t)`.

use super::labels;
use super::parameterization::{Conditioning, Output};
use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{backend::Backend, Distribution, Tensor};

use crate::kernels::linear_silu::{fourier_linear_silu, linear_silu};

/// Architecture of [`MlpScore`] (stored in weight manifests).
#[derive(Config, Debug, PartialEq)]
pub struct MlpScoreConfig {
    /// Data dimension d.
    pub dim: usize,
    /// Width of the hidden layers.
    #[config(default = 128)]
    pub hidden: usize,
    /// Number of hidden layers.
    #[config(default = 3)]
    pub layers: usize,
    /// Fourier frequencies F (the embedding has 2F features).
    #[config(default = 16)]
    pub fourier_features: usize,
    /// Standard deviation s of the fixed frequencies.
    #[config(default = 16.0)]
    pub fourier_scale: f64,
    /// What the time features see: t, or ln σ(t) for the noise-conditional (NCSN) form.
    #[config(default = "Conditioning::Time")]
    pub conditioning: Conditioning,
    /// Scaled score or ε-prediction (see [`crate::model::net`]).
    #[config(default = "Output::Score")]
    pub output: Output,
    /// Class-conditional on this many classes (plus the null label, [`crate::model::labels`]);
    /// absent for an unconditional network (and in files written before conditioning).
    #[config(default = "None")]
    pub classes: Option<usize>,
}

impl MlpScoreConfig {
    pub fn validate(&self) -> crate::Result<()> {
        crate::error::count("model.dim", self.dim, 1, 4096)?;
        crate::error::count("model.hidden", self.hidden, 1, 4096)?;
        crate::error::count("model.layers", self.layers, 1, 32)?;
        crate::error::count("model.fourier_features", self.fourier_features, 1, 1024)?;
        crate::error::in_range("model.fourier_scale", self.fourier_scale, 1e-3, 1e3)?;
        if let Some(k) = self.classes {
            crate::error::count("model.classes", k, 2, 1000)?;
        }
        Ok(())
    }

    /// Every parameter's name and shape (burn's Linear layout, weight `[in, out]`).
    pub fn param_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let mut v = vec![("fourier".to_string(), vec![self.fourier_features])];
        let lin = |v: &mut Vec<(String, Vec<usize>)>, name: String, i: usize, o: usize| {
            v.push((format!("{name}.weight"), vec![i, o]));
            v.push((format!("{name}.bias"), vec![o]));
        };
        lin(
            &mut v,
            "input".into(),
            self.dim + 2 * self.fourier_features,
            self.hidden,
        );
        for l in 0..self.layers - 1 {
            lin(&mut v, format!("hidden.{l}"), self.hidden, self.hidden);
        }
        if let Some(k) = self.classes {
            v.push(("label_embed.weight".into(), vec![k + 1, self.hidden]));
        }
        lin(&mut v, "output".into(), self.hidden, self.dim);
        v
    }

    /// A freshly initialised network (burn's default Kaiming-uniform init; the Fourier
    /// frequencies drawn from the backend RNG, fixed and never trained).
    pub fn init<B: Backend>(&self, device: &B::Device) -> MlpScore<B> {
        let w = Tensor::<B, 1>::random(
            [self.fourier_features],
            Distribution::Normal(0.0, self.fourier_scale),
            device,
        );
        let input =
            LinearConfig::new(self.dim + 2 * self.fourier_features, self.hidden).init(device);
        let hidden = (1..self.layers)
            .map(|_| LinearConfig::new(self.hidden, self.hidden).init(device))
            .collect();
        let label_embed = self
            .classes
            .map(|k| labels::embedding(k, self.hidden, device));
        let output = LinearConfig::new(self.hidden, self.dim).init(device);
        MlpScore {
            fourier: Param::from_tensor(w).set_require_grad(false),
            input,
            hidden,
            label_embed,
            output,
        }
    }
}

/// `f_θ(x, γ(t))`: see the module docs.
#[derive(Module, Debug)]
pub struct MlpScore<B: Backend> {
    /// Fixed Fourier frequencies W `[F]` (saved with the weights, not trained).
    pub fourier: Param<Tensor<B, 1>>,
    pub input: Linear<B>,
    pub hidden: Vec<Linear<B>>,
    /// The class embedding `[classes + 1, hidden]` added to the first layer's activations
    /// (`None`: unconditional).
    pub label_embed: Option<Linear<B>>,
    pub output: Linear<B>,
}

impl<B: Backend> MlpScore<B> {
    /// The network output before the division by std: `f_θ(x, γ(t))`, or `f_θ(x, γ(t), c)`
    /// for one-hot class labels (`None`: the null label; unconditional networks ignore them).
    ///
    /// # Shapes
    /// `x: [n, d]`, `t: [n, 1]`, `labels: [n, classes + 1]` → `[n, d]`
    pub fn forward_raw(
        &self,
        x: Tensor<B, 2>,
        t: Tensor<B, 2>,
        labels: Option<Tensor<B, 2>>,
    ) -> Tensor<B, 2> {
        // SiLU(Linear([x, γ(t)])) and SiLU(Linear(h)): one operation each, with its gradient,
        // on the CPU backend, burn's modules elsewhere (see [`crate::kernels::linear_silu`]).
        let mut h = fourier_linear_silu(x, t, self.fourier.val(), &self.input);
        if let Some(table) = &self.label_embed {
            h = h + labels::embed(table, labels);
        }
        for layer in &self.hidden {
            h = linear_silu(h, layer);
        }
        self.output.forward(h)
    }

    /// `s_θ(x, t) = f_θ / std(t)` with per-row times.
    ///
    /// # Shapes
    /// `x: [n, d]`, `t: [n, 1]`, `std: [n, 1]` → `[n, d]`
    pub fn forward(&self, x: Tensor<B, 2>, t: Tensor<B, 2>, std: Tensor<B, 2>) -> Tensor<B, 2> {
        self.forward_raw(x, t, None) / std
    }
}
