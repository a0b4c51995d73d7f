//! Marginal mean and std of each SDE against a Monte-Carlo simulation of the forward SDE
//! (Euler–Maruyama, fine steps): `x(t) | x(0) ~ N(m(t) x(0), v(t))`.

use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use scorelab::sde::Sde;

#[test]
fn marginals_match_a_simulation_of_the_forward_sde() {
    let paths = 40_000usize;
    let steps = 4000usize;
    let x0 = 2.0f64;
    for name in ["ve", "ve-notebook", "vp", "subvp", "linear"] {
        let sde = Sde::from_name(name).unwrap();
        // the linear path's drift −1/(1 − t) is infinite at t = 1
        let checkpoints = [0.1, 0.5, if name == "linear" { 0.99 } else { 1.0 }];
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut x = vec![x0; paths];
        let dt = 1.0 / steps as f64;
        let mut next = 0;
        for k in 0..steps {
            let t = k as f64 * dt;
            let (a, g) = (sde.drift_coef(t), sde.diffusion(t));
            for xi in x.iter_mut() {
                let z: f64 = StandardNormal.sample(&mut rng);
                *xi += a * *xi * dt + g * dt.sqrt() * z;
            }
            let t_new = (k + 1) as f64 * dt;
            if next < checkpoints.len() && (t_new - checkpoints[next]).abs() < 1e-9 {
                let mean = x.iter().sum::<f64>() / paths as f64;
                let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (paths - 1) as f64;
                let (m, s) = (sde.mean_scale(t_new) * x0, sde.std(t_new));
                // 5 Monte-Carlo standard errors plus 1% for the Euler–Maruyama bias.
                let se_mean = s / (paths as f64).sqrt();
                let se_std = s / (2.0 * paths as f64).sqrt();
                assert!(
                    (mean - m).abs() < 5.0 * se_mean + 0.01 * s,
                    "{name} t={t_new}: mean {mean} vs {m}"
                );
                assert!(
                    (var.sqrt() - s).abs() < 5.0 * se_std + 0.01 * s,
                    "{name} t={t_new}: std {} vs {s}",
                    var.sqrt()
                );
                next += 1;
            }
        }
        assert_eq!(next, checkpoints.len());
    }
}
