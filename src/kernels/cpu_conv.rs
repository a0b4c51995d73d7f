//! The U-Net's convolutions on burn's CPU backend as two operations with their gradients
//! written out: im2col by a tap gather, one SGEMM, and col2im by a scatter-add, all
//! channels-last.
//!
//! [`super::conv`] builds the same convolutions from burn's tensor operations (strided
//! slices or `select`, `matmul`, permutes); on the CPU backend about a third of a U-Net
//! training step then went to layout copies around them (`perf`: `reshape` of permuted
//! views, `cat`'s backward slices, Adam on permuted weight gradients) rather than to the
//! GEMMs. Here, with `G` the gather of the k² taps of every output position of a valid,
//! stride-s convolution (`[n, H, W, c]` → `[n·ho·wo, k·k·c]`) and `Gᵀ` its adjoint, the
//! scatter-add:
//!
//! ```text
//! convolution:             y = G(x)·W        ∂W = G(x)ᵀ·∂y          ∂x = Gᵀ(∂y·Wᵀ)
//! transposed convolution:  y = Gᵀ(x·W)       ∂W = xᵀ·G(∂y)          ∂x = G(∂y)·Wᵀ
//! ```
//!
//! (`W` the weight as a `[(i, j, c), o]` or `[c, (i, j, o)]` matrix; a transposed
//! convolution is the adjoint of a convolution, Dumoulin & Visin 2016, §4). Each GEMM reads
//! its transposed operand through strides, each gather and scatter runs one thread per
//! sample, and the gradients come back contiguous, so the optimiser's element-wise passes
//! are plain loops. Inputs arrive in any layout; the outputs are permuted views of
//! channels-last buffers, which is what the next operation ([`super::norm_silu`], or the
//! next convolution) reads without a copy.
//!
//! Other backends (and f64) take [`super::conv`]'s gather forms, which the tests below
//! compare with burn's kernels and with these.

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ndarray::NdArrayTensor;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{backend::Backend, Tensor, TensorPrimitive};

use super::conv::{conv2d_gather, conv_transpose2d_gather};
use super::cpu_ops::{
    backend_of, cast, cpu_tensor, gemm, gemm_add, nchw_view, per_sample, with_channels_last,
    with_values, Cpu, CpuAd, CpuBackend,
};

/// Valid (unpadded) 2-D convolution with stride s, no bias: burn's `conv2d`.
///
/// # Shapes
/// `x: [n, c, h, w]`, `weight: [o, c, k, k]` → `[n, o, (h−k)/s+1, (w−k)/s+1]`
pub fn conv2d<B: Backend>(x: Tensor<B, 4>, weight: Tensor<B, 4>, stride: usize) -> Tensor<B, 4> {
    match (backend_of(&x), backend_of(&weight)) {
        (Some(b), Some(_)) => {
            let [n, c, h, w] = x.dims();
            let [o, _, k, _] = weight.dims();
            let geo = Geometry::new(n, h, w, c, k, stride, 0);
            let op = ConvOp {
                kind: Conv::Direct,
                geo,
                other: o,
                split: vec![c],
            };
            run(b, op, vec![x], weight)
        }
        _ => conv2d_gather(x, weight, stride),
    }
}

/// Transposed 2-D convolution with stride s and output padding, no bias: burn's
/// `conv_transpose2d` (padding 0).
///
/// # Shapes
/// `x: [n, c, h, w]`, `weight: [c, o, k, k]` → `[n, o, (h−1)s + k + out_pad, (w−1)s + k + out_pad]`
pub fn conv_transpose2d<B: Backend>(
    x: Tensor<B, 4>,
    weight: Tensor<B, 4>,
    stride: usize,
    out_pad: usize,
) -> Tensor<B, 4> {
    conv_transpose2d_cat(vec![x], weight, stride, out_pad)
}

