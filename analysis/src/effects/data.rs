//! Pulling the numbers out of the tables with Polars, vectorised: the
//! seed-level outcomes of each run, and the example-level outcomes of each
//! comparison joined with its control by (seed, example id).
//!
//! Missing values travel as NaN in plain `Vec<f64>` columns (an outcome a
//! tokenizer cannot score is null in the table); the estimators count and
//! flag them, never drop them silently.

use std::collections::HashMap;
use std::ops::Range;

use intervene_proto::tables as layout;
use polars::prelude::*;

use super::design::Comparison;
use crate::error::{Error, PolarsContext, Result};
use crate::tables::{Kind, StudyTables, Table, require_columns, schema_of};

/// Outcomes measured per example only, with the `examples` column each
/// reads. They are not the run-level outcomes of similar name: corpus BLEU
/// (`bleu`, n-gram counts pooled over the test set) is not the mean of
/// sentence BLEU, and `token_accuracy` in `runs` is micro-averaged over
/// tokens while the per-example one is averaged over examples.
pub const EXAMPLE_OUTCOMES: &[(&str, &str)] =
    &[("sentence_bleu", "sentence_bleu"), ("example_token_accuracy", "token_accuracy")];

/// Run-level outcomes whose quantity has no per-example counterpart of the same meaning.
const RUN_ONLY: &[&str] = &["bleu", "codexglue_bleu", "bleu_vocab", "token_accuracy"];

/// Whether `outcome` is measured per example only (its seed-level values
/// are the per-seed means of the paired examples).
pub fn is_example_only(outcome: &str) -> bool {
    EXAMPLE_OUTCOMES.iter().any(|(o, _)| *o == outcome)
}

/// The per-example column that measures the same quantity as `outcome`:
/// the mean over a run's examples of this column is the run's value.
pub fn example_column(outcome: &str) -> Option<&str> {
    if let Some((_, column)) = EXAMPLE_OUTCOMES.iter().find(|(o, _)| *o == outcome) {
        return Some(column);
    }
    if RUN_ONLY.contains(&outcome) { None } else { Some(outcome) }
}

/// A numeric view of an outcome column: booleans read as 0/100.
fn outcome_expr(name: &str, dtype: &DataType) -> Expr {
    let base = col(name);
    let numeric =
        if dtype.is_bool() { base.cast(DataType::Float64) * lit(100.0) } else { base.cast(DataType::Float64) };
    numeric.fill_null(lit(f64::NAN))
}

