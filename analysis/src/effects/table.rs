//! Effects on any table: `intervene effects --table FILE --treatment COL
//! --control VALUE --outcome COL [--pair COL,..] [--cluster COL]
//! [--confounders A,B]`, so results from elsewhere can be analysed.
//!
//! Every value of the treatment column other than the control value is an
//! arm compared to the control rows. With `--pair`, rows are matched on the
//! pair columns (paired t, sign-flip permutation, bootstrap of pairs,
//! resampling `--cluster` groups first when given, paired Cohen's d).
//! Without it the groups are independent (Welch t, label permutation,
//! bootstrap within each group, pooled Cohen's d). Booleans count as 0/100,
//! like the study tables.

use std::collections::HashMap;

// Pair keys of up to a million rows are hashed: SipHash was a tenth of the
// bootstrap-free time in the profile of `effects --table` on 1M rows.
use foldhash::fast::FixedState;
use std::path::Path;

use polars::prelude::*;

use super::adjust::LinearDesign;
use super::estimate::{Adjusted, Settings, adjust_and_refute};
use super::refute::Refutations;
use crate::error::{Error, PolarsContext, Result};
use crate::stats::describe::mean;
use crate::stats::holm::holm;
use crate::stats::resample::{
    hierarchical_bootstrap, label_permutation_diffs, percentile_interval, permutation_p, sign_flip_means,
};
use crate::stats::rng::stable_hash;
use crate::stats::ttest::{TInterval, cohens_d_paired, cohens_d_pooled, paired_t, welch_t};
use crate::tables::{Kind, require_columns, schema_of};

#[derive(Debug, Clone)]
pub struct TableOptions {
    pub treatment: String,
    pub control: String,
    pub outcomes: Vec<String>,
    pub pair: Vec<String>,
    pub cluster: Option<String>,
    pub confounders: Vec<String>,
    pub settings: Settings,
}

#[derive(Debug, Clone)]
pub struct TableRow {
    pub treatment: String,
    pub outcome: String,
    pub n_treatment: usize,
    pub n_control: usize,
    pub n_pairs: usize,
    pub control_mean: f64,
    pub treatment_mean: f64,
    pub t: TInterval,
    pub boot_low: f64,
    pub boot_high: f64,
    pub p_perm: f64,
    pub cohens_d: f64,
    pub adjusted: Adjusted,
    pub refutations: Option<Refutations>,
    pub p_t_holm: f64,
    pub p_perm_holm: f64,
    pub flags: Vec<String>,
}

/// Scan a Parquet or CSV file.
pub fn scan_table(path: &Path) -> Result<LazyFrame> {
    let text = path.to_str().ok_or_else(|| Error::BadArgument {
        flag: "--table".into(),
        value: path.display().to_string(),
        message: "the path is not valid UTF-8".into(),
    })?;
    if !path.is_file() {
        return Err(Error::BadArgument { flag: "--table".into(), value: text.into(), message: "no such file".into() });
    }
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "parquet" | "pq" => {
            LazyFrame::scan_parquet(PlRefPath::new(text), ScanArgsParquet { glob: false, ..Default::default() })
                .ctx(|| format!("reading {text}"))
        }
        "csv" => LazyCsvReader::new(PlRefPath::new(text))
            .with_has_header(true)
            .with_infer_schema_length(Some(10_000))
            .finish()
            .ctx(|| format!("reading {text}")),
        _ => Err(Error::BadArgument {
            flag: "--table".into(),
            value: text.into(),
            message: "expected a .parquet or .csv file".into(),
        }),
    }
}

