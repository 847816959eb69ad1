//! The effects table as a DataFrame (for CSV, JSON, Parquet and SQL-minded
//! users) and as a compact terminal table.

use polars::prelude::*;

use super::{EffectRow, Refutations};
use crate::error::{PolarsContext, Result};
use crate::output::TextTable;
use crate::stats::holm::holm;

/// Holm-adjust the headline t and permutation p-values over the rows shown.
pub fn apply_holm(rows: &mut [EffectRow]) {
    let t = holm(&rows.iter().map(|r| r.seed.p).collect::<Vec<_>>());
    let perm = holm(&rows.iter().map(|r| r.seed.p_perm).collect::<Vec<_>>());
    for (i, r) in rows.iter_mut().enumerate() {
        r.p_t_holm = t[i];
        r.p_perm_holm = perm[i];
    }
}

fn opt(v: f64) -> Option<f64> {
    if v.is_nan() { None } else { Some(v) }
}

/// What the headline interval of a row is over.
pub fn headline_kind(r: &EffectRow) -> &'static str {
    match r.seed.n {
        0 => "none",
        1 => "one seed: no interval over training runs",
        _ => "seeds (paired t, k-1 df)",
    }
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
    "se",
    "df",
    "ci_low",
    "ci_high",
    "ci_kind",
    "p_t",
    "p_t_holm",
    "p_perm",
    "p_perm_exact",
    "p_perm_holm",
    "cohens_d",
    "n_pairs",
    "ex_control_mean",
    "ex_treatment_mean",
    "ex_ate",
    "ex_se",
    "ex_ci_low",
    "ex_ci_high",
    "ex_p_t",
    "ex_boot_low",
    "ex_boot_high",
    "ex_cohens_d",
    "adj_n",
    "adj_ate",
    "adj_se",
    "adj_df",
    "adj_ci_low",
    "adj_ci_high",
    "adj_p",
    "adj_clustered",
    "placebo_share",
    "placebo_pass",
    "dummy_effect",
    "dummy_low",
    "dummy_high",
    "dummy_pass",
    "subset_effect",
    "subset_low",
    "subset_high",
    "subset_pass",
    "sens_bias",
    "sens_bias_sd",
    "sens_pass",
    "flags",
];

