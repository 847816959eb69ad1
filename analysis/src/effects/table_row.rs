//! The estimates of one (arm, outcome) row of `intervene effects --table`,
//! and the table they make.
//!
//! Paired rows: the headline is over units of replication. With a cluster
//! (`--cluster`, or the pair column `seed`), the unit is the cluster: the
//! per-cluster mean difference, a t interval on k - 1 degrees of freedom
//! and the exact sign-flip test over whole clusters. Without one, the unit
//! is the pair. The example-level numbers (`ex_*`, scipy's `ttest_rel` over
//! the pairs, and `boot_ci_*`, a bootstrap of pairs within clusters) are
//! kept beside it: the uncertainty over test examples for these particular
//! trained models.

use polars::prelude::*;

use super::adjust::LinearDesign;
use super::estimate::{Adjusted, SeedLevel, Settings, adjust};
use super::refute::{Refutations, RefuteInput, refute};
use crate::error::{PolarsContext, Result};
use crate::stats::describe::mean;
use crate::stats::resample::{label_permutation_diffs, percentile_interval, permutation_p, stratified_bootstrap};
use crate::stats::ttest::{TInterval, cohens_d_pooled, paired_t, welch_t};

#[derive(Debug, Clone)]
pub struct TableRow {
    pub treatment: String,
    pub outcome: String,
    pub n_treatment: usize,
    pub n_control: usize,
    pub n_pairs: usize,
    /// What the headline's units are: the cluster column, `pair`, or `row` (unpaired).
    pub unit: String,
    pub n_units: usize,
    pub control_mean: f64,
    pub treatment_mean: f64,
    /// The headline estimate, interval and p-value.
    pub t: TInterval,
    pub p_perm: f64,
    pub perm_exact: bool,
    pub cohens_d: f64,
    /// Paired t over the example pairs (paired rows only).
    pub ex: Option<TInterval>,
    pub boot_low: f64,
    pub boot_high: f64,
    pub adjusted: Adjusted,
    pub refutations: Option<Refutations>,
    pub p_t_holm: f64,
    pub p_perm_holm: f64,
    pub flags: Vec<String>,
}

fn interval_of(s: &SeedLevel) -> TInterval {
    TInterval { n: s.n, estimate: s.ate, se: s.se, df: s.df, ci_low: s.ci_low, ci_high: s.ci_high, p: s.p }
}

