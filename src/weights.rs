//! The one weight format, native and browser (DESIGN.md invariant 6): a `safetensors` file
//! whose `__metadata__` holds the scorelab manifest (architecture, SDE, data set, training
//! settings and steps, metrics, format version) as JSON under the key `scorelab`. This is
//! the only code that reads or writes it.
//!
//! Tensors are named by their module path (`input.weight`, `hidden.0.bias`, `fourier`), in
//! burn's layout (Linear weights `[in, out]`). Reading validates the header, the offsets,
//! dtypes, every tensor's shape against the architecture and the set of names before any
//! tensor is allocated on the device.

use crate::config::training::TrainConfig;
use crate::error::{Error, Result};
use crate::model::clip::DenoiserClip;
pub use crate::model::net::Architecture;
use crate::model::net::{Net, NetScore};
use crate::sde::Sde;
use crate::tensor::read_f32;
use crate::tensor::F32View;
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::{backend::Backend, Tensor, TensorData};
use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

pub const FORMAT_VERSION: u32 = 1;

/// What a weight file says about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format_version: u32,
    pub architecture: Architecture,
    pub sde: Sde,
    /// The data set trained on (`ring8`, `gmm:FILE`, `moons`, ...).
    pub data: String,
    /// Optimiser steps taken.
    pub steps: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training: Option<TrainConfig>,
    /// Whether the tensors are the EMA weights (used for sampling).
    #[serde(default)]
    pub ema: bool,
    /// Free-form figures: final loss, seconds, steps/s, the command line.
    #[serde(default)]
    pub metrics: BTreeMap<String, serde_json::Value>,
}

impl Manifest {
    /// The ε whose `p_ε` the network's likelihood is of: its smallest training time (t is drawn
    /// from `[t_eps, 1]`, so σ(t_eps) is the smallest noise level it learned), or the notebook's
    /// 1e-5 for a file without training settings.
    ///
    /// For images this matters: bits/dim of `p_ε` include the cost of smoothing the dequantised
    /// pixels by `N(0, σ(ε)²)`, about 1 bit per background pixel at σ = 0.8/256 (ve-notebook at
    /// ε = 1e-5) and ~0.1 at σ = 0.08/256 (ε = 1e-7); see ARCHITECTURE.md.
    pub fn likelihood_t_eps(&self) -> f64 {
        let default = crate::likelihood::LikelihoodConfig::default().t_end;
        self.training.as_ref().map_or(default, |t| t.t_eps)
    }
}

struct Named<B: Backend> {
    path: Vec<String>,
    out: Vec<(String, Tensor<B, 1>, Vec<usize>)>,
    ids: Vec<ParamId>,
}
/// Enum variants (`Net::Mlp`) are not part of tensor names.
fn named_container(container: &str) -> bool {
    !container.starts_with("Enum:")
}

impl<B: Backend> ModuleVisitor<B> for Named<B> {
    fn enter_module(&mut self, name: &str, container: &str) {
        if named_container(container) {
            self.path.push(name.to_string());
        }
    }
    fn exit_module(&mut self, _name: &str, container: &str) {
        if named_container(container) {
            self.path.pop();
        }
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let v = param.val();
        let shape = v.dims().to_vec();
        let n: usize = shape.iter().product();
        self.out.push((self.path.join("."), v.reshape([n]), shape));
        self.ids.push(param.id);
    }
}

/// Every float parameter's file name, id and shape (the names the weight file uses).
pub fn param_names<B: Backend>(net: &Net<B>) -> Vec<(String, ParamId, Vec<usize>)> {
    let mut named = Named {
        path: vec![],
        out: vec![],
        ids: vec![],
    };
    net.visit(&mut named);
    named
        .out
        .into_iter()
        .zip(named.ids)
        .map(|((name, _, shape), id)| (name, id, shape))
        .collect()
}

/// A host tensor for the file: name, shape, values.
pub type HostTensor = (String, Vec<usize>, Vec<f32>);