pub fn table_effects(lf: LazyFrame, location: &str, opts: &TableOptions) -> Result<Vec<TableRow>> {
    let mut lf = lf;
    let schema = schema_of(&mut lf, "table", location)?;
    let mut needed = vec![(opts.treatment.as_str(), Kind::Any)];
    needed.extend(opts.outcomes.iter().map(|o| (o.as_str(), Kind::BoolOrNumeric)));
    needed.extend(opts.confounders.iter().map(|c| (c.as_str(), Kind::BoolOrNumeric)));
    needed.extend(opts.pair.iter().map(|p| (p.as_str(), Kind::Any)));
    if let Some(c) = &opts.cluster {
        needed.push((c.as_str(), Kind::Any));
    }
    require_columns(&schema, "table", location, &needed)?;
    if opts.cluster.is_some() && opts.pair.is_empty() {
        return Err(Error::BadArgument {
            flag: "--cluster".into(),
            value: opts.cluster.clone().unwrap_or_default(),
            message: "clusters group pairs: give --pair too".into(),
        });
    }
    let numeric = |name: &str| {
        let dtype = schema.get(name).cloned().unwrap_or(DataType::Float64);
        let e = if dtype.is_bool() {
            col(name).cast(DataType::Float64) * lit(100.0)
        } else {
            col(name).cast(DataType::Float64)
        };
        e.fill_null(lit(f64::NAN))
    };
    let mut exprs = vec![col(opts.treatment.as_str()).cast(DataType::String).alias("__arm")];
    for (k, o) in opts.outcomes.iter().enumerate() {
        exprs.push(numeric(o).alias(format!("__y{k}")));
    }
    for (j, c) in opts.confounders.iter().enumerate() {
        exprs.push(numeric(c).alias(format!("__w{j}")));
    }
    // Pair and cluster keys as text, so any key type joins and groups alike.
    let key_cols: Vec<String> = opts.pair.iter().chain(opts.cluster.iter()).cloned().collect();
    for (i, p) in key_cols.iter().enumerate() {
        exprs.push(col(p.as_str()).cast(DataType::String).alias(format!("__k{i}")));
    }
    let df = lf.select(exprs).collect().ctx(|| format!("reading {location}"))?;
    let arms = df.column("__arm").and_then(|c| c.str().cloned()).ctx(|| "treatment column".into())?;
    let arm_of: Vec<Option<String>> = arms.iter().map(|v| v.map(str::to_string)).collect();
    let null_arms = arm_of.iter().filter(|a| a.is_none()).count();
    let mut values: Vec<String> = arm_of.iter().flatten().cloned().collect();
    values.sort();
    values.dedup();
    if !values.contains(&opts.control) {
        return Err(Error::BadArgument {
            flag: "--control".into(),
            value: opts.control.clone(),
            message: format!("column `{}` has no such value (values: {})", opts.treatment, values.join(", ")),
        });
    }
    let treatments: Vec<String> = values.into_iter().filter(|v| *v != opts.control).collect();
    if treatments.is_empty() {
        return Err(Error::BadArgument {
            flag: "--treatment".into(),
            value: opts.treatment.clone(),
            message: format!("every row has the control value `{}`: nothing to compare", opts.control),
        });
    }
    let col_f64 = |name: String| -> Result<Vec<f64>> {
        let c = df.column(&name).ctx(|| name.clone())?;
        Ok(c.f64().ctx(|| name.clone())?.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
    };
    let ys: Vec<Vec<f64>> = (0..opts.outcomes.len()).map(|k| col_f64(format!("__y{k}"))).collect::<Result<_>>()?;
    let ws: Vec<Vec<f64>> = (0..opts.confounders.len()).map(|j| col_f64(format!("__w{j}"))).collect::<Result<_>>()?;
    let key_columns: Vec<StringChunked> = (0..key_cols.len())
        .map(|i| {
            let name = format!("__k{i}");
            df.column(&name).and_then(|c| c.str().cloned()).ctx(|| name.clone())
        })
        .collect::<Result<_>>()?;
    // Borrowed from the columns: no string copied per row.
    let keys: Vec<Vec<Option<&str>>> = key_columns.iter().map(|c| c.iter().collect()).collect();
    let rows_of =
        |arm: &str| -> Vec<usize> { (0..df.height()).filter(|&i| arm_of[i].as_deref() == Some(arm)).collect() };
    let control_rows = rows_of(&opts.control);
    let pair_key =
        |row: usize| -> Option<Vec<&str>> { opts.pair.iter().enumerate().map(|(i, _)| keys[i][row]).collect() };
    let cluster_of = |row: usize| -> Option<&str> { opts.cluster.as_ref().and_then(|_| keys[opts.pair.len()][row]) };

    // Control rows by pair key; a key seen twice cannot be paired.
    let mut control_index: HashMap<Vec<&str>, usize, FixedState> = HashMap::default();
    if !opts.pair.is_empty() {
        for &row in &control_rows {
            let key = pair_key(row).ok_or_else(|| null_key(location, row, &opts.pair))?;
            if let Some(first) = control_index.insert(key.clone(), row) {
                return Err(duplicate_key(location, first, row, &opts.control, &opts.pair, &key));
            }
        }
    }

    let mut out = Vec::new();
    for arm in &treatments {
        let treated_rows = rows_of(arm);
        let mut pairs: Vec<(usize, usize)> = Vec::new();
        let mut flags = Vec::new();
        if null_arms > 0 {
            flags.push(format!("{null_arms} rows with a null `{}` left out", opts.treatment));
        }
        if !opts.pair.is_empty() {
            let mut seen: HashMap<Vec<&str>, usize, FixedState> = HashMap::default();
            for &row in &treated_rows {
                let key = pair_key(row).ok_or_else(|| null_key(location, row, &opts.pair))?;
                if let Some(first) = seen.insert(key.clone(), row) {
                    return Err(duplicate_key(location, first, row, arm, &opts.pair, &key));
                }
                if let Some(&c) = control_index.get(&key) {
                    pairs.push((row, c));
                }
            }
            let unpaired = treated_rows.len() + control_rows.len() - 2 * pairs.len();
            if unpaired > 0 {
                flags.push(format!("{unpaired} rows without a partner in the other arm"));
            }
            // Group pairs by cluster so the bootstrap can resample clusters first.
            if opts.cluster.is_some() {
                pairs.sort_by(|a, b| cluster_of(a.0).cmp(&cluster_of(b.0)));
            }
        }
        for (k, outcome) in opts.outcomes.iter().enumerate() {
            let key = stable_hash(&format!("table\u{1f}{arm}\u{1f}{}\u{1f}{outcome}", opts.control));
            let y = &ys[k];
            let mut row_flags = flags.clone();
            let row = if opts.pair.is_empty() {
                unpaired_row(arm, outcome, y, &ws, &treated_rows, &control_rows, &opts.settings, key, &mut row_flags)
            } else {
                paired_row(arm, outcome, y, &ws, &pairs, &cluster_of, &opts.settings, key, &mut row_flags)
            };
            let mut row = row;
            row.n_treatment = treated_rows.len();
            row.n_control = control_rows.len();
            row.flags = row_flags;
            out.push(row);
        }
    }
    let t = holm(&out.iter().map(|r| r.t.p).collect::<Vec<_>>());
    let p = holm(&out.iter().map(|r| r.p_perm).collect::<Vec<_>>());
    for (i, r) in out.iter_mut().enumerate() {
        r.p_t_holm = t[i];
        r.p_perm_holm = p[i];
    }
    Ok(out)
}

fn null_key(location: &str, row: usize, pair: &[String]) -> Error {
    Error::BadData {
        table: "table".into(),
        location: format!("{location}, row {row}"),
        message: format!("a pair column ({}) is null", pair.join(", ")),
    }
}

fn duplicate_key(location: &str, first: usize, row: usize, arm: &str, pair: &[String], key: &[&str]) -> Error {
    Error::BadData {
        table: "table".into(),
        location: format!("{location}, rows {first} and {row}"),
        message: format!(
            "arm `{arm}` has two rows with ({}) = ({}); pairs must be unique",
            pair.join(", "),
            key.join(", ")
        ),
    }
}

fn finish_row(
    arm: &str,
    outcome: &str,
    n_pairs: usize,
    means: (f64, f64),
    t: TInterval,
    boot: Vec<f64>,
    p_perm: f64,
    cohens_d: f64,
    design: Option<LinearDesign>,
    settings: &Settings,
    key: u64,
    flags: &mut Vec<String>,
) -> TableRow {
    let mut boot = boot;
    let (boot_low, boot_high) = percentile_interval(&mut boot, settings.level);
    let (adjusted, refutations) = match design {
        Some(d) => {
            let (a, r, e) = adjust_and_refute(&d, settings, key);
            if let Some(e) = e {
                flags.push(e);
            }
            (a, r)
        }
        None => (Adjusted::empty(), None),
    };
    if let Some(r) = &refutations
        && r.passed() < 3
    {
        flags.push(format!("refuters passed {}/3", r.passed()));
    }
    TableRow {
        treatment: arm.to_string(),
        outcome: outcome.to_string(),
        n_treatment: 0,
        n_control: 0,
        n_pairs,
        control_mean: means.0,
        treatment_mean: means.1,
        t,
        boot_low,
        boot_high,
        p_perm,
        cohens_d,
        adjusted,
        refutations,
        p_t_holm: f64::NAN,
        p_perm_holm: f64::NAN,
        flags: Vec::new(),
    }
}

#[allow(clippy::too_many_arguments)]
fn paired_row<'a>(
    arm: &str,
    outcome: &str,
    y: &[f64],
    ws: &[Vec<f64>],
    pairs: &[(usize, usize)],
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
    let mut groups: Vec<&[f64]> = Vec::new();
    let mut start = 0;
    for i in 1..=usable.len() {
        if i == usable.len() || cluster_of(usable[i].0) != cluster_of(usable[start].0) {
            groups.push(&diffs[start..i]);
            start = i;
        }
    }
    // Without --cluster all pairs form one group: a plain bootstrap of pairs.
    let boot = hierarchical_bootstrap(&groups, settings.resamples, settings.seed, key);
    let permuted = sign_flip_means(&diffs, settings.permutations, settings.seed, key ^ 0x5045_524D);
    let t = paired_t(&diffs, settings.level);
    let complete: Vec<(usize, usize)> =
        usable.iter().copied().filter(|&(a, b)| ws.iter().all(|w| w[a].is_finite() && w[b].is_finite())).collect();
    if complete.len() < usable.len() {
        flags
            .push(format!("{} pairs with a null confounder left out of the adjustment", usable.len() - complete.len()));
    }
    let n = complete.len();
    let design = (n > 0).then(|| {
        let y2: Vec<f64> = complete.iter().map(|p| y[p.1]).chain(complete.iter().map(|p| y[p.0])).collect();
        let t2: Vec<f64> = (0..2 * n).map(|r| if r < n { 0.0 } else { 1.0 }).collect();
        let w2 = ws
            .iter()
            .map(|w| complete.iter().map(|p| w[p.1]).chain(complete.iter().map(|p| w[p.0])).collect())
            .collect();
        LinearDesign::new(y2, t2, w2, Some(n))
    });
    let means = (
        mean(&usable.iter().map(|p| y[p.1]).collect::<Vec<_>>()),
        mean(&usable.iter().map(|p| y[p.0]).collect::<Vec<_>>()),
    );
    finish_row(
        arm,
        outcome,
        usable.len(),
        means,
        t,
        boot,
        permutation_p(t.estimate, &permuted),
        cohens_d_paired(&diffs),
        design,
        settings,
        key,
        flags,
    )
}

