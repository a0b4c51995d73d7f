//! 2-D toy data sets, generated on the host from a seed (the shapes and scales of FFJORD's
//! `toy_data.py`, Grathwohl et al. 2019, which most score-matching demos reuse).

use crate::error::{Error, Result};
use crate::rng::Noise;
use rand::Rng;
use std::f64::consts::PI;

/// (name, description)
pub const TOY_SETS: &[(&str, &str)] = &[
    ("swiss-roll", "a 2-D swiss roll"),
    ("moons", "two interleaving half circles"),
    (
        "eight-gaussians",
        "eight Gaussians on a circle of radius 2.8, std 0.35",
    ),
    ("checkerboard", "a 4x4 checkerboard of uniform squares"),
    ("rings", "four concentric rings"),
    ("pinwheel", "five curved arms"),
    ("spirals", "two interleaved spirals"),
];

pub fn toy_names() -> String {
    TOY_SETS.iter().map(|t| t.0).collect::<Vec<_>>().join(", ")
}

/// `n` points of the named set, row-major `[n, 2]`.
pub fn toy(name: &str, n: usize, seed: u64) -> Result<Vec<f64>> {
    let mut noise = Noise::new(seed);
    let mut out = Vec::with_capacity(2 * n);
    match name {
        "swiss-roll" => {
            for _ in 0..n {
                let u: f64 = noise.rng().random();
                let t = 1.5 * PI * (1.0 + 2.0 * u);
                let z = noise.normal_vec(2);
                out.push((t * t.cos() + z[0]) / 5.0);
                out.push((t * t.sin() + z[1]) / 5.0);
            }
        }
        "moons" => {
            for i in 0..n {
                let u: f64 = noise.rng().random::<f64>() * PI;
                let z = noise.normal_vec(2);
                let (x, y) = if i % 2 == 0 {
                    (u.cos(), u.sin())
                } else {
                    (1.0 - u.cos(), 1.0 - u.sin() - 0.5)
                };
                out.push((x + 0.1 * z[0]) * 2.0 - 1.0);
                out.push((y + 0.1 * z[1]) * 2.0 - 0.5);
            }
        }
        "eight-gaussians" => {
            let s = 1.0 / 2f64.sqrt();
            let centers = [
                (1.0, 0.0),
                (-1.0, 0.0),
                (0.0, 1.0),
                (0.0, -1.0),
                (s, s),
                (s, -s),
                (-s, s),
                (-s, -s),
            ];
            for _ in 0..n {
                let c = centers[noise.rng().random_range(0..8)];
                let z = noise.normal_vec(2);
                out.push((4.0 * c.0 + 0.5 * z[0]) / 1.414);
                out.push((4.0 * c.1 + 0.5 * z[1]) / 1.414);
            }
        }
        "checkerboard" => {
            for _ in 0..n {
                let x1: f64 = noise.rng().random::<f64>() * 4.0 - 2.0;
                let k = noise.rng().random_range(0..2) as f64 * 2.0;
                let x2 = noise.rng().random::<f64>() - k + (x1.floor() as i64).rem_euclid(2) as f64;
                out.push(x1 * 2.0);
                out.push(x2 * 2.0);
            }
        }
        "rings" => {
            for i in 0..n {
                let r = [1.0, 0.75, 0.5, 0.25][i % 4];
                let a: f64 = noise.rng().random::<f64>() * 2.0 * PI;
                let z = noise.normal_vec(2);
                out.push((r * a.cos() + 0.08 * z[0]) * 3.0);
                out.push((r * a.sin() + 0.08 * z[1]) * 3.0);
            }
        }
        "pinwheel" => {
            let (radial, tangential, classes, rate) = (0.3, 0.1, 5, 0.25);
            for _ in 0..n {
                let z = noise.normal_vec(2);
                let c = noise.rng().random_range(0..classes) as f64;
                let (fx, fy) = (z[0] * radial + 1.0, z[1] * tangential);
                let angle = c * 2.0 * PI / classes as f64 + rate * fx.exp();
                let (x, y) = (
                    fx * angle.cos() - fy * angle.sin(),
                    fx * angle.sin() + fy * angle.cos(),
                );
                out.push(2.0 * x);
                out.push(2.0 * y);
            }
        }
        "spirals" => {
            for i in 0..n {
                let u: f64 = noise.rng().random();
                let r = u.sqrt() * 540.0 * (2.0 * PI) / 360.0;
                let z = noise.normal_vec(2);
                let sign = if i % 2 == 0 { 1.0 } else { -1.0 };
                out.push((sign * -r.cos() * r + z[0] * 0.5) / 3.0);
                out.push((sign * r.sin() * r + z[1] * 0.5) / 3.0);
            }
        }
        other => {
            return Err(Error::invalid(
                "data",
                format!("unknown data set '{other}'; accepted: {}", toy_names()),
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_toy_set_is_finite_and_on_the_page() {
        for (name, _) in super::TOY_SETS {
            let x = super::toy(name, 2000, 1).unwrap();
            assert_eq!(x.len(), 4000);
            assert!(x.iter().all(|v| v.is_finite() && v.abs() < 10.0), "{name}");
            let spread = x.iter().map(|v| v * v).sum::<f64>() / 2000.0;
            assert!(spread > 0.5, "{name}: mean squared norm {spread}");
        }
        assert!(super::toy("blobs", 1, 0)
            .unwrap_err()
            .to_string()
            .contains("swiss-roll"));
    }
}