/// Every float parameter of a network by name, read back to the host (async).
pub async fn host_tensors<B: Backend>(net: &Net<B>, prefix: &str) -> Result<Vec<HostTensor>> {
    let mut named = Named {
        path: vec![],
        out: vec![],
        ids: vec![],
    };
    net.visit(&mut named);
    let mut tensors = Vec::new();
    for (name, t, shape) in named.out {
        tensors.push((format!("{prefix}{name}"), shape, read_f32(t).await?));
    }
    Ok(tensors)
}

/// Serialise a network and its manifest (async: reads the tensors back).
pub async fn to_bytes<B: Backend>(net: &Net<B>, manifest: &Manifest) -> Result<Vec<u8>> {
    let tensors = host_tensors(net, "").await?;
    Ok(encode(tensors, manifest))
}

/// Serialise host tensors and a manifest as safetensors.
pub fn encode(tensors: Vec<HostTensor>, manifest: &Manifest) -> Vec<u8> {
    encode_with(tensors, Some(manifest))
}

/// Serialise host tensors as safetensors (the `safetensors` crate) with or without a
/// scorelab manifest (without one, the file is what any safetensors writer, e.g.
/// PyTorch's, produces).
pub fn encode_with(tensors: Vec<HostTensor>, manifest: Option<&Manifest>) -> Vec<u8> {
    let views = tensors.iter().map(|(name, shape, data)| {
        (
            name.as_str(),
            F32View {
                shape: shape.as_slice(),
                data: data.as_slice(),
            },
        )
    });
    let metadata = manifest.map(|m| {
        HashMap::from([(
            "scorelab".to_string(),
            serde_json::to_string(m).expect("manifest serialises"),
        )])
    });
    safetensors::serialize(views, metadata).expect("a header far below the format's limit")
}

/// A parsed, validated file: manifest and host tensors by name.
pub struct WeightFile {
    pub manifest: Manifest,
    pub tensors: HashMap<String, (Vec<usize>, Vec<f32>)>,
}

/// Parse and validate the container: the `safetensors` crate checks the header and that the
/// tensors' offsets tile the data section exactly; here, the manifest, F32 only, finite
/// values. Nothing is allocated beyond the header and the file's own size.
pub fn parse(bytes: &[u8], what: &str) -> Result<WeightFile> {
    use safetensors::SafeTensorError as E;
    let bad = |m: String| Error::invalid(what, m);
    let (hlen, meta) = SafeTensors::read_metadata(bytes).map_err(|e| {
        bad(match e {
            E::HeaderTooSmall => {
                "not a safetensors file (shorter than its 8-byte header length)".into()
            }
            E::HeaderTooLarge | E::InvalidHeaderLength => {
                let hlen = u64::from_le_bytes(bytes[..8].try_into().unwrap());
                format!(
                    "header length {hlen} exceeds the file ({} bytes): truncated or not safetensors",
                    bytes.len()
                )
            }
            E::MetadataIncompleteBuffer => format!(
                "the tensors do not fill the data section ({} bytes after the header) exactly: truncated or padded",
                bytes.len().saturating_sub(8)
            ),
            E::InvalidOffset(name) => format!(
                "tensor '{name}' has data_offsets that do not follow the previous tensor's in the data section"
            ),
            E::TensorInvalidInfo | E::ValidationOverflow | E::MisalignedSlice => format!(
                "a tensor's shape does not match its data_offsets in the data section{}",
                mismatched_tensor(bytes).unwrap_or_default()
            ),
            e => format!("unreadable safetensors header: {e}"),
        })
    })?;
    let body = &bytes[8 + hlen..];
    let manifest_json = meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get("scorelab"))
        .map(String::as_str);
    let infos = meta.tensors();
    let is_pytorch = manifest_json.is_none()
        && (infos.contains_key(pytorch::MARKER)
            || infos.contains_key(&format!("module.{}", pytorch::MARKER)));
    let manifest: Manifest = match manifest_json {
        Some(json) => {
            serde_json::from_str(json).map_err(|e| bad(format!("bad manifest: {e}")))?
        }
        None if is_pytorch => pytorch::manifest(),
        None => {
            return Err(bad(format!(
                "no scorelab manifest in __metadata__ and no '{}' tensor of the notebook's PyTorch ScoreNet: not a weight file this tool reads",
                pytorch::MARKER
            )))
        }
    };
    if manifest.format_version != FORMAT_VERSION {
        return Err(bad(format!(
            "format_version {} is not supported (this build reads {FORMAT_VERSION})",
            manifest.format_version
        )));
    }
    let mut tensors = HashMap::new();
    for (name, info) in infos {
        if info.dtype != Dtype::F32 {
            return Err(bad(format!(
                "tensor '{name}' has dtype {:?}; accepted: F32",
                info.dtype
            )));
        }
        let (start, end) = info.data_offsets;
        let data = body[start..end]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect::<Vec<_>>();
        if data.iter().any(|v| !v.is_finite()) {
            return Err(bad(format!("tensor '{name}' contains non-finite values")));
        }
        tensors.insert(name, (info.shape.clone(), data));
    }
    if is_pytorch {
        tensors = pytorch::rename(tensors).map_err(bad)?;
    }
    Ok(WeightFile { manifest, tensors })
}

