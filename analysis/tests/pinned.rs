//! Effects on committed fixture tables against reference values from scipy
//! and statsmodels: the headline over seeds (with the exact permutation
//! p-value), the example-level interval and the clustered adjustment. The fixtures (analysis/tests/fixtures/) were written once
//! with `cargo run -p intervene-analysis --example simulate_study -- --preset
//! pinned --study pinned --seeds 11,12,13,14 --examples 60 --rng-seed 2024
//! --state analysis/tests/fixtures/state --flat-csv
//! analysis/tests/fixtures/pinned_examples.csv`; `expected.json` was written
//! by `python bench/check_effects.py --write`, and `python
//! bench/check_effects.py` recomputes and checks it.

use std::path::Path;

use intervene_analysis::StudyResults;
use intervene_analysis::effects::table::{TableOptions, scan_table, table_effects};
use intervene_analysis::effects::{Options, Settings, study_effects};
use serde_json::Value;

const TOLERANCE: f64 = 1e-6;

fn fixtures() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"))
}

fn expected() -> Value {
    let text = std::fs::read_to_string(fixtures().join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn close(what: &str, got: f64, want: &Value) {
    let want = want.as_f64().unwrap_or_else(|| panic!("{what}: pinned value missing"));
    assert!((got - want).abs() <= TOLERANCE * want.abs().max(1.0), "{what}: got {got}, scipy/statsmodels {want}");
}

fn settings() -> Settings {
    Settings { resamples: 200, permutations: 200, refuter_sims: 20, ..Default::default() }
}

fn close_t(what: &dyn Fn(&str) -> String, got: (f64, f64, f64, f64), want: &Value) {
    close(&what("ate"), got.0, &want["ate"]);
    close(&what("ci_low"), got.1, &want["ci_low"]);
    close(&what("ci_high"), got.2, &want["ci_high"]);
    close(&what("p"), got.3, &want["p"]);
}

fn close_adjusted(what: &dyn Fn(&str) -> String, got: &intervene_analysis::effects::Adjusted, want: &Value) {
    close(&what("adjusted ate"), got.ate, &want["ate"]);
    close(&what("adjusted se"), got.se, &want["se"]);
    close(&what("adjusted ci_low"), got.ci_low, &want["ci_low"]);
    close(&what("adjusted ci_high"), got.ci_high, &want["ci_high"]);
    close(&what("adjusted p"), got.p, &want["p"]);
    close(&what("adjusted df"), got.df, &want["df"]);
}

#[test]
fn study_effects_match_scipy_and_statsmodels() {
    let results = StudyResults::locate(&fixtures().join("state"), "pinned", None).unwrap();
    let tables = results.load().unwrap();
    let opts = Options {
        outcomes: vec![
            "bleu".into(),
            "token_accuracy".into(),
            "exact_match".into(),
            "sentence_bleu".into(),
            "example_token_accuracy".into(),
        ],
        settings: settings(),
        ..Default::default()
    };
    let effects = study_effects(&tables, &opts).unwrap();
    let pinned = expected();
    let rows = pinned["study"].as_array().unwrap();
    assert_eq!(rows.len(), 12, "two arms x (three run-level + three per-example outcomes)");
    for want in rows {
        let (arm, outcome) = (want["arm"].as_str().unwrap(), want["outcome"].as_str().unwrap());
        let got = effects.rows.iter().find(|r| r.arm == arm && r.outcome == outcome).unwrap();
        assert_eq!(got.compare_to, want["compare_to"].as_str().unwrap());
        let what = |f: &str| format!("{arm} / {outcome} / {f}");
        if let Some(seed) = want.get("seed") {
            assert_eq!(got.seed.n as u64, seed["n"].as_u64().unwrap());
            let s = &got.seed;
            close_t(&|f| what(&format!("seed {f}")), (s.ate, s.ci_low, s.ci_high, s.p), seed);
            assert!(s.perm_exact);
            close(&what("seed p_perm"), s.p_perm, &seed["p_perm"]);
        }
        if let Some(example) = want.get("example") {
            let e = &got.example;
            assert_eq!(e.n_pairs as u64, example["n"].as_u64().unwrap());
            close_t(&|f| what(&format!("example {f}")), (e.ate, e.ci_low, e.ci_high, e.p), example);
        }
        if let Some(adj) = want.get("adjusted") {
            assert!(got.adjusted.clustered);
            close_adjusted(&what, &got.adjusted, adj);
        }
    }
}

#[test]
fn table_effects_match_scipy_and_statsmodels() {
    let path = fixtures().join("pinned_examples.csv");
    let pinned = expected();
    let base = TableOptions {
        treatment: "arm".into(),
        control: "control".into(),
        outcomes: vec!["sentence_bleu".into()],
        pair: vec!["seed".into(), "example_id".into()],
        cluster: None,
        confounders: vec!["source_len".into(), "target_len".into()],
        settings: settings(),
    };
    let paired = table_effects(scan_table(&path).unwrap(), "fixture", &base).unwrap();
    let unpaired =
        table_effects(scan_table(&path).unwrap(), "fixture", &TableOptions { pair: vec![], ..base }).unwrap();
    let rows = pinned["table"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for want in rows {
        let arm = want["treatment"].as_str().unwrap();
        let p = paired.iter().find(|r| r.treatment == arm).unwrap();
        let u = unpaired.iter().find(|r| r.treatment == arm).unwrap();
        let what = |f: &str| format!("{arm} / {f}");
        // The headline: over seeds, the pair column `seed` being the unit.
        assert_eq!((p.unit.as_str(), p.n_units as u64), ("seed", want["headline"]["n"].as_u64().unwrap()));
        close_t(&|f| what(&format!("headline {f}")), (p.t.estimate, p.t.ci_low, p.t.ci_high, p.t.p), &want["headline"]);
        close(&what("headline p_perm"), p.p_perm, &want["headline"]["p_perm"]);
        // The old paired t over examples, kept as the example-level interval.
        let ex = p.ex.unwrap();
        close_t(&|f| what(&format!("example {f}")), (ex.estimate, ex.ci_low, ex.ci_high, ex.p), &want["paired"]);
        assert_eq!(p.n_pairs as u64, want["paired"]["n"].as_u64().unwrap());
        close_adjusted(&|f| what(&format!("paired {f}")), &p.adjusted, &want["paired_adjusted"]);
        close_adjusted(&|f| what(&format!("unpaired {f}")), &u.adjusted, &want["unpaired_adjusted"]);
        close(&what("welch ate"), u.t.estimate, &want["welch"]["ate"]);
        close(&what("welch ci_low"), u.t.ci_low, &want["welch"]["ci_low"]);
        close(&what("welch ci_high"), u.t.ci_high, &want["welch"]["ci_high"]);
        close(&what("welch p"), u.t.p, &want["welch"]["p"]);
        close(&what("welch df"), u.t.df, &want["welch"]["df"]);
    }
}
