//! Keep freed memory in the process (native builds on glibc).
//!
//! Why: a training or sampling step allocates and frees many tensors of 0.1-30 MB. glibc
//! serves blocks above its mmap threshold (128 KiB at start, raised dynamically) with
//! `mmap` and returns them with `munmap`, and trims the heap top above 128 KiB, so each
//! step's tensors land on fresh pages that the kernel must fault in and zero: in `perf` of
//! the U-Net step, page faults and `clear_page` took ~10 % and more of all samples. With
//! mmap threshold 32 MiB (glibc's maximum) and no trimming, freed blocks are reused: SiLU
//! forward + backward on a `[32, 32, 26, 26]` tensor went from 34 to 15 ms, on `[512, 128]`
//! from 5.2 to 2.5 ms (`GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:
//! glibc.malloc.trim_threshold=2147483647`, same binary, this 2-core machine). The cost: the
//! process keeps its peak heap until it exits, which suits a CLI run or a benchmark.
//!
//! The wasm build's memory never shrinks anyway; other platforms are left as they are.

/// Raise glibc's mmap threshold to 32 MiB and turn off heap trimming (see the module docs).
/// Call once at start-up, before worker threads exist. A no-op off glibc.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before other threads start.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}
