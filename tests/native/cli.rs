//! The CLI contract: outputs in the documented shapes, and one clear line with a non-zero
//! exit for every kind of bad input (no partial output file left behind).

use scorelab::npy;
use std::process::Command;

pub(crate) fn scorelab(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_scorelab"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn fails_with(args: &[&str], needle: &str) {
    let (ok, _, err) = scorelab(args);
    assert!(!ok, "{args:?} should fail");
    let line = err.trim_end();
    assert!(
        line.lines().count() == 1,
        "{args:?}: expected one line, got:\n{err}"
    );
    assert!(
        line.starts_with("error: ") && line.contains(needle),
        "{args:?}: {line}"
    );
}

#[test]
fn sample_then_likelihood_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("s.npy");
    let traj = dir.path().join("t.npy");
    let o = out.to_str().unwrap();
    let (ok, _, err) = scorelab(&[
        "sample",
        "--model",
        "ring8",
        "--sampler",
        "pc",
        "--steps",
        "100",
        "--n",
        "300",
        "--seed",
        "1",
        "--out",
        o,
        "--trajectory",
        traj.to_str().unwrap(),
        "--every",
        "25",
    ]);
    assert!(ok, "{err}");
    assert!(err.contains("NFE 200"), "{err}");
    let a = npy::parse(&std::fs::read(&out).unwrap(), "s").unwrap();
    assert_eq!(a.shape, vec![300, 2]);
    let t = npy::parse(&std::fs::read(&traj).unwrap(), "t").unwrap();
    assert_eq!(t.shape, vec![5, 300, 2]); // steps 0, 25, 50, 75, 100
                                          // same seed, same samples
    let out2 = dir.path().join("s2.npy");
    scorelab(&[
        "sample",
        "--model",
        "ring8",
        "--sampler",
        "pc",
        "--steps",
        "100",
        "--n",
        "300",
        "--seed",
        "1",
        "--out",
        out2.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&out2).unwrap());

    let lp = dir.path().join("lp.npy");
    let (ok, _, err) = scorelab(&[
        "likelihood",
        "--model",
        "ring8",
        "--data",
        o,
        "--out",
        lp.to_str().unwrap(),
        "--prior",
        "model",
    ]);
    assert!(ok, "{err}");
    let l = npy::parse(&std::fs::read(&lp).unwrap(), "lp").unwrap();
    assert_eq!(l.shape, vec![300]);
    assert!(l.data.iter().all(|v| v.is_finite() && *v < 0.0));
    // float64 input is accepted
    let x64 = dir.path().join("x64.npy");
    let mut bytes = npy::to_bytes(&[2, 2], &[0.0; 4]);
    let at = bytes.windows(3).position(|w| w == b"<f4").unwrap();
    bytes[at + 2] = b'8';
    bytes.truncate(bytes.len() - 16);
    bytes.extend([0u8; 32]);
    std::fs::write(&x64, bytes).unwrap();
    let (ok, _, err) = scorelab(&[
        "likelihood",
        "--model",
        "ring8",
        "--data",
        x64.to_str().unwrap(),
        "--out",
        lp.to_str().unwrap(),
        "--bpd",
    ]);
    assert!(ok, "{err}");
}

