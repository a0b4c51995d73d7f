//! `scorelab`: the native CLI. On wasm32 (where only the library is used, through
//! `src/web/`) the binary is an empty shell so that `cargo test --target wasm32-unknown-unknown`
//! can build the crate.

#[cfg(not(target_arch = "wasm32"))]
mod cli;
#[cfg(not(target_arch = "wasm32"))]
mod png;
#[cfg(not(target_arch = "wasm32"))]
mod train;

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    cli::main()
}

#[cfg(target_arch = "wasm32")]
fn main() {}
