//! Inpainting (Song et al. 2021, App. I.2: the PC sampler with the known coordinates replaced
//! by forward-noised data after every step) against the oracle. For the two-modes mixture
//! (means (−5,−5) and (5,5), unit covariance), fixing x₁ = ±5 leaves the other component a
//! responsibility of e⁻⁵⁰, so p(x₂ | x₁) is N(±5, 1): the opposite of what the 0.8/0.2
//! weights alone would give for x₁ = 5.

use crate::common::*;
use scorelab::model::gmm::ExactGmm;
use scorelab::model::presets::preset;
use scorelab::sample::Sampler;
use scorelab::sde::Sde;
use scorelab::tensor::read_f64;

#[test]
fn pc_inpainting_samples_the_conditional() {
    let gmm = preset("two-modes").unwrap();
    let device = Default::default();
    let n = 2000;
    for sde in ["ve", "vp"] {
        let sde = Sde::from_name(sde).unwrap();
        let model = ExactGmm::<B>::new(gmm.clone(), sde, &device);
        for x1 in [5.0f32, -5.0] {
            let mut s = Sampler::<B>::new(
                &cfg(r#"{"kind":"pc","steps":500}"#),
                sde,
                n,
                2,
                3,
                true,
                &device,
            )
            .unwrap();
            s.inpaint(&[x1, 0.0], &[1.0, 0.0]).unwrap();
            pollster::block_on(s.run(&model, |_, _| {})).unwrap();
            let x = pollster::block_on(read_f64(s.particles())).unwrap();
            assert!(
                x.chunks(2).all(|r| r[0] == x1 as f64),
                "the known coordinate is y"
            );
            let x2: Vec<f64> = x.chunks(2).map(|r| r[1]).collect();
            let mean = x2.iter().sum::<f64>() / n as f64;
            let sd = (x2.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
            let right = x2
                .iter()
                .filter(|v| v.signum() == x1.signum() as f64)
                .count();
            // exact: mean ±5 with standard error 1/√n = 0.022, sd 1 with standard error 0.016;
            // the bounds allow ~7 standard errors for the sampler's discretisation.
            assert!(
                right as f64 >= 0.99 * n as f64,
                "{}: {right} of {n} in the conditioned mode",
                sde.name()
            );
            assert!(
                (mean - x1 as f64).abs() < 0.15,
                "{}: E[x2 | x1 = {x1}] = {mean}",
                sde.name()
            );
            assert!(
                (sd - 1.0).abs() < 0.12,
                "{}: sd(x2 | x1) = {sd}",
                sde.name()
            );
        }
    }
}

#[test]
fn inpainting_is_refused_where_it_does_not_apply() {
    let sde = Sde::from_name("vp").unwrap();
    let device = Default::default();
    let mut ode =
        Sampler::<B>::new(&cfg(r#"{"kind":"ode"}"#), sde, 10, 2, 0, false, &device).unwrap();
    let e = ode
        .inpaint(&[1.0, 0.0], &[1.0, 0.0])
        .unwrap_err()
        .to_string();
    assert!(e.contains("accepted: em, pc"), "{e}");
    let mut pc =
        Sampler::<B>::new(&cfg(r#"{"kind":"pc"}"#), sde, 10, 2, 0, false, &device).unwrap();
    let e = pc
        .inpaint(&[1.0, 0.0], &[0.5, 0.0])
        .unwrap_err()
        .to_string();
    assert!(e.contains("0 or 1"), "{e}");
    let e = pc
        .inpaint(&[1.0, 0.0, 2.0], &[1.0, 0.0, 1.0])
        .unwrap_err()
        .to_string();
    assert!(e.contains("accepted: 2"), "{e}");
    let model = ExactGmm::<B>::new(preset("ring8").unwrap(), sde, &device);
    pollster::block_on(pc.step(&model)).unwrap();
    let e = pc
        .inpaint(&[1.0, 0.0], &[1.0, 0.0])
        .unwrap_err()
        .to_string();
    assert!(e.contains("before the first step"), "{e}");
}
