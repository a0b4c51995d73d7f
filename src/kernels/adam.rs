//! Adam (Kingma & Ba 2015) with per-parameter gradient-norm clipping, as burn's `Adam` and
//! `GradientClipping::Norm` compute it, in one pass per parameter on burn's CPU backend.
//!
//! burn's version is a composition of tensor operations: the clip (square, sum, sqrt, divide,
//! clamp, multiply) and Adam's moment updates and step (about a dozen more), each a pass over
//! the parameter that allocates its result. For the toy MLP's ~35,000 parameters in 8 tensors
//! that is ~150 small operations per step, a large share of a step at batch 64; for the
//! U-Net's 1.1 M, ~20 passes over 4.5 MB. Here, per parameter tensor with gradient g:
//!
//! ```text
//! g ← g · min(1, c / (‖g‖₂ + f32::MIN_POSITIVE))          (when clipping at c)
//! m₁ ← β₁ m₁ + (1 − β₁) g,   m₂ ← β₂ m₂ + (1 − β₂) g²       (m = 0 before the first step)
//! b = √(1 − β₂ᵗ),   θ ← θ − lr · (b / (1 − β₁ᵗ)) · m₁ / (√m₂ + ε b)
//! ```
//!
//! the same f32 arithmetic in the same order as burn (only the norm's sum is in f64 here), so
//! a run continues the same way on any backend. The state is burn's `AdamState`, so checkpoints keep
//! their `train.adam.m1/m2` tensors. Every other backend (the GPUs, ndarray in f64) runs the
//! same formulas as one reduction and one element-wise chain per parameter, which burn's
//! fusion compiles into one kernel (`ClippedAdam::step_fused_chain`; burn's own composition
//! launched ~11 kernels per parameter); `SCORELAB_FUSE=off` restores burn's `Adam` and
//! `GradientClipping`, and the tests compare all three. [`ema_cpu`] does the
//! same for the trainer's EMA of the weights (three operations per parameter in burn).

use burn::optim::grad_clipping::GradientClipping;
use burn::optim::LearningRate;
use burn::optim::{Adam, AdamConfig, AdamState, AdaptiveMomentumState, SimpleOptimizer};
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{Tensor, TensorPrimitive};

use crate::kernels::cpu_ops::{backend_of, cast, cpu_tensor, with_values, CpuBackend};

/// burn's Adam defaults, which the trainer has always used.
const BETA_1: f32 = 0.9;
const BETA_2: f32 = 0.999;
const EPSILON: f32 = 1e-5;

/// Adam with optional per-parameter gradient-norm clipping (see the module docs).
#[derive(Clone)]
pub struct ClippedAdam {
    adam: Adam,
    clip: Option<f32>,
    fused: bool,
}

impl ClippedAdam {
    /// `clip`: the largest gradient norm per parameter tensor (`None`: no clipping).
    pub fn new(clip: Option<f32>) -> Self {
        ClippedAdam {
            adam: AdamConfig::new()
                .with_beta_1(BETA_1)
                .with_beta_2(BETA_2)
                .with_epsilon(EPSILON)
                .build(),
            clip,
            fused: crate::kernels::cpu_ops::fusion_enabled(),
        }
    }

    /// burn's composition on every backend (what the fused pass must equal).
    #[cfg(test)]
    fn composed(clip: Option<f32>) -> Self {
        ClippedAdam {
            fused: false,
            ..Self::new(clip)
        }
    }
}