#[allow(clippy::too_many_arguments)]
pub fn paired_row<'a>(
    arm: &str,
    outcome: &str,
    y: &[f64],
    ws: &[Vec<f64>],
    pairs: &[(usize, usize)],
    cluster: Option<&str>,
    cluster_of: &dyn Fn(usize) -> Option<&'a str>,
    settings: &Settings,
    key: u64,
    flags: &mut Vec<String>,
) -> TableRow {
    let usable: Vec<(usize, usize)> =
        pairs.iter().copied().filter(|&(t, c)| !y[t].is_nan() && !y[c].is_nan()).collect();
    if usable.len() < pairs.len() {
        flags.push(format!("{outcome} null in {} pairs (left out)", pairs.len() - usable.len()));
    }
    let diffs: Vec<f64> = usable.iter().map(|&(t, c)| y[t] - y[c]).collect();
    // Pairs arrive sorted by cluster: contiguous ranges, one per cluster.
    let mut ranges = Vec::new();
    let mut start = 0;
    for i in 1..=usable.len() {
        if i == usable.len() || (cluster.is_some() && cluster_of(usable[i].0) != cluster_of(usable[start].0)) {
            ranges.push(start..i);
            start = i;
        }
    }
    let groups: Vec<&[f64]> = ranges.iter().map(|r| &diffs[r.clone()]).collect();
    let yt: Vec<f64> = usable.iter().map(|p| y[p.0]).collect();
    let yc: Vec<f64> = usable.iter().map(|p| y[p.1]).collect();
    let headline = match cluster {
        Some(_) => {
            let tm: Vec<f64> = ranges.iter().map(|r| mean(&yt[r.clone()])).collect();
            let cm: Vec<f64> = ranges.iter().map(|r| mean(&yc[r.clone()])).collect();
            SeedLevel::from_pairs(&tm, &cm, settings, key)
        }
        None => SeedLevel::from_pairs(&yt, &yc, settings, key),
    };
    if let Some(c) = cluster
        && headline.n == 1
    {
        flags.push(format!(
            "one `{c}`: no interval over training runs exists; ex_ci_* describes these trained models only"
        ));
    }
    let boot = stratified_bootstrap(&groups, settings.resamples, settings.seed, key);
    let complete: Vec<usize> = (0..usable.len()).filter(|&i| ws.iter().all(|w| w[usable[i].1].is_finite())).collect();
    if complete.len() < usable.len() {
        flags.push(format!("{} pairs with a null covariate left out of the adjustment", usable.len() - complete.len()));
    }
    let n = complete.len();
    let mut cluster_index = vec![0usize; usable.len()];
    for (g, r) in ranges.iter().enumerate() {
        for i in r.clone() {
            cluster_index[i] = g;
        }
    }
    let design = (n > 0).then(|| {
        let y2: Vec<f64> = complete.iter().map(|&i| yc[i]).chain(complete.iter().map(|&i| yt[i])).collect();
        let t2: Vec<f64> = (0..2 * n).map(|r| if r < n { 0.0 } else { 1.0 }).collect();
        // The control row's covariates on both rows: pre-treatment values only.
        let w2 = ws.iter().map(|w| complete.iter().chain(&complete).map(|&i| w[usable[i].1]).collect()).collect();
        let clusters = cluster.map(|_| complete.iter().chain(&complete).map(|&i| cluster_index[i]).collect());
        LinearDesign::new(y2, t2, w2, Some(n), clusters)
    });
    let refutations = (settings.refuter_sims > 0 && !usable.is_empty()).then(|| {
        let covariates = covariate_shifts(ws, &ranges, &usable);
        let placebo_groups: &[&[f64]] = if cluster.is_some() { &groups } else { &[] };
        refute(&RefuteInput {
            seed: &headline,
            groups: placebo_groups,
            covariates: &covariates,
            level: settings.level,
            sims: settings.refuter_sims,
            rng_seed: settings.seed,
            key,
        })
    });
    if let Some(r) = &refutations {
        let failed = r.failed();
        if !failed.is_empty() {
            flags.push(format!("refuted by {}", failed.join(", ")));
        }
    }
    let mut row =
        finish_row(arm, outcome, (mean(&yc), mean(&yt)), interval_of(&headline), boot, design, settings, flags);
    row.n_pairs = usable.len();
    row.unit = cluster.unwrap_or("pair").to_string();
    row.n_units = headline.n;
    row.p_perm = headline.p_perm;
    row.perm_exact = headline.perm_exact;
    row.cohens_d = headline.cohens_d;
    row.ex = Some(paired_t(&diffs, settings.level));
    row.refutations = refutations;
    row
}