/// [`conv_transpose2d`] of the inputs concatenated along the channels (the U-Net decoder's
/// skip connections, `tconv(cat[h, skip])`), without building the concatenation: the
/// contributions are `Σ_p x_p·W_p` over the weight's row blocks.
///
/// # Shapes
/// `parts: [n, c_p, h, w]` with `Σ c_p = c`, `weight: [c, o, k, k]` → as [`conv_transpose2d`]
pub fn conv_transpose2d_cat<B: Backend>(
    parts: Vec<Tensor<B, 4>>,
    weight: Tensor<B, 4>,
    stride: usize,
    out_pad: usize,
) -> Tensor<B, 4> {
    let cpu = parts.iter().all(|x| backend_of(x).is_some());
    match (backend_of(&weight), parts.len()) {
        (Some(b), 1 | 2) if cpu => {
            let [n, _, h, w] = parts[0].dims();
            let [c, o, k, _] = weight.dims();
            let (ho, wo) = (
                (h - 1) * stride + k + out_pad,
                (w - 1) * stride + k + out_pad,
            );
            // The image the taps index is the output; x's grid is the tap grid.
            let geo = Geometry::new(n, ho, wo, o, k, stride, out_pad);
            let split = parts.iter().map(|x| x.dims()[1]).collect();
            let op = ConvOp {
                kind: Conv::Transposed,
                geo,
                other: c,
                split,
            };
            run(b, op, parts, weight)
        }
        _ => conv_transpose2d_gather(Tensor::cat(parts, 1), weight, stride, out_pad),
    }
}

fn run<B: Backend>(
    backend: CpuBackend,
    op: ConvOp,
    xs: Vec<Tensor<B, 4>>,
    weight: Tensor<B, 4>,
) -> Tensor<B, 4> {
    let xs: Vec<_> = xs
        .into_iter()
        .map(|x| x.into_primitive().tensor())
        .collect();
    let w = weight.into_primitive().tensor();
    let y = match backend {
        CpuBackend::Autodiff => cast(autodiff_forward(
            op,
            xs.into_iter().map(cast).collect(),
            cast(w),
        )),
        CpuBackend::Plain => {
            let xs: Vec<NdArrayTensor> = xs.into_iter().map(cast).collect();
            cast(op.forward(&xs, &cast(w)).0)
        }
    };
    Tensor::from_primitive(TensorPrimitive::Float(y))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Conv {
    Direct,
    Transposed,
}

/// Where the k² taps fall: an image `[n, h, w, c]` (channels-last) and the grid of
/// positions `gh × gw` whose taps `(s·a + i, s·b + j)` lie in it.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    n: usize,
    h: usize,
    w: usize,
    c: usize,
    k: usize,
    s: usize,
    gh: usize,
    gw: usize,
}

impl Geometry {
    /// The image `[n, h, w, c]`; `pad` extra rows and columns on the far side that no tap
    /// reaches (a transposed convolution's output padding).
    fn new(n: usize, h: usize, w: usize, c: usize, k: usize, s: usize, pad: usize) -> Self {
        let (gh, gw) = ((h - pad - k) / s + 1, (w - pad - k) / s + 1);
        Geometry {
            n,
            h,
            w,
            c,
            k,
            s,
            gh,
            gw,
        }
    }
    fn image_len(&self) -> usize {
        self.h * self.w * self.c
    }
    /// Elements of one sample's column matrix `[gh·gw, k·k·c]`.
    fn cols_len(&self) -> usize {
        self.gh * self.gw * self.k * self.k * self.c
    }
    fn taps(&self) -> usize {
        self.k * self.k * self.c
    }
}

/// im2col: `[n, h, w, c]` → `[n·gh·gw, k·k·c]`, rows ordered (sample, a, b), columns (i, j, c).
fn gather(img: &[f32], g: Geometry) -> Vec<f32> {
    let mut cols = vec![0f32; g.n * g.cols_len()];
    let mut none = vec![0f32; g.n];
    per_sample(&mut cols, &mut none, g.cols_len(), 1, |n, cols, _| {
        let img = &img[n * g.image_len()..(n + 1) * g.image_len()];
        let mut out = cols.chunks_exact_mut(g.c);
        for a in 0..g.gh {
            for b in 0..g.gw {
                for i in 0..g.k {
                    let row = ((g.s * a + i) * g.w + g.s * b) * g.c;
                    for j in 0..g.k {
                        let src = &img[row + j * g.c..row + (j + 1) * g.c];
                        out.next().expect("column count").copy_from_slice(src);
                    }
                }
            }
        }
    });
    cols
}