/// For a message only: the tensor whose F32 shape disagrees with its byte span (the crate's
/// error does not name it), read from the header as plain JSON.
fn mismatched_tensor(bytes: &[u8]) -> Option<String> {
    let hlen = usize::try_from(u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?)).ok()?;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(bytes.get(8..8usize.checked_add(hlen)?)?).ok()?;
    header.iter().find_map(|(name, info)| {
        let shape: Vec<usize> = serde_json::from_value(info.get("shape")?.clone()).ok()?;
        let [s, e]: [usize; 2] = serde_json::from_value(info.get("data_offsets")?.clone()).ok()?;
        let count = shape.iter().try_fold(1usize, |a, b| a.checked_mul(*b));
        (info.get("dtype")? == "F32" && count.and_then(|c| c.checked_mul(4)) != e.checked_sub(s))
            .then(|| format!(": tensor '{name}' declares shape {shape:?} at bytes {s}..{e}"))
    })
}

struct Load<'a> {
    prefix: &'a str,
    path: Vec<String>,
    tensors: &'a HashMap<String, (Vec<usize>, Vec<f32>)>,
    used: Vec<String>,
    error: Option<String>,
    /// Track gradients of the loaded parameters (those a fresh network trains).
    trainable: bool,
}
impl<B: Backend> ModuleMapper<B> for Load<'_> {
    fn enter_module(&mut self, name: &str, container: &str) {
        if named_container(container) {
            self.path.push(name.to_string());
        }
    }
    fn exit_module(&mut self, _name: &str, container: &str) {
        if named_container(container) {
            self.path.pop();
        }
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let name = format!("{}{}", self.prefix, self.path.join("."));
        let (id, old, mapper) = param.consume();
        let want = old.dims().to_vec();
        let new = match self.tensors.get(&name) {
            Some((shape, data)) if *shape == want => {
                self.used.push(name);
                let t = Tensor::<B, D>::from_data(
                    TensorData::new(data.clone(), shape.clone()).convert::<B::FloatElem>(),
                    crate::tensor::float_options::<B>(&old.device()),
                );
                // A tensor made from data is a leaf without gradient tracking. A network to
                // train (--resume) must track its parameters as a fresh one does, or it never
                // trains; one to sample with must not, or every step's score would extend one
                // autodiff graph through all earlier steps (memory grows without bound).
                if self.trainable && old.is_require_grad() {
                    t.require_grad()
                } else {
                    t
                }
            }
            Some((shape, _)) => {
                self.error.get_or_insert(format!(
                    "tensor '{name}' has shape {shape:?}, the architecture needs {want:?}"
                ));
                old
            }
            None => {
                self.error
                    .get_or_insert(format!("tensor '{name}' is missing"));
                old
            }
        };
        Param::from_mapped_value(id, new, mapper)
    }
}

