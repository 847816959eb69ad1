//! Effects on simulated studies with planted effects.

use intervene_analysis::effects::stratify::STRATIFIED;
use intervene_analysis::effects::{By, EffectRow, Options, Settings, study_effects};
use intervene_analysis::simulate::{SimArm, Simulation};

/// Refuters are tested on their own (refuters.rs).
fn quick() -> Settings {
    Settings { resamples: 400, permutations: 400, refuter_sims: 0, ..Default::default() }
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
    sim.seed_sd = 0.3;
    let tables = sim.tables().unwrap();
    let opts = Options { settings: quick(), ..Default::default() };
    let effects = study_effects(&tables, &opts).unwrap();
    assert_eq!(
        effects.outcomes,
        [
            "bleu",
            "codexglue_bleu",
            "token_accuracy",
            "exact_match",
            "syntax_valid",
            "sentence_bleu",
            "example_token_accuracy"
        ]
    );

    // hidden-size: -2 points; docstring-dropout: -4 points on every per-example score.
    for (arm, planted) in [("hidden-size/hidden_dim=128", -2.0), ("docstring-dropout/p=0.3", -4.0)] {
        // bleu is a run-level outcome: the headline over seeds only.
        let r = row(&effects.rows, arm, "bleu");
        assert_eq!(r.compare_to, "control");
        assert_eq!(r.seed.n, 4);
        assert_eq!(r.seed.df, 3.0);
        assert_eq!(r.example.n_pairs, 0, "corpus BLEU has no per-example value");
        assert!(r.flags.is_empty(), "{:?}", r.flags);
        assert!(r.seed.ci_low < planted && planted < r.seed.ci_high, "{r:?}");
        // sentence_bleu: the same planted shift, with every estimate.
        let s = row(&effects.rows, arm, "sentence_bleu");
        assert_eq!(s.seed.n, 4);
        assert_eq!(s.example.n_pairs, 1600);
        assert!(s.flags.is_empty(), "{:?}", s.flags);
        assert!(s.seed.ci_low < planted && planted < s.seed.ci_high, "{s:?}");
        assert!(s.example.ci_low < planted && planted < s.example.ci_high, "{s:?}");
        assert!(s.example.boot_low < s.example.ate && s.example.ate < s.example.boot_high, "{s:?}");
        assert!(s.adjusted.ci_low < planted && planted < s.adjusted.ci_high, "{s:?}");
        assert!(s.adjusted.clustered && s.adjusted.df == 3.0, "standard errors clustered by seed: {s:?}");
        // The same test set on both sides: the adjustment equals the paired mean.
        assert!((s.adjusted.ate - s.example.ate).abs() < 1e-9);
        assert!((s.seed.ate - s.example.ate).abs() < 1e-9, "equal seeds: the mean of seed means");
        assert!((r.seed.ate - s.seed.ate).abs() < 1e-9, "the simulated run BLEU is the mean sentence BLEU");
        assert!(s.seed.perm_exact && s.seed.p_perm >= 0.125, "4 seeds: 16 sign flips, p >= 2/16");
        assert!(s.p_perm_holm >= s.seed.p_perm);
        // codexglue_bleu has no per-example column: seed level only, by design.
        let c = row(&effects.rows, arm, "codexglue_bleu");
        assert!(c.seed.ate.is_finite() && c.example.ate.is_nan());
        assert!(c.flags.is_empty(), "{:?}", c.flags);
    }

    // Inter-model: per bucket against rnn, and the bucket-stratified average.
    let lstm_low = row(&effects.rows, "arch-by-complexity/low/lstm", "sentence_bleu");
    assert_eq!(lstm_low.compare_to, "arch-by-complexity/low/rnn");
    assert_eq!(lstm_low.bucket.as_deref(), Some("low"));
    assert!(lstm_low.example.ci_low < 5.0 && 5.0 < lstm_low.example.ci_high, "{lstm_low:?}");
    let strat: Vec<&EffectRow> = effects
        .rows
        .iter()
        .filter(|r| r.bucket.as_deref() == Some(STRATIFIED) && r.outcome == "sentence_bleu")
        .collect();
    assert_eq!(strat.len(), 2, "lstm and lstm-attention against rnn");
    let lstm = strat.iter().find(|r| r.arm == "lstm").unwrap();
    assert_eq!(lstm.compare_to, "rnn");
    let medium = row(&effects.rows, "arch-by-complexity/medium/lstm", "sentence_bleu");
    assert!((lstm.example.ate - (lstm_low.example.ate + medium.example.ate) / 2.0).abs() < 1e-9);
    assert!((lstm.seed.ate - (lstm_low.seed.ate + medium.seed.ate) / 2.0).abs() < 1e-9);
    assert!(lstm.seed.ci_low < 5.0 && 5.0 < lstm.seed.ci_high, "{:?}", (lstm.seed.ci_low, lstm.seed.ci_high));
    assert!(
        lstm.example.ci_low < 5.0 && 5.0 < lstm.example.ci_high,
        "{:?} {:?}",
        (lstm.example.ate, lstm.example.ci_low, lstm.example.ci_high),
        (lstm_low.example.ate, medium.example.ate)
    );
    // Whole seeds of both buckets flipped: 2^8 sign vectors, enumerated.
    assert!(lstm.seed.perm_exact && lstm.seed.p_perm <= 2.0 / 256.0 + 1e-12, "{}", lstm.seed.p_perm);
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
    for outcome in ["sentence_bleu", "example_token_accuracy"] {
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
        .find(|r| r.bucket.as_deref() == Some(STRATIFIED) && r.arm == "lstm" && r.outcome == "sentence_bleu")
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
    let opts = Options {
        outcomes: vec!["bleu".into(), "sentence_bleu".into()],
        by: By::LengthBin,
        settings: quick(),
        ..Default::default()
    };
    let effects = study_effects(&tables, &opts).unwrap();
    // Corpus BLEU is a run-level outcome: no rows per bin, and a note says so.
    assert!(effects.rows.iter().all(|r| r.outcome == "sentence_bleu"));
    assert!(effects.notes.iter().any(|n| n.starts_with("bleu measured per run only")), "{:?}", effects.notes);
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

/// The acceptance check in study mode: a planted effect of +2 points, the
/// runs' outcome varying with the training seed (seed_sd 1.5 per arm and
/// run, against per-example noise 15 over 200 examples); over 1,000 seeded
/// studies per seed count the headline 95% interval must cover it in at
/// least 93% of them, and with no effect its p_t must be below 0.05 in at
/// most 7% (100 studies would bound these rates only to about ±4 points).
#[test]
fn headline_covers_a_planted_effect_in_study_mode() {
    for seeds in [3usize, 5] {
        let (mut cover, mut sentence_cover, mut adjusted_cover, mut rejects) = (0, 0, 0, 0);
        for rep in 0..1000u64 {
            for planted in [2.0, 0.0] {
                let mut sim = Simulation::realistic(
                    "coverage",
                    (1..=seeds as i64).collect(),
                    200,
                    1000 + rep + 7919 * seeds as u64,
                );
                sim.arms = vec![
                    SimArm::new("control", "control", None, "lstm", 0.0),
                    SimArm::new("treated", "intra", Some("control"), "lstm", planted),
                ];
                sim.clip = false;
                sim.seed_sd = 1.5;
                let tables = sim.tables().unwrap();
                let opts = Options {
                    outcomes: vec!["bleu".into(), "sentence_bleu".into()],
                    settings: Settings {
                        resamples: 100,
                        permutations: 100,
                        refuter_sims: 0,
                        seed: rep,
                        ..Default::default()
                    },
                    ..Default::default()
                };
                let effects = study_effects(&tables, &opts).unwrap();
                let bleu = row(&effects.rows, "treated", "bleu");
                let sentence = row(&effects.rows, "treated", "sentence_bleu");
                let covers = |lo: f64, hi: f64| lo <= planted && planted <= hi;
                if planted != 0.0 {
                    cover += usize::from(covers(bleu.seed.ci_low, bleu.seed.ci_high));
                    sentence_cover += usize::from(covers(sentence.seed.ci_low, sentence.seed.ci_high));
                    adjusted_cover += usize::from(covers(sentence.adjusted.ci_low, sentence.adjusted.ci_high));
                } else {
                    rejects += usize::from(bleu.seed.p < 0.05);
                }
            }
        }
        eprintln!(
            "{seeds} seeds, 1000 studies: headline covered bleu {cover}, sentence_bleu {sentence_cover}, adjusted \
             {adjusted_cover}; under no effect p_t < 0.05 in {rejects}"
        );
        assert!(cover >= 930 && sentence_cover >= 930, "{seeds} seeds: covered {cover} / {sentence_cover} of 1000");
        assert!(adjusted_cover >= 930, "{seeds} seeds: clustered adjustment covered {adjusted_cover} of 1000");
        assert!(rejects <= 70, "{seeds} seeds: p_t below 0.05 in {rejects} of 1000 null studies");
    }
}
