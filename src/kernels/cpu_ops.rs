//! What the CPU backend's own operations ([`super::norm_silu`], [`super::cpu_conv`]) share:
//! reaching the concrete tensors of burn's CPU backend from generic code, channels-last
//! buffers, per-sample threads and the GEMM.
//!
//! The operations are specialisations by type: generic code over `B: Backend` asks
//! [`backend_of`] whether `B` is `NdArray<f32>` or `Autodiff<NdArray<f32>>` (a `TypeId`
//! comparison) and, if so, moves its tensors to that type ([`cast`], which cannot fail after
//! the check), runs plain Rust loops and a GEMM ([`gemm`]) on the values, and registers
//! the gradient with burn's autodiff as a custom operation (burn's `Backward` trait, as in its
//! custom-kernel examples). Any other backend (WebGPU, Vulkan, CUDA, or ndarray in f64) takes
//! the generic composition of burn's tensor operations, which the tests compare against.

use std::any::{Any, TypeId};

use burn::backend::ndarray::NdArrayTensor;
use burn::backend::{Autodiff, NdArray};
use burn::tensor::ops::FloatTensorOps;
use burn::tensor::{backend::Backend, DType, Tensor, TensorData, TensorPrimitive};

pub(crate) type Cpu = NdArray<f32>;
pub(crate) type CpuAd = Autodiff<Cpu>;

/// Which of burn's CPU backends `B` is, for tensors of this dtype.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CpuBackend {
    /// `Autodiff<NdArray<f32>>` (training, likelihood).
    Autodiff,
    /// `NdArray<f32>` (inference).
    Plain,
}

/// `Some` when `B` is burn's CPU backend in f32 (with or without autodiff) and the tensor is f32.
pub(crate) fn backend_of<B: Backend, const D: usize>(t: &Tensor<B, D>) -> Option<CpuBackend> {
    if t.dtype() != DType::F32 {
        return None;
    }
    let b = TypeId::of::<B>();
    if b == TypeId::of::<CpuAd>() {
        Some(CpuBackend::Autodiff)
    } else if b == TypeId::of::<Cpu>() {
        Some(CpuBackend::Plain)
    } else {
        None
    }
}

/// Whether `B` is burn's CPU backend without autodiff, in f32 (the page, the networks) or
/// f64 (the CLI's exact mixtures): host loops may read and write its tensors directly.
pub(crate) fn plain_cpu<B: Backend>() -> bool {
    let b = TypeId::of::<B>();
    b == TypeId::of::<Cpu>() || b == TypeId::of::<NdArray<f64>>()
}

/// Whether the fused layers ([`super::norm_silu`], [`super::linear_silu`]) and the exact
/// mixture's one-pass score (`crate::model::gmm::Marginal::score_rows`) may run:
/// `SCORELAB_FUSE=off` turns them off (native builds; for benchmarks, read once per
/// process). The convolutions have their own switch, `SCORELAB_CONV`.
pub fn fusion_enabled() -> bool {
    #[cfg(not(target_arch = "wasm32"))]
    {
        static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *ON.get_or_init(|| std::env::var("SCORELAB_FUSE").as_deref() != Ok("off"))
    }
    #[cfg(target_arch = "wasm32")]
    true
}