#[allow(clippy::too_many_arguments)]
fn unpaired_row(
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
    let bt = hierarchical_bootstrap(&[&yt], settings.resamples, settings.seed, key);
    let bc = hierarchical_bootstrap(&[&yc], settings.resamples, settings.seed, key ^ 0x4354_524C);
    let boot: Vec<f64> = bt.iter().zip(&bc).map(|(a, b)| a - b).collect();
    let t = welch_t(&yt, &yc, settings.level);
    let permuted = label_permutation_diffs(&yt, &yc, settings.permutations, settings.seed, key ^ 0x5045_524D);
    let rows: Vec<usize> = cr.iter().chain(&tr).copied().filter(|&r| ws.iter().all(|w| w[r].is_finite())).collect();
    if rows.len() < tr.len() + cr.len() {
        flags.push(format!(
            "{} rows with a null confounder left out of the adjustment",
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
        )
    });
    finish_row(
        arm,
        outcome,
        0,
        (mean(&yc), mean(&yt)),
        t,
        boot,
        permutation_p(t.estimate, &permuted),
        cohens_d_pooled(&yt, &yc),
        design,
        settings,
        key,
        flags,
    )
}

fn opt(v: f64) -> Option<f64> {
    if v.is_nan() { None } else { Some(v) }
}

