//! Fuzzing the parsers of everything a user hands the tool: weight files
//! (`weights::parse`), `.npy` (`npy::parse`), CSV (`data::csv::parse`), point files as the
//! page reads them (`app::data::points_file`), and the settings JSON (`Settings::from_json`,
//! the CLI's `--config`, the page's state and URL hash payload).
//!
//! A stable, dependency-free harness (its own test binary: it counts allocations with a
//! global allocator): each target starts from valid inputs and feeds the parser seeded
//! mutations of them (bit flips, byte replacements with boundary values, insertions,
//! deletions, splices with another seed, little-endian length fields set to extremes, text
//! tokens swapped). Every parse must return (an `Ok` or an `Err`), never panic, and never
//! ask for one allocation larger than `64 × input + 1 MiB`: a length field claiming
//! terabytes must be refused before anything is allocated.
//!
//! `make test` runs 20,000 inputs per target (seconds). A long run:
//! `FUZZ_ITERS=1000000 cargo test --release --test fuzz -- --nocapture` (each target's
//! count, max allocation and throughput are printed).

#![cfg(not(target_arch = "wasm32"))]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The largest single allocation since the last reset (all threads; the targets run one at
/// a time, see `one_at_a_time`).
static LARGEST: AtomicUsize = AtomicUsize::new(0);

struct Counting;

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        LARGEST.fetch_max(new, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// The allocation counter is global: one target at a time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A small seeded generator (xorshift64*), so a failure is reproducible from its seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const BOUNDARY: [u8; 10] = [0, 1, 0x7f, 0x80, 0xff, b'"', b'{', b'}', b',', b'9'];
const TOKENS: [&str; 14] = [
    "-1",
    "1e308",
    "NaN",
    "null",
    "[]",
    "{}",
    "\"\"",
    "18446744073709551615",
    "0",
    "true",
    ",",
    "\n",
    "\"shape\":[4294967296,4294967296]",
    "-0",
];

/// One mutation of `seeds[k]` (k random), a few edits deep.
fn mutate(seeds: &[Vec<u8>], rng: &mut Rng) -> Vec<u8> {
    let mut v = seeds[rng.below(seeds.len())].clone();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(8) {
            0 if !v.is_empty() => {
                let i = at.min(v.len() - 1);
                v[i] ^= 1 << rng.below(8);
            }
            1 if !v.is_empty() => {
                let i = at.min(v.len() - 1);
                v[i] = BOUNDARY[rng.below(BOUNDARY.len())];
            }
            2 => {
                let n = 1 + rng.below(16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                v.splice(at..at, bytes);
            }
            3 if !v.is_empty() => {
                let end = (at + 1 + rng.below(32)).min(v.len());
                v.drain(at.min(end)..end);
            }
            4 => {
                let other = &seeds[rng.below(seeds.len())];
                let from = rng.below(other.len());
                let to = (from + rng.below(64)).min(other.len());
                v.splice(at..at, other[from..to].iter().copied());
            }
            5 if v.len() >= 8 => {
                // a little-endian length field (the safetensors header, .npy's) at an extreme
                let i = rng.below(v.len() - 7);
                let x: u64 = [0, 1, u32::MAX as u64, u64::MAX, 1 << 40][rng.below(5)];
                v[i..i + 8].copy_from_slice(&x.to_le_bytes());
            }
            6 => {
                let t = TOKENS[rng.below(TOKENS.len())].as_bytes();
                v.splice(at..at, t.iter().copied());
            }
            _ => v.truncate(at),
        }
    }
    v
}

/// Feed `FUZZ_ITERS` mutations of the `seeds` (made under the lock, so no other target's
/// allocations are counted) to `parse`, which says whether it accepted the input. Panics
/// (failing the test) on a parser panic or an oversized allocation, naming the input.
fn fuzz(name: &str, seeds: impl FnOnce() -> Vec<Vec<u8>>, parse: impl Fn(&[u8]) -> bool) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let seeds = seeds();
    let iters: usize = std::env::var("FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    for s in &seeds {
        assert!(parse(s), "{name}: a seed input is refused");
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ name.len() as u64);
    let (mut accepted, mut largest) = (0usize, 0usize);
    let started = std::time::Instant::now();
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for i in 0..iters {
        let input = mutate(&seeds, &mut rng);
        LARGEST.store(0, Ordering::Relaxed);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| parse(&input)));
        let peak = LARGEST.load(Ordering::Relaxed);
        let limit = 64 * input.len() + (1 << 20);
        if r.is_err() || peak > limit {
            std::panic::set_hook(hook);
            let shown = String::from_utf8_lossy(&input[..input.len().min(300)]).into_owned();
            match r {
                Err(_) => panic!("{name}: input {i} ({} bytes) panicked: {shown:?}", input.len()),
                Ok(_) => panic!(
                    "{name}: input {i} ({} bytes) allocated {peak} bytes at once (limit {limit}): {shown:?}",
                    input.len()
                ),
            }
        }
        accepted += r.unwrap() as usize;
        largest = largest.max(peak);
    }
    std::panic::set_hook(hook);
    let secs = started.elapsed().as_secs_f64();
    println!(
        "fuzz {name}: {iters} inputs, {accepted} accepted, largest allocation {largest} bytes, {:.0} inputs/s",
        iters as f64 / secs.max(1e-9)
    );
}

