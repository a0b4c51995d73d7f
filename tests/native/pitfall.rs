//! The lectures' pitfall (SCIENCE.md §7.3; Song & Ermon 2019, §3.2.2): for a mixture with
//! (nearly) disjoint supports the score does not depend on the weights, so plain Langevin
//! from a broad start splits the mass by basin instead of 0.8/0.2. Annealed, PC and ODE
//! samplers recover the weights.

use crate::common::*;
use scorelab::model::presets::preset;
use scorelab::sde::Sde;

#[test]
fn plain_langevin_gets_the_weights_wrong_pc_and_ode_get_them_right() {
    let gmm = preset("two-modes").unwrap();
    let sde = Sde::from_name("vp").unwrap();
    let n = 2000;
    let (x, _) = run(
        &gmm,
        sde,
        &cfg(r#"{"kind":"langevin","eps":0.01,"steps":1000}"#),
        n,
        1,
        false,
    );
    let r = report(&gmm, &x);
    // The uniform start on [-8, 8]^2 is split evenly by the diagonal between the modes.
    assert!(
        (r.mode_weights[0] - 0.8).abs() > 10.0 * r.weight_error_q99,
        "Langevin mode weights {:?} should be far from 0.8/0.2 (exact spread q99 {:.3})",
        r.mode_weights,
        r.weight_error_q99
    );
    assert!(
        (r.mode_weights[0] - 0.5).abs() < 0.06,
        "expected about half the mass per mode: {:?}",
        r.mode_weights
    );
    for json in [r#"{"kind":"pc"}"#, r#"{"kind":"ode"}"#, r#"{"kind":"ald"}"#] {
        let (x, _) = run(&gmm, sde, &cfg(json), n, 2, false);
        assert_matches(json, &gmm, &x);
    }
}