/// Names and shapes of every parameter of an architecture (from a fresh CPU instance, so
/// only the validated architecture, never the file, decides what is allocated).
pub fn param_shapes(arch: &Architecture) -> Vec<(String, Vec<usize>)> {
    type Cpu = burn::backend::NdArray<f32>;
    let net = arch.init::<Cpu>(&Default::default());
    let mut named = Named::<Cpu> {
        path: vec![],
        out: vec![],
        ids: vec![],
    };
    net.visit(&mut named);
    named.out.into_iter().map(|(n, _, s)| (n, s)).collect()
}

/// Prefix of the training state a checkpoint carries for `--resume` (raw weights and Adam
/// moments; see [`crate::train::Trainer::state`]).
pub const TRAIN_PREFIXES: [&str; 3] = ["train.model.", "train.adam.m1.", "train.adam.m2."];

/// Check names and shapes against the architecture before anything is allocated: the
/// sampling weights must all be present; the training weights are all there or absent, and
/// so are Adam's moments (a file with training weights and no moments resumes with fresh
/// ones: `scripts/resumable-from-ema.py` writes such a file from a stripped one).
fn check_tensors(file: &WeightFile, what: &str) -> Result<()> {
    let arch = &file.manifest.architecture;
    arch.validate().map_err(|e| e.relabel(what))?;
    let expected = param_shapes(arch);
    let bad = |m: String| Error::invalid(what, m);
    let has_state = file.tensors.keys().any(|k| k.starts_with("train."));
    let has_moments = file.tensors.keys().any(|k| k.starts_with("train.adam."));
    let mut names: Vec<(String, &Vec<usize>)> = vec![];
    for (name, shape) in &expected {
        names.push((name.clone(), shape));
        if has_state {
            for p in TRAIN_PREFIXES {
                // Fixed (untrained) parameters have no Adam moments.
                if p != "train.model." && (name == "fourier" || !has_moments) {
                    continue;
                }
                names.push((format!("{p}{name}"), shape));
            }
        }
    }
    for (name, shape) in &names {
        match file.tensors.get(name) {
            None => return Err(bad(format!("tensor '{name}' is missing"))),
            Some((s, _)) if s != *shape => {
                return Err(bad(format!(
                    "tensor '{name}' has shape {s:?}, the architecture needs {shape:?}"
                )))
            }
            _ => {}
        }
    }
    if let Some(extra) = file
        .tensors
        .keys()
        .find(|k| !names.iter().any(|(n, _)| n == *k))
    {
        return Err(bad(format!(
            "unexpected tensor '{extra}' for this architecture ({})",
            arch.name()
        )));
    }
    Ok(())
}

/// Load the tensors named `prefix + path` into a fresh network (names checked already);
/// `trainable`: its parameters track gradients (for training), or not (for sampling and
/// likelihoods, which differentiate with respect to the input only).
pub fn load_prefixed<B: Backend>(
    file: &WeightFile,
    prefix: &str,
    what: &str,
    device: &B::Device,
    trainable: bool,
) -> Result<Net<B>> {
    let net = file.manifest.architecture.init::<B>(device);
    let mut load = Load {
        prefix,
        path: vec![],
        tensors: &file.tensors,
        used: vec![],
        error: None,
        trainable,
    };
    let net = net.map(&mut load);
    if let Some(e) = load.error {
        return Err(Error::invalid(what, e));
    }
    Ok(net)
}

/// Build the network a file describes and load its sampling weights (all checked first),
/// without gradient tracking of its parameters.
pub fn load_net<B: Backend>(file: &WeightFile, what: &str, device: &B::Device) -> Result<Net<B>> {
    check_tensors(file, what)?;
    load_prefixed(file, "", what, device, false)
}