/// col2im, the adjoint of [`gather`]: every column entry added back into its tap.
fn scatter(cols: &[f32], g: Geometry) -> Vec<f32> {
    let mut img = vec![0f32; g.n * g.image_len()];
    let mut none = vec![0f32; g.n];
    per_sample(&mut img, &mut none, g.image_len(), 1, |n, img, _| {
        let cols = &cols[n * g.cols_len()..(n + 1) * g.cols_len()];
        let mut taps = cols.chunks_exact(g.c);
        for a in 0..g.gh {
            for b in 0..g.gw {
                for i in 0..g.k {
                    let row = ((g.s * a + i) * g.w + g.s * b) * g.c;
                    for j in 0..g.k {
                        let src = taps.next().expect("column count");
                        let dst = &mut img[row + j * g.c..row + (j + 1) * g.c];
                        for (d, s) in dst.iter_mut().zip(src) {
                            *d += s;
                        }
                    }
                }
            }
        }
    });
    img
}

/// One convolution: its kind, the tap geometry, the channel count of the other side (the
/// output's for a convolution, the input's for a transposed one) and how the input's
/// channels split into the parts it arrives in (one part, or a transposed convolution's
/// concatenated inputs).
#[derive(Clone, Debug)]
struct ConvOp {
    kind: Conv,
    geo: Geometry,
    other: usize,
    split: Vec<usize>,
}

/// What the backward pass keeps: the input parts channels-last and the weight as a matrix.
#[derive(Clone, Debug)]
struct Saved {
    op: ConvOp,
    xs: Vec<Arc<Vec<f32>>>,
    wm: Arc<Vec<f32>>,
}

impl ConvOp {
    /// The weight as the GEMM's matrix: `[o, c, k, k]` → `[(i, j, c), o]` (convolution),
    /// `[c, o, k, k]` → `[c, (i, j, o)]` (transposed).
    fn weight_matrix(&self, w: &[f32]) -> Vec<f32> {
        let (k, c, o) = (self.geo.k, self.geo.c, self.other);
        let mut m = vec![0f32; w.len()];
        match self.kind {
            Conv::Direct => {
                // output channels in blocks of 16: each write is a run of 16 in a row of
                // `m` and each read advances along 16 rows of `w` (a whole-row-at-a-time
                // order wrote one value per cache line: 5-8 % of a U-Net forward in the page)
                for o0 in (0..o).step_by(16) {
                    let block = o0..(o0 + 16).min(o);
                    for ci in 0..c {
                        for t in 0..k * k {
                            let row = (t * c + ci) * o;
                            for oc in block.clone() {
                                m[row + oc] = w[(oc * c + ci) * k * k + t];
                            }
                        }
                    }
                }
            }
            Conv::Transposed => {
                // Here geo.c is the output's channels and `other` the input's.
                for ci in 0..o {
                    for oc in 0..c {
                        for t in 0..k * k {
                            m[ci * k * k * c + t * c + oc] = w[(ci * c + oc) * k * k + t];
                        }
                    }
                }
            }
        }
        m
    }

    /// The inverse of [`Self::weight_matrix`] (for the weight's gradient).
    fn weight_from_matrix(&self, m: &[f32]) -> Vec<f32> {
        let (k, c, o) = (self.geo.k, self.geo.c, self.other);
        let mut w = vec![0f32; m.len()];
        match self.kind {
            Conv::Direct => {
                for oc in 0..o {
                    for ci in 0..c {
                        for t in 0..k * k {
                            w[(oc * c + ci) * k * k + t] = m[(t * c + ci) * o + oc];
                        }
                    }
                }
            }
            Conv::Transposed => {
                for ci in 0..o {
                    for oc in 0..c {
                        for t in 0..k * k {
                            w[(ci * c + oc) * k * k + t] = m[ci * k * k * c + t * c + oc];
                        }
                    }
                }
            }
        }
        w
    }

