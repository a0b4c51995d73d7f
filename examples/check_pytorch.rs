//! Cross-check of the PyTorch name mapping: the score of a loaded weight file at a fixed
//! input, to compare with `python3 benches/pytorch_bench.py --save FILE` (which prints the
//! same numbers from PyTorch). `cargo run --release --example check_pytorch FILE`.
use scorelab::model::ScoreModel;
fn main() {
    type B = burn::backend::NdArray<f32>;
    let path = std::env::args().nth(1).unwrap();
    let f = scorelab::weights::parse(&std::fs::read(&path).unwrap(), &path).unwrap();
    let d = Default::default();
    let m = scorelab::weights::load_score::<B>(&f, "w", &d).unwrap();
    let x: Vec<f64> = (0..2 * 784)
        .map(|i| ((i * 37) % 101) as f64 / 101.0)
        .collect();
    let s = m.score(scorelab::tensor::host_tensor::<B, 2>(x, [2, 784], &d), 0.5);
    let v = pollster::block_on(scorelab::tensor::read_f64(s)).unwrap();
    println!("{:?} sum {}", &v[..4], v.iter().sum::<f64>());
}