fn npy_seed(shape: &[usize], descr: &str, values: &[u8]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut v = b"\x93NUMPY\x01\x00".to_vec();
    v.extend((header.len() as u16).to_le_bytes());
    v.extend(header.as_bytes());
    v.extend(values);
    v
}

fn npy_seeds() -> Vec<Vec<u8>> {
    let f32s: Vec<u8> = [0.5f32, -1.0, 2.0, 3.5, 1e-3, 7.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let f64s: Vec<u8> = [0.5f64, -1.0, 2.0, 3.5]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    vec![
        npy_seed(&[3, 2], "<f4", &f32s),
        npy_seed(&[2, 2], "<f8", &f64s),
        npy_seed(&[6], "<f4", &f32s),
    ]
}

#[test]
fn weight_files() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/models/toy/moons-ve.safetensors"
    );
    fuzz(
        "weights::parse",
        || vec![std::fs::read(path).unwrap()],
        |b| scorelab::weights::parse(b, "fuzz").is_ok(),
    );
}

#[test]
fn npy_files() {
    fuzz("npy::parse", npy_seeds, |b| {
        scorelab::npy::parse(b, "fuzz").is_ok()
    });
}

#[test]
fn csv_and_point_files() {
    let seeds = vec![
        b"x,y\n1,2\n3.5,-4\n# note\n5e-1;6\n".to_vec(),
        b"1 2 3\n4 5 6\n".to_vec(),
    ];
    fuzz(
        "data::csv::parse",
        || seeds.clone(),
        |b| std::str::from_utf8(b).is_ok_and(|t| scorelab::data::csv::parse(t, "fuzz").is_ok()),
    );
    let points = || {
        let mut p = seeds.clone();
        p.extend(npy_seeds().into_iter().take(2));
        p
    };
    fuzz("app::data::points_file", points, |b| {
        let name = if b.starts_with(b"\x93NUMPY") {
            "f.npy"
        } else {
            "f.csv"
        };
        scorelab::app::data::points_file(name, b, None).is_ok()
    });
}

#[test]
fn settings_json() {
    let seeds = || -> Vec<Vec<u8>> {
        [
        r#"{"model":"ring8","sde":{"kind":"vp","beta_min":0.1,"beta_max":20},"sampler":{"kind":"pc","steps":300,"snr":0.16},"n":2000,"seed":3}"#,
        r#"{"model":"mixture","mixture":{"weights":[0.3,0.7],"means":[[0,0],[2,2]],"covs":[[[1,0],[0,1]],[[0.5,0],[0,0.5]]]},"sampler":{"kind":"ode","solver":"rk45"}}"#,
        r#"{"model":"two-modes","weights":[0.8,0.2],"sampler":{"kind":"ald","levels":10},"denoise":true}"#,
    ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect()
    };
    fuzz("Settings::from_json", seeds, |b| {
        std::str::from_utf8(b).is_ok_and(|t| {
            scorelab::config::Settings::from_json(t).is_ok_and(|s| s.validate().is_ok())
        })
    });
}
