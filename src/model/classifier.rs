//! A small convolutional digit classifier, the yardstick of classifier-free guidance: the
//! fraction of a guided model's samples it assigns to the requested class (the "does w make
//! the digit the one asked for" half of Ho & Salimans 2022's precision/diversity trade-off;
//! the other half is the samples' likelihood). It is trained by this project on the
//! training digits only (`scorelab classifier`), and its held-out accuracy is part of its
//! file, so a fraction-correct is read next to the classifier's own error rate.
//!
//! Architecture: three valid 3×3 convolutions (28→26, stride 2 →12, stride 2 →5; 32, 64 and
//! 64 channels, ReLU), a hidden layer of 128 and the class logits; trained with
//! cross-entropy and Adam on the training digits shifted by up to 2 pixels (augmentation:
//! 9,000 digits are few for a CNN). The convolutions are the U-Net's
//! ([`crate::kernels::conv`]), so it runs on every backend.
//!
//! Files: safetensors with the tensors by field name and the JSON [`ClassifierInfo`] under
//! the metadata key `scorelab-classifier` (not a score network's manifest: `sample` and
//! `likelihood` refuse it as "no scorelab manifest").

use crate::kernels::conv::Kernels;
use crate::rng::Noise;
use crate::tensor::{host_tensor, read_f32};
use burn::config::Config;
use burn::module::{AutodiffModule, Module, ModuleMapper, ModuleVisitor, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::activation::{log_softmax, relu};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::Tensor;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Image side the classifier reads (28×28, flattened rows of 784).
pub const SIDE: usize = 28;

/// Architecture of [`DigitClassifier`].
#[derive(Config, Debug, PartialEq)]
pub struct ClassifierConfig {
    #[config(default = 10)]
    pub classes: usize,
    /// Channels of the three convolutions.
    #[config(default = "[32, 64, 64]")]
    pub channels: [usize; 3],
    #[config(default = 128)]
    pub hidden: usize,
}

impl ClassifierConfig {
    pub fn validate(&self) -> crate::Result<()> {
        crate::error::count("classifier.classes", self.classes, 2, 1000)?;
        for (i, c) in self.channels.iter().enumerate() {
            crate::error::count(&format!("classifier.channels[{i}]"), *c, 1, 1024)?;
        }
        crate::error::count("classifier.hidden", self.hidden, 1, 4096)?;
        Ok(())
    }

    pub fn init<B: Backend>(&self, device: &B::Device) -> DigitClassifier<B> {
        let [c1, c2, c3] = self.channels;
        let conv = |i, o, s| {
            Conv2dConfig::new([i, o], [3, 3])
                .with_stride([s, s])
                .init(device)
        };
        DigitClassifier {
            conv1: conv(1, c1, 1),
            conv2: conv(c1, c2, 2),
            conv3: conv(c2, c3, 2),
            hidden: LinearConfig::new(c3 * 25, self.hidden).init(device),
            out: LinearConfig::new(self.hidden, self.classes).init(device),
        }
    }
}

/// The classifier (module docs).
#[derive(Module, Debug)]
pub struct DigitClassifier<B: Backend> {
    pub conv1: Conv2d<B>,
    pub conv2: Conv2d<B>,
    pub conv3: Conv2d<B>,
    pub hidden: Linear<B>,
    pub out: Linear<B>,
}

impl<B: Backend> DigitClassifier<B> {
    /// Class logits of flattened images (pixels in [0, 1]).
    ///
    /// # Shapes
    /// `x: [n, 784]` → `[n, classes]`
    pub fn logits(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let n = x.dims()[0];
        let k = Kernels::for_backend::<B>(&x.device());
        let layer = |c: &Conv2d<B>, h: Tensor<B, 4>| {
            let y = super::unet::conv(c, h, k);
            let y = match &c.bias {
                Some(b) => y + b.val().reshape([1, -1, 1, 1]),
                None => y,
            };
            relu(y)
        };
        let h = layer(&self.conv1, x.reshape([n, 1, SIDE, SIDE]));
        let h = layer(&self.conv2, h);
        let h = layer(&self.conv3, h);
        let h = relu(self.hidden.forward(h.reshape([n as i32, -1])));
        self.out.forward(h)
    }

    /// The most likely class of each image, in batches of 500.
    ///
    /// # Shapes
    /// `pixels: [n, 784]` row-major → `n`
    pub async fn predict(&self, pixels: &[f64], device: &B::Device) -> crate::Result<Vec<usize>> {
        let mut out = vec![];
        for chunk in pixels.chunks(500 * SIDE * SIDE) {
            let n = chunk.len() / (SIDE * SIDE);
            let x = host_tensor::<B, 2>(chunk.to_vec(), [n, SIDE * SIDE], device);
            let logits = read_f32(self.logits(x)).await?;
            let c = logits.len() / n;
            out.extend(logits.chunks(c).map(|row| {
                row.iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .map_or(0, |(i, _)| i)
            }));
        }
        Ok(out)
    }
}

/// How a classifier was trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifierTraining {
    pub steps: usize,
    pub batch: usize,
    pub lr: f64,
    pub seed: u64,
    /// Largest random shift of a training digit, in pixels (each axis).
    pub shift: usize,
}

