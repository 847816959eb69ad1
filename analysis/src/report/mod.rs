//! `intervene report`: a Markdown and an HTML report with PNG plots: a
//! forest plot of the effects per outcome, learning curves per arm,
//! accuracy by length bin, error categories, attention heatmaps, and the
//! tables inline.

pub mod document;
pub mod plots;

use std::path::{Path, PathBuf};

use intervene_proto::tables as layout;
use polars::prelude::*;

use crate::effects::frame::{interval, p_value, pp};
use crate::effects::{EffectRow, Effects};
use crate::error::{PolarsContext, Result, io_err};
use crate::tables::{StudyTables, Table};
use document::{Block, Document};
use plots::{ForestRow, Series};

#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// Attention heatmaps to draw at most.
    pub heatmaps: usize,
    /// The per-example outcome of the length-bin plot.
    pub length_outcome: String,
}

impl Default for ReportOptions {
    fn default() -> Self {
        Self { heatmaps: 6, length_outcome: "token_accuracy".into() }
    }
}

/// Write `report.md`, `report.html` and the plots into `dir`; returns the files written.
pub fn write_report(
    tables: &StudyTables,
    effects: &Effects,
    dir: &Path,
    options: &ReportOptions,
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let mut written = Vec::new();
    let mut doc =
        Document { title: format!("Study `{}` (version {})", tables.study, tables.version), blocks: Vec::new() };
    doc.push(Block::Paragraph(format!("Results read from {}.", tables.location)));

    summary(tables, effects, &mut doc)?;
    effects_section(effects, dir, &mut doc, &mut written)?;
    runs_section(tables, effects, &mut doc)?;
    curves_section(tables, dir, &mut doc, &mut written)?;
    length_section(tables, dir, options, &mut doc, &mut written)?;
    errors_section(tables, dir, &mut doc, &mut written)?;
    attention_section(tables, dir, options, &mut doc, &mut written)?;

    for (name, text) in [("report.md", doc.to_markdown()), ("report.html", doc.to_html())] {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(io_err(&path))?;
        written.push(path);
    }
    Ok(written)
}

fn arm_order(tables: &StudyTables) -> Vec<String> {
    tables
        .arms
        .column("arm")
        .ok()
        .and_then(|c| c.str().ok().map(|s| s.iter().flatten().map(str::to_string).collect()))
        .unwrap_or_default()
}

fn collect(lf: LazyFrame, what: &str) -> Result<DataFrame> {
    lf.collect().ctx(|| format!("summarising {what}"))
}

fn strings(df: &DataFrame, name: &str) -> Result<Vec<String>> {
    let c = df.column(name).and_then(|c| c.cast(&DataType::String)).ctx(|| format!("column `{name}`"))?;
    Ok(c.str().ctx(|| format!("column `{name}`"))?.iter().map(|v| v.unwrap_or("null").to_string()).collect())
}

