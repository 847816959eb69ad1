//! The effects table as a DataFrame (for CSV, JSON, Parquet and SQL-minded
//! users) and as a compact terminal table.

use polars::prelude::*;

use super::EffectRow;
use crate::error::{PolarsContext, Result};
use crate::output::TextTable;
use crate::stats::holm::holm;

/// Holm-adjust the seed-level and permutation p-values over every row.
pub fn apply_holm(rows: &mut [EffectRow]) {
    let t = holm(&rows.iter().map(|r| r.seed.p).collect::<Vec<_>>());
    let perm = holm(&rows.iter().map(|r| r.example.p_perm).collect::<Vec<_>>());
    for (i, r) in rows.iter_mut().enumerate() {
        r.p_t_holm = t[i];
        r.p_perm_holm = perm[i];
    }
}

fn opt(v: f64) -> Option<f64> {
    if v.is_nan() { None } else { Some(v) }
}

/// The column names of [`to_frame`], in order.
pub const COLUMNS: &[&str] = &[
    "outcome",
    "arm",
    "compare_to",
    "kind",
    "intervention",
    "bucket",
    "stratum",
    "n_seeds",
    "control_mean",
    "treatment_mean",
    "ate",
    "ci_low",
    "ci_high",
    "p_t",
    "p_t_holm",
    "cohens_d",
    "n_pairs",
    "ex_control_mean",
    "ex_treatment_mean",
    "ex_ate",
    "ex_ci_low",
    "ex_ci_high",
    "p_perm",
    "p_perm_holm",
    "ex_cohens_d",
    "adj_n",
    "adj_ate",
    "adj_se",
    "adj_ci_low",
    "adj_ci_high",
    "adj_p",
    "placebo_effect",
    "placebo_low",
    "placebo_high",
    "placebo_pass",
    "rcc_effect",
    "rcc_pass",
    "subset_effect",
    "subset_low",
    "subset_high",
    "subset_pass",
    "flags",
];

pub fn to_frame(rows: &[EffectRow]) -> Result<DataFrame> {
    let text = |f: fn(&EffectRow) -> Option<String>| rows.iter().map(f).collect::<Vec<_>>();
    let num = |f: fn(&EffectRow) -> f64| rows.iter().map(|r| opt(f(r))).collect::<Vec<_>>();
    let count = |f: fn(&EffectRow) -> usize| rows.iter().map(|r| f(r) as u64).collect::<Vec<_>>();
    let pass = |f: fn(&EffectRow) -> Option<bool>| rows.iter().map(f).collect::<Vec<_>>();
    let refut = |r: &EffectRow| r.refutations.clone();
    let columns: Vec<Column> = vec![
        Column::new("outcome".into(), text(|r| Some(r.outcome.clone()))),
        Column::new("arm".into(), text(|r| Some(r.arm.clone()))),
        Column::new("compare_to".into(), text(|r| Some(r.compare_to.clone()))),
        Column::new("kind".into(), text(|r| Some(r.kind.clone()))),
        Column::new("intervention".into(), text(|r| Some(r.intervention.clone()))),
        Column::new("bucket".into(), text(|r| r.bucket.clone())),
        Column::new("stratum".into(), text(|r| r.stratum.clone())),
        Column::new("n_seeds".into(), count(|r| r.seed.n)),
        Column::new("control_mean".into(), num(|r| r.seed.control_mean)),
        Column::new("treatment_mean".into(), num(|r| r.seed.treatment_mean)),
        Column::new("ate".into(), num(|r| r.seed.ate)),
        Column::new("ci_low".into(), num(|r| r.seed.ci_low)),
        Column::new("ci_high".into(), num(|r| r.seed.ci_high)),
        Column::new("p_t".into(), num(|r| r.seed.p)),
        Column::new("p_t_holm".into(), num(|r| r.p_t_holm)),
        Column::new("cohens_d".into(), num(|r| r.seed.cohens_d)),
        Column::new("n_pairs".into(), count(|r| r.example.n_pairs)),
        Column::new("ex_control_mean".into(), num(|r| r.example.control_mean)),
        Column::new("ex_treatment_mean".into(), num(|r| r.example.treatment_mean)),
        Column::new("ex_ate".into(), num(|r| r.example.ate)),
        Column::new("ex_ci_low".into(), num(|r| r.example.ci_low)),
        Column::new("ex_ci_high".into(), num(|r| r.example.ci_high)),
        Column::new("p_perm".into(), num(|r| r.example.p_perm)),
        Column::new("p_perm_holm".into(), num(|r| r.p_perm_holm)),
        Column::new("ex_cohens_d".into(), num(|r| r.example.cohens_d)),
        Column::new("adj_n".into(), count(|r| r.adjusted.n_obs)),
        Column::new("adj_ate".into(), num(|r| r.adjusted.ate)),
        Column::new("adj_se".into(), num(|r| r.adjusted.se)),
        Column::new("adj_ci_low".into(), num(|r| r.adjusted.ci_low)),
        Column::new("adj_ci_high".into(), num(|r| r.adjusted.ci_high)),
        Column::new("adj_p".into(), num(|r| r.adjusted.p)),
        Column::new(
            "placebo_effect".into(),
            rows.iter().map(|r| refut(r).and_then(|x| opt(x.placebo.effect))).collect::<Vec<_>>(),
        ),
        Column::new(
            "placebo_low".into(),
            rows.iter().map(|r| refut(r).and_then(|x| opt(x.placebo.low))).collect::<Vec<_>>(),
        ),
        Column::new(
            "placebo_high".into(),
            rows.iter().map(|r| refut(r).and_then(|x| opt(x.placebo.high))).collect::<Vec<_>>(),
        ),
        Column::new("placebo_pass".into(), pass(|r| r.refutations.as_ref().map(|x| x.placebo.pass))),
        Column::new(
            "rcc_effect".into(),
            rows.iter().map(|r| refut(r).and_then(|x| opt(x.random_common_cause.effect))).collect::<Vec<_>>(),
        ),
        Column::new("rcc_pass".into(), pass(|r| r.refutations.as_ref().map(|x| x.random_common_cause.pass))),
        Column::new(
            "subset_effect".into(),
            rows.iter().map(|r| refut(r).and_then(|x| opt(x.data_subset.effect))).collect::<Vec<_>>(),
        ),
        Column::new(
            "subset_low".into(),
            rows.iter().map(|r| refut(r).and_then(|x| opt(x.data_subset.low))).collect::<Vec<_>>(),
        ),
        Column::new(
            "subset_high".into(),
            rows.iter().map(|r| refut(r).and_then(|x| opt(x.data_subset.high))).collect::<Vec<_>>(),
        ),
        Column::new("subset_pass".into(), pass(|r| r.refutations.as_ref().map(|x| x.data_subset.pass))),
        Column::new("flags".into(), text(|r| Some(r.flags.join("; ")))),
    ];
    DataFrame::new(rows.len(), columns).ctx(|| "building the effects table".into())
}

