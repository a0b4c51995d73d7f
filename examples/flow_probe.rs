//! Along the probability-flow ODE dx/dt = −½g(t)² s(x, t) from one data row at t = ε:
//! where does log p_ε pick up its divergence integral ∫ ½g² ∇·s dt? Heun steps uniform in
//! ln t; ∇·s by a finite-difference Hutchinson estimate with 8 Rademacher probes.
//! Prints per decade of t: the accumulated −∫½g²∇·s, Σz²/2 and max|z| of z = −σ s.
//! The raw network by default; with `CLIP=1` its denoiser is kept in [0, 1] by the library's
//! `DenoiserClip` (what `sample` and `likelihood` do for image models).
//! `cargo run --release --example flow_probe MODEL ROWS.npy ROW EPS`
use scorelab::model::clip::DenoiserClip;
use scorelab::model::ScoreModel;
fn main() {
    type B = burn::backend::NdArray<f32>;
    let a: Vec<String> = std::env::args().collect();
    let f = scorelab::weights::parse(&std::fs::read(&a[1]).unwrap(), &a[1]).unwrap();
    let dev = Default::default();
    let mut m = scorelab::weights::load_score::<B>(&f, "w", &dev).unwrap();
    m.clip = std::env::var("CLIP").ok().map(|_| DenoiserClip::PIXELS);
    let sde = f.manifest.sde;
    let x = scorelab::npy::read_matrix(&a[2], Some(784)).unwrap();
    let r: usize = a[3].parse().unwrap();
    let eps: f64 = a[4].parse().unwrap();
    let mut xr = x.data[r * 784..(r + 1) * 784].to_vec();
    let score = |v: &[f64], t: f64| -> Vec<f64> {
        let s = m.score(
            scorelab::tensor::host_tensor::<B, 2>(v.to_vec(), [v.len() / 784, 784], &dev),
            t,
        );
        pollster::block_on(scorelab::tensor::read_f64(s)).unwrap()
    };
    let probes: Vec<Vec<f64>> = (0..8u64)
        .map(|k| {
            (0..784u64)
                .map(|i| {
                    if (i * 2654435761 + k * 40503 + i * i * k) % 7 < 4 {
                        1.0
                    } else {
                        -1.0
                    }
                })
                .collect()
        })
        .collect();
    let div = |v: &[f64], t: f64| -> f64 {
        let h = 0.05 * sde.std(t);
        let mut xs = Vec::new();
        for p in &probes {
            for sgn in [1.0, -1.0] {
                xs.extend(v.iter().zip(p).map(|(a, b)| a + sgn * h * b));
            }
        }
        let s = score(&xs, t);
        let mut tot = 0.0;
        for (k, p) in probes.iter().enumerate() {
            let (sp, sm) = (
                &s[(2 * k) * 784..(2 * k + 1) * 784],
                &s[(2 * k + 1) * 784..(2 * k + 2) * 784],
            );
            tot += (0..784)
                .map(|i| p[i] * (sp[i] - sm[i]) / (2.0 * h))
                .sum::<f64>();
        }
        tot / probes.len() as f64
    };
    let n_per_decade = 20;
    let (l0, l1) = (eps.ln(), 1.0f64.ln());
    let n = ((l1 - l0) / std::f64::consts::LN_10 * n_per_decade as f64).ceil() as usize;
    let mut acc = 0.0;
    let drift = |v: &[f64], t: f64| -> Vec<f64> {
        let g2 = sde.diffusion(t).powi(2);
        score(v, t).iter().map(|s| -0.5 * g2 * s).collect()
    };
    for k in 0..n {
        let t0 = (l0 + (l1 - l0) * k as f64 / n as f64).exp();
        let t1 = (l0 + (l1 - l0) * (k + 1) as f64 / n as f64).exp();
        let dt = t1 - t0;
        let f0 = drift(&xr, t0);
        let xp: Vec<f64> = xr.iter().zip(&f0).map(|(x, f)| x + dt * f).collect();
        let f1 = drift(&xp, t1);
        let d0 = 0.5 * sde.diffusion(t0).powi(2) * div(&xr, t0);
        let d1 = 0.5 * sde.diffusion(t1).powi(2) * div(&xp, t1);
        xr = xr
            .iter()
            .zip(f0.iter().zip(&f1))
            .map(|(x, (a, b))| x + 0.5 * dt * (a + b))
            .collect();
        acc -= 0.5 * dt * (d0 + d1);
        if k % (n_per_decade / 4) == 0 || k == n - 1 {
            let sig = sde.std(t1);
            let z: Vec<f64> = score(&xr, t1).iter().map(|s| -s * sig).collect();
            let zmax = z.iter().fold(0.0f64, |m, z| m.max(z.abs()));
            let mut idx: Vec<usize> = (0..784).collect();
            idx.sort_by(|&i, &j| z[j].abs().partial_cmp(&z[i].abs()).unwrap());
            let top: Vec<String> = idx[..3]
                .iter()
                .map(|&i| format!("({},{}) x={:.3} z={:.1}", i / 28, i % 28, xr[i], z[i]))
                .collect();
            println!("    {}", top.join("  "));
            println!(
                "t={t1:.2e} σ={sig:.2e}  −∫½g²div={acc:.0}  σ²div={:.0} Σz²/2={:.0} max|z|={zmax:.1}",
                d1 * 2.0 * sig * sig / sde.diffusion(t1).powi(2),
                z.iter().map(|z| z * z / 2.0).sum::<f64>()
            );
        }
    }
    let sq: f64 = xr.iter().map(|v| v * v).sum();
    let lp1 = sde.prior_log_prob(sq, 784);
    println!(
        "log p_1(x_1)={lp1:.0}  log p_eps={:.0}  bpd={:.3}",
        lp1 + acc,
        -(lp1 + acc) / (784.0 * 2f64.ln()) + 8.0
    );
}