/// A float column, nulls as NaN.
pub(super) fn f64_vec(df: &DataFrame, name: &str) -> Result<Vec<f64>> {
    let c = df.column(name).ctx(|| format!("column `{name}`"))?;
    let ca = c.f64().ctx(|| format!("column `{name}` as float"))?;
    Ok(ca.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
}

fn i64_vec(df: &DataFrame, name: &str) -> Result<Vec<i64>> {
    let c = df.column(name).ctx(|| format!("column `{name}`"))?;
    let ca = c.i64().ctx(|| format!("column `{name}` as integer"))?;
    Ok(ca.iter().map(|v| v.unwrap_or(i64::MIN)).collect())
}

/// Run-level outcomes, indexed by (arm, seed).
#[derive(Debug, Default)]
pub struct Runs {
    index: HashMap<(String, i64), usize>,
    /// outcome -> one value per run row (NaN = null).
    values: HashMap<String, Vec<f64>>,
}

impl Runs {
    pub fn value(&self, arm: &str, seed: i64, outcome: &str) -> Option<f64> {
        let row = *self.index.get(&(arm.to_string(), seed))?;
        self.values.get(outcome).map(|v| v[row])
    }

    pub fn has(&self, arm: &str, seed: i64) -> bool {
        self.index.contains_key(&(arm.to_string(), seed))
    }

    /// Seeds with a run for `arm`, sorted.
    pub fn seeds(&self, arm: &str) -> Vec<i64> {
        let mut s: Vec<i64> = self.index.keys().filter(|(a, _)| a == arm).map(|(_, s)| *s).collect();
        s.sort_unstable();
        s
    }
}

/// Outcomes the study offers: the documented run-level ones present in
/// `runs`, then the per-example ones whose column is in `examples`.
pub fn available_outcomes(tables: &StudyTables) -> Result<Vec<String>> {
    let mut out = Vec::new();
    if let Some(mut runs) = tables.runs.clone() {
        let location = tables.location_of(Table::Runs);
        let schema = schema_of(&mut runs, layout::RUNS, &location)?;
        out.extend(layout::RUN_OUTCOMES.iter().filter(|o| schema.contains(o)).map(|o| o.to_string()));
    }
    if let Some(mut examples) = tables.examples.clone() {
        let location = tables.location_of(Table::Examples);
        let schema = schema_of(&mut examples, layout::EXAMPLES, &location)?;
        out.extend(EXAMPLE_OUTCOMES.iter().filter(|(_, c)| schema.contains(c)).map(|(o, _)| o.to_string()));
    }
    Ok(out)
}

/// Run-level values of `outcomes`; per-example-only outcomes are skipped.
pub fn load_runs(tables: &StudyTables, outcomes: &[String]) -> Result<Runs> {
    let Some(mut lf) = tables.runs.clone() else { return Ok(Runs::default()) };
    let outcomes: Vec<String> = outcomes.iter().filter(|o| !is_example_only(o)).cloned().collect();
    let location = tables.location_of(Table::Runs);
    let schema = schema_of(&mut lf, layout::RUNS, &location)?;
    let mut needed = vec![("arm", Kind::Text), ("seed", Kind::Numeric)];
    needed.extend(outcomes.iter().map(|o| (o.as_str(), Kind::BoolOrNumeric)));
    require_columns(&schema, layout::RUNS, &location, &needed)?;
    let mut exprs = vec![col("arm").cast(DataType::String), col("seed").cast(DataType::Int64)];
    for (k, o) in outcomes.iter().enumerate() {
        let dtype = schema.get(o.as_str()).cloned().unwrap_or(DataType::Float64);
        exprs.push(outcome_expr(o, &dtype).alias(format!("y{k}")));
    }
    let df = lf.select(exprs).collect().ctx(|| format!("reading table `runs` ({location})"))?;
    let arms = df.column("arm").and_then(|c| c.str().cloned()).ctx(|| "column `arm` of runs".into())?;
    let seeds = i64_vec(&df, "seed")?;
    let mut index = HashMap::with_capacity(df.height());
    for (row, (arm, seed)) in arms.iter().zip(seeds).enumerate() {
        let Some(arm) = arm else {
            return Err(Error::BadData {
                table: "runs".into(),
                location: format!("{location}, row {row}"),
                message: "`arm` is null".into(),
            });
        };
        if let Some(first) = index.insert((arm.to_string(), seed), row) {
            return Err(Error::BadData {
                table: "runs".into(),
                location: format!("{location}, rows {first} and {row}"),
                message: format!("arm `{arm}` has two runs for seed {seed}; each (arm, seed) must be one job"),
            });
        }
    }
    let mut values = HashMap::new();
    for (k, o) in outcomes.iter().enumerate() {
        values.insert(o.clone(), f64_vec(&df, &format!("y{k}"))?);
    }
    Ok(Runs { index, values })
}

/// Example-level rows of every comparison, treatment joined to control on
/// (seed, example id), sorted by comparison, seed, example id.
#[derive(Debug, Default)]
pub struct Examples {
    /// Rows of comparison `c` (index into the design's comparisons).
    pub ranges: Vec<Range<usize>>,
    pub seed: Vec<i64>,
    /// Index into `bins` of the control example's length bin.
    pub bin: Vec<u16>,
    pub bins: Vec<String>,
    /// Per outcome (in the order asked), treatment and control values; NaN = null or not per-example.
    pub y_t: Vec<Vec<f64>>,
    pub y_c: Vec<Vec<f64>>,
    /// Whether the outcome has a per-example column at all.
    pub has_outcome: Vec<bool>,
    /// Per confounder, treatment and control values.
    pub w_t: Vec<Vec<f64>>,
    pub w_c: Vec<Vec<f64>>,
    /// Example rows per (arm, seed).
    pub rows: HashMap<(String, i64), usize>,
}

impl Examples {
    pub fn rows_of(&self, arm: &str, seed: i64) -> usize {
        self.rows.get(&(arm.to_string(), seed)).copied().unwrap_or(0)
    }
}

pub fn load_examples(
    tables: &StudyTables,
    comparisons: &[Comparison],
    outcomes: &[String],
    confounders: &[String],
    with_bins: bool,
) -> Result<Option<Examples>> {
    let Some(mut lf) = tables.examples.clone() else { return Ok(None) };
    let location = tables.location_of(Table::Examples);
    let schema = schema_of(&mut lf, layout::EXAMPLES, &location)?;
    let mut needed = vec![("arm", Kind::Text), ("seed", Kind::Numeric), ("example_id", Kind::Any)];
    if with_bins {
        needed.push(("length_bin", Kind::Text));
    }
    needed.extend(confounders.iter().map(|c| (c.as_str(), Kind::BoolOrNumeric)));
    require_columns(&schema, layout::EXAMPLES, &location, &needed)?;

    let mut exprs = vec![col("arm").cast(DataType::String), col("seed").cast(DataType::Int64), col("example_id")];
    if with_bins {
        exprs.push(col("length_bin").cast(DataType::String));
    }
    let mut has_outcome = Vec::new();
    for (k, o) in outcomes.iter().enumerate() {
        let column = example_column(o).filter(|c| schema.contains(c));
        has_outcome.push(column.is_some());
        let expr = match column {
            Some(c) => {
                let dtype = &schema.get(c).cloned().unwrap_or(DataType::Float64);
                if !(dtype.is_bool() || dtype.is_primitive_numeric() || dtype.is_null()) {
                    return Err(Error::ColumnType {
                        table: layout::EXAMPLES.into(),
                        location: location.clone(),
                        column: c.into(),
                        found: dtype.to_string(),
                        expected: "a boolean or a number".into(),
                    });
                }
                outcome_expr(c, dtype)
            }
            None => lit(f64::NAN),
        };
        exprs.push(expr.alias(format!("y{k}")));
    }
    for (j, c) in confounders.iter().enumerate() {
        let dtype = schema.get(c.as_str()).cloned().unwrap_or(DataType::Float64);
        exprs.push(outcome_expr(c, &dtype).alias(format!("w{j}")));
    }
    // Materialise the few columns needed once: the duplicate check, the
    // counts and the join below would otherwise each scan every job file.
    let ex = lf.select(exprs).collect().ctx(|| format!("reading table `examples` ({location})"))?.lazy();

    refuse_duplicates(&ex, &location)?;
    let rows = rows_per_arm_and_seed(&ex, &location)?;

    let comps = DataFrame::new_infer_height(vec![
        Column::new("arm".into(), comparisons.iter().map(|c| c.treatment.arm.clone()).collect::<Vec<_>>()),
        Column::new("compare_to".into(), comparisons.iter().map(|c| c.control.arm.clone()).collect::<Vec<_>>()),
        Column::new("comp".into(), (0..comparisons.len() as u32).collect::<Vec<_>>()),
    ])
    .ctx(|| "building the comparison list".into())?;
    let treatment = ex.clone().inner_join(comps.lazy(), col("arm"), col("arm"));
    let mut control_cols = vec![col("arm").alias("compare_to"), col("seed"), col("example_id")];
    if with_bins {
        control_cols.push(col("length_bin").alias("length_bin_c"));
    }
    for k in 0..outcomes.len() {
        control_cols.push(col(format!("y{k}")).alias(format!("y{k}_c")));
    }
    for j in 0..confounders.len() {
        control_cols.push(col(format!("w{j}")).alias(format!("w{j}_c")));
    }
    let control = ex.select(control_cols);
    let keys = [col("compare_to"), col("seed"), col("example_id")];
    let joined = treatment
        .join(control, keys.clone(), keys, JoinArgs::new(JoinType::Inner))
        .sort(["comp", "seed", "example_id"], SortMultipleOptions::default())
        .collect()
        .ctx(|| format!("pairing treatment and control examples ({location})"))?;

    let ranges = comparison_ranges(&joined, comparisons.len())?;
    let (bins, bin) = if with_bins { length_bins(&joined)? } else { (Vec::new(), Vec::new()) };
    let mut y_t = Vec::new();
    let mut y_c = Vec::new();
    for k in 0..outcomes.len() {
        y_t.push(f64_vec(&joined, &format!("y{k}"))?);
        y_c.push(f64_vec(&joined, &format!("y{k}_c"))?);
    }
    let mut w_t = Vec::new();
    let mut w_c = Vec::new();
    for j in 0..confounders.len() {
        w_t.push(f64_vec(&joined, &format!("w{j}"))?);
        w_c.push(f64_vec(&joined, &format!("w{j}_c"))?);
    }
    Ok(Some(Examples { ranges, seed: i64_vec(&joined, "seed")?, bin, bins, y_t, y_c, has_outcome, w_t, w_c, rows }))
}

/// Duplicate (arm, seed, example) rows would pair one control row with two
/// treatment rows and double-count; they are refused with the first offender.
fn refuse_duplicates(ex: &LazyFrame, location: &str) -> Result<()> {
    let dup = ex
        .clone()
        .group_by([col("arm"), col("seed"), col("example_id")])
        .agg([len().alias("n")])
        .filter(col("n").gt(lit(1)))
        .limit(1)
        .collect()
        .ctx(|| format!("checking table `examples` ({location}) for duplicates"))?;
    if dup.height() > 0 {
        let cell =
            |name: &str| dup.column(name).ok().and_then(|c| c.get(0).ok().map(|v| v.to_string())).unwrap_or_default();
        return Err(Error::BadData {
            table: layout::EXAMPLES.into(),
            location: location.to_string(),
            message: format!(
                "arm {} seed {} has example {} {} times; each (arm, seed, example_id) must be one row",
                cell("arm"),
                cell("seed"),
                cell("example_id"),
                cell("n")
            ),
        });
    }
    Ok(())
}

/// Example rows per (arm, seed).
fn rows_per_arm_and_seed(ex: &LazyFrame, location: &str) -> Result<HashMap<(String, i64), usize>> {
    let counts = ex
        .clone()
        .group_by([col("arm"), col("seed")])
        .agg([len().alias("n")])
        .collect()
        .ctx(|| format!("counting table `examples` ({location})"))?;
    let mut rows = HashMap::new();
    {
        let arms = counts.column("arm").and_then(|c| c.str().cloned()).ctx(|| "examples.arm".into())?;
        let seeds = i64_vec(&counts, "seed")?;
        let ns = counts.column("n").and_then(|c| c.cast(&DataType::UInt64)).ctx(|| "examples count".into())?;
        let ns = ns.u64().ctx(|| "examples count".into())?;
        for ((a, s), n) in arms.iter().zip(seeds).zip(ns.iter()) {
            if let Some(a) = a {
                rows.insert((a.to_string(), s), n.unwrap_or(0) as usize);
            }
        }
    }
    Ok(rows)
}

/// The rows of each comparison in `joined` (sorted by its `comp` column).
fn comparison_ranges(joined: &DataFrame, comparisons: usize) -> Result<Vec<Range<usize>>> {
    let comp_col = joined.column("comp").and_then(|c| c.u32().cloned()).ctx(|| "comparison index".into())?;
    let comp: Vec<u32> = comp_col.into_no_null_iter().collect();
    let mut ranges = vec![0..0; comparisons];
    let mut start = 0;
    for i in 1..=comp.len() {
        if i == comp.len() || comp[i] != comp[start] {
            ranges[comp[start] as usize] = start..i;
            start = i;
        }
    }
    Ok(ranges)
}

/// The control rows' length bins: the distinct labels in order of first
/// appearance, and each row's index into them.
fn length_bins(joined: &DataFrame) -> Result<(Vec<String>, Vec<u16>)> {
    let mut bins: Vec<String> = Vec::new();
    let mut bin = Vec::new();
    let ca = joined.column("length_bin_c").and_then(|c| c.str().cloned()).ctx(|| "length_bin".into())?;
    for v in ca.iter() {
        let v = v.unwrap_or("null");
        let idx = match bins.iter().position(|b| b == v) {
            Some(i) => i,
            None => {
                bins.push(v.to_string());
                bins.len() - 1
            }
        };
        bin.push(idx as u16);
    }
    Ok((bins, bin))
}

/// Order length bins as the layout lists them, unknown ones after, by name.
pub fn bin_order(bins: &[String]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..bins.len()).collect();
    let rank = |b: &str| layout::LENGTH_BINS.iter().position(|x| *x == b).unwrap_or(usize::MAX);
    order.sort_by(|&a, &b| rank(&bins[a]).cmp(&rank(&bins[b])).then_with(|| bins[a].cmp(&bins[b])));
    order
}
