//! Effects on simulated studies with planted effects.

use intervene_analysis::effects::stratify::STRATIFIED;
use intervene_analysis::effects::{By, EffectRow, Options, Settings, study_effects};
use intervene_analysis::simulate::{SimArm, Simulation};

fn quick() -> Settings {
    Settings { resamples: 400, permutations: 400, refuter_sims: 40, ..Default::default() }
}

fn row<'a>(rows: &'a [EffectRow], arm: &str, outcome: &str) -> &'a EffectRow {
    rows.iter()
        .find(|r| r.arm == arm && r.outcome == outcome && r.stratum.is_none())
        .unwrap_or_else(|| panic!("no row for {arm} / {outcome}"))
}

#[test]
fn planted_effects_are_recovered_with_every_estimate() {
    let mut sim = Simulation::realistic("planted", vec![1, 2, 3, 4], 400, 11);
    sim.clip = false;
    // Training noise small next to the per-example noise, as in the coverage
    // test below: the example-level intervals do not include seed variance.
    sim.seed_sd = 0.3;
    let tables = sim.tables().unwrap();
    let opts = Options { settings: quick(), ..Default::default() };
    let effects = study_effects(&tables, &opts).unwrap();
    assert_eq!(effects.outcomes, ["bleu", "codexglue_bleu", "token_accuracy", "exact_match", "syntax_valid"]);

    // hidden-size: -2 points; docstring-dropout: -4 points on every per-example score.
    for (arm, planted) in [("hidden-size/hidden_dim=128", -2.0), ("docstring-dropout/p=0.3", -4.0)] {
        let r = row(&effects.rows, arm, "bleu");
        assert_eq!(r.compare_to, "control");
        assert_eq!(r.seed.n, 4);
        assert_eq!(r.example.n_pairs, 1600);
        assert!(r.flags.is_empty(), "{:?}", r.flags);
        assert!(r.seed.ci_low < planted && planted < r.seed.ci_high, "{r:?}");
        assert!(r.example.ci_low < planted && planted < r.example.ci_high, "{r:?}");
        assert!(r.adjusted.ci_low < planted && planted < r.adjusted.ci_high, "{r:?}");
        // The same test set on both sides: the adjustment equals the paired mean.
        assert!((r.adjusted.ate - r.example.ate).abs() < 1e-9);
        assert!((r.seed.ate - r.example.ate).abs() < 1e-9, "run BLEU is the mean of sentence BLEU here");
        assert!(r.example.p_perm < 0.01);
        assert!(r.p_perm_holm >= r.example.p_perm);
        let refuted = r.refutations.as_ref().unwrap();
        assert_eq!(refuted.passed(), 3, "{refuted:?}");
        assert!(refuted.placebo.effect.abs() < 0.5);
        // codexglue_bleu has no per-example column: seed level only, flagged.
        let c = row(&effects.rows, arm, "codexglue_bleu");
        assert!(c.seed.ate.is_finite() && c.example.ate.is_nan());
        assert_eq!(c.flags, ["no per-example codexglue_bleu"]);
    }

    // Inter-model: per bucket against rnn, and the bucket-stratified average.
    let lstm_low = row(&effects.rows, "arch-by-complexity/low/lstm", "bleu");
    assert_eq!(lstm_low.compare_to, "arch-by-complexity/low/rnn");
    assert_eq!(lstm_low.bucket.as_deref(), Some("low"));
    assert!(lstm_low.example.ci_low < 5.0 && 5.0 < lstm_low.example.ci_high, "{lstm_low:?}");
    let strat: Vec<&EffectRow> =
        effects.rows.iter().filter(|r| r.bucket.as_deref() == Some(STRATIFIED) && r.outcome == "bleu").collect();
    assert_eq!(strat.len(), 2, "lstm and lstm-attention against rnn");
    let lstm = strat.iter().find(|r| r.arm == "lstm").unwrap();
    assert_eq!(lstm.compare_to, "rnn");
    let medium = row(&effects.rows, "arch-by-complexity/medium/lstm", "bleu");
    assert!((lstm.example.ate - (lstm_low.example.ate + medium.example.ate) / 2.0).abs() < 1e-9);
    assert!((lstm.seed.ate - (lstm_low.seed.ate + medium.seed.ate) / 2.0).abs() < 1e-9);
    assert!(
        lstm.example.ci_low < 5.0 && 5.0 < lstm.example.ci_high,
        "{:?} {:?}",
        (lstm.example.ate, lstm.example.ci_low, lstm.example.ci_high),
        (lstm_low.example.ate, medium.example.ate)
    );
    assert!(lstm.flags[0].starts_with("average over buckets low, medium (weights 0.500, 0.500)"), "{:?}", lstm.flags);
    // Holm: adjusted p-values never below the raw ones.
    for r in &effects.rows {
        if !r.seed.p.is_nan() {
            assert!(r.p_t_holm >= r.seed.p);
        }
    }
}