pub fn to_frame(rows: &[EffectRow]) -> Result<DataFrame> {
    let text = |f: fn(&EffectRow) -> Option<String>| rows.iter().map(f).collect::<Vec<_>>();
    let num = |f: fn(&EffectRow) -> f64| rows.iter().map(|r| opt(f(r))).collect::<Vec<_>>();
    let count = |f: fn(&EffectRow) -> usize| rows.iter().map(|r| f(r) as u64).collect::<Vec<_>>();
    let flag = |f: fn(&EffectRow) -> bool| rows.iter().map(f).collect::<Vec<_>>();
    let refut = |f: fn(&Refutations) -> f64| {
        rows.iter().map(|r| r.refutations.as_ref().and_then(|x| opt(f(x)))).collect::<Vec<_>>()
    };
    let pass = |f: fn(&Refutations) -> Option<bool>| {
        rows.iter().map(|r| r.refutations.as_ref().and_then(f)).collect::<Vec<_>>()
    };
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
        Column::new("se".into(), num(|r| r.seed.se)),
        Column::new("df".into(), num(|r| r.seed.df)),
        Column::new("ci_low".into(), num(|r| r.seed.ci_low)),
        Column::new("ci_high".into(), num(|r| r.seed.ci_high)),
        Column::new("ci_kind".into(), text(|r| Some(headline_kind(r).to_string()))),
        Column::new("p_t".into(), num(|r| r.seed.p)),
        Column::new("p_t_holm".into(), num(|r| r.p_t_holm)),
        Column::new("p_perm".into(), num(|r| r.seed.p_perm)),
        Column::new("p_perm_exact".into(), flag(|r| r.seed.perm_exact)),
        Column::new("p_perm_holm".into(), num(|r| r.p_perm_holm)),
        Column::new("cohens_d".into(), num(|r| r.seed.cohens_d)),
        Column::new("n_pairs".into(), count(|r| r.example.n_pairs)),
        Column::new("ex_control_mean".into(), num(|r| r.example.control_mean)),
        Column::new("ex_treatment_mean".into(), num(|r| r.example.treatment_mean)),
        Column::new("ex_ate".into(), num(|r| r.example.ate)),
        Column::new("ex_se".into(), num(|r| r.example.se)),
        Column::new("ex_ci_low".into(), num(|r| r.example.ci_low)),
        Column::new("ex_ci_high".into(), num(|r| r.example.ci_high)),
        Column::new("ex_p_t".into(), num(|r| r.example.p)),
        Column::new("ex_boot_low".into(), num(|r| r.example.boot_low)),
        Column::new("ex_boot_high".into(), num(|r| r.example.boot_high)),
        Column::new("ex_cohens_d".into(), num(|r| r.example.cohens_d)),
        Column::new("adj_n".into(), count(|r| r.adjusted.n_obs)),
        Column::new("adj_ate".into(), num(|r| r.adjusted.ate)),
        Column::new("adj_se".into(), num(|r| r.adjusted.se)),
        Column::new("adj_df".into(), num(|r| r.adjusted.df)),
        Column::new("adj_ci_low".into(), num(|r| r.adjusted.ci_low)),
        Column::new("adj_ci_high".into(), num(|r| r.adjusted.ci_high)),
        Column::new("adj_p".into(), num(|r| r.adjusted.p)),
        Column::new("adj_clustered".into(), flag(|r| r.adjusted.clustered)),
        Column::new("placebo_share".into(), refut(|x| x.placebo.effect)),
        Column::new("placebo_pass".into(), pass(|x| x.placebo.pass)),
        Column::new("dummy_effect".into(), refut(|x| x.dummy_outcome.effect)),
        Column::new("dummy_low".into(), refut(|x| x.dummy_outcome.low)),
        Column::new("dummy_high".into(), refut(|x| x.dummy_outcome.high)),
        Column::new("dummy_pass".into(), pass(|x| x.dummy_outcome.pass)),
        Column::new("subset_effect".into(), refut(|x| x.data_subset.effect)),
        Column::new("subset_low".into(), refut(|x| x.data_subset.low)),
        Column::new("subset_high".into(), refut(|x| x.data_subset.high)),
        Column::new("subset_pass".into(), pass(|x| x.data_subset.pass)),
        Column::new("sens_bias".into(), refut(|x| x.sensitivity.effect)),
        Column::new("sens_bias_sd".into(), refut(|x| x.sensitivity.low)),
        Column::new("sens_pass".into(), pass(|x| x.sensitivity.pass)),
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

/// The terminal view: the headline (over seeds) first; with `detail`, the
/// example-level and adjusted estimates too. Every number is in the
/// CSV/JSON output.
pub fn to_text(rows: &[EffectRow], level: f64, detail: bool) -> String {
    let has_stratum = rows.iter().any(|r| r.stratum.is_some());
    let has_bucket = rows.iter().any(|r| r.bucket.is_some());
    let pct = format!("{}%", level * 100.0);
    let headline = format!("ATE [{pct} CI] over seeds");
    let examples = format!("examples, these models [{pct} CI]");
    let adjusted = format!("adjusted [{pct} CI]");
    let mut headers: Vec<&str> = vec!["arm", "vs", "outcome"];
    if has_bucket {
        headers.push("bucket");
    }
    if has_stratum {
        headers.push("length_bin");
    }
    headers.extend(["seeds", "control", "treatment", headline.as_str(), "p_t (Holm)", "p_perm (Holm)"]);
    if detail {
        headers.extend(["pairs", examples.as_str(), adjusted.as_str(), "d"]);
    }
    headers.extend(["refuters", "flags"]);
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
        row.extend([
            r.seed.n.to_string(),
            pp(r.seed.control_mean),
            pp(r.seed.treatment_mean),
            interval(r.seed.ate, r.seed.ci_low, r.seed.ci_high),
            format!("{} ({})", p_value(r.seed.p), p_value(r.p_t_holm)),
            format!("{} ({})", p_value(r.seed.p_perm), p_value(r.p_perm_holm)),
        ]);
        if detail {
            let d = if r.seed.cohens_d.is_nan() { r.example.cohens_d } else { r.seed.cohens_d };
            row.extend([
                r.example.n_pairs.to_string(),
                interval(r.example.ate, r.example.ci_low, r.example.ci_high),
                interval(r.adjusted.ate, r.adjusted.ci_low, r.adjusted.ci_high),
                pp(d),
            ]);
        }
        row.extend([r.refutations.as_ref().map(|x| x.summary()).unwrap_or_else(|| "-".into()), r.flags.join("; ")]);
        table.rows.push(row);
    }
    table.render()
}