/// `e^x` in f32 inline, so a loop over it vectorises (wasm SIMD: four lanes).
///
/// glibc's `expf` (and wasm's libm) is a call per element: in the fused SiLU loops it was 6 %
/// of a U-Net training step and kept the whole loop scalar. Here `e^x = 2ⁿ·e^r` with
/// `n = round(x/ln 2)` (the 1.5·2²³ rounding trick), `r = x − n ln 2` (ln 2 split in two,
/// Cody–Waite) and Cephes' `expf` polynomial on `|r| ≤ ln 2 / 2`; `2ⁿ` is built from its
/// exponent bits. x is clamped to [−87, 88] (e^−87 ≈ 1.6e−38, the smallest normal f32 is
/// 1.2e−38); NaN stays NaN. Relative error within 3e-7 (`tests::exp_is_accurate`).
#[inline(always)]
pub(crate) fn exp_f32(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    let t = x * std::f32::consts::LOG2_E + 12_582_912.0;
    let n = t - 12_582_912.0;
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let p = ((((1.987_569_2e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 0.166_666_65)
        * r
        + 0.5;
    let e_r = p * r * r + r + 1.0;
    let two_n = f32::from_bits(((t.to_bits() as i32 - 0x4B40_0000 + 127) << 23) as u32);
    e_r * two_n
}

/// `σ(z) = 1/(1 + e^{−z})` in f32 with the inline [`exp_f32`]: σ is already 0 or 1 in f32
/// where the clamp acts. Relative error of σ within 3e-7 of the f64 value
/// (`tests::sigmoid_is_accurate`).
#[inline(always)]
pub(super) fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + exp_f32(-z))
}

/// `f` on the values of a tensor of burn's f32 CPU backend without autodiff (the page's),
/// read in place (no element-by-element conversion), its result as a tensor of the same
/// shape; `Err(x)` on any other backend or dtype.
///
/// # Shapes
/// `x: [n, d]` → `[n, d]`
pub(crate) fn map_plain_f32<B: Backend>(
    x: Tensor<B, 2>,
    f: impl FnOnce(&[f32]) -> Vec<f32>,
) -> Result<Tensor<B, 2>, Tensor<B, 2>> {
    if backend_of(&x) != Some(CpuBackend::Plain) {
        return Err(x);
    }
    let shape = x.dims();
    let t: NdArrayTensor = cast(x.into_primitive().tensor());
    let y = cpu_tensor(with_values(&t, f), &shape);
    Ok(Tensor::from_primitive(TensorPrimitive::Float(cast(y))))
}

/// Moves a value to the type it already is (checked by the caller through `TypeId`).
pub(crate) fn cast<T: 'static, U: 'static>(t: T) -> U {
    *(Box::new(t) as Box<dyn Any>)
        .downcast::<U>()
        .expect("CPU operations: backend types checked equal")
}

/// The tensor's values in row-major order, as one contiguous slice (a copy only when the
/// memory is not already in that order).
pub(crate) fn with_values<R>(t: &NdArrayTensor, f: impl FnOnce(&[f32]) -> R) -> R {
    values_in_order(t, false, f)
}

/// An image batch `[n, c, H, W]`'s values channels-last (`[n, H, W, c]`), as one contiguous
/// slice (a copy only when the memory is not already in that order).
pub(super) fn with_channels_last<R>(t: &NdArrayTensor, f: impl FnOnce(&[f32]) -> R) -> R {
    values_in_order(t, true, f)
}

fn values_in_order<R>(t: &NdArrayTensor, channels_last: bool, f: impl FnOnce(&[f32]) -> R) -> R {
    let NdArrayTensor::F32(s) = t else {
        unreachable!("CPU operations: f32 checked by the caller")
    };
    let v = s.view();
    let v = if channels_last {
        assert_eq!(v.ndim(), 4, "channels-last values of a 4-D tensor");
        v.permuted_axes(&[0usize, 2, 3, 1][..])
    } else {
        v
    };
    let v = v.as_standard_layout();
    f(v.as_slice().expect("standard layout is contiguous"))
}

/// A channels-last buffer `[n, H, W, c]` as the tensor `[n, c, H, W]` (a permuted view).
pub(super) fn nchw_view(values: Vec<f32>, nhwc: [usize; 4]) -> NdArrayTensor {
    let t = Cpu::float_from_data(TensorData::new(values, nhwc), &Default::default());
    Cpu::float_permute(t, &[0, 3, 1, 2])
}

pub(crate) fn cpu_tensor(values: Vec<f32>, shape: &[usize]) -> NdArrayTensor {
    Cpu::float_from_data(TensorData::new(values, shape.to_vec()), &Default::default())
}

/// Runs `f(sample, a_chunk, b_chunk)` for every sample's chunks of `a` (`ca` elements each)
/// and `b` (`cb` each), on rayon's threads in native builds and in the page's threaded CPU
/// module (feature `threads`: wasm-bindgen-rayon's web workers), in order in the one-thread
/// module, and collects the results in sample order.
pub(crate) fn per_sample<T, F>(a: &mut [f32], b: &mut [f32], ca: usize, cb: usize, f: F) -> Vec<T>
where
    T: Send,
    F: Fn(usize, &mut [f32], &mut [f32]) -> T + Sync + Send,
{
    // Wasm threads wake each other through the browser (Atomics.wait/notify across web
    // workers), tens of µs a hand-off: small passes (the toy MLP's element-wise ones) stay on
    // one thread (ARCHITECTURE.md, "Wasm threads").
    #[cfg(all(target_arch = "wasm32", feature = "threads"))]
    let parallel = a.len() + b.len() >= WASM_PAR_MIN_ELEMENTS && !nested();
    #[cfg(not(target_arch = "wasm32"))]
    let parallel = !nested();
    #[cfg(any(not(target_arch = "wasm32"), feature = "threads"))]
    if parallel {
        use rayon::prelude::*;
        return a
            .par_chunks_mut(ca)
            .zip(b.par_chunks_mut(cb))
            .enumerate()
            .map(|(i, (x, y))| f(i, x, y))
            .collect();
    }
    a.chunks_mut(ca)
        .zip(b.chunks_mut(cb))
        .enumerate()
        .map(|(i, (x, y))| f(i, x, y))
        .collect()
}

/// Whether this thread is one of rayon's pool threads, i.e. already inside a parallel task
/// (a part of [`batch_parts`]'s split): the passes and GEMMs it runs stay on it, as a pool
/// thread waiting on nested tasks would only add hand-offs.
#[cfg(any(not(target_arch = "wasm32"), feature = "threads"))]
fn nested() -> bool {
    rayon::current_thread_index().is_some()
}

/// In how many parts an inference batch of `n` runs, one per thread ([`par_map`]): every
/// thread's share of the page's threaded CPU module (`NdArray<f32>` without autodiff, feature
/// `threads`), one part elsewhere. In the page each operation's own split (the [`per_sample`]
/// passes, the GEMM's row blocks) costs a hand-off through the browser per operation and left
/// the threads idle half the time while the calling worker ran the serial parts; a batch in
/// parts has one hand-off per network evaluation (ARCHITECTURE.md, "A U-Net batch in parts"). Native
/// builds keep the per-operation split (matrixmultiply threads its GEMM itself there).
pub(crate) fn batch_parts<B: Backend>(n: usize) -> usize {
    #[cfg(all(target_arch = "wasm32", feature = "threads"))]
    if TypeId::of::<B>() == TypeId::of::<Cpu>() && !nested() {
        return rayon::current_num_threads().min(n).max(1);
    }
    let _ = n;
    1
}

/// `f` on every item, on rayon's threads where there are (native builds, the threaded wasm
/// module), in order otherwise; results in the items' order.
pub(crate) fn par_map<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync + Send) -> Vec<R> {
    #[cfg(any(not(target_arch = "wasm32"), feature = "threads"))]
    {
        use rayon::prelude::*;
        items.into_par_iter().map(f).collect()
    }
    #[cfg(all(target_arch = "wasm32", not(feature = "threads")))]
    items.into_iter().map(f).collect()
}