#[test]
fn missing_seeds_and_null_outcomes_are_flagged() {
    let mut sim = Simulation::realistic("gaps", vec![1, 2, 3], 120, 5);
    sim.missing = vec![("hidden-size/hidden_dim=128".into(), 2), ("arch-by-complexity/low/rnn".into(), 3)];
    sim.arms[2].syntax_null = true;
    let tables = sim.tables().unwrap();
    let effects = study_effects(&tables, &Options { settings: quick(), ..Default::default() }).unwrap();
    for outcome in ["bleu", "token_accuracy"] {
        let r = row(&effects.rows, "hidden-size/hidden_dim=128", outcome);
        assert_eq!(r.seed.n, 2);
        assert_eq!(r.example.n_pairs, 240);
        assert_eq!(r.flags, ["treatment `hidden-size/hidden_dim=128` missing seeds 2"]);
        // The control of the inter bucket lost a seed: every arm measured against it says so.
        for arm in ["arch-by-complexity/low/lstm", "arch-by-complexity/low/lstm-attention"] {
            let r = row(&effects.rows, arm, outcome);
            assert_eq!(r.flags, ["control `arch-by-complexity/low/rnn` missing seeds 3"], "{arm}");
        }
        assert!(row(&effects.rows, "docstring-dropout/p=0.3", outcome).flags.is_empty());
    }
    let syn = row(&effects.rows, "docstring-dropout/p=0.3", "syntax_valid");
    assert_eq!(syn.seed.n, 0);
    assert_eq!(syn.example.n_pairs, 0);
    assert!(syn.flags.contains(&"syntax_valid null in runs of seeds 1,2,3".to_string()), "{:?}", syn.flags);
    assert!(syn.flags.contains(&"syntax_valid null in 360 example pairs (left out)".to_string()), "{:?}", syn.flags);
    // The stratified row inherits its buckets' flags.
    let strat = effects
        .rows
        .iter()
        .find(|r| r.bucket.as_deref() == Some(STRATIFIED) && r.arm == "lstm" && r.outcome == "bleu")
        .unwrap();
    assert!(
        strat.flags.iter().any(|f| f == "low: control `arch-by-complexity/low/rnn` missing seeds 3"),
        "{:?}",
        strat.flags
    );
}

