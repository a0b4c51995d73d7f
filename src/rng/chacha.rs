//! ChaCha8 (Bernstein 2008, eight rounds) computing four 64-byte blocks at once, one block
//! per lane of `[u32; 4]` words: the same stream as `rand_chacha::ChaCha8Rng` for the same
//! seed, word for word (`tests::the_stream_is_rand_chachas`), in a form the compiler turns
//! into 128-bit SIMD everywhere. `rand_chacha` has SIMD only for x86 (through `ppv-lite86`)
//! and runs scalar in the page's wasm, where drawing the sampler's noise was 15 % of a toy
//! sampling step (measured with V8's profiler, benches/HISTORY.md).
//!
//! The state is the usual sixteen words: the constant "expand 32-byte k", the 256-bit key,
//! a 64-bit block counter and a 64-bit stream number (0), as `rand_chacha` lays it out; the
//! four lanes hold blocks `pos..pos + 4`, written out one after the other, as its
//! four-block buffer is.

use rand::rand_core::block::{BlockRng, BlockRngCore};
use rand::rand_core::SeedableRng;

/// The generator: [`ChaCha8x4`]'s blocks served as `u32`/`u64` values by `rand_core`'s
/// buffer, as `ChaCha8Rng` serves its own.
pub type ChaCha8 = BlockRng<ChaCha8x4>;

/// ChaCha8's block function, four blocks per call.
#[derive(Clone, Debug)]
pub struct ChaCha8x4 {
    key: [u32; 8],
    /// The first block of the next call.
    pos: u64,
    stream: u64,
}

/// Four blocks of output (64 words).
#[derive(Clone, Debug)]
pub struct Blocks([u32; 64]);

impl Default for Blocks {
    fn default() -> Self {
        Blocks([0; 64])
    }
}

impl AsRef<[u32]> for Blocks {
    fn as_ref(&self) -> &[u32] {
        &self.0
    }
}

impl AsMut<[u32]> for Blocks {
    fn as_mut(&mut self) -> &mut [u32] {
        &mut self.0
    }
}

/// One state word across the four blocks: a `v128` with wasm SIMD (the page's modules), four
/// words elsewhere (which native compilers vectorise themselves; LLVM left the portable form
/// scalar in wasm, measured).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod lanes {
    use core::arch::wasm32::*;
    pub type Lanes = v128;

    #[inline(always)]
    pub fn from(w: [u32; 4]) -> Lanes {
        u32x4(w[0], w[1], w[2], w[3])
    }

    #[inline(always)]
    pub fn to(a: Lanes) -> [u32; 4] {
        [
            u32x4_extract_lane::<0>(a),
            u32x4_extract_lane::<1>(a),
            u32x4_extract_lane::<2>(a),
            u32x4_extract_lane::<3>(a),
        ]
    }

    #[inline(always)]
    pub fn add(a: Lanes, b: Lanes) -> Lanes {
        i32x4_add(a, b)
    }

    #[inline(always)]
    pub fn xor_rotate(a: Lanes, b: Lanes, n: u32) -> Lanes {
        let x = v128_xor(a, b);
        v128_or(i32x4_shl(x, n), u32x4_shr(x, 32 - n))
    }
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod lanes {
    pub type Lanes = [u32; 4];

    #[inline(always)]
    pub fn from(w: [u32; 4]) -> Lanes {
        w
    }

    #[inline(always)]
    pub fn to(a: Lanes) -> [u32; 4] {
        a
    }

    #[inline(always)]
    pub fn add(a: Lanes, b: Lanes) -> Lanes {
        std::array::from_fn(|l| a[l].wrapping_add(b[l]))
    }

    #[inline(always)]
    pub fn xor_rotate(a: Lanes, b: Lanes, n: u32) -> Lanes {
        std::array::from_fn(|l| (a[l] ^ b[l]).rotate_left(n))
    }
}

use lanes::{add, xor_rotate, Lanes};