/// Wasm threads: the fewest elements a [`per_sample`] pass splits over threads.
#[cfg(all(target_arch = "wasm32", feature = "threads"))]
const WASM_PAR_MIN_ELEMENTS: usize = 1 << 17;

/// Wasm threads: the fewest multiply-adds (m·k·n) a GEMM splits over threads.
#[cfg(all(target_arch = "wasm32", feature = "threads"))]
const WASM_PAR_MIN_MACS: usize = 1 << 23;

/// `C = op(A)·op(B)` for row-major `A` (`[m, k]`, or `[k, m]` read transposed when `ta`)
/// and `B` (`[k, n]`, or `[n, k]` read transposed when `tb`): `matrixmultiply`'s SGEMM
/// natively (with its threads), [`super::sgemm`] in the wasm build, both with strides, so no
/// transpose is copied.
///
/// # Shapes
/// → `[m, n]`
pub(super) fn gemm(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    ta: bool,
    b: &[f32],
    tb: bool,
) -> Vec<f32> {
    let mut c = vec![0f32; m * n];
    gemm_add(&mut c, m, k, n, a, ta, b, tb);
    c
}

/// `C += op(A)·op(B)`, as [`gemm`].
///
/// # Shapes
/// `c: [m, n]`
#[allow(clippy::too_many_arguments)]
pub(super) fn gemm_add(
    c: &mut [f32],
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    ta: bool,
    b: &[f32],
    tb: bool,
) {
    assert!(
        a.len() == m * k && b.len() == k * n && c.len() == m * n,
        "gemm: operand sizes"
    );
    if m == 0 || n == 0 || k == 0 {
        return;
    }
    let (rsa, csa) = if ta { (1, m) } else { (k, 1) };
    let (rsb, csb) = if tb { (1, k) } else { (n, 1) };
    // `C[r0..r0 + rows] += op(A)[r0..r0 + rows]·op(B)` for the rows `cc` of C from row r0:
    // the wasm build's own SGEMM (its register tile fits V8's registers: super::sgemm),
    // matrixmultiply's natively (AVX2/FMA kernels).
    #[cfg(target_arch = "wasm32")]
    let rows_of_c = |r0: usize, cc: &mut [f32]| {
        use super::sgemm::{sgemm_add, Strided};
        let a = Strided {
            data: a,
            offset: r0 * rsa,
            rows: rsa,
            cols: csa,
        };
        let b = Strided {
            data: b,
            offset: 0,
            rows: rsb,
            cols: csb,
        };
        sgemm_add(cc.len() / n, k, n, a, b, cc);
    };
    #[cfg(not(target_arch = "wasm32"))]
    let rows_of_c = |r0: usize, cc: &mut [f32]| {
        // SAFETY: the strides address the rows r0..r0 + cc.len()/n of op(A) (m·k elements,
        // asserted above), all k·n of op(B), and exactly `cc`; `c` does not alias `a` or `b`.
        unsafe {
            matrixmultiply::sgemm(
                cc.len() / n,
                k,
                n,
                1.0,
                a.as_ptr().add(r0 * rsa),
                rsa as isize,
                csa as isize,
                b.as_ptr(),
                rsb as isize,
                csb as isize,
                1.0,
                cc.as_mut_ptr(),
                n as isize,
                1,
            );
        }
    };
    // Wasm threads: the rows of C in blocks, two per thread and at least 16 rows each, one
    // rayon task per block (matrixmultiply's own threading is native-only). Measured on 2
    // cores: image lab 9.5 s → 8.3 s at 100 PC steps (ARCHITECTURE.md, "Wasm threads").
    #[cfg(all(target_arch = "wasm32", feature = "threads"))]
    if m >= 64 && m * k * n >= WASM_PAR_MIN_MACS && !nested() {
        use rayon::prelude::*;
        let rows = m.div_ceil(rayon::current_num_threads() * 2).max(16);
        c.par_chunks_mut(rows * n)
            .enumerate()
            .for_each(|(i, cc)| rows_of_c(i * rows, cc));
        return;
    }
    rows_of_c(0, c);
}