impl ClippedAdam {
    /// The same step on any backend as few kernel launches: one reduction (the gradient's
    /// squared norm) and one element-wise chain that clips, updates both moments and the
    /// parameter. burn's composition launches ~11 kernels per parameter on the GPU (its
    /// clip coefficient is computed on a one-element tensor whose operations burn's fusion
    /// leaves unfused); here the coefficient is computed inside the chain, broadcast from the
    /// norm, so the fuser sees one block of the parameter's shape. Same f32 formulas as
    /// burn's (module docs).
    fn step_fused_chain<B: Backend, const D: usize>(
        clip: Option<f32>,
        lr: LearningRate,
        tensor: Tensor<B, D>,
        grad: Tensor<B, D>,
        state: Option<AdamState<B, D>>,
    ) -> (Tensor<B, D>, Option<AdamState<B, D>>) {
        let grad = match clip {
            Some(c) => {
                // ‖g‖² as a [1, …, 1] tensor, broadcast to the parameter's shape so that the
                // fuser sees one block. g·c / max(‖g‖ + tiny, c) is g·min(1, c/(‖g‖ + tiny))
                // with a true division: burn-ndarray's SIMD `recip` is approximate (1e-4).
                let sq = grad.clone().square().sum().reshape([1; D]);
                let norm = grad
                    .zeros_like()
                    .add(sq)
                    .sqrt()
                    .add_scalar(f32::MIN_POSITIVE);
                grad.mul_scalar(c).div(norm.clamp_min(c))
            }
            None => grad,
        };
        let (time, m1, m2) = match state {
            Some(s) => (
                s.momentum.time + 1,
                s.momentum
                    .moment_1
                    .mul_scalar(BETA_1)
                    .add(grad.clone().mul_scalar(1.0 - BETA_1)),
                s.momentum
                    .moment_2
                    .mul_scalar(BETA_2)
                    .add(grad.square().mul_scalar(1.0 - BETA_2)),
            ),
            None => (
                1,
                grad.clone().mul_scalar(1.0 - BETA_1),
                grad.square().mul_scalar(1.0 - BETA_2),
            ),
        };
        let b2 = (1.0 - BETA_2.powi(time as i32)).sqrt();
        let factor = b2 / (1.0 - BETA_1.powi(time as i32));
        let step = m1
            .clone()
            .mul_scalar(factor)
            .div(m2.clone().sqrt().add_scalar(EPSILON * b2))
            .mul_scalar(lr);
        let state = AdamState::new(AdaptiveMomentumState::new(time, m1, m2));
        (tensor - step, Some(state))
    }
}

impl<B: Backend> SimpleOptimizer<B> for ClippedAdam {
    type State<const D: usize> = AdamState<B, D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<B, D>,
        grad: Tensor<B, D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<B, D>, Option<Self::State<D>>) {
        let plain = self.fused
            && backend_of(&tensor) == Some(CpuBackend::Plain)
            && backend_of(&grad) == Some(CpuBackend::Plain)
            && state.as_ref().is_none_or(|s| {
                s.momentum.max_moment_2.is_none()
                    && backend_of(&s.momentum.moment_1) == Some(CpuBackend::Plain)
                    && backend_of(&s.momentum.moment_2) == Some(CpuBackend::Plain)
            });
        if !plain {
            return if self.fused {
                Self::step_fused_chain(self.clip, lr, tensor, grad, state)
            } else {
                let grad = match self.clip {
                    Some(c) => GradientClipping::Norm(c).clip_gradient(grad),
                    None => grad,
                };
                self.adam.step(lr, tensor, grad, state)
            };
        }
        let shape = tensor.dims();
        let values = |t: Tensor<B, D>| -> Vec<f32> {
            with_values(&cast(t.into_primitive().tensor()), |v| v.to_vec())
        };
        let back = |v: Vec<f32>| -> Tensor<B, D> {
            Tensor::from_primitive(TensorPrimitive::Float(cast(cpu_tensor(v, &shape))))
        };
        let mut theta = values(tensor);
        let mut g = values(grad);
        let (time, mut m1, mut m2) = match state {
            Some(s) => (
                s.momentum.time + 1,
                values(s.momentum.moment_1),
                values(s.momentum.moment_2),
            ),
            None => (1, vec![0.0; g.len()], vec![0.0; g.len()]),
        };
        if let Some(c) = self.clip {
            let norm = (g.iter().map(|v| (*v as f64) * (*v as f64)).sum::<f64>() as f32).sqrt();
            let coef = (c / (norm + f32::MIN_POSITIVE)).min(1.0);
            g.iter_mut().for_each(|v| *v *= coef);
        }
        let b2 = (1.0 - BETA_2.powi(time as i32)).sqrt();
        let factor = b2 / (1.0 - BETA_1.powi(time as i32));
        let (eps, lr) = (EPSILON * b2, lr as f32);
        for (((theta, g), m1), m2) in theta.iter_mut().zip(&g).zip(&mut m1).zip(&mut m2) {
            *m1 = *m1 * BETA_1 + *g * (1.0 - BETA_1);
            *m2 = *m2 * BETA_2 + *g * *g * (1.0 - BETA_2);
            *theta -= (*m1 * factor / (m2.sqrt() + eps)) * lr;
        }
        let state = AdamState::new(AdaptiveMomentumState::new(time, back(m1), back(m2)));
        (back(theta), Some(state))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &B::Device) -> Self::State<D> {
        <Adam as SimpleOptimizer<B>>::to_device(state, device)
    }
}