/// As [`load_net`], with the parameters tracking gradients as a fresh network's do (to
/// train or differentiate the loaded weights).
pub fn load_trainable<B: Backend>(
    file: &WeightFile,
    what: &str,
    device: &B::Device,
) -> Result<Net<B>> {
    check_tensors(file, what)?;
    load_prefixed(file, "", what, device, true)
}

/// The file's network as a score model under the SDE it was trained with; an image model's
/// denoiser is kept in [0, 1] ([`crate::model::clip`]).
pub fn load_score<B: Backend>(
    file: &WeightFile,
    what: &str,
    device: &B::Device,
) -> Result<NetScore<B>> {
    Ok(NetScore {
        net: load_net(file, what, device)?,
        arch: file.manifest.architecture.clone(),
        sde: file.manifest.sde,
        clip: DenoiserClip::for_data(&file.manifest.data),
        class: None,
    })
}

/// Loading a `state_dict` of the notebook's PyTorch `ScoreNet` saved with
/// `safetensors.torch.save_file(model.state_dict(), path)` (no scorelab manifest).
///
/// The file is recognised by its `embed.0.W` tensor and read as the notebook's model: the U-Net
/// with default channels under the VE SDE with σ = 25 (`ve-notebook`), data `mnist` (so
/// [`load_score`] keeps its denoiser in [0, 1], [`crate::model::clip`]). Name mapping
/// (PyTorch → scorelab), everything else identical in name and layout:
///
/// | PyTorch                         | scorelab                     | layout                    |
/// |---------------------------------|------------------------------|---------------------------|
/// | `embed.0.W` `[128]`             | `fourier`                    | same                      |
/// | `embed.1.weight` `[256, 256]`   | `embed.weight`               | transposed (`[in, out]`)  |
/// | `embed.1.bias`                  | `embed.bias`                 | same                      |
/// | `denseK.dense.weight` `[C, 256]`| `denseK.weight` `[256, C]`   | transposed                |
/// | `denseK.dense.bias`             | `denseK.bias`                | same                      |
/// | `gnormK.weight`, `tgnormK.weight` | `gnormK.gamma`, `tgnormK.gamma` | same                |
/// | `gnormK.bias`, `tgnormK.bias`   | `gnormK.beta`, `tgnormK.beta`| same                      |
/// | `convK.weight` `[out, in, 3, 3]`| `convK.weight`               | same (burn = PyTorch)     |
/// | `tconvK.weight` `[in, out, 3, 3]`, `tconv1.bias` | same        | same                      |
///
/// A `module.` prefix (from `nn.DataParallel`, as in the notebook) is dropped.
///
/// [`pytorch::state_dict`] is the inverse (`scorelab export --pytorch`): a scorelab file of
/// that network becomes the `state_dict` the notebook's `ScoreNet` loads with
/// `model.load_state_dict(safetensors.torch.load_file(path))`, so PyTorch (e.g. a `torchrun`
/// DDP run across machines) can continue training it and scorelab can load the result back.
pub mod pytorch {
    use super::*;
    use crate::model::unet::UNetConfig;

    /// The tensor that identifies the notebook's ScoreNet.
    pub const MARKER: &str = "embed.0.W";

    pub fn manifest() -> Manifest {
        let mut metrics = BTreeMap::new();
        metrics.insert(
            "source".to_string(),
            serde_json::json!("PyTorch state_dict of the notebook ScoreNet"),
        );
        Manifest {
            format_version: FORMAT_VERSION,
            architecture: Architecture::Unet(UNetConfig::new()),
            sde: Sde::from_name("ve-notebook").expect("a known SDE"),
            data: "mnist".into(),
            steps: 0,
            training: None,
            ema: false,
            metrics,
        }
    }

    fn transpose(shape: &[usize], data: &[f32]) -> (Vec<usize>, Vec<f32>) {
        let (r, c) = (shape[0], shape[1]);
        let mut out = vec![0.0; data.len()];
        for i in 0..r {
            for j in 0..c {
                out[j * r + i] = data[i * c + j];
            }
        }
        (vec![c, r], out)
    }