/// Per covariate, the mean treatment-minus-control difference within each
/// cluster of pairs (what the dummy-outcome refuter tests against 0).
fn covariate_shifts(ws: &[Vec<f64>], ranges: &[std::ops::Range<usize>], usable: &[(usize, usize)]) -> Vec<Vec<f64>> {
    ws.iter()
        .map(|w| {
            ranges
                .iter()
                .map(|r| {
                    let d: Vec<f64> = r
                        .clone()
                        .map(|i| usable[i])
                        .filter(|&(t, c)| w[t].is_finite() && w[c].is_finite())
                        .map(|(t, c)| w[t] - w[c])
                        .collect();
                    mean(&d)
                })
                .collect()
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
pub fn unpaired_row(
    arm: &str,
    outcome: &str,
    y: &[f64],
    ws: &[Vec<f64>],
    treated: &[usize],
    control: &[usize],
    settings: &Settings,
    key: u64,
    flags: &mut Vec<String>,
) -> TableRow {
    let pick = |rows: &[usize]| -> Vec<usize> { rows.iter().copied().filter(|&r| !y[r].is_nan()).collect() };
    let (tr, cr) = (pick(treated), pick(control));
    let nulls = treated.len() + control.len() - tr.len() - cr.len();
    if nulls > 0 {
        flags.push(format!("{outcome} null in {nulls} rows (left out)"));
    }
    let yt: Vec<f64> = tr.iter().map(|&r| y[r]).collect();
    let yc: Vec<f64> = cr.iter().map(|&r| y[r]).collect();
    let bt = stratified_bootstrap(&[&yt], settings.resamples, settings.seed, key);
    let bc = stratified_bootstrap(&[&yc], settings.resamples, settings.seed, key ^ 0x4354_524C);
    let boot: Vec<f64> = bt.iter().zip(&bc).map(|(a, b)| a - b).collect();
    let t = welch_t(&yt, &yc, settings.level);
    let permuted = label_permutation_diffs(&yt, &yc, settings.permutations, settings.seed, key ^ 0x5045_524D);
    let rows: Vec<usize> = cr.iter().chain(&tr).copied().filter(|&r| ws.iter().all(|w| w[r].is_finite())).collect();
    if rows.len() < tr.len() + cr.len() {
        flags.push(format!(
            "{} rows with a null covariate left out of the adjustment",
            tr.len() + cr.len() - rows.len()
        ));
    }
    let treated_set: std::collections::HashSet<usize> = tr.iter().copied().collect();
    let design = (!rows.is_empty()).then(|| {
        LinearDesign::new(
            rows.iter().map(|&r| y[r]).collect(),
            rows.iter().map(|r| if treated_set.contains(r) { 1.0 } else { 0.0 }).collect(),
            ws.iter().map(|w| rows.iter().map(|&r| w[r]).collect()).collect(),
            None,
            None,
        )
    });
    let mut row = finish_row(arm, outcome, (mean(&yc), mean(&yt)), t, boot, design, settings, flags);
    row.unit = "row".into();
    row.n_units = yt.len() + yc.len();
    row.p_perm = permutation_p(t.estimate, &permuted);
    row.cohens_d = cohens_d_pooled(&yt, &yc);
    row
}

#[allow(clippy::too_many_arguments)]
fn finish_row(
    arm: &str,
    outcome: &str,
    means: (f64, f64),
    t: TInterval,
    boot: Vec<f64>,
    design: Option<LinearDesign>,
    settings: &Settings,
    flags: &mut Vec<String>,
) -> TableRow {
    let mut boot = boot;
    let (boot_low, boot_high) = percentile_interval(&mut boot, settings.level);
    let adjusted = match design {
        Some(d) => {
            let (a, e) = adjust(&d, settings);
            if let Some(e) = e {
                flags.push(e);
            }
            a
        }
        None => Adjusted::empty(),
    };
    TableRow {
        treatment: arm.to_string(),
        outcome: outcome.to_string(),
        n_treatment: 0,
        n_control: 0,
        n_pairs: 0,
        unit: String::new(),
        n_units: 0,
        control_mean: means.0,
        treatment_mean: means.1,
        t,
        p_perm: f64::NAN,
        perm_exact: false,
        cohens_d: f64::NAN,
        ex: None,
        boot_low,
        boot_high,
        adjusted,
        refutations: None,
        p_t_holm: f64::NAN,
        p_perm_holm: f64::NAN,
        flags: Vec::new(),
    }
}

fn opt(v: f64) -> Option<f64> {
    if v.is_nan() { None } else { Some(v) }
}

/// What a row's headline interval is over.
pub fn table_ci_kind(r: &TableRow) -> String {
    match r.unit.as_str() {
        "row" => "groups (Welch t)".into(),
        "pair" => "pairs (paired t, n-1 df)".into(),
        unit if r.n_units < 2 => format!("one {unit}: no interval over training runs"),
        unit => format!("{unit} clusters (paired t, k-1 df)"),
    }
}

pub fn table_frame(rows: &[TableRow], control: &str) -> Result<DataFrame> {
    let num = |f: &dyn Fn(&TableRow) -> f64| rows.iter().map(|r| opt(f(r))).collect::<Vec<_>>();
    let count = |f: &dyn Fn(&TableRow) -> usize| rows.iter().map(|r| f(r) as u64).collect::<Vec<_>>();
    let ex =
        |f: &dyn Fn(&TInterval) -> f64| rows.iter().map(|r| r.ex.as_ref().and_then(|e| opt(f(e)))).collect::<Vec<_>>();
    let refut = |f: &dyn Fn(&Refutations) -> f64| {
        rows.iter().map(|r| r.refutations.as_ref().and_then(|x| opt(f(x)))).collect::<Vec<_>>()
    };
    let pass = |f: &dyn Fn(&Refutations) -> Option<bool>| {
        rows.iter().map(|r| r.refutations.as_ref().and_then(f)).collect::<Vec<_>>()
    };
    let columns = vec![
        Column::new("treatment".into(), rows.iter().map(|r| r.treatment.clone()).collect::<Vec<_>>()),
        Column::new("control".into(), rows.iter().map(|_| control.to_string()).collect::<Vec<_>>()),
        Column::new("outcome".into(), rows.iter().map(|r| r.outcome.clone()).collect::<Vec<_>>()),
        Column::new("n_treatment".into(), count(&|r| r.n_treatment)),
        Column::new("n_control".into(), count(&|r| r.n_control)),
        Column::new("n_pairs".into(), count(&|r| r.n_pairs)),
        Column::new("unit".into(), rows.iter().map(|r| r.unit.clone()).collect::<Vec<_>>()),
        Column::new("n_units".into(), count(&|r| r.n_units)),
        Column::new("control_mean".into(), num(&|r| r.control_mean)),
        Column::new("treatment_mean".into(), num(&|r| r.treatment_mean)),
        Column::new("ate".into(), num(&|r| r.t.estimate)),
        Column::new("se".into(), num(&|r| r.t.se)),
        Column::new("df".into(), num(&|r| r.t.df)),
        Column::new("ci_low".into(), num(&|r| r.t.ci_low)),
        Column::new("ci_high".into(), num(&|r| r.t.ci_high)),
        Column::new("ci_kind".into(), rows.iter().map(table_ci_kind).collect::<Vec<_>>()),
        Column::new("p_t".into(), num(&|r| r.t.p)),
        Column::new("p_t_holm".into(), num(&|r| r.p_t_holm)),
        Column::new("p_perm".into(), num(&|r| r.p_perm)),
        Column::new("p_perm_exact".into(), rows.iter().map(|r| r.perm_exact).collect::<Vec<_>>()),
        Column::new("p_perm_holm".into(), num(&|r| r.p_perm_holm)),
        Column::new("cohens_d".into(), num(&|r| r.cohens_d)),
        Column::new("ex_ate".into(), ex(&|e| e.estimate)),
        Column::new("ex_se".into(), ex(&|e| e.se)),
        Column::new("ex_df".into(), ex(&|e| e.df)),
        Column::new("ex_ci_low".into(), ex(&|e| e.ci_low)),
        Column::new("ex_ci_high".into(), ex(&|e| e.ci_high)),
        Column::new("ex_p_t".into(), ex(&|e| e.p)),
        Column::new("boot_ci_low".into(), num(&|r| r.boot_low)),
        Column::new("boot_ci_high".into(), num(&|r| r.boot_high)),
        Column::new("adj_n".into(), count(&|r| r.adjusted.n_obs)),
        Column::new("adj_ate".into(), num(&|r| r.adjusted.ate)),
        Column::new("adj_se".into(), num(&|r| r.adjusted.se)),
        Column::new("adj_df".into(), num(&|r| r.adjusted.df)),
        Column::new("adj_ci_low".into(), num(&|r| r.adjusted.ci_low)),
        Column::new("adj_ci_high".into(), num(&|r| r.adjusted.ci_high)),
        Column::new("adj_p".into(), num(&|r| r.adjusted.p)),
        Column::new("adj_clustered".into(), rows.iter().map(|r| r.adjusted.clustered).collect::<Vec<_>>()),
        Column::new("placebo_share".into(), refut(&|x| x.placebo.effect)),
        Column::new("placebo_pass".into(), pass(&|x| x.placebo.pass)),
        Column::new("dummy_effect".into(), refut(&|x| x.dummy_outcome.effect)),
        Column::new("dummy_pass".into(), pass(&|x| x.dummy_outcome.pass)),
        Column::new("subset_effect".into(), refut(&|x| x.data_subset.effect)),
        Column::new("subset_low".into(), refut(&|x| x.data_subset.low)),
        Column::new("subset_high".into(), refut(&|x| x.data_subset.high)),
        Column::new("subset_pass".into(), pass(&|x| x.data_subset.pass)),
        Column::new("sens_bias".into(), refut(&|x| x.sensitivity.effect)),
        Column::new("sens_bias_sd".into(), refut(&|x| x.sensitivity.low)),
        Column::new("sens_pass".into(), pass(&|x| x.sensitivity.pass)),
        Column::new("flags".into(), rows.iter().map(|r| r.flags.join("; ")).collect::<Vec<_>>()),
    ];
    DataFrame::new(rows.len(), columns).ctx(|| "building the effects table".into())
}
