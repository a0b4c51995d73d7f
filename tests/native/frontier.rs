//! The NFE–quality frontier (`scorelab::app::frontier`, `scorelab frontier`): with the exact
//! score, a second-order solver beats Euler–Maruyama at a small budget, and the best sampler
//! at 100 evaluations is indistinguishable from exact samples (inside the band).

use crate::cli::scorelab;
use crate::common::B64;
use scorelab::app::frontier::{contender, run_point, Frontier, Yardstick, CONTENDERS};
use scorelab::model::presets::preset;
use scorelab::sde::Sde;

#[test]
fn dpm_solver_beats_euler_maruyama_at_20_and_the_best_at_100_is_in_the_band() {
    let device = Default::default();
    let sde = Sde::from_name("vp").unwrap();
    for name in ["ring8", "anisotropic3", "grid25"] {
        let gmm = preset(name).unwrap();
        let yardstick = Yardstick::new(&gmm, &sde, 5000, 0).unwrap();
        // At 20 NFE a single run's distance is mostly its own sampling noise (the band's
        // spread); the mean over 8 seeds of 5000 particles resolves the samplers' bias.
        let mean_sw = |label: &str| {
            let c = contender(label).unwrap();
            let runs: Vec<f64> = (1..=8)
                .map(|seed| {
                    let p = run_point::<B64>(&gmm, sde, &yardstick, seed, c, 20, &device);
                    pollster::block_on(p).unwrap().sw
                })
                .collect();
            runs.iter().sum::<f64>() / runs.len() as f64
        };
        let (dpm, em) = (mean_sw("dpmpp-2m"), mean_sw("em"));
        assert!(
            dpm < em,
            "{name}: DPM-Solver++(2M) {dpm:.4} vs Euler–Maruyama {em:.4} at 20 NFE"
        );
        // the whole frontier at n = 2000
        let mut f = Frontier::new(gmm, sde, 2000, &[20, 100], 7).unwrap();
        // every contender runs under VP, each at both budgets
        assert_eq!(f.progress().1, 2 * CONTENDERS.len());
        pollster::block_on(f.run::<B64>(&device)).unwrap();
        let best = f.best_at(100).unwrap();
        assert!(
            best.sw <= f.band.sw_q99 && best.weight_error <= f.band.weight_error_q99,
            "{name}: best at 100 NFE ({}) sw {:.4} / weights {:.4} outside the band {:?}",
            best.sampler,
            best.sw,
            best.weight_error,
            f.band
        );
        for p in &f.points {
            assert!(p.nfe <= p.budget, "{p:?} over budget");
        }
    }
}

#[test]
fn ancestral_sampling_is_left_out_where_it_is_undefined() {
    let gmm = preset("ring8").unwrap();
    let f = Frontier::new(gmm, Sde::from_name("subvp").unwrap(), 100, &[10], 0).unwrap();
    assert_eq!(f.progress().1, CONTENDERS.len() - 1);
    assert!(f.plan.iter().all(|(c, _)| c.label != "ancestral"));
}

#[test]
fn the_cli_writes_the_csv_the_table_and_the_chart() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, png) = (dir.path().join("f.csv"), dir.path().join("f.png"));
    let (ok, out, err) = scorelab(&[
        "frontier",
        "--model",
        "two-modes",
        "--n",
        "200",
        "--budgets",
        "10,50",
        "--out",
        csv.to_str().unwrap(),
        "--png",
        png.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(
        out.contains("dpmpp-2m") && out.contains("band (exact vs exact, n = 200)"),
        "{out}"
    );
    let text = std::fs::read_to_string(&csv).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("preset,sde,sampler,budget,nfe,steps,sliced_w2"));
    assert_eq!(lines.len(), 1 + 2 * CONTENDERS.len());
    assert!(lines[1..].iter().all(|l| l.starts_with("two-modes,vp,")));
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    // bad input: one line naming the flag
    for (args, needle) in [
        (vec!["--budgets", "0"], "invalid --budgets"),
        (vec!["--n", "3"], "invalid --n"),
        (vec!["--png", "f.jpg"], "invalid --png: must end in .png"),
        (vec!["--sde", "vq"], "ve, ve-notebook, vp, subvp"),
    ] {
        let o = dir.path().join("never.csv");
        let mut a = vec!["frontier", "--model", "ring8", "--out", o.to_str().unwrap()];
        a.extend(args);
        let (ok, _, err) = scorelab(&a);
        assert!(
            !ok && err.trim().lines().count() == 1 && err.contains(needle),
            "{a:?}: {err}"
        );
        assert!(!o.exists());
    }
}
