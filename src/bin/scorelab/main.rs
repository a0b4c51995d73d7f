//! `scorelab`: the native CLI. On wasm32 (where only the library is used, through
//! `src/web/`) the binary is an empty shell so that `cargo test --target wasm32-unknown-unknown`
//! can build the crate.

#[cfg(not(target_arch = "wasm32"))]
mod args;
#[cfg(not(target_arch = "wasm32"))]
mod chart;
#[cfg(not(target_arch = "wasm32"))]
mod classify;
#[cfg(not(target_arch = "wasm32"))]
mod cli;
#[cfg(not(target_arch = "wasm32"))]
mod frontier;
#[cfg(not(target_arch = "wasm32"))]
mod png;
#[cfg(not(target_arch = "wasm32"))]
mod train;

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    // Rust ignores SIGPIPE, so `scorelab info FILE | head` would panic in println! once
    // `head` exits; restore the default (end quietly, as other command-line tools do).
    // Checkpoints are written to a temp file and renamed, so a training run ended this way
    // loses nothing written.
    #[cfg(unix)]
    // SAFETY: set once at start-up, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    scorelab::alloc::keep_freed_memory();
    cli::main()
}

#[cfg(target_arch = "wasm32")]
fn main() {}
