//! Each refuter passes on a clean simulated study and fails on one built to
//! break it (`simulate::paired`; analysis/src/effects/refute.rs says what
//! each tests).

use intervene_analysis::effects::Settings;
use intervene_analysis::effects::table::{TableOptions, TableRow, table_effects};
use intervene_analysis::simulate::paired::PairedSim;
use polars::prelude::IntoLazy;

fn refuted(sim: &PairedSim) -> TableRow {
    let opts = TableOptions {
        treatment: "arm".into(),
        control: "control".into(),
        outcomes: vec!["y".into()],
        pair: vec!["seed".into(), "example_id".into()],
        cluster: None,
        confounders: vec!["source_len".into()],
        settings: Settings { resamples: 100, permutations: 100, refuter_sims: 100, ..Default::default() },
    };
    let mut rows = table_effects(sim.study().unwrap().table.lazy(), "simulated", &opts).unwrap();
    rows.remove(0)
}

/// A study nothing is wrong with: a clear effect, consistent over seeds.
fn clean(rng_seed: u64) -> PairedSim {
    let mut sim = PairedSim::new(6, 300, rng_seed);
    sim.effect = 4.0;
    sim.seed_sd = 0.1;
    sim.shared_sd = 2.0;
    sim
}

#[test]
fn a_clean_study_passes_every_refuter() {
    for rng_seed in [1, 2, 3] {
        let r = refuted(&clean(rng_seed));
        let x = r.refutations.as_ref().unwrap();
        assert_eq!(x.passed(), 4, "{x:?}");
        assert!(!r.flags.iter().any(|f| f.starts_with("refuted")), "{:?}", r.flags);
        assert_eq!(x.dummy_outcome.effect, 0.0, "the same test examples on both sides");
    }
}

#[test]
fn placebo_fails_when_training_noise_makes_the_example_interval_significant() {
    // The design: seed-level spread 1.5 against example noise 3.
    let mut sim = PairedSim::new(6, 300, 11);
    sim.seed_sd = 1.5;
    let r = refuted(&sim);
    let placebo = &r.refutations.as_ref().unwrap().placebo;
    assert_eq!(placebo.pass, Some(false), "{placebo:?}");
    assert!(placebo.effect > 0.5, "most whole-seed placebos look significant at the example level: {placebo:?}");
    assert!(r.flags.iter().any(|f| f.contains("refuted by placebo")), "{:?}", r.flags);
}

#[test]
fn dummy_outcome_fails_when_the_treated_arm_saw_other_inputs() {
    let mut sim = clean(4);
    // A mutation that rewrote the test split: the treated examples are 3 tokens longer.
    sim.shift_treated_len = 3.0;
    let r = refuted(&sim);
    let dummy = &r.refutations.as_ref().unwrap().dummy_outcome;
    assert_eq!(dummy.pass, Some(false), "{dummy:?}");
    assert!((dummy.effect - 3.0).abs() < 1e-9, "{dummy:?}");
    // Only pre-treatment (control-side) lengths are adjusted for: the adjustment still equals the paired estimate.
    assert!((r.adjusted.ate - r.ex.unwrap().estimate).abs() < 1e-9);
}

#[test]
fn data_subset_fails_when_one_seed_carries_the_effect() {
    let mut sim = clean(5);
    sim.effect = 0.0;
    // One run gained 12 points, the other five lost half a point.
    sim.seed_offsets = vec![12.0, -0.5, -0.5, -0.5, -0.5, -0.5];
    let r = refuted(&sim);
    let subset = &r.refutations.as_ref().unwrap().data_subset;
    assert!(r.t.estimate > 0.0);
    assert_eq!(subset.pass, Some(false), "{subset:?}");
    assert!(subset.low < 0.0, "leaving out the first seed flips the sign: {subset:?}");
}

#[test]
fn sensitivity_fails_when_a_small_bias_would_erase_the_effect() {
    // A tiny, very consistent effect next to a large seed-to-seed spread of both arms.
    let mut sim = PairedSim::new(6, 2000, 6);
    sim.effect = 0.3;
    sim.seed_sd = 0.02;
    sim.shared_sd = 3.0;
    sim.noise_sd = 0.5;
    let r = refuted(&sim);
    let sens = &r.refutations.as_ref().unwrap().sensitivity;
    assert!(r.t.ci_low > 0.0, "the effect is significant: {:?}", r.t);
    assert_eq!(sens.pass, Some(false), "{sens:?}");
    assert!(sens.effect > 0.0 && sens.low < 0.5, "{sens:?}");
}