#[test]
fn config_file_carries_its_own_mixture() {
    // model "mixture" with the mixture inline, in any dimension (here d = 3, one component)
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("m.json");
    std::fs::write(&cfg, r#"{"model":"mixture","mixture":{"weights":[1],"means":[[1,2,3]],"covs":[0.25]},"sampler":{"kind":"ode","solver":"rk4","steps":100},"n":2000,"seed":4}"#).unwrap();
    let out = dir.path().join("s.npy");
    let (ok, _, err) = scorelab(&[
        "sample",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let a = npy::parse(&std::fs::read(&out).unwrap(), "s").unwrap();
    assert_eq!(a.shape, vec![2000, 3]);
    for (j, want) in [1.0, 2.0, 3.0].iter().enumerate() {
        let mean = a.data.iter().skip(j).step_by(3).sum::<f64>() / 2000.0;
        // the sample mean's sd is 0.5/sqrt(2000) = 0.011; 5 sd
        assert!((mean - want).abs() < 0.056, "coordinate {j}: mean {mean}");
    }
    std::fs::write(
        &cfg,
        r#"{"model":"mixture","mixture":{"weights":[0.5],"means":[[1,2,3]],"covs":[0.25]}}"#,
    )
    .unwrap();
    fails_with(
        &[
            "sample",
            "--config",
            cfg.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        "mixture.weights",
    );
}

#[test]
fn config_file_and_flags() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.json");
    std::fs::write(&cfg, r#"{"model":"two-modes","sde":{"kind":"ve","sigma_max":30},"sampler":{"kind":"ode","solver":"heun","steps":40},"n":50}"#).unwrap();
    let out = dir.path().join("s.npy");
    let (ok, _, err) = scorelab(&[
        "sample",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--steps",
        "20",
    ]);
    assert!(ok, "{err}");
    assert!(
        err.contains("50 particles, sampler ode on ve SDE: 20 steps, NFE 40"),
        "{err}"
    );
}

#[test]
fn bad_input_gets_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("never.npy");
    let o = out.to_str().unwrap();
    fails_with(
        &["sample", "--model", "nope", "--out", o],
        "two-modes, ring8",
    );
    fails_with(
        &["sample", "--sde", "vq", "--out", o],
        "ve, ve-notebook, vp, subvp",
    );
    fails_with(
        &["sample", "--sampler", "magic", "--out", o],
        "em, pc, langevin, ald, ode",
    );
    fails_with(&["sample", "--steps", "0", "--out", o], "--steps");
    fails_with(
        &["sample", "--sampler", "ode", "--rtol", "nan", "--out", o],
        "--rtol",
    );
    fails_with(
        &["sample", "--sampler", "ode", "--rtol", "-1", "--out", o],
        "--rtol",
    );
    fails_with(
        &["sample", "--sde", "ve", "--sigma-min", "0", "--out", o],
        "--sigma-min",
    );
    fails_with(
        &["sample", "--sde", "vp", "--beta-max", "-2", "--out", o],
        "--beta-max",
    );
    fails_with(
        &["sample", "--sde", "vp", "--sigma-max", "3", "--out", o],
        "does not apply",
    );
    fails_with(
        &["sample", "--snr", "0.1", "--sampler", "ode", "--out", o],
        "does not apply to sampler 'ode'",
    );
    fails_with(
        &["sample", "--predictor", "fancy", "--out", o],
        "em, reverse-diffusion, ancestral, none",
    );
    fails_with(
        &[
            "sample",
            "--sde",
            "subvp",
            "--predictor",
            "ancestral",
            "--out",
            o,
        ],
        "ancestral",
    );
    fails_with(&["sample", "--n", "0", "--out", o], "--n");
    // today's samplers' settings
    let ddim = ["sample", "--sampler", "ddim", "--out", o];
    fails_with(
        &[&ddim[..], &["--eta", "2"]].concat(),
        "invalid --eta: must be in [0, 1], got 2",
    );
    fails_with(&[&ddim[..], &["--rho", "0"]].concat(), "invalid --rho");
    fails_with(
        &[&ddim[..], &["--schedule", "cosine"]].concat(),
        "time, karras, log-snr",
    );
    let edm = ["sample", "--sampler", "edm", "--out", o];
    fails_with(
        &[&edm[..], &["--s-churn", "-1"]].concat(),
        "invalid --s-churn",
    );
    fails_with(
        &[&edm[..], &["--s-noise", "5"]].concat(),
        "invalid --s-noise",
    );
    fails_with(
        &[&edm[..], &["--s-tmin", "2", "--s-tmax", "1"]].concat(),
        "invalid --s-tmax: must be at least s_tmin (2)",
    );
    fails_with(
        &["sample", "--eta", "0.5", "--out", o],
        "does not apply to sampler 'pc' (it applies to ddim)",
    );
    fails_with(
        &[
            "sample",
            "--sampler",
            "dpmpp-2m",
            "--s-churn",
            "1",
            "--out",
            o,
        ],
        "applies to edm",
    );
    assert!(!out.exists(), "no output file after a failure");

    let bad_gmm = dir.path().join("g.json");
    std::fs::write(
        &bad_gmm,
        r#"{"weights":[0.5,0.6],"means":[[0,0],[1,1]],"covs":[1,1]}"#,
    )
    .unwrap();
    fails_with(
        &[
            "sample",
            "--model",
            &format!("gmm:{}", bad_gmm.display()),
            "--out",
            o,
        ],
        "weights: must sum to 1",
    );
    std::fs::write(
        &bad_gmm,
        r#"{"weights":[1.0],"means":[[0,0]],"covs":[[[1,2],[2,1]]]}"#,
    )
    .unwrap();
    fails_with(
        &[
            "sample",
            "--model",
            &format!("gmm:{}", bad_gmm.display()),
            "--out",
            o,
        ],
        "positive definite",
    );
    fails_with(
        &["sample", "--model", "gmm:/does/not/exist.json", "--out", o],
        "/does/not/exist.json",
    );
    let cfg = dir.path().join("c.json");
    std::fs::write(&cfg, r#"{"sampler":{"kind":"pc","steps":-3}}"#).unwrap();
    fails_with(
        &["sample", "--config", cfg.to_str().unwrap(), "--out", o],
        "sampler.steps",
    );

    // .npy inputs: wrong width, wrong rank, wrong dtype, truncated, missing
    let lp = dir.path().join("lp.npy");
    let l = lp.to_str().unwrap();
    let data = dir.path().join("d.npy");
    let d = data.to_str().unwrap();
    std::fs::write(&data, npy::to_bytes(&[4, 3], &[0.0; 12])).unwrap();
    fails_with(
        &["likelihood", "--model", "ring8", "--data", d, "--out", l],
        "must have 2 columns",
    );
    std::fs::write(&data, npy::to_bytes(&[4], &[0.0; 4])).unwrap();
    fails_with(
        &["likelihood", "--model", "ring8", "--data", d, "--out", l],
        "2-D array",
    );
    let mut bytes = npy::to_bytes(&[2, 2], &[0.0; 4]);
    let at = bytes.windows(3).position(|w| w == b"<f4").unwrap();
    bytes[at + 1] = b'i';
    std::fs::write(&data, &bytes).unwrap();
    fails_with(
        &["likelihood", "--model", "ring8", "--data", d, "--out", l],
        "dtype '<i4'",
    );
    let mut bytes = npy::to_bytes(&[2, 2], &[0.0; 4]);
    bytes.truncate(bytes.len() - 2);
    std::fs::write(&data, &bytes).unwrap();
    fails_with(
        &["likelihood", "--model", "ring8", "--data", d, "--out", l],
        "data bytes",
    );
    std::fs::write(&data, npy::to_bytes(&[1, 2], &[f32::NAN, 0.0])).unwrap();
    fails_with(
        &["likelihood", "--model", "ring8", "--data", d, "--out", l],
        "non-finite",
    );
    fails_with(
        &[
            "likelihood",
            "--model",
            "ring8",
            "--data",
            "/nope.npy",
            "--out",
            l,
        ],
        "/nope.npy",
    );
    std::fs::write(&data, npy::to_bytes(&[1, 2], &[0.0, 0.0])).unwrap();
    fails_with(
        &[
            "likelihood",
            "--model",
            "ring8",
            "--data",
            d,
            "--out",
            l,
            "--estimator",
            "magic",
        ],
        "exact, hutchinson",
    );
    fails_with(
        &[
            "likelihood",
            "--model",
            "ring8",
            "--data",
            d,
            "--out",
            l,
            "--atol",
            "0",
        ],
        "--atol",
    );
    assert!(!lp.exists());
}

#[test]
fn info_and_list() {
    let (ok, out, _) = scorelab(&["info", "two-modes"]);
    assert!(ok);
    assert!(out.contains("2 components in 2 dimensions") && out.contains("\"weights\""));
    let (ok, out, _) = scorelab(&["list"]);
    assert!(
        ok && out.contains("grid25") && out.contains("reverse-diffusion") && out.contains("rk45")
    );
    for name in [
        "ddim",
        "edm",
        "dpmpp-2m",
        "dpmpp-2s",
        "karras",
        "s_churn",
        "Lu et al. 2022",
        "linear",
        "flow-matching",
        "unet-flow",
        "Lipman et al. 2023",
    ] {
        assert!(out.contains(name), "list lacks {name}");
    }
    fails_with(&["info", "whatever"], "is not a preset");
    // the shipped image model says its denoiser is clipped; a toy model does not
    let root = env!("CARGO_MANIFEST_DIR");
    let (ok, out, _) = scorelab(&["info", &format!("{root}/models/mnist-unet-ve.safetensors")]);
    assert!(ok && out.contains("keep its denoiser in [0, 1]"), "{out}");
    let (ok, out, _) = scorelab(&["info", &format!("{root}/models/toy/moons-ve.safetensors")]);
    assert!(ok && !out.contains("denoiser"), "{out}");
    // the shipped U-Net exported as the notebook's PyTorch state_dict, read back by `strip`:
    // the same weights (PyTorch names inside, scorelab's after)
    let dir = tempfile::tempdir().unwrap();
    let (torch, back) = (
        dir.path().join("t.safetensors"),
        dir.path().join("b.safetensors"),
    );
    let shipped = format!("{root}/models/mnist-unet-ve.safetensors");
    let (ok, _, err) = scorelab(&["export", "--pytorch", &shipped, torch.to_str().unwrap()]);
    assert!(ok && err.contains("PyTorch state_dict"), "{err}");
    let (ok, out, _) = scorelab(&["info", torch.to_str().unwrap()]);
    assert!(ok && out.contains("dense3.weight"), "{out}");
    let (ok, _, err) = scorelab(&["strip", torch.to_str().unwrap(), back.to_str().unwrap()]);
    assert!(ok, "{err}");
    let read = |p: &str| {
        let bytes = std::fs::read(p).unwrap();
        scorelab::weights::parse(&bytes, p).unwrap().tensors
    };
    assert!(read(back.to_str().unwrap()) == read(&shipped));
}

#[test]
fn train_writes_a_weight_file_that_sample_info_and_likelihood_read() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("m.safetensors");
    let ws = w.to_str().unwrap();
    let csv = dir.path().join("pts.csv");
    let mut text = String::from("x,y\n");
    for i in 0..200 {
        let a = i as f64 * 0.1;
        text += &format!("{},{}\n", 2.0 * a.cos(), 2.0 * a.sin());
    }
    std::fs::write(&csv, text).unwrap();
    let (ok, _, err) = scorelab(&[
        "train",
        "--data",
        csv.to_str().unwrap(),
        "--steps",
        "30",
        "--batch",
        "32",
        "--hidden",
        "16",
        "--layers",
        "2",
        "--t-eps",
        "1e-3",
        "--out",
        ws,
    ]);
    assert!(ok, "{err}");
    assert!(err.contains("trained steps 1..30"), "{err}");
    let log = std::fs::read_to_string(format!("{ws}.loss.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 30);
    let (ok, out, _) = scorelab(&["info", ws]);
    assert!(
        ok && out.contains("\"steps\": 30") && out.contains("hidden.0.weight"),
        "{out}"
    );
    assert!(out.contains("\"t_eps\": 0.001"), "{out}");
    let s = dir.path().join("s.npy");
    let (ok, _, err) = scorelab(&[
        "sample",
        "--model",
        ws,
        "--sampler",
        "em",
        "--steps",
        "20",
        "--n",
        "50",
        "--out",
        s.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert_eq!(
        npy::parse(&std::fs::read(&s).unwrap(), "s").unwrap().shape,
        vec![50, 2]
    );
    let lp = dir.path().join("lp.npy");
    let (ok, _, err) = scorelab(&[
        "likelihood",
        "--model",
        ws,
        "--data",
        s.to_str().unwrap(),
        "--out",
        lp.to_str().unwrap(),
        "--rtol",
        "1e-3",
        "--atol",
        "1e-3",
    ]);
    assert!(ok, "{err}");
    // the density is of p_eps at the network's own smallest training time unless --t-end says
    assert!(err.contains("at eps = 1e-3"), "{err}");
    fails_with(
        &[
            "sample",
            "--model",
            ws,
            "--sde",
            "ve",
            "--out",
            s.to_str().unwrap(),
        ],
        "trained with",
    );
    // a toy model's data has no box to keep the denoiser in
    fails_with(
        &[
            "sample",
            "--model",
            ws,
            "--clip-denoised",
            "true",
            "--out",
            s.to_str().unwrap(),
        ],
        "invalid --clip-denoised",
    );
    fails_with(
        &[
            "sample",
            "--clip-denoised",
            "true",
            "--out",
            s.to_str().unwrap(),
        ],
        "accepted here: false",
    );

    // bad input
    let never = dir.path().join("never.safetensors");
    let n = never.to_str().unwrap();
    fails_with(&["train", "--data", "blobs", "--out", n], "swiss-roll");
    fails_with(
        &["train", "--data", "moons", "--lr", "0", "--out", n],
        "--lr",
    );
    fails_with(
        &["train", "--data", "moons", "--batch", "0", "--out", n],
        "--batch",
    );
    fails_with(
        &["train", "--data", "moons", "--steps", "0", "--out", n],
        "--steps",
    );
    fails_with(
        &["train", "--data", "moons", "--model", "unet", "--out", n],
        "28x28",
    );
    fails_with(
        &["train", "--data", "moons", "--model", "resnet", "--out", n],
        "mlp, ncsn, eps, flow, energy, unet, unet-ncsn, unet-flow",
    );
    fails_with(
        &["train", "--data", "moons", "--backend", "tpu", "--out", n],
        "cpu, wgpu, cuda",
    );
    fails_with(
        &["train", "--data", "moons", "--resume", "--out", n],
        "--resume continues",
    );
    fails_with(
        &[
            "train",
            "--data",
            "moons",
            "--levels",
            "0",
            "--objective",
            "ncsn",
            "--out",
            n,
        ],
        "--levels",
    );
    fails_with(
        &[
            "train",
            "--data",
            "moons",
            "--objective",
            "magic",
            "--out",
            n,
        ],
        "invalid --objective: unknown objective 'magic'; accepted: dsm, dsm-likelihood, dsm-likelihood-is, ssm, ism, ncsn, ddpm",
    );
    fails_with(
        &[
            "train",
            "--data",
            "moons",
            "--weighting",
            "magic",
            "--out",
            n,
        ],
        "std2, likelihood",
    );
    fails_with(
        &["train", "--data", "moons", "--t-eps", "1e-9", "--out", n],
        "invalid --t-eps",
    );
    fails_with(
        &[
            "train",
            "--data",
            "moons",
            "--t-sampling",
            "magic",
            "--out",
            n,
        ],
        "--t-sampling",
    );
    fails_with(
        &[
            "train",
            "--data",
            "moons",
            "--objective",
            "ssm",
            "--probe",
            "magic",
            "--out",
            n,
        ],
        "rademacher",
    );
    for (model, objective) in [
        ("mlp", "ssm"),
        ("mlp", "ism"),
        ("mlp", "dsm-likelihood"),
        ("ncsn", "ncsn"),
        ("eps", "ddpm"),
        ("energy", "dsm"),
    ] {
        let (ok, _, err) = scorelab(&[
            "train",
            "--data",
            "moons",
            "--model",
            model,
            "--objective",
            objective,
            "--steps",
            "5",
            "--batch",
            "16",
            "--hidden",
            "8",
            "--out",
            ws,
        ]);
        assert!(ok, "{objective}: {err}");
    }
    // the flag and the named objective give the same settings (one table shared with the page)
    for objective in [
        &[
            "--objective",
            "dsm-likelihood",
            "--t-sampling",
            "importance",
        ][..],
        &["--objective", "dsm-likelihood-is"][..],
    ] {
        let mut args = vec!["train", "--data", "moons", "--steps", "5", "--hidden", "8"];
        args.extend_from_slice(objective);
        args.extend_from_slice(&["--out", ws]);
        let (ok, _, err) = scorelab(&args);
        assert!(ok, "{objective:?}: {err}");
        let (_, info, _) = scorelab(&["info", ws]);
        assert!(info.contains("\"time_sampling\": \"importance\""), "{info}");
        assert!(info.contains("\"weighting\": \"likelihood\""), "{info}");
    }
    fails_with(
        &[
            "train",
            "--data",
            "moons",
            "--out",
            dir.path().join("m.bin").to_str().unwrap(),
        ],
        ".safetensors",
    );
    std::fs::write(&csv, "1,2\n3\n").unwrap();
    fails_with(
        &["train", "--data", csv.to_str().unwrap(), "--out", n],
        "columns",
    );
    std::fs::write(&csv, "a,b\n").unwrap();
    fails_with(
        &["train", "--data", csv.to_str().unwrap(), "--out", n],
        "no data rows",
    );
    assert!(!never.exists());
    // a truncated weight file
    let bytes = std::fs::read(&w).unwrap();
    let cut = dir.path().join("cut.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    fails_with(
        &[
            "sample",
            "--model",
            cut.to_str().unwrap(),
            "--out",
            s.to_str().unwrap(),
        ],
        "cut.safetensors",
    );
    fails_with(&["info", cut.to_str().unwrap()], "data section");
    // --resume continues a checkpoint to more steps; strip drops the state
    let (ok, _, err) = scorelab(&[
        "train", "--data", "moons", "--steps", "10", "--batch", "16", "--hidden", "8", "--out", ws,
    ]);
    assert!(ok, "{err}");
    let (ok, _, err) = scorelab(&[
        "train", "--data", "moons", "--steps", "15", "--batch", "16", "--hidden", "8", "--resume",
        "--out", ws,
    ]);
    assert!(ok && err.contains("trained steps 11..15"), "{err}");
    fails_with(
        &[
            "train", "--data", "moons", "--steps", "15", "--batch", "16", "--hidden", "8",
            "--resume", "--out", ws,
        ],
        "already taken 15 steps",
    );
    let slim = dir.path().join("slim.safetensors");
    let (ok, _, err) = scorelab(&["strip", ws, slim.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(std::fs::metadata(&slim).unwrap().len() < std::fs::metadata(&w).unwrap().len());
    let (ok, out, _) = scorelab(&["info", slim.to_str().unwrap()]);
    assert!(ok && !out.contains("train.adam"), "{out}");
    // export --pytorch: only the notebook's ScoreNet has a PyTorch counterpart
    let torch = dir.path().join("torch.safetensors");
    fails_with(
        &["export", "--pytorch", ws, torch.to_str().unwrap()],
        "only the notebook's ScoreNet",
    );
    fails_with(&["export", ws, torch.to_str().unwrap()], "--pytorch");
    // --png draws images only
    fails_with(
        &[
            "sample",
            "--model",
            ws,
            "--png",
            "g.png",
            "--out",
            s.to_str().unwrap(),
        ],
        "784 values per row",
    );
    fails_with(
        &[
            "likelihood",
            "--model",
            ws,
            "--data",
            "mnist-test",
            "--out",
            lp.to_str().unwrap(),
        ],
        "28x28",
    );
}

/// `scorelab info FILE | head`: a reader that closes the pipe early ends the CLI quietly
/// (SIGPIPE), not with a panic from println!.
/// `train --objective flow-matching` trains the velocity network on the linear path by
/// default; the file samples with Euler steps (rectified flow) and gives likelihoods; the
/// path or network it cannot train is refused in one line naming the flag.
#[test]
fn flow_matching_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("f.safetensors");
    let ws = w.to_str().unwrap();
    let (ok, _, err) = scorelab(&[
        "train",
        "--data",
        "moons",
        "--objective",
        "flow-matching",
        "--steps",
        "20",
        "--batch",
        "32",
        "--hidden",
        "16",
        "--layers",
        "2",
        "--out",
        ws,
    ]);
    assert!(ok, "{err}");
    let (ok, out, _) = scorelab(&["info", ws]);
    assert!(ok, "{out}");
    assert!(out.contains("\"kind\": \"linear\""), "{out}");
    assert!(out.contains("\"output\": \"velocity\""), "{out}");
    assert!(out.contains("\"objective\": \"flow-matching\""), "{out}");
    let s = dir.path().join("s.npy");
    let (ok, _, err) = scorelab(&[
        "sample",
        "--model",
        ws,
        "--sampler",
        "ode",
        "--solver",
        "euler",
        "--steps",
        "20",
        "--n",
        "50",
        "--out",
        s.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(err.contains("on linear SDE: 20 steps"), "{err}");
    let lp = dir.path().join("lp.npy");
    let (ok, _, err) = scorelab(&[
        "likelihood",
        "--model",
        ws,
        "--data",
        s.to_str().unwrap(),
        "--out",
        lp.to_str().unwrap(),
        "--rtol",
        "1e-3",
        "--atol",
        "1e-3",
    ]);
    assert!(ok, "{err}");
    let n = dir.path().join("never.safetensors");
    let n = n.to_str().unwrap();
    fails_with(
        &[
            "train",
            "--data",
            "moons",
            "--objective",
            "flow-matching",
            "--sde",
            "vp",
            "--out",
            n,
        ],
        "invalid --sde: flow-matching is defined on the linear path",
    );
    fails_with(
        &["train", "--data", "moons", "--objective", "flow-matching", "--model", "mlp", "--out", n],
        "invalid --model: flow-matching trains a velocity network; accepted: flow, unet-flow, got mlp",
    );
    // the exact mixture on the linear path: ancestral sampling is not defined there
    fails_with(
        &[
            "sample",
            "--model",
            "ring8",
            "--sde",
            "linear",
            "--sampler",
            "pc",
            "--predictor",
            "ancestral",
            "--out",
            s.to_str().unwrap(),
        ],
        "invalid --predictor",
    );
}

/// `--class K [--guidance W]` samples a mixture's component K with classifier-free guidance;
/// bad classes and scales, and guidance on a network, get one line naming the flag.
#[test]
fn guidance_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path().join("s.npy");
    let out = s.to_str().unwrap();
    let (ok, _, err) = scorelab(&[
        "sample",
        "--model",
        "ring8",
        "--class",
        "2",
        "--guidance",
        "1",
        "--sampler",
        "ode",
        "--n",
        "200",
        "--out",
        out,
    ]);
    assert!(ok, "{err}");
    fails_with(
        &["sample", "--model", "ring8", "--class", "8", "--out", out],
        "invalid --class: 'ring8' (its components) has classes 0 to 7, got 8",
    );
    fails_with(
        &[
            "sample",
            "--model",
            "ring8",
            "--class",
            "1",
            "--guidance",
            "-1",
            "--out",
            out,
        ],
        "invalid --guidance",
    );
    fails_with(
        &[
            "sample",
            "--model",
            "ring8",
            "--guidance",
            "2",
            "--out",
            out,
        ],
        "invalid --guidance: needs --class",
    );
    let root = env!("CARGO_MANIFEST_DIR");
    let moons = format!("{root}/models/toy/moons-vp.safetensors");
    fails_with(
        &["sample", "--model", &moons, "--class", "0", "--out", out],
        "invalid --class: the mlp network is unconditional",
    );
}

/// `train --conditional` on a preset (a class is a component) → `info` shows the classes →
/// `sample --class K --guidance W` lands in mode K; `--init` continues from a file; the
/// refusals name the flag.
#[test]
fn conditional_training_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("c.safetensors");
    let w = w.to_str().unwrap();
    let s = dir.path().join("s.npy");
    let out = s.to_str().unwrap();
    let (ok, _, err) = scorelab(&[
        "train",
        "--data",
        "ring8",
        "--conditional",
        "--sde",
        "vp",
        "--steps",
        "1500",
        "--batch",
        "256",
        "--out",
        w,
    ]);
    assert!(ok, "{err}");
    let (ok, info, err) = scorelab(&["info", w]);
    assert!(ok, "{err}");
    assert!(info.contains("label_embed.weight   [9, 128]"), "{info}");
    assert!(info.contains("\"classes\": 8"), "{info}");
    let (ok, _, err) = scorelab(&[
        "sample",
        "--model",
        w,
        "--class",
        "5",
        "--guidance",
        "1",
        "--sampler",
        "ode",
        "--n",
        "500",
        "--out",
        out,
    ]);
    assert!(ok, "{err}");
    let share: f64 = err
        .lines()
        .find_map(|l| l.strip_prefix("class 5: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{err}"));
    // exact guided sampling puts all but ~1e-5 of the mass in mode 5
    assert!(share > 0.95, "{err}");
    // --init from the conditional file itself (same network), 10 more steps
    let w2 = dir.path().join("c2.safetensors");
    let (ok, _, err) = scorelab(&[
        "train",
        "--data",
        "ring8",
        "--conditional",
        "--sde",
        "vp",
        "--steps",
        "10",
        "--init",
        w,
        "--out",
        w2.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let (_, info, _) = scorelab(&["info", w2.to_str().unwrap()]);
    assert!(info.contains("initialized_from"), "{info}");
    fails_with(
        &["train", "--data", "moons", "--conditional", "--out", w],
        "invalid --conditional: the data 'moons' have no classes",
    );
    fails_with(
        &[
            "train",
            "--data",
            "ring8",
            "--conditional",
            "--model",
            "energy",
            "--out",
            w,
        ],
        "invalid --model: the energy network has no class-conditional form",
    );
    fails_with(
        &["sample", "--model", w, "--class", "8", "--out", out],
        "invalid --class: the mlp network has classes 0 to 7, got 8",
    );
    let root = env!("CARGO_MANIFEST_DIR");
    let moons = format!("{root}/models/toy/moons-vp.safetensors");
    fails_with(
        &[
            "train",
            "--data",
            "ring8",
            "--conditional",
            "--sde",
            "ve",
            "--init",
            &moons,
            "--out",
            w,
        ],
        "was trained with a different SDE",
    );
    let mnist = format!("{root}/models/mnist-unet-ve.safetensors");
    fails_with(
        &[
            "train",
            "--data",
            "ring8",
            "--conditional",
            "--init",
            &mnist,
            "--out",
            w,
        ],
        "is a unet network with another architecture",
    );
    fails_with(
        &[
            "train",
            "--data",
            "ring8",
            "--conditional",
            "--label-dropout",
            "2",
            "--out",
            w,
        ],
        "invalid --label-dropout",
    );
}

/// `classifier` trains the digit classifier on the training digits and reports its
/// held-out accuracy (40 steps here: well above chance, 0.1, far from the shipped 4000
/// steps' 0.98); `classify` reads it back and counts classes; bad input names the flag.
#[test]
fn classifier_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join("c.safetensors");
    let c = c.to_str().unwrap();
    let (ok, _, err) = scorelab(&["classifier", "--steps", "40", "--out", c]);
    assert!(ok, "{err}");
    let acc: f64 = err
        .split("held-out accuracy on mnist-test: ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{err}"));
    assert!(acc > 0.3, "{err}");
    let (ok, out, err) = scorelab(&[
        "classify",
        "--classifier",
        c,
        "--images",
        "mnist-test",
        "--class",
        "4",
    ]);
    assert!(ok, "{err}");
    assert!(out.starts_with("1000 images; classified as: 0: "), "{out}");
    assert!(
        out.contains(&format!("accuracy against the labels: {acc:.4}")),
        "{out}"
    );
    assert!(out.contains("fraction classified as 4: "), "{out}");
    fails_with(
        &[
            "classify",
            "--classifier",
            c,
            "--images",
            "mnist-test",
            "--class",
            "10",
        ],
        "invalid --class: the classifier has classes 0 to 9, got 10",
    );
    let root = env!("CARGO_MANIFEST_DIR");
    let moons = format!("{root}/models/toy/moons-vp.safetensors");
    fails_with(
        &["classify", "--classifier", &moons, "--images", "mnist-test"],
        "no 'scorelab-classifier' metadata",
    );
    fails_with(
        &["classifier", "--data", "ring8", "--out", c],
        "invalid --data: unknown data 'ring8'; accepted: mnist, fashion",
    );
    fails_with(
        &["classifier", "--shift", "9", "--out", c],
        "invalid --shift",
    );
    let pts = dir.path().join("p.npy");
    scorelab::npy::write(pts.to_str().unwrap(), &[3, 2], &[0.0f32; 6]).unwrap();
    fails_with(
        &[
            "classify",
            "--classifier",
            c,
            "--images",
            pts.to_str().unwrap(),
        ],
        "784",
    );
}

#[test]
fn closed_stdout_is_not_a_panic() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_scorelab"))
        .args(["info", "models/mnist-unet-ve.safetensors"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader is gone before the first line is written
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_ne!(out.status.code(), Some(101), "{err}");
}

/// `sample --backend`: a network samples on the GPU backend (lavapipe here) and, with the
/// same seed, gives the CPU's samples within float rounding (the noise is drawn on the host).
#[test]
fn sample_backend_gives_the_same_samples_on_every_backend() {
    let dir = tempfile::tempdir().unwrap();
    let model = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/models/toy/moons-vp.safetensors"
    );
    let run = |backend: &str| {
        let out = dir.path().join(format!("{backend}.npy"));
        let (ok, _, err) = scorelab(&[
            "sample",
            "--model",
            model,
            "--sampler",
            "pc",
            "--steps",
            "100",
            "--n",
            "500",
            "--seed",
            "4",
            "--backend",
            backend,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(ok, "--backend {backend}: {err}");
        npy::parse(&std::fs::read(&out).unwrap(), backend).unwrap()
    };
    let cpu = run("cpu");
    // exact mixtures stay on the CPU in f64; unknown names get the accepted ones
    let o = dir.path().join("never.npy");
    let o = o.to_str().unwrap();
    fails_with(
        &[
            "sample",
            "--model",
            "ring8",
            "--backend",
            "wgpu",
            "--out",
            o,
        ],
        "exact mixture is sampled on the CPU",
    );
    fails_with(
        &["sample", "--model", model, "--backend", "tpu", "--out", o],
        "accepted: cpu, wgpu, cuda",
    );
    if !cfg!(feature = "wgpu") {
        return;
    }
    let gpu = run("wgpu");
    assert_eq!(gpu.shape, cpu.shape);
    // 100 PC steps in f32 on two backends: the paths agree to rounding, amplified a little
    // by the corrector's step size (computed from norms); 1e-3 of the data's scale (~5)
    let worst = gpu
        .data
        .iter()
        .zip(&cpu.data)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(worst < 5e-3, "wgpu and cpu samples differ by up to {worst}");
}

/// `train --devices 2 --batch b` is the run `--batch 2b` on one device (data-parallel with
/// burn-collective's all-reduce; the library test `two_devices_train_as_one_device_with_the_
/// doubled_batch` derives the tolerance), resumes as such, and refuses devices the machine
/// does not have in one line.
#[test]
fn train_on_two_devices_is_one_device_with_the_doubled_batch() {
    let dir = tempfile::tempdir().unwrap();
    let train = |out: &str, batch: &str, devices: &str, steps: &str, resume: bool| {
        let mut args = vec![
            "train",
            "--data",
            "moons",
            "--steps",
            steps,
            "--batch",
            batch,
            "--hidden",
            "16",
            "--layers",
            "2",
            "--devices",
            devices,
            "--out",
            out,
        ];
        if resume {
            args.push("--resume");
        }
        let (ok, _, err) = scorelab(&args);
        assert!(ok, "{err}");
        err
    };
    let read = |path: &str| scorelab::weights::parse(&std::fs::read(path).unwrap(), path).unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let same = |a: &str, b: &str| {
        let (a, b) = (read(a), read(b));
        assert_eq!(b.manifest.metrics["devices"], 2);
        let scale = a
            .tensors
            .values()
            .flat_map(|(_, v)| v.iter())
            .fold(0f32, |m, v| m.max(v.abs()));
        assert_eq!(a.tensors.len(), b.tensors.len());
        for (name, (shape, v)) in &a.tensors {
            let (s, w) = &b.tensors[name];
            assert_eq!(shape, s, "{name}");
            let gap = v.iter().zip(w).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
            assert!(gap <= 1e-6 * scale, "{name}: {gap} apart (scale {scale})");
        }
    };
    let (one, two) = (path("one.safetensors"), path("two.safetensors"));
    train(&one, "32", "1", "30", false);
    let err = train(&two, "16", "2", "30", false);
    assert!(err.contains("cpu x2"), "{err}");
    same(&one, &two);
    // A resumed run restarts the batch stream from seed + step, on one device as on two.
    train(&one, "32", "1", "40", true);
    train(&two, "16", "2", "40", true);
    same(&one, &two);
    let one = one.as_str();
    fails_with(
        &["train", "--data", "moons", "--devices", "0", "--out", one],
        "--devices",
    );
    fails_with(
        &[
            "train",
            "--data",
            "moons",
            "--devices",
            "4096",
            "--out",
            one,
        ],
        "--devices: 4096 CPU replicas asked for, this machine has",
    );
    #[cfg(feature = "wgpu")]
    fails_with(
        &[
            "train",
            "--data",
            "moons",
            "--backend",
            "wgpu",
            "--devices",
            "64",
            "--out",
            one,
        ],
        "--devices: 64 wgpu devices asked for",
    );
}