    /// `[o, c, k, k]` (convolution) or `[c_in, c_out, k, k]` (transposed): `other` first.
    fn weight_shape(&self) -> [usize; 4] {
        [self.other, self.geo.c, self.geo.k, self.geo.k]
    }

    /// Channels-last shape of the input part with `c` channels.
    fn input_nhwc(&self, c: usize) -> [usize; 4] {
        let g = self.geo;
        match self.kind {
            Conv::Direct => [g.n, g.h, g.w, c],
            Conv::Transposed => [g.n, g.gh, g.gw, c],
        }
    }

    /// Each input part's rows of a transposed convolution's weight matrix `[c, (i, j, o)]`.
    fn row_blocks<'a>(&self, wm: &'a [f32]) -> Vec<&'a [f32]> {
        let taps = self.geo.taps();
        let mut rest = wm;
        self.split
            .iter()
            .map(|c| {
                let (block, tail) = rest.split_at(c * taps);
                rest = tail;
                block
            })
            .collect()
    }

    /// Channels-last shape of the output.
    fn output_nhwc(&self) -> [usize; 4] {
        let g = self.geo;
        match self.kind {
            Conv::Direct => [g.n, g.gh, g.gw, self.other],
            Conv::Transposed => [g.n, g.h, g.w, g.c],
        }
    }

    /// The output and what the backward pass needs.
    fn forward(&self, xs: &[NdArrayTensor], w: &NdArrayTensor) -> (NdArrayTensor, Saved) {
        let xs: Vec<Vec<f32>> = xs
            .iter()
            .map(|x| with_channels_last(x, |v| v.to_vec()))
            .collect();
        let wm = with_values(w, |v| self.weight_matrix(v));
        let g = self.geo;
        let (rows, taps) = (g.n * g.gh * g.gw, g.taps());
        let y = match self.kind {
            Conv::Direct => gemm(
                rows,
                taps,
                self.other,
                &gather(&xs[0], g),
                false,
                &wm,
                false,
            ),
            Conv::Transposed => {
                let mut contributions = vec![0f32; rows * taps];
                for ((x, wp), c) in xs.iter().zip(self.row_blocks(&wm)).zip(&self.split) {
                    gemm_add(&mut contributions, rows, *c, taps, x, false, wp, false);
                }
                scatter(&contributions, g)
            }
        };
        let saved = Saved {
            op: self.clone(),
            xs: xs.into_iter().map(Arc::new).collect(),
            wm: Arc::new(wm),
        };
        (nchw_view(y, self.output_nhwc()), saved)
    }

    /// Gradients of the input parts and the weight (each only when asked for).
    fn backward(
        &self,
        saved: &Saved,
        dy: &[f32],
        want_x: &[bool],
        want_w: bool,
    ) -> (Vec<Option<NdArrayTensor>>, Option<NdArrayTensor>) {
        let g = self.geo;
        let (rows, taps, other) = (g.n * g.gh * g.gw, g.taps(), self.other);
        let (dxs, dwm): (Vec<Option<Vec<f32>>>, _) = match self.kind {
            Conv::Direct => {
                let dx = want_x[0]
                    .then(|| scatter(&gemm(rows, other, taps, dy, false, &saved.wm, true), g));
                let dwm = want_w
                    .then(|| gemm(taps, rows, other, &gather(&saved.xs[0], g), true, dy, false));
                (vec![dx], dwm)
            }
            Conv::Transposed => {
                let cols = gather(dy, g);
                let blocks = self.row_blocks(&saved.wm);
                let dxs = (0..self.split.len())
                    .map(|p| {
                        let c = self.split[p];
                        want_x[p].then(|| gemm(rows, taps, c, &cols, false, blocks[p], true))
                    })
                    .collect();
                let dwm = want_w.then(|| {
                    let parts = saved.xs.iter().zip(&self.split);
                    let per_part = parts.map(|(x, c)| gemm(*c, rows, taps, x, true, &cols, false));
                    per_part.collect::<Vec<_>>().concat()
                });
                (dxs, dwm)
            }
        };
        let dxs = dxs
            .into_iter()
            .zip(&self.split)
            .map(|(dx, c)| dx.map(|v| nchw_view(v, self.input_nhwc(*c))))
            .collect();
        let dw = dwm.map(|m| cpu_tensor(self.weight_from_matrix(&m), &self.weight_shape()));
        (dxs, dw)
    }
}

