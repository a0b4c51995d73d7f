//! The notebook's time-dependent U-Net `ScoreNet` for 28×28 images (Song, "Score-based
//! generative modeling in PyTorch", the tutorial notebook in `shared/seeds/002`):
//! four stride-2 encoder convolutions (channels 32/64/128/256, no padding), three transposed
//! decoder convolutions with skip connections, a Gaussian-Fourier time embedding (256
//! features, scale 30) followed by a dense layer and SiLU, added to every block through a
//! per-block dense layer, GroupNorm (4 groups on the first block, 32 elsewhere), SiLU, and
//! the output divided by the marginal std (SCIENCE.md §6). Spatial sizes 28→26→12→5→2 and
//! back 2→5→12→26→28.
//!
//! Field names are the notebook's (`conv1`, `dense1`, `gnorm1`, ..., `tconv1`), so a PyTorch
//! state dict maps onto this module by a fixed rename (see [`crate::weights::pytorch`]).

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{GroupNorm, GroupNormConfig, Linear, LinearConfig};
use burn::tensor::{backend::Backend, Distribution, Tensor};

use super::labels;
use super::parameterization::{Conditioning, Output};
use crate::kernels::activation::silu;
use crate::kernels::conv::{
    conv2d, conv2d_gather, conv_transpose2d, conv_transpose2d_gather, Kernels,
};
use crate::kernels::cpu_conv;
use crate::kernels::norm_silu::norm_silu;

/// Architecture of [`UNet`] (stored in weight manifests).
#[derive(Config, Debug, PartialEq)]
pub struct UNetConfig {
    /// Image side (28 for MNIST and Fashion-MNIST; the strides fix it).
    #[config(default = 28)]
    pub side: usize,
    /// Channels of the four resolutions.
    #[config(default = "[32, 64, 128, 256]")]
    pub channels: [usize; 4],
    /// Time embedding width (Fourier features and the dense layer).
    #[config(default = 256)]
    pub embed_dim: usize,
    /// Standard deviation of the fixed Fourier frequencies (notebook: 30).
    #[config(default = 30.0)]
    pub fourier_scale: f64,
    /// What the time embedding sees: t (the notebook) or ln σ(t).
    #[config(default = "Conditioning::Time")]
    pub conditioning: Conditioning,
    /// Scaled score (absent: the files written before flow matching), or the velocity of
    /// flow matching (see [`crate::model::net`]); [`UNetConfig::output_kind`] reads it.
    #[config(default = "None")]
    pub output: Option<Output>,
    /// Class-conditional on this many classes (plus the null label, [`crate::model::labels`]);
    /// absent for an unconditional network.
    #[config(default = "None")]
    pub classes: Option<usize>,
}

impl UNetConfig {
    /// What the output means ([`Output::Score`] when the manifest does not say).
    pub fn output_kind(&self) -> Output {
        self.output.unwrap_or_default()
    }

    pub fn validate(&self) -> crate::Result<()> {
        if self.side != 28 {
            return Err(crate::Error::invalid(
                "model.side",
                format!("{} is not supported; accepted: 28", self.side),
            ));
        }
        for (i, c) in self.channels.iter().enumerate() {
            crate::error::count(&format!("model.channels[{i}]"), *c, 32, 1024)?;
            if c % 32 != 0 {
                return Err(crate::Error::invalid(
                    &format!("model.channels[{i}]"),
                    format!("{c} must be a multiple of 32 (GroupNorm with 32 groups)"),
                ));
            }
        }
        crate::error::count("model.embed_dim", self.embed_dim, 2, 4096)?;
        if self.embed_dim % 2 != 0 {
            return Err(crate::Error::invalid(
                "model.embed_dim",
                format!("{} must be even", self.embed_dim),
            ));
        }
        crate::error::in_range("model.fourier_scale", self.fourier_scale, 1e-3, 1e3)?;
        if let Some(k) = self.classes {
            crate::error::count("model.classes", k, 2, 1000)?;
        }
        Ok(())
    }

    /// Flattened data dimension (1 × side × side).
    pub fn dim(&self) -> usize {
        self.side * self.side
    }