/// Two decimals: outcomes are percentage points.
pub fn pp(v: f64) -> String {
    if v.is_nan() { "-".into() } else { format!("{v:.2}") }
}

pub fn interval(est: f64, lo: f64, hi: f64) -> String {
    if est.is_nan() {
        "-".into()
    } else if lo.is_nan() {
        format!("{est:+.2}")
    } else {
        format!("{est:+.2} [{lo:+.2}, {hi:+.2}]")
    }
}

pub fn p_value(p: f64) -> String {
    if p.is_nan() {
        "-".into()
    } else if p < 0.001 {
        "<0.001".into()
    } else {
        format!("{p:.3}")
    }
}

/// The terminal view: the estimates people read first; every number is in
/// the CSV/JSON output.
pub fn to_text(rows: &[EffectRow]) -> String {
    let has_stratum = rows.iter().any(|r| r.stratum.is_some());
    let has_bucket = rows.iter().any(|r| r.bucket.is_some());
    let mut headers = vec!["arm", "vs", "outcome"];
    if has_bucket {
        headers.push("bucket");
    }
    if has_stratum {
        headers.push("length_bin");
    }
    headers.extend([
        "seeds",
        "control",
        "treatment",
        "ATE [95% CI] (seeds)",
        "p_t (Holm)",
        "pairs",
        "ATE [95% CI] (examples)",
        "p_perm (Holm)",
        "adjusted ATE [95% CI]",
        "d",
        "refuters",
        "flags",
    ]);
    let mut table = TextTable { headers: headers.iter().map(|h| h.to_string()).collect(), ..Default::default() };
    table.right =
        headers.iter().map(|h| !matches!(*h, "arm" | "vs" | "outcome" | "bucket" | "length_bin" | "flags")).collect();
    for r in rows {
        let mut row = vec![r.arm.clone(), r.compare_to.clone(), r.outcome.clone()];
        if has_bucket {
            row.push(r.bucket.clone().unwrap_or_default());
        }
        if has_stratum {
            row.push(r.stratum.clone().unwrap_or_default());
        }
        let d = if r.example.cohens_d.is_nan() { r.seed.cohens_d } else { r.example.cohens_d };
        row.extend([
            r.seed.n.to_string(),
            pp(r.seed.control_mean),
            pp(r.seed.treatment_mean),
            interval(r.seed.ate, r.seed.ci_low, r.seed.ci_high),
            format!("{} ({})", p_value(r.seed.p), p_value(r.p_t_holm)),
            r.example.n_pairs.to_string(),
            interval(r.example.ate, r.example.ci_low, r.example.ci_high),
            format!("{} ({})", p_value(r.example.p_perm), p_value(r.p_perm_holm)),
            interval(r.adjusted.ate, r.adjusted.ci_low, r.adjusted.ci_high),
            pp(d),
            r.refutations.as_ref().map(|x| format!("{}/3 pass", x.passed())).unwrap_or_else(|| "-".into()),
            r.flags.join("; "),
        ]);
        table.rows.push(row);
    }
    table.render()
}