#[test]
fn conditional_effects_by_length_bin() {
    let mut sim = Simulation::realistic("bins", vec![1, 2, 3], 600, 8);
    sim.clip = false;
    // rnn loses 0.3 points per source token above the mean length against lstm-attention's 0.
    let tables = sim.tables().unwrap();
    let opts = Options { outcomes: vec!["bleu".into()], by: By::LengthBin, settings: quick(), ..Default::default() };
    let effects = study_effects(&tables, &opts).unwrap();
    let rows: Vec<&EffectRow> =
        effects.rows.iter().filter(|r| r.arm == "arch-by-complexity/low/lstm-attention").collect();
    let bins: Vec<&str> = rows.iter().map(|r| r.stratum.as_deref().unwrap()).collect();
    assert_eq!(bins, ["0-10", "10-20", "20-30", "30-40", "40-50", "50+"]);
    assert_eq!(rows.iter().map(|r| r.example.n_pairs).sum::<usize>(), 1800);
    // The attention arm's advantage over rnn grows with length.
    assert!(rows[5].example.ate > rows[0].example.ate + 8.0, "{} vs {}", rows[5].example.ate, rows[0].example.ate);
    for r in &rows {
        assert_eq!(r.seed.n, 3, "seed-level numbers per bin come from per-seed example means");
        assert!(r.seed.ci_low <= r.seed.ate && r.seed.ate <= r.seed.ci_high);
    }
    assert!(effects.rows.iter().all(|r| r.bucket.as_deref() != Some(STRATIFIED)));
}

#[test]
fn by_arch_keeps_only_the_stratified_averages() {
    let sim = Simulation::realistic("arch", vec![1, 2], 100, 3);
    let tables = sim.tables().unwrap();
    let opts = Options { outcomes: vec!["bleu".into()], by: By::Arch, settings: quick(), ..Default::default() };
    let effects = study_effects(&tables, &opts).unwrap();
    let pairs: Vec<(&str, &str)> = effects.rows.iter().map(|r| (r.arm.as_str(), r.compare_to.as_str())).collect();
    assert_eq!(pairs, [("lstm", "rnn"), ("lstm-attention", "rnn")]);
    let opts = Options { by: By::Bucket, ..opts };
    let effects = study_effects(&tables, &opts).unwrap();
    assert_eq!(effects.rows.len(), 6, "two arms in two buckets, plus two averages");
    assert!(effects.rows.iter().all(|r| r.kind == "inter"));
}

/// The acceptance check: a planted effect of +2 points; over 100 seeded
/// studies the 95% intervals must cover it at least 93 times, and the
/// placebo refuter must pass.
#[test]
fn intervals_cover_a_planted_effect() {
    let planted = 2.0;
    let reps = 100;
    let (mut seed_cover, mut example_cover, mut adjusted_cover, mut placebo) = (0, 0, 0, 0);
    for rep in 0..reps {
        let mut sim = Simulation::realistic("coverage", vec![1, 2, 3, 4, 5], 200, 1000 + rep);
        sim.arms = vec![
            SimArm::new("control", "control", None, "lstm", 0.0),
            SimArm::new("treated", "intra", Some("control"), "lstm", planted),
        ];
        sim.clip = false;
        // Training noise small next to the per-example noise, as in real runs
        // scored on a 1,500-example test set.
        sim.seed_sd = 0.3;
        let tables = sim.tables().unwrap();
        let opts = Options {
            outcomes: vec!["bleu".into()],
            settings: Settings { resamples: 500, permutations: 100, refuter_sims: 40, seed: rep, ..Default::default() },
            ..Default::default()
        };
        let effects = study_effects(&tables, &opts).unwrap();
        let r = &effects.rows[0];
        let covers = |lo: f64, hi: f64| lo <= planted && planted <= hi;
        seed_cover += usize::from(covers(r.seed.ci_low, r.seed.ci_high));
        example_cover += usize::from(covers(r.example.ci_low, r.example.ci_high));
        adjusted_cover += usize::from(covers(r.adjusted.ci_low, r.adjusted.ci_high));
        placebo += usize::from(r.refutations.as_ref().unwrap().placebo.pass);
    }
    eprintln!(
        "coverage of {reps}: seeds {seed_cover}, examples {example_cover}, adjusted {adjusted_cover}; placebo passed {placebo}"
    );
    assert!(seed_cover >= 93, "paired t covered {seed_cover} of {reps}");
    assert!(example_cover >= 93, "hierarchical bootstrap covered {example_cover} of {reps}");
    assert!(adjusted_cover >= 93, "adjusted covered {adjusted_cover} of {reps}");
    assert_eq!(placebo as u64, reps);
}