/// The backward step of a convolution with `N − 1` input parts and the weight as parents.
#[derive(Debug)]
struct ConvBackward<const N: usize>;

impl<const N: usize> Backward<Cpu, N> for ConvBackward<N> {
    type State = Saved;

    fn backward(self, ops: Ops<Saved, N>, grads: &mut Gradients, _: &mut Checkpointer) {
        let mut parents: Vec<_> = ops.parents.into_iter().collect();
        let node_w = parents.pop().flatten();
        let dy = grads.consume::<Cpu>(&ops.node);
        let s = ops.state;
        let want_x: Vec<bool> = parents.iter().map(Option::is_some).collect();
        let (dxs, dw) =
            with_channels_last(&dy, |dy| s.op.backward(&s, dy, &want_x, node_w.is_some()));
        for (node, dx) in parents.into_iter().zip(dxs) {
            if let (Some(node), Some(dx)) = (node, dx) {
                grads.register::<Cpu>(node.id, dx);
            }
        }
        if let (Some(node), Some(dw)) = (node_w, dw) {
            grads.register::<Cpu>(node.id, dw);
        }
    }
}

fn autodiff_forward(
    op: ConvOp,
    xs: Vec<FloatTensor<CpuAd>>,
    w: FloatTensor<CpuAd>,
) -> FloatTensor<CpuAd> {
    let primitives: Vec<NdArrayTensor> = xs.iter().map(|x| x.primitive.clone()).collect();
    let (y, saved) = op.forward(&primitives, &w.primitive);
    // The parents' count is part of the step's type: one input part or two.
    macro_rules! finish {
        ($nodes:expr) => {
            match ConvBackward
                .prepare::<NoCheckpointing>($nodes)
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => prep.finish(saved, y),
                OpsKind::UnTracked(prep) => prep.finish(y),
            }
        };
    }
    match xs.as_slice() {
        [x] => finish!([x.node.clone(), w.node.clone()]),
        [a, b] => finish!([a.node.clone(), b.node.clone(), w.node.clone()]),
        _ => unreachable!("one or two input parts (checked by the caller)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, NdArray};
    use burn::tensor::module::{conv2d as burn_conv2d, conv_transpose2d as burn_tconv};
    use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
    use burn::tensor::{Distribution, Tolerance};

    type AB = Autodiff<NdArray<f32>>;

    /// Value, input gradient and weight gradient against burn's kernel for `Σ y·r` with a
    /// random `r`; x given in NCHW order and as a channels-last view.
    fn check<F, G>(x_nchw: [usize; 4], w_shape: [usize; 4], ours: F, theirs: G)
    where
        F: Fn(Tensor<AB, 4>, Tensor<AB, 4>) -> Tensor<AB, 4>,
        G: Fn(Tensor<AB, 4>, Tensor<AB, 4>) -> Tensor<AB, 4>,
    {
        let d = Default::default();
        let normal = Distribution::Normal(0., 1.);
        let [n, c, h, w] = x_nchw;
        for channels_last in [false, true] {
            let x = if channels_last {
                Tensor::<AB, 4>::random([n, h, w, c], normal, &d).permute([0, 3, 1, 2])
            } else {
                Tensor::<AB, 4>::random(x_nchw, normal, &d)
            };
            let x = x.require_grad();
            let wt = Tensor::<AB, 4>::random(w_shape, normal, &d).require_grad();
            let y2 = theirs(x.clone(), wt.clone());
            let r = Tensor::<AB, 4>::random(y2.dims(), normal, &d);
            let y1 = ours(x.clone(), wt.clone());
            assert_eq!(y1.dims(), y2.dims());
            let g1 = (y1.clone() * r.clone()).sum().backward();
            let g2 = (y2.clone() * r).sum().backward();
            let tol = Tolerance::absolute(1e-4);
            y1.into_data().assert_approx_eq::<f32>(&y2.into_data(), tol);
            let (gx1, gx2) = (x.grad(&g1).unwrap(), x.grad(&g2).unwrap());
            gx1.into_data()
                .assert_approx_eq::<f32>(&gx2.into_data(), tol);
            let (gw1, gw2) = (wt.grad(&g1).unwrap(), wt.grad(&g2).unwrap());
            gw1.into_data()
                .assert_approx_eq::<f32>(&gw2.into_data(), Tolerance::absolute(1e-3));
        }
    }

    /// One and several channels in and out, strides 1 and 2, odd and even sides.
    #[test]
    fn conv2d_matches_burn_in_value_and_gradients() {
        for (c, o) in [(1, 5), (9, 4), (6, 1)] {
            for stride in [1, 2] {
                let theirs = |x, w| {
                    let options = ConvOptions::new([stride, stride], [0, 0], [1, 1], 1);
                    burn_conv2d(x, w, None, options)
                };
                check(
                    [2, c, 12, 11],
                    [o, c, 3, 3],
                    |x, w| conv2d(x, w, stride),
                    theirs,
                );
            }
        }
    }

    /// One and several channels in and out, strides 1 and 2, output padding 0 and 1.
    #[test]
    fn conv_transpose2d_matches_burn_in_value_and_gradients() {
        for (c, o) in [(4, 1), (1, 6), (7, 9)] {
            for (stride, pad) in [(1, 0), (2, 0), (2, 1)] {
                let theirs = |x, w| {
                    let options =
                        ConvTransposeOptions::new([stride, stride], [0, 0], [pad, pad], [1, 1], 1);
                    burn_tconv(x, w, None, options)
                };
                let ours = |x, w| conv_transpose2d(x, w, stride, pad);
                check([2, c, 5, 6], [c, o, 3, 3], ours, theirs);
            }
        }
    }

    /// Two input parts give what their concatenation gives, in value and in the gradients
    /// of both parts and the weight (one part given channels-last).
    #[test]
    fn concatenated_parts_equal_the_concatenation() {
        let d = Default::default();
        let normal = Distribution::Normal(0., 1.);
        let a = Tensor::<AB, 4>::random([2, 3, 5, 4], normal, &d).require_grad();
        let b = Tensor::<AB, 4>::random([2, 5, 4, 6], normal, &d)
            .permute([0, 3, 1, 2])
            .require_grad();
        let w = Tensor::<AB, 4>::random([9, 4, 3, 3], normal, &d).require_grad();
        let r = Tensor::<AB, 4>::random([2, 4, 12, 10], normal, &d);
        let run = |split: bool| {
            let y = if split {
                conv_transpose2d_cat(vec![a.clone(), b.clone()], w.clone(), 2, 1)
            } else {
                conv_transpose2d(Tensor::cat(vec![a.clone(), b.clone()], 1), w.clone(), 2, 1)
            };
            let g = (y.clone() * r.clone()).sum().backward();
            let (ga, gb, gw) = (
                a.grad(&g).unwrap(),
                b.grad(&g).unwrap(),
                w.grad(&g).unwrap(),
            );
            [y.inner(), ga, gb, gw]
        };
        let tol = Tolerance::absolute(1e-4);
        for (x, y) in run(true).into_iter().zip(run(false)) {
            x.into_data().assert_approx_eq::<f32>(&y.into_data(), tol);
        }
    }

    /// Without autodiff (sampling): the same values as with it.
    #[test]
    fn plain_backend_gives_the_same_values() {
        let d = Default::default();
        let normal = Distribution::Normal(0., 1.);
        let x = Tensor::<NdArray<f32>, 4>::random([2, 8, 7, 7], normal, &d);
        let w = Tensor::<NdArray<f32>, 4>::random([8, 3, 3, 3], normal, &d);
        let plain = conv_transpose2d(x.clone(), w.clone(), 2, 1).into_data();
        let (x, w) = (
            Tensor::<AB, 4>::from_inner(x),
            Tensor::<AB, 4>::from_inner(w),
        );
        let ad = conv_transpose2d(x, w, 2, 1);
        plain.assert_approx_eq::<f32>(&ad.into_data(), Tolerance::absolute(1e-6));
    }
}
