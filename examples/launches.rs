//! Kernel launches per training step and per sampler step (the dispatch budget of issue 19),
//! with the kernels they go to:
//!
//!   cargo run --release --features wgpu --example launches [-- --backend wgpu|cuda] [--top N]
//!       [--log FILE]
//!
//! Same workloads as `tests/dispatch.rs` (toy MLP at batch 256, the notebook U-Net at
//! batch 4; PC sampler steps of the EMA network). On this machine wgpu runs on lavapipe.

use burn::tensor::backend::AutodiffBackend;
use scorelab::dispatch::{count_workload, LaunchCounter};

fn report<B: AutodiffBackend>(counter: &LaunchCounter, top: usize) {
    let device = Default::default();
    for (unet, name) in [(false, "toy MLP"), (true, "U-Net")] {
        let c = pollster::block_on(count_workload::<B>(counter, unet, 4, &device)).expect("count");
        println!(
            "{name}: {:.1} launches per training step, {:.1} per sampler step",
            c.train_step, c.sampler_step
        );
        for ((from, to), what) in c.intervals.into_iter().zip(["training", "sampler"]) {
            println!("  {what} (4 steps), most launched:");
            for (k, n) in counter.breakdown(from, to).into_iter().take(top) {
                println!("    {n:6}  {k}");
            }
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |k: &str| {
        args.iter()
            .position(|a| a == k)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let top: usize = arg("--top")
        .map(|s| s.parse().expect("--top: a count"))
        .unwrap_or(15);
    let dir = std::env::temp_dir().join(format!("scorelab-launches-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    // `--log FILE` keeps the launch log (one line per launch, in order).
    let log = arg("--log").map_or_else(|| dir.join("launches.log"), Into::into);
    let counter = LaunchCounter::install(&log).expect("counter");
    match arg("--backend").as_deref().unwrap_or("wgpu") {
        #[cfg(feature = "wgpu")]
        "wgpu" => report::<burn::backend::Autodiff<burn::backend::Wgpu>>(&counter, top),
        #[cfg(feature = "cuda")]
        "cuda" => report::<burn::backend::Autodiff<burn::backend::Cuda>>(&counter, top),
        other => {
            eprintln!("error: invalid --backend: '{other}' (accepted: wgpu, cuda, as built)");
            std::process::exit(2);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