    /// scorelab's names and layouts to PyTorch's: the inverse of [`rename`], for a file of
    /// the notebook's network (the U-Net with default channels on 28×28 images, under the
    /// notebook's SDE, `ve-notebook`; its training state, `train.*`, is left out). Sorted by
    /// name.
    pub fn state_dict(file: &WeightFile, what: &str) -> Result<Vec<HostTensor>> {
        if file.manifest.architecture != Architecture::Unet(UNetConfig::new()) {
            return Err(Error::invalid(
                what,
                format!(
                    "holds a {} network; only the notebook's ScoreNet (architecture unet with default channels, 28x28) has a PyTorch counterpart",
                    file.manifest.architecture.name()
                ),
            ));
        }
        let notebook = Sde::from_name("ve-notebook").expect("a known SDE");
        if file.manifest.sde != notebook {
            return Err(Error::invalid(
                what,
                format!(
                    "was trained under the SDE {:?}; the notebook's ScoreNet divides by the marginal std of ve-notebook (sigma 25), so only such a network has a PyTorch counterpart",
                    file.manifest.sde
                ),
            ));
        }
        let mut out = vec![];
        for (name, (shape, data)) in &file.tensors {
            if name.starts_with("train.") {
                continue;
            }
            let parts: Vec<&str> = name.split('.').collect();
            let (torch, (shape, data)) = match parts.as_slice() {
                ["fourier"] => ("embed.0.W".to_string(), (shape.clone(), data.clone())),
                ["embed", "weight"] => ("embed.1.weight".into(), transpose(shape, data)),
                ["embed", "bias"] => ("embed.1.bias".into(), (shape.clone(), data.clone())),
                [d, "weight"] if d.starts_with("dense") => {
                    (format!("{d}.dense.weight"), transpose(shape, data))
                }
                [d, "bias"] if d.starts_with("dense") => {
                    (format!("{d}.dense.bias"), (shape.clone(), data.clone()))
                }
                [g, "gamma"] => (format!("{g}.weight"), (shape.clone(), data.clone())),
                [g, "beta"] => (format!("{g}.bias"), (shape.clone(), data.clone())),
                _ => (name.clone(), (shape.clone(), data.clone())),
            };
            out.push((torch, shape, data));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// PyTorch names and layouts to scorelab's (see the module docs).
    pub fn rename(
        tensors: HashMap<String, (Vec<usize>, Vec<f32>)>,
    ) -> std::result::Result<HashMap<String, (Vec<usize>, Vec<f32>)>, String> {
        let mut out = HashMap::new();
        for (name, (shape, data)) in tensors {
            let name = name.strip_prefix("module.").unwrap_or(&name).to_string();
            let parts: Vec<&str> = name.split('.').collect();
            let linear = |shape: &Vec<usize>, data: &Vec<f32>, n: &str| {
                if shape.len() == 2 {
                    Ok(transpose(shape, data))
                } else {
                    Err(format!(
                        "PyTorch tensor '{n}' should be a matrix, has shape {shape:?}"
                    ))
                }
            };
            let (new, value) = match parts.as_slice() {
                ["embed", "0", "W"] => ("fourier".to_string(), (shape, data)),
                ["embed", "1", "weight"] => ("embed.weight".into(), linear(&shape, &data, &name)?),
                ["embed", "1", "bias"] => ("embed.bias".into(), (shape, data)),
                [d, "dense", "weight"] => (format!("{d}.weight"), linear(&shape, &data, &name)?),
                [d, "dense", "bias"] => (format!("{d}.bias"), (shape, data)),
                [g, "weight"] if g.contains("gnorm") => (format!("{g}.gamma"), (shape, data)),
                [g, "bias"] if g.contains("gnorm") => (format!("{g}.beta"), (shape, data)),
                _ => (name.clone(), (shape, data)),
            };
            out.insert(new, value);
        }
        Ok(out)
    }
}
