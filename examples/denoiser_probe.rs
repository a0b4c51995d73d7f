//! Where a trained image model's small-σ density goes wrong: for each row of an `.npy`
//! (dequantised pixels in [0, 1)) and each t, the denoiser D(x) = x + σ(t)² s(x, t)
//! (Tweedie) and the standardised residual z = (x − D)/σ per pixel. A model whose p_t
//! is right near x has |z| of order 1 in every pixel; a pixel at |z| ≫ 1 is one the
//! model puts far from where it is, and it costs about z²/2 nats in log p_t.
//! The raw network (the denoiser clip of `sample`/`likelihood` off).
//! `cargo run --release --example denoiser_probe MODEL ROWS.npy [ROW...]`
use scorelab::model::ScoreModel;
fn main() {
    type B = burn::backend::NdArray<f32>;
    let a: Vec<String> = std::env::args().collect();
    let f = scorelab::weights::parse(&std::fs::read(&a[1]).unwrap(), &a[1]).unwrap();
    let d = Default::default();
    let mut m = scorelab::weights::load_score::<B>(&f, "w", &d).unwrap();
    m.clip = None;
    let x = scorelab::npy::read_matrix(&a[2], Some(784)).unwrap();
    let rows: Vec<usize> = if a.len() > 3 {
        a[3..].iter().map(|s| s.parse().unwrap()).collect()
    } else {
        (0..x.shape[0]).collect()
    };
    for r in rows {
        let xr = x.data[r * 784..(r + 1) * 784].to_vec();
        for t in [1e-7, 1e-6, 3e-6, 1e-5, 1e-4] {
            let sigma = f.manifest.sde.std(t);
            let s = m.score(
                scorelab::tensor::host_tensor::<B, 2>(xr.clone(), [1, 784], &d),
                t,
            );
            let s = pollster::block_on(scorelab::tensor::read_f64(s)).unwrap();
            let z: Vec<f64> = s.iter().map(|s| -s * sigma).collect();
            let half_z2: f64 = z.iter().map(|z| z * z / 2.0).sum();
            let big = z.iter().filter(|z| z.abs() > 4.0).count();
            let top = top_pixels(&z, &xr, 5, "z", f64::abs);
            // σ² ∂s_i/∂x_i by central differences (h = σ/10), all 784 pixels in one batch.
            let h = 0.1 * sigma;
            let mut xs = Vec::with_capacity(2 * 784 * 784);
            for sign in [1.0, -1.0] {
                for i in 0..784 {
                    let mut v = xr.clone();
                    v[i] += sign * h;
                    xs.extend(v);
                }
            }
            let sp = m.score(
                scorelab::tensor::host_tensor::<B, 2>(xs, [2 * 784, 784], &d),
                t,
            );
            let sp = pollster::block_on(scorelab::tensor::read_f64(sp)).unwrap();
            let jd: Vec<f64> = (0..784)
                .map(|i| sigma * sigma * (sp[i * 784 + i] - sp[(784 + i) * 784 + i]) / (2.0 * h))
                .collect();
            let jtop = top_pixels(&jd, &xr, 4, "J", |v| v);
            println!(
                "   σ²div={:.1} min={:.2} max: {}",
                jd.iter().sum::<f64>(),
                jd.iter().cloned().fold(f64::INFINITY, f64::min),
                jtop.join("  ")
            );
            println!(
                "row {r} t={t:e} σ={sigma:.2e} Σz²/2={half_z2:.0} |z|>4: {big}  {}",
                top.join("  ")
            );
        }
    }
}

/// The `k` pixels with the largest `key(v)`, as "px(row,col) x=… name=…".
fn top_pixels(v: &[f64], x: &[f64], k: usize, name: &str, key: fn(f64) -> f64) -> Vec<String> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&i, &j| key(v[j]).partial_cmp(&key(v[i])).unwrap());
    idx[..k]
        .iter()
        .map(|&i| {
            format!(
                "px{i}({},{}) x={:.4} {name}={:.1}",
                i / 28,
                i % 28,
                x[i],
                v[i]
            )
        })
        .collect()
}