fn floats(df: &DataFrame, name: &str) -> Result<Vec<f64>> {
    let c = df.column(name).and_then(|c| c.cast(&DataType::Float64)).ctx(|| format!("column `{name}`"))?;
    Ok(c.f64().ctx(|| format!("column `{name}`"))?.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
}

fn summary(tables: &StudyTables, effects: &Effects, doc: &mut Document) -> Result<()> {
    doc.push(Block::Heading(2, "Summary".into()));
    let arms = tables.arms.height();
    let planned: usize = tables
        .arms
        .column("seeds")
        .ok()
        .and_then(|c| c.list().ok().map(|l| l.series_iter().map(|s| s.map_or(0, |s| s.len())).sum()))
        .unwrap_or(0);
    let finished = match tables.get(Table::Runs) {
        Some(lf) => collect(lf.select([len().alias("n")]), "runs")?
            .column("n")
            .ok()
            .and_then(|c| c.get(0).ok().and_then(|v| v.extract::<u64>()))
            .unwrap_or(0) as usize,
        None => 0,
    };
    let mut items = vec![
        format!("{arms} arms; {finished} run rows of {planned} planned (arm, seed) jobs"),
        format!("outcomes: {}", effects.outcomes.join(", ")),
        format!("adjusted for: {}", effects.confounders.join(", ")),
        "every outcome is in percentage points (0-100)".to_string(),
    ];
    items.extend(effects.notes.iter().cloned());
    let flagged = effects
        .rows
        .iter()
        .filter(|r| !r.flags.is_empty() && r.bucket.as_deref() != Some(crate::effects::stratify::STRATIFIED))
        .count();
    if flagged > 0 {
        items.push(format!("{flagged} effect rows carry flags about missing or unpaired data: see the flags column"));
    }
    doc.push(Block::Bullets(items));
    Ok(())
}

fn effect_label(r: &EffectRow) -> String {
    match &r.bucket {
        Some(b) if b == crate::effects::stratify::STRATIFIED => format!("{} vs {} (all buckets)", r.arm, r.compare_to),
        _ => format!("{} vs {}", r.arm, r.compare_to),
    }
}

fn effects_section(effects: &Effects, dir: &Path, doc: &mut Document, written: &mut Vec<PathBuf>) -> Result<()> {
    let level = effects.level;
    doc.push(Block::Heading(2, "Effects".into()));
    doc.push(Block::Paragraph(
        "Each arm against the arm it is compared to. The headline (forest plots, first columns) is over training \
         runs: one paired difference per seed, a t interval on k-1 degrees of freedom, and the exact permutation \
         p-value of the 2^k sign flips of whole seeds; with one seed there is no such interval. Examples: the \
         paired t interval over (seed, example) pairs, the uncertainty over test examples for these particular \
         trained models only. Adjusted: OLS on the treatment and pre-treatment covariates, standard errors \
         clustered by seed. p-values in parentheses are Holm-adjusted over the rows shown. d is paired Cohen's d \
         over seeds. `bleu` is corpus BLEU per run; `sentence_bleu` the mean sentence BLEU (docs/effects.md)."
            .into(),
    ));
    if effects.rows.is_empty() {
        doc.push(Block::Paragraph("No comparisons to show.".into()));
        return Ok(());
    }
    let pct = format!("{}%", level * 100.0);
    forest_plots(effects, dir, &pct, doc, written)?;
    effect_table(effects, &pct, doc);
    refuters_table(effects, doc);
    Ok(())
}

/// One forest plot per outcome: the seed-level interval of each comparison.
fn forest_plots(
    effects: &Effects,
    dir: &Path,
    pct: &str,
    doc: &mut Document,
    written: &mut Vec<PathBuf>,
) -> Result<()> {
    for outcome in &effects.outcomes {
        let rows: Vec<&EffectRow> =
            effects.rows.iter().filter(|r| &r.outcome == outcome && r.stratum.is_none()).collect();
        if rows.is_empty() {
            continue;
        }
        let forest_rows: Vec<ForestRow> = rows
            .iter()
            .map(|r| ForestRow {
                label: if r.seed.n == 1 {
                    format!("{} (1 seed: no interval)", effect_label(r))
                } else {
                    effect_label(r)
                },
                estimate: r.seed.ate,
                low: r.seed.ci_low,
                high: r.seed.ci_high,
            })
            .collect();
        let file = format!("forest_{}.png", sanitize(outcome));
        let path = dir.join(&file);
        let seeds = rows.iter().map(|r| r.seed.n).max().unwrap_or(0);
        plots::forest(
            &path,
            &format!("Effect on {outcome}: {pct} CI over training seeds (paired t, k-1 df, k = {seeds})"),
            "difference in points (per-seed paired differences)",
            &forest_rows,
        )?;
        written.push(path);
        doc.push(Block::Heading(3, format!("Effect on {outcome}")));
        doc.push(Block::Image { path: file, alt: format!("forest plot of the effects on {outcome}") });
    }
    Ok(())
}

/// Every level of every comparison, one row each.
fn effect_table(effects: &Effects, pct: &str, doc: &mut Document) {
    let headers = [
        "arm".to_string(),
        "vs".into(),
        "outcome".into(),
        "bucket".into(),
        "seeds".into(),
        "control".into(),
        "treatment".into(),
        format!("ATE [{pct} CI] over seeds"),
        "p_t (Holm)".into(),
        "p_perm (Holm)".into(),
        "pairs".into(),
        format!("examples, these models [{pct} CI]"),
        format!("adjusted [{pct} CI]"),
        "d".into(),
        "flags".into(),
    ];
    let rows = effects
        .rows
        .iter()
        .filter(|r| r.stratum.is_none())
        .map(|r| {
            vec![
                r.arm.clone(),
                r.compare_to.clone(),
                r.outcome.clone(),
                r.bucket.clone().unwrap_or_default(),
                r.seed.n.to_string(),
                pp(r.seed.control_mean),
                pp(r.seed.treatment_mean),
                interval(r.seed.ate, r.seed.ci_low, r.seed.ci_high),
                format!("{} ({})", p_value(r.seed.p), p_value(r.p_t_holm)),
                format!("{} ({})", p_value(r.seed.p_perm), p_value(r.p_perm_holm)),
                r.example.n_pairs.to_string(),
                interval(r.example.ate, r.example.ci_low, r.example.ci_high),
                interval(r.adjusted.ate, r.adjusted.ci_low, r.adjusted.ci_high),
                pp(r.seed.cohens_d),
                r.flags.join("; "),
            ]
        })
        .collect();
    doc.push(Block::Heading(3, "Effect table".into()));
    doc.push(Block::Table { headers: headers.to_vec(), rows });
}

/// The refuters' verdicts, where they ran.
fn refuters_table(effects: &Effects, doc: &mut Document) {
    let verdict = |pass: Option<bool>| match pass {
        Some(true) => "pass",
        Some(false) => "FAIL",
        None => "n/a",
    };
    let refuted: Vec<Vec<String>> = effects
        .rows
        .iter()
        .filter_map(|r| r.refutations.as_ref().map(|x| (r, x)))
        .map(|(r, x)| {
            vec![
                effect_label(r),
                r.outcome.clone(),
                pp(r.seed.ate),
                format!("{} {}", pp(x.placebo.effect), verdict(x.placebo.pass)),
                format!(
                    "{} [{}, {}] {}",
                    pp(x.dummy_outcome.effect),
                    pp(x.dummy_outcome.low),
                    pp(x.dummy_outcome.high),
                    verdict(x.dummy_outcome.pass)
                ),
                format!("{} .. {} {}", pp(x.data_subset.low), pp(x.data_subset.high), verdict(x.data_subset.pass)),
                format!("{} ({} sd) {}", pp(x.sensitivity.effect), pp(x.sensitivity.low), verdict(x.sensitivity.pass)),
            ]
        })
        .collect();
    if !refuted.is_empty() {
        doc.push(Block::Heading(3, "Refuters".into()));
        doc.push(Block::Paragraph(
            "Placebo: share of whole-seed relabellings (effect removed) whose example-level interval excludes 0; \
             fails above 0.25 (the example-level interval is then training noise). Dummy outcome: the effect on a \
             pre-treatment covariate, must be 0; fails when the arms saw different inputs. Data subset: the \
             estimate leaving out each seed; fails when one seed flips its sign. Sensitivity: the bias of an \
             unobserved confounder that would move the interval to 0, in points and in control seed-to-seed \
             standard deviations; fails below 0.5 sd."
                .into(),
        ));
        doc.push(Block::Table {
            headers: ["comparison", "outcome", "ATE", "placebo", "dummy outcome", "leave one seed out", "sensitivity"]
                .iter()
                .map(|h| h.to_string())
                .collect(),
            rows: refuted,
        });
    }
}

fn runs_section(tables: &StudyTables, effects: &Effects, doc: &mut Document) -> Result<()> {
    let Some(runs) = tables.get(Table::Runs) else { return Ok(()) };
    doc.push(Block::Heading(2, "Runs".into()));
    // Per-example outcomes (sentence_bleu, ...) have no column in `runs`.
    let outcomes: Vec<&String> =
        effects.outcomes.iter().filter(|o| !crate::effects::data::is_example_only(o)).collect();
    let mut aggs = vec![len().alias("runs")];
    for o in &outcomes {
        aggs.push(col(o.as_str()).cast(DataType::Float64).mean().alias(format!("{o}_mean")));
        aggs.push(col(o.as_str()).cast(DataType::Float64).std(1).alias(format!("{o}_sd")));
    }
    let df = collect(runs.group_by([col("arm").cast(DataType::String)]).agg(aggs), "runs")?;
    let arms = strings(&df, "arm")?;
    let counts = floats(&df, "runs")?;
    let mut rows = Vec::new();
    for arm in arm_order(tables) {
        let Some(i) = arms.iter().position(|a| *a == arm) else {
            rows.push(
                std::iter::once(arm)
                    .chain(std::iter::once("0".into()))
                    .chain(outcomes.iter().map(|_| "-".into()))
                    .collect(),
            );
            continue;
        };
        let mut row = vec![arm.clone(), format!("{}", counts[i])];
        for o in &outcomes {
            let m = floats(&df, &format!("{o}_mean"))?[i];
            let s = floats(&df, &format!("{o}_sd"))?[i];
            row.push(if s.is_finite() { format!("{} ± {}", pp(m), pp(s)) } else { pp(m) });
        }
        rows.push(row);
    }
    let mut headers = vec!["arm".to_string(), "runs".to_string()];
    headers.extend(outcomes.iter().map(|o| format!("{o} (mean ± sd)")));
    doc.push(Block::Table { headers, rows });
    Ok(())
}

fn curves_section(tables: &StudyTables, dir: &Path, doc: &mut Document, written: &mut Vec<PathBuf>) -> Result<()> {
    doc.push(Block::Heading(2, "Learning curves".into()));
    let Some(curves) = tables.get(Table::Curves) else {
        doc.push(Block::Paragraph("No job wrote learning curves.".into()));
        return Ok(());
    };
    let df = collect(
        curves
            .group_by([col("arm").cast(DataType::String), col("epoch").cast(DataType::Float64)])
            .agg([
                col("train_loss").cast(DataType::Float64).mean().alias("train"),
                col("valid_loss").cast(DataType::Float64).mean().alias("valid"),
            ])
            .sort(["arm", "epoch"], SortMultipleOptions::default()),
        "curves",
    )?;
    let (arms, epoch, train, valid) =
        (strings(&df, "arm")?, floats(&df, "epoch")?, floats(&df, "train")?, floats(&df, "valid")?);
    for (which, values, file) in [("validation", &valid, "curves_valid.png"), ("training", &train, "curves_train.png")]
    {
        let series: Vec<Series> = arm_order(tables)
            .into_iter()
            .filter(|a| arms.contains(a))
            .map(|a| Series {
                points: (0..arms.len()).filter(|&i| arms[i] == a).map(|i| (epoch[i], values[i])).collect(),
                name: a,
            })
            .collect();
        let path = dir.join(file);
        plots::lines(
            &path,
            &format!("Mean {which} loss per epoch (over seeds)"),
            "epoch",
            "loss",
            &series,
            plots::XTicks::Integers,
        )?;
        written.push(path);
        doc.push(Block::Image { path: file.into(), alt: format!("{which} loss per epoch and arm") });
    }
    Ok(())
}

fn length_section(
    tables: &StudyTables,
    dir: &Path,
    options: &ReportOptions,
    doc: &mut Document,
    written: &mut Vec<PathBuf>,
) -> Result<()> {
    doc.push(Block::Heading(2, format!("{} by source length", options.length_outcome)));
    let Some(mut examples) = tables.get(Table::Examples) else {
        doc.push(Block::Paragraph("No per-example results.".into()));
        return Ok(());
    };
    let schema = examples.collect_schema().ctx(|| "reading the examples schema".into())?;
    let outcome = options.length_outcome.as_str();
    let Some(dtype) = schema.get(outcome).cloned() else {
        doc.push(Block::Paragraph(format!("The examples table has no `{outcome}` column.")));
        return Ok(());
    };
    let value = if dtype.is_bool() {
        col(outcome).cast(DataType::Float64) * lit(100.0)
    } else {
        col(outcome).cast(DataType::Float64)
    };
    let df = collect(
        examples
            .group_by([col("arm").cast(DataType::String), col("length_bin").cast(DataType::String)])
            .agg([value.mean().alias("value"), len().alias("n")]),
        "examples by length bin",
    )?;
    let (arms, bins, values, counts) =
        (strings(&df, "arm")?, strings(&df, "length_bin")?, floats(&df, "value")?, floats(&df, "n")?);
    let mut bin_names: Vec<String> = bins.clone();
    bin_names.sort();
    bin_names.dedup();
    let order = crate::effects::data::bin_order(&bin_names);
    let bin_names: Vec<String> = order.iter().map(|&i| bin_names[i].clone()).collect();
    let arm_names: Vec<String> = arm_order(tables).into_iter().filter(|a| arms.contains(a)).collect();
    let lookup = |a: &str, b: &str| (0..arms.len()).find(|&i| arms[i] == a && bins[i] == b);
    let series: Vec<Series> = arm_names
        .iter()
        .map(|a| Series {
            name: a.clone(),
            points: bin_names
                .iter()
                .enumerate()
                .filter_map(|(x, b)| lookup(a, b).map(|i| (x as f64, values[i])))
                .collect(),
        })
        .collect();
    let path = dir.join("length_bins.png");
    plots::lines(
        &path,
        &format!("Mean {outcome} by source length (tokens)"),
        "source length bin",
        outcome,
        &series,
        plots::XTicks::Named(&bin_names),
    )?;
    written.push(path);
    doc.push(Block::Image { path: "length_bins.png".into(), alt: format!("{outcome} by length bin and arm") });
    let mut headers = vec!["arm".to_string()];
    headers.extend(bin_names.iter().cloned());
    let rows = arm_names
        .iter()
        .map(|a| {
            std::iter::once(a.clone())
                .chain(bin_names.iter().map(|b| match lookup(a, b) {
                    Some(i) => format!("{} (n={})", pp(values[i]), counts[i]),
                    None => "-".into(),
                }))
                .collect()
        })
        .collect();
    doc.push(Block::Table { headers, rows });
    Ok(())
}

fn errors_section(tables: &StudyTables, dir: &Path, doc: &mut Document, written: &mut Vec<PathBuf>) -> Result<()> {
    doc.push(Block::Heading(2, "Error categories".into()));
    let Some(mut examples) = tables.get(Table::Examples) else {
        doc.push(Block::Paragraph("No per-example results.".into()));
        return Ok(());
    };
    let schema = examples.collect_schema().ctx(|| "reading the examples schema".into())?;
    if !schema.contains("error_category") {
        doc.push(Block::Paragraph("The examples table has no `error_category` column.".into()));
        return Ok(());
    }
    let df = collect(
        examples
            .group_by([col("arm").cast(DataType::String), col("error_category").cast(DataType::String)])
            .agg([len().alias("n")]),
        "error categories",
    )?;
    let (arms, cats, counts) = (strings(&df, "arm")?, strings(&df, "error_category")?, floats(&df, "n")?);
    let mut categories: Vec<String> =
        layout::ERROR_CATEGORIES.iter().map(|c| c.to_string()).filter(|c| cats.contains(c)).collect();
    let mut extra: Vec<String> = cats.iter().filter(|c| !categories.contains(c)).cloned().collect();
    extra.sort();
    extra.dedup();
    categories.extend(extra);
    let arm_names: Vec<String> = arm_order(tables).into_iter().filter(|a| arms.contains(a)).collect();
    let share = |a: &str, c: &str| {
        let total: f64 = (0..arms.len()).filter(|&i| arms[i] == a).map(|i| counts[i]).sum();
        let n: f64 = (0..arms.len()).filter(|&i| arms[i] == a && cats[i] == c).map(|i| counts[i]).sum();
        if total > 0.0 { 100.0 * n / total } else { f64::NAN }
    };
    let series: Vec<Series> = arm_names
        .iter()
        .map(|a| Series {
            name: a.clone(),
            points: categories.iter().enumerate().map(|(x, c)| (x as f64, share(a, c))).collect(),
        })
        .collect();
    let path = dir.join("error_categories.png");
    plots::grouped_bars(
        &path,
        "Error categories (% of test examples, all seeds)",
        "% of examples",
        &categories,
        &series,
    )?;
    written.push(path);
    doc.push(Block::Image { path: "error_categories.png".into(), alt: "error categories per arm".into() });
    let mut headers = vec!["arm".to_string()];
    headers.extend(categories.iter().cloned());
    let rows = arm_names
        .iter()
        .map(|a| std::iter::once(a.clone()).chain(categories.iter().map(|c| format!("{:.1}%", share(a, c)))).collect())
        .collect();
    doc.push(Block::Table { headers, rows });
    Ok(())
}

fn attention_section(
    tables: &StudyTables,
    dir: &Path,
    options: &ReportOptions,
    doc: &mut Document,
    written: &mut Vec<PathBuf>,
) -> Result<()> {
    doc.push(Block::Heading(2, "Attention".into()));
    let Some(attention) = tables.get(Table::Attention) else {
        doc.push(Block::Paragraph("No attention maps (no arm has an attention model, or none finished).".into()));
        return Ok(());
    };
    // One heatmap per (arm, example) from each arm's lowest seed, a few per arm.
    let df = collect(
        attention
            .select([
                col("arm").cast(DataType::String),
                col("seed").cast(DataType::Int64),
                col("example_id").cast(DataType::String),
                col("source_tokens").cast(DataType::List(Box::new(DataType::String))),
                col("target_tokens").cast(DataType::List(Box::new(DataType::String))),
                col("weights").cast(DataType::List(Box::new(DataType::Float64))),
            ])
            .sort(["arm", "seed", "example_id"], SortMultipleOptions::default()),
        "attention",
    )?;
    let arms = strings(&df, "arm")?;
    let seeds = floats(&df, "seed")?;
    let ids = strings(&df, "example_id")?;
    let list = |name: &str| -> Result<Vec<Option<polars::prelude::Series>>> {
        Ok(df
            .column(name)
            .and_then(|c| c.list().cloned())
            .ctx(|| format!("attention column `{name}`"))?
            .series_iter()
            .collect())
    };
    let (src, tgt, wts) = (list("source_tokens")?, list("target_tokens")?, list("weights")?);
    let arm_names = arm_order(tables);
    let per_arm = options.heatmaps.div_ceil(arm_names.iter().filter(|a| arms.contains(a)).count().max(1)).max(1);
    let mut drawn = 0;
    for arm in arm_names.iter().filter(|a| arms.contains(a)) {
        let first_seed = (0..arms.len()).filter(|&i| &arms[i] == arm).map(|i| seeds[i]).fold(f64::INFINITY, f64::min);
        for i in (0..arms.len()).filter(|&i| &arms[i] == arm && seeds[i] == first_seed).take(per_arm) {
            if drawn >= options.heatmaps {
                break;
            }
            let tokens = |s: &Option<polars::prelude::Series>| -> Vec<String> {
                s.as_ref()
                    .and_then(|s| s.str().ok().map(|c| c.iter().map(|v| v.unwrap_or("").to_string()).collect()))
                    .unwrap_or_default()
            };
            let weights: Vec<f64> = wts[i]
                .as_ref()
                .and_then(|s| s.f64().ok().map(|c| c.iter().map(|v| v.unwrap_or(f64::NAN)).collect()))
                .unwrap_or_default();
            let file = format!("attention_{}_{}.png", sanitize(arm), sanitize(&ids[i]));
            let path = dir.join(&file);
            let title = format!("{arm}, seed {first_seed}, example {}", ids[i]);
            match plots::heatmap(&path, &title, &tokens(&src[i]), &tokens(&tgt[i]), &weights) {
                Ok(()) => {
                    written.push(path);
                    doc.push(Block::Image { path: file, alt: format!("attention of {arm} on example {}", ids[i]) });
                    drawn += 1;
                }
                Err(e) => {
                    doc.push(Block::Paragraph(format!("Attention of {arm} on example {} not drawn: {e}", ids[i])))
                }
            }
        }
    }
    Ok(())
}

/// A file-name-safe version of a label.
pub fn sanitize(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '_' }).collect()
}