pub fn table_frame(rows: &[TableRow], control: &str) -> Result<DataFrame> {
    let num = |f: &dyn Fn(&TableRow) -> f64| rows.iter().map(|r| opt(f(r))).collect::<Vec<_>>();
    let count = |f: &dyn Fn(&TableRow) -> usize| rows.iter().map(|r| f(r) as u64).collect::<Vec<_>>();
    let refut = |f: &dyn Fn(&Refutations) -> f64| {
        rows.iter().map(|r| r.refutations.as_ref().and_then(|x| opt(f(x)))).collect::<Vec<_>>()
    };
    let pass =
        |f: &dyn Fn(&Refutations) -> bool| rows.iter().map(|r| r.refutations.as_ref().map(f)).collect::<Vec<_>>();
    let columns = vec![
        Column::new("treatment".into(), rows.iter().map(|r| r.treatment.clone()).collect::<Vec<_>>()),
        Column::new("control".into(), rows.iter().map(|_| control.to_string()).collect::<Vec<_>>()),
        Column::new("outcome".into(), rows.iter().map(|r| r.outcome.clone()).collect::<Vec<_>>()),
        Column::new("n_treatment".into(), count(&|r| r.n_treatment)),
        Column::new("n_control".into(), count(&|r| r.n_control)),
        Column::new("n_pairs".into(), count(&|r| r.n_pairs)),
        Column::new("control_mean".into(), num(&|r| r.control_mean)),
        Column::new("treatment_mean".into(), num(&|r| r.treatment_mean)),
        Column::new("ate".into(), num(&|r| r.t.estimate)),
        Column::new("se".into(), num(&|r| r.t.se)),
        Column::new("df".into(), num(&|r| r.t.df)),
        Column::new("ci_low".into(), num(&|r| r.t.ci_low)),
        Column::new("ci_high".into(), num(&|r| r.t.ci_high)),
        Column::new("p_t".into(), num(&|r| r.t.p)),
        Column::new("p_t_holm".into(), num(&|r| r.p_t_holm)),
        Column::new("boot_ci_low".into(), num(&|r| r.boot_low)),
        Column::new("boot_ci_high".into(), num(&|r| r.boot_high)),
        Column::new("p_perm".into(), num(&|r| r.p_perm)),
        Column::new("p_perm_holm".into(), num(&|r| r.p_perm_holm)),
        Column::new("cohens_d".into(), num(&|r| r.cohens_d)),
        Column::new("adj_n".into(), count(&|r| r.adjusted.n_obs)),
        Column::new("adj_ate".into(), num(&|r| r.adjusted.ate)),
        Column::new("adj_se".into(), num(&|r| r.adjusted.se)),
        Column::new("adj_ci_low".into(), num(&|r| r.adjusted.ci_low)),
        Column::new("adj_ci_high".into(), num(&|r| r.adjusted.ci_high)),
        Column::new("adj_p".into(), num(&|r| r.adjusted.p)),
        Column::new("placebo_effect".into(), refut(&|x| x.placebo.effect)),
        Column::new("placebo_pass".into(), pass(&|x| x.placebo.pass)),
        Column::new("rcc_effect".into(), refut(&|x| x.random_common_cause.effect)),
        Column::new("rcc_pass".into(), pass(&|x| x.random_common_cause.pass)),
        Column::new("subset_effect".into(), refut(&|x| x.data_subset.effect)),
        Column::new("subset_pass".into(), pass(&|x| x.data_subset.pass)),
        Column::new("flags".into(), rows.iter().map(|r| r.flags.join("; ")).collect::<Vec<_>>()),
    ];
    DataFrame::new(rows.len(), columns).ctx(|| "building the effects table".into())
}