impl Default for ClassifierTraining {
    /// 4000 steps of 64 digits (28 passes over MNIST's 9,000), lr 1e-3, shifts up to 2.
    fn default() -> Self {
        ClassifierTraining {
            steps: 4000,
            batch: 64,
            lr: 1e-3,
            seed: 0,
            shift: 2,
        }
    }
}

impl ClassifierTraining {
    pub fn validate(&self) -> crate::Result<()> {
        crate::error::count("steps", self.steps, 1, 10_000_000)?;
        crate::error::count("batch", self.batch, 1, 65_536)?;
        crate::error::in_range("lr", self.lr, 1e-7, 1.0)?;
        crate::error::count("shift", self.shift, 0, 8)?;
        Ok(())
    }
}

/// What a classifier file says about itself (metadata key `scorelab-classifier`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifierInfo {
    pub config: ClassifierConfig,
    /// The data it was trained on (`mnist`, `fashion`).
    pub data: String,
    pub training: ClassifierTraining,
    /// Accuracy on the data's held-out split (`mnist-test`, `fashion-test`) and its size.
    pub heldout_accuracy: f64,
    pub heldout_images: usize,
    /// The command that wrote the file.
    pub command: String,
}

/// `image` (28×28) moved by (dy, dx) pixels, zeros shifted in.
fn shifted(image: &[f64], dy: i64, dx: i64, out: &mut Vec<f64>) {
    let s = SIDE as i64;
    for y in 0..s {
        for x in 0..s {
            let (sy, sx) = (y - dy, x - dx);
            out.push(if (0..s).contains(&sy) && (0..s).contains(&sx) {
                image[(sy * s + sx) as usize]
            } else {
                0.0
            });
        }
    }
}

