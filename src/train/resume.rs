//! Checkpoints of a run in progress: what `--resume` (and the page's restore) continues
//! from. The raw weights under `train.model.`, Adam's moments under `train.adam.m1.` /
//! `train.adam.m2.` (burn's `AdamState`, by parameter name), the step in the manifest; the
//! sampling weights (the EMA) are written under the plain names by the caller
//! (`crate::app::checkpoint`).

use super::trainer::Trainer;
use crate::error::{Error, Result};
use crate::kernels::adam::ClippedAdam;
use crate::rng::Noise;
use crate::tensor::read_f32;
use crate::weights::{self, HostTensor, WeightFile};
use burn::module::AutodiffModule;
use burn::optim::record::AdaptorRecord;
use burn::optim::{AdamState, AdaptiveMomentumState, Optimizer};
use burn::tensor::{backend::AutodiffBackend, backend::Backend, Tensor};

/// Adam's moments of one parameter, flattened (ranks 1 to 4 occur in our networks).
fn adam_moments<B: AutodiffBackend>(
    rec: &AdaptorRecord<ClippedAdam, B>,
) -> (Tensor<B::InnerBackend, 1>, Tensor<B::InnerBackend, 1>) {
    fn flat<BB: Backend, const D: usize>(s: AdamState<BB, D>) -> (Tensor<BB, 1>, Tensor<BB, 1>) {
        let m = s.momentum;
        let n = m.moment_1.shape().num_elements();
        (m.moment_1.reshape([n]), m.moment_2.reshape([n]))
    }
    // The record does not know its rank; the rank of the stored tensor decides.
    match rec.clone() {
        AdaptorRecord::V1(v) => match v {
            burn::optim::record::AdaptorRecordV1::Rank1(s) => flat(s),
            burn::optim::record::AdaptorRecordV1::Rank2(s) => flat(s),
            burn::optim::record::AdaptorRecordV1::Rank3(s) => flat(s),
            burn::optim::record::AdaptorRecordV1::Rank4(s) => flat(s),
            _ => unreachable!("our networks have parameters of rank 1 to 4"),
        },
    }
}

fn host_f32<IB: Backend, const D: usize>(
    v: &[f32],
    shape: &[usize],
    device: &IB::Device,
) -> Tensor<IB, D> {
    Tensor::from_data(
        burn::tensor::TensorData::new(v.to_vec(), shape.to_vec()).convert::<IB::FloatElem>(),
        crate::tensor::float_options::<IB>(device),
    )
}

/// An Adam record for one parameter from host moments.
fn adam_record<B: AutodiffBackend>(
    time: usize,
    m1: &[f32],
    m2: &[f32],
    shape: &[usize],
    device: &B::Device,
) -> AdaptorRecord<ClippedAdam, B> {
    fn make<BB: AutodiffBackend, const D: usize>(
        time: usize,
        m1: &[f32],
        m2: &[f32],
        shape: &[usize],
        device: &BB::Device,
    ) -> AdaptorRecord<ClippedAdam, BB> {
        let t = |v: &[f32]| host_f32::<BB::InnerBackend, D>(v, shape, device);
        AdaptorRecord::from_state::<D>(AdamState {
            momentum: AdaptiveMomentumState::new(time, t(m1), t(m2)),
        })
    }
    match shape.len() {
        1 => make::<B, 1>(time, m1, m2, shape, device),
        2 => make::<B, 2>(time, m1, m2, shape, device),
        3 => make::<B, 3>(time, m1, m2, shape, device),
        _ => make::<B, 4>(time, m1, m2, shape, device),
    }
}

impl<B: AutodiffBackend> Trainer<B> {
    /// The training state a checkpoint carries for `--resume`: the raw weights under
    /// `train.model.` and Adam's first and second moments under `train.adam.m1.`/`m2.`
    /// (the sampling weights, the EMA, are written under the plain names by the caller).
    pub async fn state(&self) -> Result<Vec<HostTensor>> {
        let model = self.model();
        let mut out = weights::host_tensors(model, "train.model.").await?;
        let names = weights::param_names(model);
        let record = self.optim.to_record();
        let mut moments = vec![];
        for (name, id, shape) in names {
            if let Some((m1, m2)) = record.get(&id).map(adam_moments) {
                moments.push((format!("train.adam.m1.{name}"), shape.clone(), m1));
                moments.push((format!("train.adam.m2.{name}"), shape, m2));
            }
        }
        for (name, shape, t) in moments {
            out.push((name, shape, read_f32(t).await?));
        }
        Ok(out)
    }