/// ChaCha's quarter round on words `a, b, c, d` of every lane.
#[inline(always)]
fn quarter_round(x: &mut [Lanes; 16], a: usize, b: usize, c: usize, d: usize) {
    x[a] = add(x[a], x[b]);
    x[d] = xor_rotate(x[d], x[a], 16);
    x[c] = add(x[c], x[d]);
    x[b] = xor_rotate(x[b], x[c], 12);
    x[a] = add(x[a], x[b]);
    x[d] = xor_rotate(x[d], x[a], 8);
    x[c] = add(x[c], x[d]);
    x[b] = xor_rotate(x[b], x[c], 7);
}

impl BlockRngCore for ChaCha8x4 {
    type Item = u32;
    type Results = Blocks;

    fn generate(&mut self, out: &mut Blocks) {
        const SIGMA: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];
        let mut words = [[0u32; 4]; 16];
        for (i, w) in SIGMA.iter().enumerate() {
            words[i] = [*w; 4];
        }
        for (i, w) in self.key.iter().enumerate() {
            words[4 + i] = [*w; 4];
        }
        for l in 0..4 {
            let pos = self.pos.wrapping_add(l as u64);
            words[12][l] = pos as u32;
            words[13][l] = (pos >> 32) as u32;
        }
        words[14] = [self.stream as u32; 4];
        words[15] = [(self.stream >> 32) as u32; 4];
        let init: [Lanes; 16] = words.map(lanes::from);
        let mut x = init;
        for _ in 0..4 {
            // a column round, then a diagonal round: ChaCha8 is four of these double rounds
            quarter_round(&mut x, 0, 4, 8, 12);
            quarter_round(&mut x, 1, 5, 9, 13);
            quarter_round(&mut x, 2, 6, 10, 14);
            quarter_round(&mut x, 3, 7, 11, 15);
            quarter_round(&mut x, 0, 5, 10, 15);
            quarter_round(&mut x, 1, 6, 11, 12);
            quarter_round(&mut x, 2, 7, 8, 13);
            quarter_round(&mut x, 3, 4, 9, 14);
        }
        for (i, (w, w0)) in x.iter().zip(&init).enumerate() {
            let w = lanes::to(add(*w, *w0));
            for (l, v) in w.iter().enumerate() {
                out.0[16 * l + i] = *v;
            }
        }
        self.pos = self.pos.wrapping_add(4);
    }
}

impl SeedableRng for ChaCha8x4 {
    type Seed = [u8; 32];

    /// The seed is the key (little-endian words); block 0 of stream 0, as `ChaCha8Rng`.
    fn from_seed(seed: [u8; 32]) -> Self {
        ChaCha8x4 {
            key: std::array::from_fn(|i| {
                u32::from_le_bytes([
                    seed[4 * i],
                    seed[4 * i + 1],
                    seed[4 * i + 2],
                    seed[4 * i + 3],
                ])
            }),
            pos: 0,
            stream: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, RngCore};

    /// Word for word `rand_chacha`'s stream for seeds from `seed_from_u64` and `from_seed`,
    /// through `u32`, `u64` and byte draws that cross the four-block buffer unaligned.
    #[test]
    fn the_stream_is_rand_chachas() {
        for seed in [0u64, 1, 42, u64::MAX] {
            let mut want = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let mut got = ChaCha8::seed_from_u64(seed);
            for i in 0..3000 {
                match i % 5 {
                    0 | 3 => assert_eq!(got.next_u32(), want.next_u32(), "seed {seed}, draw {i}"),
                    1 => assert_eq!(got.next_u64(), want.next_u64(), "seed {seed}, draw {i}"),
                    2 => assert_eq!(got.random::<f64>(), want.random::<f64>()),
                    _ => {
                        let (mut a, mut b) = ([0u8; 13], [0u8; 13]);
                        got.fill_bytes(&mut a);
                        want.fill_bytes(&mut b);
                        assert_eq!(a, b, "seed {seed}, draw {i}");
                    }
                }
            }
        }
        let key: [u8; 32] = std::array::from_fn(|i| (i * 37 + 5) as u8);
        let mut want = rand_chacha::ChaCha8Rng::from_seed(key);
        let mut got = ChaCha8::from_seed(key);
        for _ in 0..200 {
            assert_eq!(got.next_u64(), want.next_u64());
        }
    }
}
