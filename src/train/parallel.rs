//! Data-parallel training across the devices of one machine (the scheme of PyTorch's
//! DistributedDataParallel, Li et al. 2020): every rank holds a replica of the network and
//! of Adam's state, computes the loss and its gradient on its own rows of the batch, and the
//! ranks average the gradients with an all-reduce before each takes the same optimiser step,
//! so the replicas stay equal. The all-reduce is burn's own (`burn-collective`: peers are
//! threads, one per device, reducing on the devices by a tree), not a home-made one.
//!
//! The batch is split, not multiplied: every rank draws the *global* batch (rows, times,
//! noise, probes) from the run's one seeded stream and keeps its rows
//! ([`Shard::rows`]), so N ranks with `b` rows each compute exactly the gradient of one
//! device with `N·b` rows (the mean of N equal-sized row means is the mean): the same run
//! within float rounding, which `tests/native/train.rs` checks. Drawing N·b rows of host noise on
//! each rank costs far less than the network's step.
//!
//! The loss is averaged across ranks too before anything reads it, so every rank takes the
//! same decision on a non-finite loss (none is left waiting in an all-reduce).

/// One rank's part of a data-parallel run: rank `rank` of `ranks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub rank: usize,
    pub ranks: usize,
}

impl Shard {
    /// The rows of the global batch this rank trains on, with `per_rank` rows per rank.
    pub fn rows(&self, per_rank: usize) -> std::ops::Range<usize> {
        self.rank * per_rank..(self.rank + 1) * per_rank
    }
}

/// The collective operations (burn-collective runs natively only; the page trains on one
/// device).
#[cfg(not(target_arch = "wasm32"))]
mod native {
    use super::Shard;
    use crate::error::{Error, Result};
    use burn::module::{AutodiffModule, ModuleVisitor, Param};
    use burn::optim::GradientsParams;
    use burn::tensor::backend::{AutodiffBackend, Backend};
    use burn::tensor::{Tensor, TensorPrimitive};
    use burn_collective::{CollectiveConfig, PeerId, ReduceOperation};

    impl Shard {
        fn peer(&self) -> PeerId {
            PeerId(self.rank as u32)
        }

        fn error(&self, what: &str, e: impl std::fmt::Debug) -> Error {
            Error::invalid(
                "devices",
                format!(
                    "rank {} of {}: the all-reduce of the {what} failed ({e:?})",
                    self.rank, self.ranks
                ),
            )
        }

        /// Join the run's collective as this rank on `device` (burn-collective's local server,
        /// one per backend type in the process). Every rank must join before any all-reduce.
        pub fn join<B: Backend>(&self, device: &B::Device) -> Result<()> {
            if self.ranks == 0 || self.rank >= self.ranks {
                return Err(Error::invalid(
                    "devices",
                    format!("rank {} of {} does not exist", self.rank, self.ranks),
                ));
            }
            let config = CollectiveConfig::default().with_num_devices(self.ranks);
            burn_collective::register::<B>(self.peer(), device.clone(), config)
                .map_err(|e| self.error("registration", e))
        }

        /// Leave the collective (after the last step; every rank).
        pub fn leave<B: Backend>(&self) {
            let _ = burn_collective::finish_collective::<B>(self.peer());
        }

        /// The mean of `t` over the ranks (every rank passes its own, all get the mean).
        ///
        /// # Shapes
        /// any `[..]` → the same
        pub fn mean<B: Backend, const D: usize>(&self, t: Tensor<B, D>) -> Result<Tensor<B, D>> {
            let reduced = burn_collective::all_reduce::<B>(
                self.peer(),
                t.into_primitive().tensor(),
                ReduceOperation::Mean,
            )
            .map_err(|e| self.error("mean", e))?;
            Ok(Tensor::from_primitive(TensorPrimitive::Float(reduced)))
        }

        /// Average the gradients of `model`'s parameters over the ranks, in the model's visiting
        /// order (the same on every rank: parameter ids differ between replicas loaded from a
        /// file, so they cannot order the all-reduces).
        pub fn mean_gradients<B: AutodiffBackend, M: AutodiffModule<B>>(
            &self,
            model: &M,
            grads: GradientsParams,
        ) -> Result<GradientsParams> {
            let mut visitor = MeanGradients::<B> {
                shard: *self,
                grads,
                error: None,
                _b: std::marker::PhantomData,
            };
            model.visit(&mut visitor);
            match visitor.error {
                Some(e) => Err(e),
                None => Ok(visitor.grads),
            }
        }
    }

    struct MeanGradients<B: AutodiffBackend> {
        shard: Shard,
        grads: GradientsParams,
        error: Option<Error>,
        _b: std::marker::PhantomData<B>,
    }

    impl<B: AutodiffBackend> ModuleVisitor<B> for MeanGradients<B> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            if self.error.is_some() {
                return;
            }
            if let Some(g) = self.grads.remove::<B::InnerBackend, D>(param.id) {
                match self.shard.mean(g) {
                    Ok(g) => self.grads.register::<B::InnerBackend, D>(param.id, g),
                    Err(e) => self.error = Some(e),
                }
            }
        }
    }
}