    pub fn init<B: Backend>(&self, device: &B::Device) -> UNet<B> {
        let [c0, c1, c2, c3] = self.channels;
        let e = self.embed_dim;
        let conv = |i, o, s| {
            Conv2dConfig::new([i, o], [3, 3])
                .with_stride([s, s])
                .with_bias(false)
                .init(device)
        };
        let tconv = |i, o, s, pad_out| {
            ConvTranspose2dConfig::new([i, o], [3, 3])
                .with_stride([s, s])
                .with_padding_out([pad_out, pad_out])
                .with_bias(false)
                .init(device)
        };
        let dense = |o| LinearConfig::new(e, o).init(device);
        let gn = |g, c| GroupNormConfig::new(g, c).init(device);
        let w = Tensor::<B, 1>::random(
            [e / 2],
            Distribution::Normal(0.0, self.fourier_scale),
            device,
        );
        UNet {
            fourier: Param::from_tensor(w).set_require_grad(false),
            embed: LinearConfig::new(e, e).init(device),
            label_embed: self.classes.map(|k| labels::embedding(k, e, device)),
            conv1: conv(1, c0, 1),
            dense1: dense(c0),
            gnorm1: gn(4, c0),
            conv2: conv(c0, c1, 2),
            dense2: dense(c1),
            gnorm2: gn(32, c1),
            conv3: conv(c1, c2, 2),
            dense3: dense(c2),
            gnorm3: gn(32, c2),
            conv4: conv(c2, c3, 2),
            dense4: dense(c3),
            gnorm4: gn(32, c3),
            tconv4: tconv(c3, c2, 2, 0),
            dense5: dense(c2),
            tgnorm4: gn(32, c2),
            tconv3: tconv(c2 + c2, c1, 2, 1),
            dense6: dense(c1),
            tgnorm3: gn(32, c1),
            tconv2: tconv(c1 + c1, c0, 2, 1),
            dense7: dense(c0),
            tgnorm2: gn(32, c0),
            tconv1: ConvTranspose2dConfig::new([c0 + c0, 1], [3, 3]).init(device),
            side: self.side,
        }
    }
}

/// The notebook's `ScoreNet` (see the module docs).
#[derive(Module, Debug)]
pub struct UNet<B: Backend> {
    /// Fixed Fourier frequencies W `[embed_dim/2]` (the notebook's `embed.0.W`).
    pub fourier: Param<Tensor<B, 1>>,
    pub embed: Linear<B>,
    /// The class embedding `[classes + 1, embed_dim]` added to the time embedding (`None`:
    /// unconditional).
    pub label_embed: Option<Linear<B>>,
    pub conv1: Conv2d<B>,
    pub dense1: Linear<B>,
    pub gnorm1: GroupNorm<B>,
    pub conv2: Conv2d<B>,
    pub dense2: Linear<B>,
    pub gnorm2: GroupNorm<B>,
    pub conv3: Conv2d<B>,
    pub dense3: Linear<B>,
    pub gnorm3: GroupNorm<B>,
    pub conv4: Conv2d<B>,
    pub dense4: Linear<B>,
    pub gnorm4: GroupNorm<B>,
    pub tconv4: ConvTranspose2d<B>,
    pub dense5: Linear<B>,
    pub tgnorm4: GroupNorm<B>,
    pub tconv3: ConvTranspose2d<B>,
    pub dense6: Linear<B>,
    pub tgnorm3: GroupNorm<B>,
    pub tconv2: ConvTranspose2d<B>,
    pub dense7: Linear<B>,
    pub tgnorm2: GroupNorm<B>,
    pub tconv1: ConvTranspose2d<B>,
    pub side: usize,
}

pub(crate) fn conv<B: Backend>(c: &Conv2d<B>, x: Tensor<B, 4>, kernels: Kernels) -> Tensor<B, 4> {
    match kernels {
        Kernels::Backend => c.forward(x),
        Kernels::Matmul => conv2d(x, c.weight.val(), c.stride[0]),
        Kernels::Gather => conv2d_gather(x, c.weight.val(), c.stride[0]),
        Kernels::Cpu => cpu_conv::conv2d(x, c.weight.val(), c.stride[0]),
    }
}

/// The transposed convolution of the channel concatenation of `parts` (a decoder block's
/// input and its skip connection, or one tensor).
fn tconv<B: Backend>(
    c: &ConvTranspose2d<B>,
    parts: Vec<Tensor<B, 4>>,
    kernels: Kernels,
) -> Tensor<B, 4> {
    let (w, stride, pad) = (c.weight.val(), c.stride[0], c.padding_out[0]);
    let y = match kernels {
        // The CPU operation reads the parts without building the concatenation.
        Kernels::Cpu => cpu_conv::conv_transpose2d_cat(parts, w, stride, pad),
        Kernels::Backend => return c.forward(Tensor::cat(parts, 1)),
        Kernels::Matmul => conv_transpose2d(Tensor::cat(parts, 1), w, stride, pad),
        Kernels::Gather => conv_transpose2d_gather(Tensor::cat(parts, 1), w, stride, pad),
    };
    match &c.bias {
        Some(b) => y + b.val().reshape([1, -1, 1, 1]),
        None => y,
    }
}

impl<B: Backend> UNet<B> {
    /// The network output before the division by std (`std(t)·s_θ`), for one-hot class
    /// labels (`None`: the null label; unconditional networks ignore them).
    ///
    /// # Shapes
    /// `x: [n, side²]` (flattened images), `cond: [n, 1]`, `labels: [n, classes + 1]` →
    /// `[n, side²]`
    pub fn forward_raw(
        &self,
        x: Tensor<B, 2>,
        cond: Tensor<B, 2>,
        labels: Option<Tensor<B, 2>>,
    ) -> Tensor<B, 2> {
        let kernels = Kernels::for_backend::<B>(&x.device());
        self.forward_raw_with(x, cond, labels, kernels)
    }