/// Train a classifier on `pixels` (`[n, 784]` in [0, 1]) with `labels`; `progress(step,
/// loss)` after each step.
pub async fn train<B: AutodiffBackend>(
    config: &ClassifierConfig,
    training: &ClassifierTraining,
    pixels: &[f64],
    labels: &[usize],
    device: &B::Device,
    mut progress: impl FnMut(usize, f64),
) -> crate::Result<DigitClassifier<B::InnerBackend>> {
    config.validate()?;
    training.validate()?;
    let d = SIDE * SIDE;
    let n = labels.len();
    if n == 0 || pixels.len() != n * d {
        return Err(crate::Error::invalid(
            "data",
            format!("{} values for {n} labelled 28x28 images", pixels.len()),
        ));
    }
    if let Some(l) = labels.iter().find(|l| **l >= config.classes) {
        return Err(crate::Error::invalid(
            "data",
            format!(
                "label {l}; the classifier has classes 0 to {}",
                config.classes - 1
            ),
        ));
    }
    B::seed(device, training.seed);
    let mut model = config.init::<B>(device);
    let mut optim = AdamConfig::new().init();
    let mut noise = Noise::new(training.seed.wrapping_add(1));
    let shift = training.shift as i64;
    let b = training.batch;
    for step in 1..=training.steps {
        let mut x = Vec::with_capacity(b * d);
        let mut onehot = vec![0.0; b * config.classes];
        let rng = noise.rng();
        for row in 0..b {
            let i = rng.random_range(0..n);
            let (dy, dx) = (
                rng.random_range(-shift..=shift),
                rng.random_range(-shift..=shift),
            );
            shifted(&pixels[i * d..(i + 1) * d], dy, dx, &mut x);
            onehot[row * config.classes + labels[i]] = 1.0;
        }
        let x = host_tensor::<B, 2>(x, [b, d], device);
        let y = host_tensor::<B, 2>(onehot, [b, config.classes], device);
        let loss = (log_softmax(model.logits(x), 1) * y)
            .sum_dim(1)
            .mean()
            .neg();
        let value = crate::tensor::read_scalar(loss.clone()).await?;
        if !value.is_finite() {
            return Err(crate::Error::invalid(
                "loss",
                format!("became {value} at step {step}"),
            ));
        }
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(training.lr, model, grads);
        progress(step, value);
    }
    Ok(model.valid())
}

/// The fraction of `predicted` equal to `labels`.
pub fn accuracy(predicted: &[usize], labels: &[usize]) -> f64 {
    let right = predicted.iter().zip(labels).filter(|(p, l)| p == l).count();
    right as f64 / labels.len().max(1) as f64
}

/// Metadata key of a classifier file.
pub const METADATA_KEY: &str = "scorelab-classifier";

/// Serialise a classifier and its info as safetensors.
pub async fn to_bytes<B: Backend>(
    model: &DigitClassifier<B>,
    info: &ClassifierInfo,
) -> crate::Result<Vec<u8>> {
    struct Collect<B: Backend> {
        path: Vec<String>,
        out: Vec<(String, Tensor<B, 1>, Vec<usize>)>,
    }
    impl<B: Backend> ModuleVisitor<B> for Collect<B> {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<B, D>>) {
            let t = p.val();
            let shape = t.dims().to_vec();
            self.out
                .push((self.path.join("."), t.flatten(0, D - 1), shape));
        }
    }
    let mut c = Collect::<B> {
        path: vec![],
        out: vec![],
    };
    model.visit(&mut c);
    let mut tensors = vec![];
    for (name, t, shape) in c.out {
        tensors.push((name, shape, read_f32(t).await?));
    }
    let views = tensors.iter().map(|(name, shape, data)| {
        (
            name.as_str(),
            crate::tensor::F32View {
                shape: shape.as_slice(),
                data: data.as_slice(),
            },
        )
    });
    let meta = std::collections::HashMap::from([(
        METADATA_KEY.to_string(),
        serde_json::to_string(info).expect("info serialises"),
    )]);
    Ok(safetensors::serialize(views, Some(meta)).expect("a small header"))
}

