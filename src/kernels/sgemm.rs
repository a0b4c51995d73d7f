//! The wasm build's single-precision GEMM, `C += op(A)·op(B)`, with a register tile that
//! fits the registers the browser's compiler has.
//!
//! Why not `matrixmultiply` (the native builds keep it, with AVX2/FMA kernels and threads):
//! its wasm kernel holds an 8×8 tile of C, 16 SIMD accumulators, plus four operand vectors
//! and the lane splats; V8 compiles wasm SIMD to the 16 XMM registers of x86-64, so that
//! kernel spills in its inner loop. This one holds a 4×8 tile (8 accumulators, two vectors
//! of B, one splat of A: 11 registers) and reads A's four values per step as
//! `v128.load32_splat` straight from A (no packing of A, and A may be read transposed at
//! no cost); B is packed once per block of `KC` rows into panels of 8 columns, so its loads
//! are two aligned vectors whatever B's layout. Measured in node (V8, this 2-core machine;
//! benches/HISTORY.md, "Our own wasm SGEMM"): the MLP's 256×128×128 products 24 → 29-30
//! GFLOP/s, the U-Net's im2col product 23 → 30.
//!
//! With `+relaxed-simd` (the page's relaxed-SIMD modules, `make wasm`) each multiply-add is
//! `f32x4.relaxed_madd`, which V8 compiles to a fused multiply-add where the CPU has one
//! (x86-64 with FMA3, every ARM64): one instruction and one rounding instead of two, 1.2x
//! the toy MLP's training in node. Relaxed SIMD lets the engine choose fused or not, so
//! results may differ in the last bits between machines; both are within the tests' bound.
//!
//! Summation order is the textbook one: for each element of C, the products over `p` in
//! order within a block of `KC` rows of B, each block's sum added to C (`matrixmultiply`'s
//! order too, so the two agree to the last bit in practice; the tests allow float
//! rounding).
//!
//! The same code runs natively on a portable 4-lane form (`[f32; 4]`), so the blocking,
//! packing and edges are tested by `cargo test`; the SIMD form is tested in Chromium
//! (`tests/web.rs`), both through [`assert_within_rounding_at_test_shapes`].

/// Rows of C per register tile.
const MR: usize = 4;
/// Columns of C per register tile (two 4-lane vectors).
const NR: usize = 8;
/// Rows of B per packed block (a panel of `KC × NR` floats is 8 KiB: it stays in L1).
const KC: usize = 256;

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod lanes {
    //! Four f32 lanes in wasm SIMD128.
    use core::arch::wasm32::*;
    pub type V = v128;

    #[inline(always)]
    pub fn zero() -> V {
        f32x4_splat(0.0)
    }
    /// # Safety
    /// `p` must be valid for reading four floats.
    #[inline(always)]
    pub unsafe fn load(p: *const f32) -> V {
        v128_load(p as *const v128)
    }
    /// # Safety
    /// `p` must be valid for reading one float.
    #[inline(always)]
    pub unsafe fn load_splat(p: *const f32) -> V {
        v128_load32_splat(p as *const u32)
    }
    /// `a·b + c`, fused where relaxed SIMD is on and the CPU has FMA.
    #[inline(always)]
    pub fn mul_add(a: V, b: V, c: V) -> V {
        #[cfg(target_feature = "relaxed-simd")]
        return f32x4_relaxed_madd(a, b, c);
        #[cfg(not(target_feature = "relaxed-simd"))]
        f32x4_add(f32x4_mul(a, b), c)
    }
    #[inline(always)]
    pub fn add(a: V, b: V) -> V {
        f32x4_add(a, b)
    }
    /// # Safety
    /// `p` must be valid for writing four floats.
    #[inline(always)]
    pub unsafe fn store(p: *mut f32, v: V) {
        v128_store(p as *mut v128, v)
    }
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod lanes {
    //! Four f32 lanes as an array: the same algorithm for native tests.
    pub type V = [f32; 4];

    #[inline(always)]
    pub fn zero() -> V {
        [0.0; 4]
    }
    /// # Safety
    /// `p` must be valid for reading four floats.
    #[inline(always)]
    pub unsafe fn load(p: *const f32) -> V {
        std::array::from_fn(|i| *p.add(i))
    }
    /// # Safety
    /// `p` must be valid for reading one float.
    #[inline(always)]
    pub unsafe fn load_splat(p: *const f32) -> V {
        [*p; 4]
    }
    #[inline(always)]
    pub fn mul_add(a: V, b: V, c: V) -> V {
        std::array::from_fn(|i| a[i] * b[i] + c[i])
    }
    #[inline(always)]
    pub fn add(a: V, b: V) -> V {
        std::array::from_fn(|i| a[i] + b[i])
    }
    /// # Safety
    /// `p` must be valid for writing four floats.
    #[inline(always)]
    pub unsafe fn store(p: *mut f32, v: V) {
        for (i, x) in v.into_iter().enumerate() {
            *p.add(i) = x;
        }
    }
}

use lanes::V;

/// A matrix operand: `data[offset + i·rows + j·cols]` is element `(i, j)`.
#[derive(Clone, Copy)]
pub struct Strided<'a> {
    pub data: &'a [f32],
    pub offset: usize,
    pub rows: usize,
    pub cols: usize,
}