    /// [`Self::forward_raw`] with the convolution code chosen by the caller.
    ///
    /// # Shapes
    /// `x: [n, side²]`, `cond: [n, 1]`, `labels: [n, classes + 1]` → `[n, side²]`
    pub fn forward_raw_with(
        &self,
        x: Tensor<B, 2>,
        cond: Tensor<B, 2>,
        labels: Option<Tensor<B, 2>>,
        k: Kernels,
    ) -> Tensor<B, 2> {
        let [n, d] = x.dims();
        let side = self.side;
        let x = x.reshape([n, 1, side, side]);
        let w = self.fourier.val().unsqueeze_dim::<2>(0); // [1, E/2]
        let proj = cond.matmul(w) * (2.0 * std::f64::consts::PI);
        let mut embed = silu(
            self.embed
                .forward(Tensor::cat(vec![proj.clone().sin(), proj.cos()], 1)),
        );
        if let Some(table) = &self.label_embed {
            embed = embed + labels::embed(table, labels);
        }
        // SiLU(GroupNorm(h + dense(embed))): one fused operation on the CPU backend (with
        // its own convolutions, whose channels-last layout it keeps) and on the native GPU
        // backends (two CubeCL kernels, `kernels::gpu`, with burn's convolutions); burn's
        // modules elsewhere (see [`crate::kernels::norm_silu`]; `SCORELAB_FUSE=off` turns it off).
        let fused = matches!(k, Kernels::Cpu | Kernels::Backend)
            && crate::kernels::cpu_ops::fusion_enabled();
        let block = |h: Tensor<B, 4>, dense: &Linear<B>, norm: &GroupNorm<B>| {
            norm_silu(h, dense.forward(embed.clone()), norm, fused)
        };
        // Convolutions as matmuls on the CPU, the backend's kernels on CUDA (see
        // [`crate::kernels::conv`]): the same results either way.
        let h1 = block(conv(&self.conv1, x, k), &self.dense1, &self.gnorm1);
        let h2 = block(conv(&self.conv2, h1.clone(), k), &self.dense2, &self.gnorm2);
        let h3 = block(conv(&self.conv3, h2.clone(), k), &self.dense3, &self.gnorm3);
        let h4 = block(conv(&self.conv4, h3.clone(), k), &self.dense4, &self.gnorm4);
        let h = block(
            tconv(&self.tconv4, vec![h4], k),
            &self.dense5,
            &self.tgnorm4,
        );
        let h = block(
            tconv(&self.tconv3, vec![h, h3], k),
            &self.dense6,
            &self.tgnorm3,
        );
        let h = block(
            tconv(&self.tconv2, vec![h, h2], k),
            &self.dense7,
            &self.tgnorm2,
        );
        let h = tconv(&self.tconv1, vec![h, h1], k);
        h.reshape([n, d])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, NdArray};
    use burn::tensor::Tolerance;

    /// The U-Net gives the same output and weight gradients with the im2col convolutions
    /// (strided slices, as on WebGPU), the gather ones, the backend's own kernels (CUDA) and
    /// the CPU backend's own operations, so a network trained on one runs on the others.
    /// `Cpu` also takes the fused GroupNorm + SiLU ([`crate::kernels::norm_silu`]); burn's GroupNorm gradient in f32 is
    /// 1-2e-4 (relative) off the f64 value where the fused one is 3e-7 (its tests), so the
    /// gradients are compared to 1e-3 of their largest entry.
    #[test]
    fn all_convolution_kernels_give_one_network() {
        type AB = Autodiff<NdArray<f32>>;
        let d = Default::default();
        let net = UNetConfig::new().init::<AB>(&d);
        let x = Tensor::<AB, 2>::random([3, 784], Distribution::Normal(0.0, 1.0), &d);
        let t = Tensor::<AB, 2>::from_floats([[0.1], [0.5], [0.9]], &d);
        let run = |k| {
            let y = net.forward_raw_with(x.clone(), t.clone(), None, k);
            let g = y.clone().powi_scalar(2).sum().backward();
            let gw = net.tconv2.weight.val().grad(&g).unwrap();
            let gc = net.conv3.weight.val().grad(&g).unwrap();
            (y.inner(), gw, gc)
        };
        let (y2, gw2, gc2) = run(Kernels::Backend);
        let scale = |t: &Tensor<NdArray<f32>, 4>| t.clone().abs().max().into_scalar() as f64;
        for k in [Kernels::Matmul, Kernels::Gather, Kernels::Cpu] {
            let (y1, gw1, gc1) = run(k);
            y1.into_data()
                .assert_approx_eq::<f32>(&y2.clone().into_data(), Tolerance::absolute(1e-3));
            let tol = 1e-3 * scale(&gw1).max(1.0);
            gw1.into_data()
                .assert_approx_eq::<f32>(&gw2.clone().into_data(), Tolerance::absolute(tol));
            let tol = 1e-3 * scale(&gc1).max(1.0);
            gc1.into_data()
                .assert_approx_eq::<f32>(&gc2.clone().into_data(), Tolerance::absolute(tol));
        }
        assert_eq!(
            Kernels::for_backend::<AB>(&d),
            Kernels::Cpu,
            "the CPU backend takes its own operations"
        );
    }
}
