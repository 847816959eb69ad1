//! Effects on any table: `intervene effects --table FILE --treatment COL
//! --control VALUE --outcome COL [--pair COL,..] [--cluster COL]
//! [--confounders A,B]`, so results from elsewhere can be analysed.
//!
//! Every value of the treatment column other than the control value is an
//! arm compared to the control rows. With `--pair`, rows are matched on the
//! pair columns. The unit of the headline is the cluster: `--cluster COL`,
//! or the pair column named `seed` when the pairs include one (a training
//! run is the unit of replication); without either, the pair. Estimators
//! per row are in [`super::table_row`]. Without `--pair` the groups are
//! independent (Welch t, label permutation, bootstrap within each group,
//! pooled Cohen's d). Booleans count as 0/100, like the study tables.

use std::collections::HashMap;

// Pair keys of up to a million rows are hashed: SipHash was a tenth of the
// bootstrap-free time in the profile of `effects --table` on 1M rows.
use foldhash::fast::FixedState;
use std::path::Path;

use polars::prelude::*;

use super::data::f64_vec;
use super::estimate::Settings;
pub use super::table_row::{TableRow, table_frame};
use super::table_row::{paired_row, unpaired_row};
use crate::error::{Error, PolarsContext, Result};
use crate::stats::holm::holm;
use crate::stats::rng::stable_hash;
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
    check_columns(&schema, location, opts)?;
    let mut exprs = value_exprs(&schema, opts);
    // The unit of replication: --cluster, else a pair column named `seed`.
    let cluster = opts.cluster.clone().or_else(|| opts.pair.iter().find(|p| p.eq_ignore_ascii_case("seed")).cloned());
    // Pair and cluster keys as text, so any key type joins and groups alike.
    let key_cols: Vec<String> = opts.pair.iter().chain(cluster.iter()).cloned().collect();
    for (i, p) in key_cols.iter().enumerate() {
        exprs.push(col(p.as_str()).cast(DataType::String).alias(format!("__k{i}")));
    }
    let df = lf.select(exprs).collect().ctx(|| format!("reading {location}"))?;
    let arms = df.column("__arm").and_then(|c| c.str().cloned()).ctx(|| "treatment column".into())?;
    let arm_of: Vec<Option<String>> = arms.iter().map(|v| v.map(str::to_string)).collect();
    let null_arms = arm_of.iter().filter(|a| a.is_none()).count();
    let treatments = treatment_values(&arm_of, opts)?;
    let ys = float_columns(&df, "__y", opts.outcomes.len())?;
    let ws = float_columns(&df, "__w", opts.confounders.len())?;
    let key_columns = text_columns(&df, "__k", key_cols.len())?;
    // Borrowed from the columns: no string copied per row.
    let keys: Vec<Vec<Option<&str>>> = key_columns.iter().map(|c| c.iter().collect()).collect();
    let rows_of =
        |arm: &str| -> Vec<usize> { (0..df.height()).filter(|&i| arm_of[i].as_deref() == Some(arm)).collect() };
    let control_rows = rows_of(&opts.control);
    let pair_key =
        |row: usize| -> Option<Vec<&str>> { opts.pair.iter().enumerate().map(|(i, _)| keys[i][row]).collect() };
    let cluster_of = |row: usize| -> Option<&str> { cluster.as_ref().and_then(|_| keys[opts.pair.len()][row]) };

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
            // Group pairs by cluster: the headline's units.
            if cluster.is_some() {
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
                paired_row(
                    arm,
                    outcome,
                    y,
                    &ws,
                    &pairs,
                    cluster.as_deref(),
                    &cluster_of,
                    &opts.settings,
                    key,
                    &mut row_flags,
                )
            };
            let mut row = row;
            row.n_treatment = treated_rows.len();
            row.n_control = control_rows.len();
            row.flags = row_flags;
            out.push(row);
        }
    }
    holm_over_rows(&mut out);
    Ok(out)
}

/// The columns the options name exist with usable types, and --cluster comes
/// with --pair.
fn check_columns(schema: &Schema, location: &str, opts: &TableOptions) -> Result<()> {
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
    Ok(())
}

/// The treatment column as text and each outcome and confounder as a float
/// (booleans as 0 / 100 points, nulls as NaN).
fn value_exprs(schema: &Schema, opts: &TableOptions) -> Vec<Expr> {
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
    exprs
}

/// The treatment column's values other than the control, sorted; the
/// control must be among them and at least one other value.
fn treatment_values(arm_of: &[Option<String>], opts: &TableOptions) -> Result<Vec<String>> {
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
    Ok(treatments)
}

/// Holm over the rows shown: every (arm, outcome) of this table.
fn holm_over_rows(out: &mut [TableRow]) {
    let t = holm(&out.iter().map(|r| r.t.p).collect::<Vec<_>>());
    let p = holm(&out.iter().map(|r| r.p_perm).collect::<Vec<_>>());
    for (i, r) in out.iter_mut().enumerate() {
        r.p_t_holm = t[i];
        r.p_perm_holm = p[i];
    }
}

/// Columns `{prefix}0` .. `{prefix}{n-1}` as floats, nulls as NaN.
fn float_columns(df: &DataFrame, prefix: &str, n: usize) -> Result<Vec<Vec<f64>>> {
    (0..n).map(|k| f64_vec(df, &format!("{prefix}{k}"))).collect()
}

/// Columns `{prefix}0` .. `{prefix}{n-1}` as text.
fn text_columns(df: &DataFrame, prefix: &str, n: usize) -> Result<Vec<StringChunked>> {
    (0..n)
        .map(|i| {
            let name = format!("{prefix}{i}");
            df.column(&name).and_then(|c| c.str().cloned()).ctx(|| name.clone())
        })
        .collect()
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