impl Strided<'_> {
    /// Panics unless every element of an `m × n` matrix is inside `data`.
    fn check(&self, m: usize, n: usize, what: &str) {
        let last = self.offset + (m - 1) * self.rows + (n - 1) * self.cols;
        assert!(last < self.data.len(), "sgemm: {what} out of bounds");
    }
}

/// `C += A·B` for `A: m × k`, `B: k × n` (any strides) and row-major `C: m × n`.
///
/// # Shapes
/// `a: [m, k]`, `b: [k, n]`, `c: [m, n]` (row-major, `c.len() == m·n`)
pub fn sgemm_add(m: usize, k: usize, n: usize, a: Strided, b: Strided, c: &mut [f32]) {
    assert_eq!(c.len(), m * n, "sgemm: C is not m × n");
    if m == 0 || n == 0 || k == 0 {
        return;
    }
    a.check(m, k, "A");
    b.check(k, n, "B");
    let panels = n.div_ceil(NR);
    let mut packed = vec![0f32; KC.min(k) * panels * NR];
    for p0 in (0..k).step_by(KC) {
        let kc = KC.min(k - p0);
        pack(&mut packed[..kc * panels * NR], b, p0, kc, n);
        for i0 in (0..m).step_by(MR) {
            let rows = MR.min(m - i0);
            // Rows past the last one read the last row again (in bounds); not stored.
            let a_rows: [usize; MR] =
                std::array::from_fn(|r| a.offset + (i0 + r.min(rows - 1)) * a.rows + p0 * a.cols);
            for jp in 0..panels {
                let panel = &packed[jp * kc * NR..(jp + 1) * kc * NR];
                // SAFETY: `a_rows[r] + p·a.cols` for p < kc addresses A's row i0 + r (or the
                // last row) at column p0 + p < k, inside `a.data` (checked above); `panel`
                // holds kc·NR floats.
                let tile = unsafe { tile(kc, a.data.as_ptr(), &a_rows, a.cols, panel.as_ptr()) };
                let j0 = jp * NR;
                add_tile(c, n, i0, rows, j0, NR.min(n - j0), &tile);
            }
        }
    }
}

/// B's rows `p0..p0 + kc` in panels of `NR` columns (`packed[jp][p][0..NR]`), the columns
/// past `n` as zeros.
fn pack(packed: &mut [f32], b: Strided, p0: usize, kc: usize, n: usize) {
    for (jp, panel) in packed.chunks_exact_mut(kc * NR).enumerate() {
        let j0 = jp * NR;
        let w = NR.min(n - j0);
        for (p, row) in panel.chunks_exact_mut(NR).enumerate() {
            let at = b.offset + (p0 + p) * b.rows + j0 * b.cols;
            for (j, x) in row.iter_mut().enumerate() {
                *x = if j < w { b.data[at + j * b.cols] } else { 0.0 };
            }
        }
    }
}

/// The `MR × NR` tile `Σ_p A[r, p]·panel[p]` over `kc` steps, as two vectors per row.
///
/// # Safety
/// `a.add(a_rows[r] + p·a_col)` must be readable for every `r` and `p < kc`; `panel` must
/// hold `kc·NR` floats.
#[inline(always)]
unsafe fn tile(
    kc: usize,
    a: *const f32,
    a_rows: &[usize; MR],
    a_col: usize,
    panel: *const f32,
) -> [[V; 2]; MR] {
    let mut acc = [[lanes::zero(); 2]; MR];
    let rows = a_rows.map(|o| a.add(o));
    for p in 0..kc {
        let b0 = lanes::load(panel.add(p * NR));
        let b1 = lanes::load(panel.add(p * NR + 4));
        for r in 0..MR {
            let x = lanes::load_splat(rows[r].add(p * a_col));
            acc[r][0] = lanes::mul_add(x, b0, acc[r][0]);
            acc[r][1] = lanes::mul_add(x, b1, acc[r][1]);
        }
    }
    acc
}

/// `C[i0 + r, j0 + j] += tile[r][j]` for `r < rows`, `j < cols`.
fn add_tile(
    c: &mut [f32],
    n: usize,
    i0: usize,
    rows: usize,
    j0: usize,
    cols: usize,
    tile: &[[V; 2]; MR],
) {
    for (r, t) in tile.iter().enumerate().take(rows) {
        let row = &mut c[(i0 + r) * n + j0..(i0 + r) * n + j0 + cols];
        if cols == NR {
            // SAFETY: `row` holds NR = 8 floats: two vectors.
            unsafe {
                let p = row.as_mut_ptr();
                lanes::store(p, lanes::add(lanes::load(p), t[0]));
                lanes::store(p.add(4), lanes::add(lanes::load(p.add(4)), t[1]));
            }
        } else {
            let mut sum = [0f32; NR];
            // SAFETY: `sum` holds 8 floats.
            unsafe {
                lanes::store(sum.as_mut_ptr(), t[0]);
                lanes::store(sum.as_mut_ptr().add(4), t[1]);
            }
            for (x, s) in row.iter_mut().zip(sum) {
                *x += s;
            }
        }
    }
}

