//! Effects on committed fixture tables against reference values from scipy
//! and statsmodels. The fixtures (analysis/tests/fixtures/) were written once
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

#[test]
fn study_effects_match_scipy_and_statsmodels() {
    let results = StudyResults::locate(&fixtures().join("state"), "pinned", None).unwrap();
    let tables = results.load().unwrap();
    let opts = Options {
        outcomes: vec!["bleu".into(), "token_accuracy".into(), "exact_match".into()],
        settings: settings(),
        ..Default::default()
    };
    let effects = study_effects(&tables, &opts).unwrap();
    let pinned = expected();
    let rows = pinned["study"].as_array().unwrap();
    assert_eq!(rows.len(), 6, "two arms x three outcomes");
    for want in rows {
        let (arm, outcome) = (want["arm"].as_str().unwrap(), want["outcome"].as_str().unwrap());
        let got = effects.rows.iter().find(|r| r.arm == arm && r.outcome == outcome).unwrap();
        assert_eq!(got.compare_to, want["compare_to"].as_str().unwrap());
        let what = |f: &str| format!("{arm} / {outcome} / {f}");
        let seed = &want["seed"];
        assert_eq!(got.seed.n as u64, seed["n"].as_u64().unwrap());
        close(&what("seed ate"), got.seed.ate, &seed["ate"]);
        close(&what("seed ci_low"), got.seed.ci_low, &seed["ci_low"]);
        close(&what("seed ci_high"), got.seed.ci_high, &seed["ci_high"]);
        close(&what("seed p"), got.seed.p, &seed["p"]);
        let adj = &want["adjusted"];
        close(&what("adjusted ate"), got.adjusted.ate, &adj["ate"]);
        close(&what("adjusted se"), got.adjusted.se, &adj["se"]);
        close(&what("adjusted ci_low"), got.adjusted.ci_low, &adj["ci_low"]);
        close(&what("adjusted ci_high"), got.adjusted.ci_high, &adj["ci_high"]);
        close(&what("adjusted p"), got.adjusted.p, &adj["p"]);
        close(&what("adjusted df"), got.adjusted.df, &adj["df"]);
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
        close(&what("paired ate"), p.t.estimate, &want["paired"]["ate"]);
        close(&what("paired ci_low"), p.t.ci_low, &want["paired"]["ci_low"]);
        close(&what("paired ci_high"), p.t.ci_high, &want["paired"]["ci_high"]);
        close(&what("paired p"), p.t.p, &want["paired"]["p"]);
        assert_eq!(p.n_pairs as u64, want["paired"]["n"].as_u64().unwrap());
        for (got, key) in [(&p.adjusted, "paired_adjusted"), (&u.adjusted, "unpaired_adjusted")] {
            close(&what(&format!("{key} ate")), got.ate, &want[key]["ate"]);
            close(&what(&format!("{key} se")), got.se, &want[key]["se"]);
            close(&what(&format!("{key} ci_low")), got.ci_low, &want[key]["ci_low"]);
            close(&what(&format!("{key} ci_high")), got.ci_high, &want[key]["ci_high"]);
            close(&what(&format!("{key} p")), got.p, &want[key]["p"]);
        }
        close(&what("welch ate"), u.t.estimate, &want["welch"]["ate"]);
        close(&what("welch ci_low"), u.t.ci_low, &want["welch"]["ci_low"]);
        close(&what("welch ci_high"), u.t.ci_high, &want["welch"]["ci_high"]);
        close(&what("welch p"), u.t.p, &want["welch"]["p"]);
        close(&what("welch df"), u.t.df, &want["welch"]["df"]);
    }
}