/// Read a classifier file (`what` names it in errors): its info and the network, every
/// tensor checked against the architecture.
pub fn from_bytes<B: Backend>(
    bytes: &[u8],
    what: &str,
    device: &B::Device,
) -> crate::Result<(ClassifierInfo, DigitClassifier<B>)> {
    let bad = |m: String| crate::Error::invalid(what, m);
    let st = safetensors::SafeTensors::deserialize(bytes)
        .map_err(|e| bad(format!("not a safetensors file: {e}")))?;
    let (_, meta) = safetensors::SafeTensors::read_metadata(bytes)
        .map_err(|e| bad(format!("not a safetensors file: {e}")))?;
    let info: ClassifierInfo = meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get(METADATA_KEY))
        .ok_or_else(|| {
            bad(format!(
                "no '{METADATA_KEY}' metadata: not a classifier written by `scorelab classifier`"
            ))
        })
        .and_then(|j| {
            serde_json::from_str(j).map_err(|e| bad(format!("bad classifier info: {e}")))
        })?;
    info.config.validate().map_err(|e| e.relabel(what))?;
    struct Load<'a> {
        st: &'a safetensors::SafeTensors<'a>,
        path: Vec<String>,
        error: Option<String>,
    }
    impl<B: Backend> ModuleMapper<B> for Load<'_> {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.pop();
        }
        fn map_float<const D: usize>(&mut self, p: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
            let name = self.path.join(".");
            let (id, old, mapper) = p.consume();
            let shape = old.dims().to_vec();
            let loaded = match self.st.tensor(&name) {
                Err(_) => Err(format!("tensor '{name}' is missing")),
                Ok(v) if v.dtype() != safetensors::Dtype::F32 => {
                    Err(format!("tensor '{name}' is not F32"))
                }
                Ok(v) if v.shape() != shape.as_slice() => Err(format!(
                    "tensor '{name}' has shape {:?}, the architecture needs {shape:?}",
                    v.shape()
                )),
                Ok(v) => {
                    let data: Vec<f32> = v
                        .data()
                        .chunks_exact(4)
                        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                        .collect();
                    if data.iter().all(|x| x.is_finite()) {
                        Ok(Tensor::<B, 1>::from_floats(data.as_slice(), &old.device())
                            .reshape(old.dims()))
                    } else {
                        Err(format!("tensor '{name}' contains non-finite values"))
                    }
                }
            };
            let new = match loaded {
                Ok(t) => t,
                Err(e) => {
                    self.error.get_or_insert(e);
                    old
                }
            };
            Param::from_mapped_value(id, new, mapper)
        }
    }
    let mut load = Load {
        st: &st,
        path: vec![],
        error: None,
    };
    let model = info.config.init::<B>(device).map(&mut load);
    if let Some(e) = load.error {
        return Err(bad(e));
    }
    Ok((info, model))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A classifier survives its file: the same logits after writing and reading, and a
    /// file with a wrong tensor is refused by name.
    #[test]
    fn file_round_trip() {
        type B = burn::backend::NdArray<f32>;
        let d = Default::default();
        let cfg = ClassifierConfig::new();
        let model = cfg.init::<B>(&d);
        let info = ClassifierInfo {
            config: cfg,
            data: "mnist".into(),
            training: ClassifierTraining::default(),
            heldout_accuracy: 0.5,
            heldout_images: 10,
            command: "test".into(),
        };
        let bytes = pollster::block_on(to_bytes(&model, &info)).unwrap();
        let (info2, back) = from_bytes::<B>(&bytes, "c", &d).unwrap();
        assert_eq!(info, info2);
        let x = Tensor::<B, 2>::random([3, 784], burn::tensor::Distribution::Uniform(0.0, 1.0), &d);
        let gap = (model.logits(x.clone()) - back.logits(x))
            .abs()
            .max()
            .into_scalar();
        assert_eq!(gap, 0.0);
        let small = ClassifierConfig::new().with_hidden(64);
        let other = ClassifierInfo {
            config: small.clone(),
            ..info
        };
        let bytes = pollster::block_on(to_bytes(&small.init::<B>(&d), &other)).unwrap();
        let mut bad = other.clone();
        bad.config = ClassifierConfig::new();
        let meta = serde_json::to_string(&bad).unwrap();
        // the same tensors under the default architecture's info
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let views: Vec<(String, safetensors::tensor::TensorView)> =
            st.tensors().into_iter().collect();
        let rewritten = safetensors::serialize(
            views,
            Some(std::collections::HashMap::from([(
                METADATA_KEY.to_string(),
                meta,
            )])),
        )
        .unwrap();
        let e = from_bytes::<B>(&rewritten, "c.safetensors", &d)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("tensor 'hidden.weight' has shape"), "{e}");
    }

    /// A shift moves the pixel and fills zeros.
    #[test]
    fn shift_moves_pixels() {
        let mut img = vec![0.0; SIDE * SIDE];
        img[5 * SIDE + 7] = 1.0;
        let mut out = vec![];
        shifted(&img, 2, -1, &mut out);
        assert_eq!(out[7 * SIDE + 6], 1.0);
        assert_eq!(out.iter().sum::<f64>(), 1.0);
    }
}