/// The worst ratio, over the elements of `C += op(A)·op(B)` for seeded random operands in
/// [−1, 1) (`ta`/`tb`: A/B read transposed), of [`sgemm_add`]'s error against the product in
/// f64 to the f32 rounding bound of a sum of k products, `(k + 1)·ε/2·Σ|terms|`: at most 1
/// when every element is within float rounding. What the native tests and the Chromium test
/// of the SIMD form (tests/web.rs) assert.
fn error_over_rounding_bound(m: usize, k: usize, n: usize, ta: bool, tb: bool, seed: u64) -> f64 {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut draw =
        |len: usize| -> Vec<f32> { (0..len).map(|_| rng.random_range(-1.0..1.0)).collect() };
    let (a, b, c0) = (draw(m * k), draw(k * n), draw(m * n));
    let (ar, ac) = if ta { (1, m) } else { (k, 1) };
    let (br, bc) = if tb { (1, k) } else { (n, 1) };
    let mut c = c0.clone();
    let strided = |data, rows, cols| Strided {
        data,
        offset: 0,
        rows,
        cols,
    };
    sgemm_add(m, k, n, strided(&a, ar, ac), strided(&b, br, bc), &mut c);
    let mut worst = 0f64;
    for i in 0..m {
        for j in 0..n {
            let (mut exact, mut size) = (c0[i * n + j] as f64, c0[i * n + j].abs() as f64);
            for p in 0..k {
                let x = a[i * ar + p * ac] as f64 * b[p * br + j * bc] as f64;
                exact += x;
                size += x.abs();
            }
            let bound = (k + 1) as f64 * f32::EPSILON as f64 / 2.0 * size;
            worst = worst.max((c[i * n + j] as f64 - exact).abs() / bound);
        }
    }
    worst
}

/// Shapes around the tile (4 × 8) and block (256) sizes, with edges in m, n and k.
const TEST_SHAPES: [(usize, usize, usize); 8] = [
    (1, 1, 1),
    (3, 5, 7),
    (4, 8, 8),
    (5, 9, 17),
    (13, 256, 9),
    (9, 257, 16),
    (33, 600, 21),
    (64, 128, 128),
];

/// Panics unless [`sgemm_add`] is within float rounding of the f64 product
/// (`error_over_rounding_bound` ≤ 1) at every shape of `TEST_SHAPES` and every
/// transposition: the native test of the portable form and the Chromium test of the SIMD
/// form (tests/web.rs) both run this.
#[doc(hidden)]
pub fn assert_within_rounding_at_test_shapes() {
    for (seed, &(m, k, n)) in TEST_SHAPES.iter().enumerate() {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let r = error_over_rounding_bound(m, k, n, ta, tb, seed as u64);
            assert!(
                r <= 1.0,
                "m {m} k {k} n {n} ta {ta} tb {tb}: error {r} x the rounding bound"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{assert_within_rounding_at_test_shapes, sgemm_add, Strided};

    /// Against the product in f64, for every transposition and shapes around the tile and
    /// block sizes: each element within float rounding.
    #[test]
    fn it_is_the_product_within_rounding() {
        assert_within_rounding_at_test_shapes();
    }

    /// An operand at an offset inside a larger buffer (the threaded rows of C read A from
    /// their first row on).
    #[test]
    fn an_offset_operand_reads_its_own_rows() {
        let (m, k, n) = (3, 4, 5);
        let a: Vec<f32> = (0..(m + 2) * k).map(|x| x as f32).collect();
        let b: Vec<f32> = (0..k * n).map(|x| (x % 7) as f32).collect();
        let mut c = vec![0f32; m * n];
        sgemm_add(
            m,
            k,
            n,
            Strided {
                data: &a,
                offset: 2 * k,
                rows: k,
                cols: 1,
            },
            Strided {
                data: &b,
                offset: 0,
                rows: n,
                cols: 1,
            },
            &mut c,
        );
        for i in 0..m {
            for j in 0..n {
                let want: f32 = (0..k).map(|p| a[(i + 2) * k + p] * b[p * n + j]).sum();
                assert_eq!(c[i * n + j], want);
            }
        }
    }

    #[test]
    #[should_panic(expected = "sgemm: A out of bounds")]
    fn a_short_operand_is_refused() {
        let mut c = vec![0f32; 4];
        let a = [0f32; 3];
        let b = [0f32; 4];
        sgemm_add(
            2,
            2,
            2,
            Strided {
                data: &a,
                offset: 0,
                rows: 2,
                cols: 1,
            },
            Strided {
                data: &b,
                offset: 0,
                rows: 2,
                cols: 1,
            },
            &mut c,
        );
    }
}