#[cfg(test)]
mod tests {
    use super::{exp_f32, sigmoid};

    /// Against `exp` in f64 on a fine grid over [−87, 88] (where the result is a normal f32):
    /// relative error below 3e-7 (f32's own rounding is 6e-8); clamped beyond, NaN stays NaN.
    #[test]
    fn exp_is_accurate() {
        let mut worst = 0f64;
        for i in -1_740_000..=1_760_000 {
            let x = i as f32 * 5e-5;
            let exact = (x as f64).exp();
            worst = worst.max((exp_f32(x) as f64 - exact).abs() / exact);
        }
        assert!(worst < 3e-7, "relative error {worst:e}");
        assert!(exp_f32(-200.0) < 2e-38 && exp_f32(-200.0) >= 0.0);
        assert!(exp_f32(f32::NAN).is_nan());
    }

    /// Against σ in f64 on a fine grid over [−100, 100] (both tails included): relative error
    /// below 3e-7 where σ is a normal f32 (f32's own rounding is 6e-8), 1 and ~0 beyond;
    /// NaN in, NaN out.
    #[test]
    fn sigmoid_is_accurate() {
        let mut worst = 0f64;
        for i in -2_000_000..=2_000_000 {
            let z = i as f32 * 5e-5;
            let exact = 1.0 / (1.0 + (-(z as f64)).exp());
            let got = sigmoid(z) as f64;
            if exact > 1e-37 {
                worst = worst.max((got - exact).abs() / exact);
            }
        }
        assert!(worst < 3e-7, "relative error {worst:e}");
        assert_eq!(sigmoid(200.0), 1.0);
        assert!((0.0..1e-37).contains(&sigmoid(-200.0)));
        assert!(sigmoid(f32::NAN).is_nan());
    }
}