/// `decay·ema + (1 − decay)·current` in one pass on burn's CPU backend in f32 (`None`
/// elsewhere, where the caller composes burn's operations; the same f32 arithmetic).
///
/// # Shapes
/// `ema: [...]`, `current`: the same number of elements, flat → like `ema`
pub(crate) fn ema_cpu<B: Backend, const D: usize>(
    ema: &Tensor<B, D>,
    current: &Tensor<B, 1>,
    decay: f64,
) -> Option<Tensor<B, D>> {
    let cpu = Some(CpuBackend::Plain);
    if !crate::kernels::cpu_ops::fusion_enabled()
        || backend_of(ema) != cpu
        || backend_of(current) != cpu
    {
        return None;
    }
    let values = |t: FloatTensor<B>| -> Vec<f32> { with_values(&cast(t), |v| v.to_vec()) };
    let mut new = values(ema.clone().into_primitive().tensor());
    let (a, b) = (decay as f32, (1.0 - decay) as f32);
    with_values(&cast(current.clone().into_primitive().tensor()), |cur| {
        new.iter_mut()
            .zip(cur)
            .for_each(|(e, c)| *e = *e * a + *c * b)
    });
    let shape = ema.dims();
    Some(Tensor::from_primitive(TensorPrimitive::Float(cast(
        cpu_tensor(new, &shape),
    ))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::ndarray::NdArray;
    use burn::tensor::{Distribution, Tolerance};

    type B = NdArray<f32>;

    /// Six steps on a 2-D and a 1-D parameter, with gradients large enough to be clipped and
    /// small enough not to be, from no state: parameters and both moments of the CPU's fused
    /// pass and of the GPU backends' chain equal burn's composition, and so does the step
    /// count.
    #[test]
    fn fused_passes_equal_burns_adam_clipping_and_ema() {
        let d = Default::default();
        for clip in [Some(1.0), None] {
            for scale in [0.01, 10.0] {
                let theta = Tensor::<B, 2>::random([37, 5], Distribution::Normal(0., 1.), &d);
                let mut a = (theta.clone(), None);
                let mut b = (theta.clone(), None);
                let mut c = (theta, None);
                for step in 0..6 {
                    let g = Tensor::<B, 2>::random([37, 5], Distribution::Normal(0., scale), &d);
                    let lr = 1e-2 * (step + 1) as f64;
                    a = ClippedAdam::new(clip).step(lr, a.0, g.clone(), a.1);
                    b = ClippedAdam::composed(clip).step(lr, b.0, g.clone(), b.1);
                    // the GPU backends' chain, here on the CPU backend
                    c = ClippedAdam::step_fused_chain(clip, lr, c.0, g, c.1);
                }
                let tol = Tolerance::rel_abs(1e-5, 1e-7);
                let sb = b.1.unwrap().momentum;
                for (which, ours) in [("the CPU's pass", a), ("the chain", c)] {
                    println!("{which}, clip {clip:?}, gradient scale {scale}");
                    ours.0
                        .into_data()
                        .assert_approx_eq::<f32>(&b.0.clone().into_data(), tol);
                    let sa = ours.1.unwrap().momentum;
                    assert_eq!(sa.time, sb.time);
                    sa.moment_1
                        .into_data()
                        .assert_approx_eq::<f32>(&sb.moment_1.clone().into_data(), tol);
                    sa.moment_2
                        .into_data()
                        .assert_approx_eq::<f32>(&sb.moment_2.clone().into_data(), tol);
                }
            }
        }
        // the EMA's one pass
        let ema = Tensor::<B, 2>::random([37, 5], Distribution::Normal(0., 1.), &d);
        let cur = Tensor::<B, 1>::random([185], Distribution::Normal(0., 1.), &d);
        let fused = ema_cpu(&ema, &cur, 0.999).expect("CPU backend");
        let composed = ema * 0.999 + cur.reshape([37, 5]) * (1.0 - 0.999);
        fused
            .into_data()
            .assert_approx_eq::<f32>(&composed.into_data(), Tolerance::rel_abs(1e-6, 1e-7));
        // rank 1, as the biases
        let theta = Tensor::<B, 1>::random([9], Distribution::Normal(0., 1.), &d);
        let g = Tensor::<B, 1>::random([9], Distribution::Normal(0., 3.), &d);
        let a = ClippedAdam::new(Some(1.0)).step(1e-3, theta.clone(), g.clone(), None);
        let b = ClippedAdam::composed(Some(1.0)).step(1e-3, theta, g, None);
        a.0.into_data()
            .assert_approx_eq::<f32>(&b.0.into_data(), Tolerance::rel_abs(1e-5, 1e-7));
    }
}