    /// Continue from a checkpoint written with [`Trainer::state`]: raw and EMA weights, Adam
    /// moments and the step count. The batch and noise streams restart from `seed + step`,
    /// so a resumed run is seeded but not bit-identical to an uninterrupted one.
    pub fn restore(&mut self, file: &WeightFile, what: &str) -> Result<()> {
        if file.manifest.architecture != self.arch {
            return Err(Error::invalid(
                what,
                format!(
                    "was trained as {} with a different architecture; resume with the same --model (and --conditional)",
                    file.manifest.architecture.name()
                ),
            ));
        }
        if file.manifest.sde != self.sde {
            return Err(Error::invalid(
                what,
                "was trained with a different SDE; resume with the same --sde",
            ));
        }
        if !file.tensors.contains_key(&format!(
            "train.model.{}",
            weights::param_shapes(&self.arch)[0].0
        )) {
            return Err(Error::invalid(
                what,
                "holds no training state (it was written without it); cannot resume",
            ));
        }
        let ema = weights::load_net::<B::InnerBackend>(file, what, &self.device)?;
        let model = weights::load_prefixed::<B>(file, "train.model.", what, &self.device, true)?;
        let names = weights::param_names(&model);
        let steps = file.manifest.steps;
        // (burn's record map type is hashbrown's; start from the optimiser's own, emptied.)
        let mut record = self.optim.to_record();
        record.clear();
        for (name, id, shape) in names {
            let m1 = file.tensors.get(&format!("train.adam.m1.{name}"));
            let m2 = file.tensors.get(&format!("train.adam.m2.{name}"));
            if let (Some((_, m1)), Some((_, m2))) = (m1, m2) {
                record.insert(id, adam_record::<B>(steps, m1, m2, &shape, &self.device));
            }
        }
        let optim = std::mem::replace(&mut self.optim, Self::optimizer(&self.cfg));
        self.optim = optim.load_record(record);
        self.model = Some(model);
        self.ema = ema;
        self.step = steps;
        self.noise = Noise::new(self.cfg.seed.wrapping_add(1).wrapping_add(steps as u64));
        Ok(())
    }

    /// Start from a trained network's sampling weights (`scorelab train --init`): a file of
    /// the same architecture, or of its unconditional form when this network is
    /// class-conditional (the label embedding, absent there, starts at zero, so the run
    /// starts out as that network, [`crate::model::labels`]). The SDE must be the same; the
    /// step count and Adam's moments start afresh.
    pub fn initialize(&mut self, file: &WeightFile, what: &str) -> Result<()> {
        let theirs = &file.manifest.architecture;
        if *theirs != self.arch && *theirs != self.arch.unconditional() {
            return Err(Error::invalid(
                what,
                format!(
                    "is a {} network with another architecture; --init takes a file of the same network (or its unconditional form for a class-conditional one), this run trains {}",
                    theirs.name(),
                    self.arch.name()
                ),
            ));
        }
        if file.manifest.sde != self.sde {
            return Err(Error::invalid(
                what,
                "was trained with a different SDE; initialise with the same --sde",
            ));
        }
        let mut manifest = file.manifest.clone();
        manifest.architecture = self.arch.clone();
        let mut tensors: std::collections::HashMap<_, _> = file
            .tensors
            .iter()
            .filter(|(k, _)| !k.starts_with("train."))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (name, shape) in weights::param_shapes(&self.arch) {
            if name.starts_with("label_embed.") && !tensors.contains_key(&name) {
                let n = shape.iter().product();
                tensors.insert(name, (shape, vec![0.0f32; n]));
            }
        }
        let adopted = WeightFile { manifest, tensors };
        let model = weights::load_trainable::<B>(&adopted, what, &self.device)?;
        self.ema = model.valid();
        self.model = Some(model);
        Ok(())
    }
}
