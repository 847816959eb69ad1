//! Effects of every arm against the arm it is compared to (`compare_to` in
//! `arms.parquet`), per outcome. The training run (seed) is the unit of
//! replication (docs/effects.md):
//!
//! - the headline, seed level: one paired difference per seed (the runs'
//!   outcome, or the per-seed mean of a per-example outcome), a t interval
//!   on k - 1 degrees of freedom and the exact whole-seed sign-flip
//!   permutation p-value;
//! - example level, for these trained models: per-example outcomes paired
//!   by (seed, example id), a paired t interval over the pairs and a
//!   bootstrap of examples within seeds;
//! - adjusted: OLS of the per-example outcome on the treatment and the
//!   pre-treatment covariates, standard errors clustered by seed;
//! - refuters that can fail (`refute`);
//! - inter-model arms: within their bucket, and averaged over buckets;
//! - conditional on the control example's length bin with `By::LengthBin`;
//! - Holm-adjusted p-values over the rows shown, paired Cohen's d.
//!
//! One quantity per row: `bleu` is corpus BLEU at the run level and has no
//! example-level estimate; `sentence_bleu` is the mean sentence BLEU, with
//! both (likewise `token_accuracy` and `example_token_accuracy`).
//!
//! Nothing missing is dropped silently: every row says in `flags` which
//! seeds, runs, examples or values were missing for it.

pub mod adjust;
pub mod data;
pub mod design;
pub mod estimate;
pub mod frame;
pub mod refute;
pub mod stratify;
pub mod table;
pub mod table_row;

use std::collections::BTreeSet;

use crate::error::{Error, Result};
use crate::stats::rng::stable_hash;
use crate::tables::StudyTables;
use data::{Examples, Runs, bin_order, load_examples, load_runs};
use design::{Comparison, read_design};
pub use estimate::{Adjusted, ExampleLevel, Paired, SeedLevel, Settings};
pub use refute::{Refutation, Refutations};
use refute::{RefuteInput, refute};

/// What one row of the effects table is conditional on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum By {
    /// Every arm against its comparison arm, plus bucket-stratified averages
    /// of inter-model arms.
    #[default]
    Arm,
    /// Inter-model arms only: per bucket, plus the stratified average.
    Bucket,
    /// Every arm, conditional on the length bin of the control example.
    LengthBin,
    /// Inter-model arms averaged over buckets only.
    Arch,
}

impl By {
    pub fn parse(value: &str) -> Result<Self> {
        match value {
            "arm" => Ok(By::Arm),
            "bucket" => Ok(By::Bucket),
            "length_bin" => Ok(By::LengthBin),
            "arch" => Ok(By::Arch),
            _ => Err(Error::BadArgument {
                flag: "--by".into(),
                value: value.into(),
                message: "expected one of arm, bucket, length_bin, arch".into(),
            }),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    /// Outcomes (columns of `runs`); empty = every documented outcome present.
    pub outcomes: Vec<String>,
    pub by: By,
    /// Pre-treatment columns of `examples` adjusted for (control side) and
    /// used as dummy outcomes.
    pub confounders: Vec<String>,
    pub settings: Settings,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            outcomes: Vec::new(),
            by: By::Arm,
            confounders: vec!["source_len".into(), "target_len".into()],
            settings: Settings::default(),
        }
    }
}

/// One row of the effects table.
#[derive(Debug, Clone)]
pub struct EffectRow {
    pub outcome: String,
    pub arm: String,
    pub compare_to: String,
    pub kind: String,
    pub intervention: String,
    pub bucket: Option<String>,
    /// The length bin for `By::LengthBin`.
    pub stratum: Option<String>,
    pub seed: SeedLevel,
    pub example: ExampleLevel,
    pub adjusted: Adjusted,
    pub refutations: Option<Refutations>,
    pub p_t_holm: f64,
    pub p_perm_holm: f64,
    pub flags: Vec<String>,
}

/// The effects of a study, and notes about the study as a whole.
#[derive(Debug, Clone)]
pub struct Effects {
    pub rows: Vec<EffectRow>,
    pub outcomes: Vec<String>,
    pub confounders: Vec<String>,
    pub notes: Vec<String>,
    /// Confidence level of every interval.
    pub level: f64,
}

/// Estimate the effects of a study.
pub fn study_effects(tables: &StudyTables, options: &Options) -> Result<Effects> {
    let design = read_design(tables)?;
    let mut notes = Vec::new();
    let available = data::available_outcomes(tables)?;
    let outcomes = if options.outcomes.is_empty() {
        available.clone()
    } else {
        for o in &options.outcomes {
            if !available.contains(o) && tables.runs.is_some() {
                return Err(Error::BadArgument {
                    flag: "--outcome".into(),
                    value: o.clone(),
                    message: format!("not an outcome of this study's runs (outcomes: {})", available.join(", ")),
                });
            }
        }
        options.outcomes.clone()
    };
    if tables.runs.is_none() {
        notes.push("no job has finished: the runs table is empty".into());
    }
    let comparisons: Vec<Comparison> = design
        .comparisons
        .iter()
        .filter(|c| {
            !matches!(options.by, By::Bucket | By::Arch) || c.treatment.kind == intervene_proto::tables::KIND_INTER
        })
        .cloned()
        .collect();
    if comparisons.is_empty() {
        notes.push(match options.by {
            By::Bucket | By::Arch => "the study has no inter-model arms".into(),
            _ => "the study has no arm with a comparison arm".into(),
        });
    }
    let runs = load_runs(tables, &outcomes)?;
    let with_bins = options.by == By::LengthBin;
    let examples = load_examples(tables, &comparisons, &outcomes, &options.confounders, with_bins)?;
    if examples.is_none() {
        notes.push("no per-example results: example-level and adjusted estimates are empty".into());
    }

    let mut rows = Vec::new();
    // A run-level outcome (corpus BLEU) has no value per length bin.
    let run_only: Vec<&String> = outcomes.iter().filter(|o| data::example_column(o).is_none()).collect();
    if with_bins && !run_only.is_empty() {
        notes.push(format!(
            "{} measured per run only: no estimate per length bin (per-example outcomes: sentence_bleu, \
             example_token_accuracy, exact_match, syntax_valid)",
            run_only.iter().map(|o| o.as_str()).collect::<Vec<_>>().join(", ")
        ));
    }
    for (ci, comparison) in comparisons.iter().enumerate() {
        let base_flags = coverage_flags(comparison, &runs, examples.as_ref());
        for (k, outcome) in outcomes.iter().enumerate() {
            if with_bins && data::example_column(outcome).is_none() {
                continue;
            }
            let strata: Vec<Option<u16>> = match (&examples, with_bins) {
                (Some(ex), true) => bin_order(&ex.bins).into_iter().map(|b| Some(b as u16)).collect(),
                _ => vec![None],
            };
            for stratum in strata {
                rows.push(estimate_row(
                    comparison,
                    ci,
                    k,
                    outcome,
                    stratum,
                    &runs,
                    examples.as_ref(),
                    options,
                    &base_flags,
                ));
            }
        }
    }
    if matches!(options.by, By::Arm | By::Bucket | By::Arch) {
        let mut stratified = stratify::bucket_averages(&rows, &design, &options.settings);
        if options.by == By::Arch {
            rows.clear();
        }
        rows.append(&mut stratified);
    }
    frame::apply_holm(&mut rows);
    Ok(Effects { rows, outcomes, confounders: options.confounders.clone(), notes, level: options.settings.level })
}

/// Flags about seeds and examples that hold for every row of a comparison.
fn coverage_flags(c: &Comparison, runs: &Runs, examples: Option<&Examples>) -> Vec<String> {
    let mut flags = Vec::new();
    for (side, arm) in [("treatment", &c.treatment), ("control", &c.control)] {
        let have: BTreeSet<i64> = runs.seeds(&arm.arm).into_iter().collect();
        let missing: Vec<String> = arm.seeds.iter().filter(|s| !have.contains(s)).map(|s| s.to_string()).collect();
        if !missing.is_empty() {
            flags.push(format!("{side} `{}` missing seeds {}", arm.arm, missing.join(",")));
        }
        let planned: BTreeSet<i64> = arm.seeds.iter().copied().collect();
        let extra: Vec<String> = have.iter().filter(|s| !planned.contains(s)).map(|s| s.to_string()).collect();
        if !extra.is_empty() {
            flags.push(format!("{side} `{}` has runs for unplanned seeds {}", arm.arm, extra.join(",")));
        }
        if let Some(ex) = examples {
            let no_examples: Vec<String> =
                have.iter().filter(|&&s| ex.rows_of(&arm.arm, s) == 0).map(|s| s.to_string()).collect();
            if !no_examples.is_empty() {
                flags.push(format!("{side} `{}` has no examples for seeds {}", arm.arm, no_examples.join(",")));
            }
        }
    }
    flags
}

#[allow(clippy::too_many_arguments)]
fn estimate_row(
    c: &Comparison,
    ci: usize,
    k: usize,
    outcome: &str,
    stratum: Option<u16>,
    runs: &Runs,
    examples: Option<&Examples>,
    options: &Options,
    base_flags: &[String],
) -> EffectRow {
    let settings = &options.settings;
    let mut flags = base_flags.to_vec();
    let stratum_name = stratum.and_then(|b| examples.map(|ex| ex.bins[b as usize].clone()));
    let key = stable_hash(&format!("{}\u{1f}{outcome}\u{1f}{}", c.key(), stratum_name.as_deref().unwrap_or("")));

    let paired = examples.filter(|ex| ex.has_outcome[k]).map(|ex| {
        let range = ex.ranges[ci].clone();
        let keep = |row: usize| stratum.is_none_or(|b| ex.bin[row] == b);
        Paired::gather(&ex.seed, &ex.y_t[k], &ex.y_c[k], &ex.w_t, &ex.w_c, range, keep)
    });

    // Seed level: the runs' outcome, or per-seed example means within a stratum.
    let seed = if stratum.is_some() || data::is_example_only(outcome) {
        match &paired {
            Some(p) => {
                let (t, c) = p.seed_means();
                SeedLevel::from_pairs(&t, &c, settings, key)
            }
            None => SeedLevel::empty(),
        }
    } else {
        runs_seed_level(c, outcome, runs, settings, key, &mut flags)
    };
    if seed.n == 1 {
        flags.push("one paired seed: no interval over training runs exists".into());
    } else if seed.n == 0 {
        flags.push("no paired seeds".into());
    }

    let (example, adjusted, refutations) = match (&paired, examples) {
        (Some(p), Some(ex)) => paired_estimates(
            PairedInput { c, ci, outcome, stratum, runs, paired: p, examples: ex, seed: &seed, key },
            settings,
            &mut flags,
        ),
        _ => {
            if examples.is_none() {
                flags.push("no examples".into());
            } else if data::example_column(outcome).is_some() {
                flags.push(format!("no per-example {outcome}"));
            }
            // A run-level outcome (corpus BLEU): the refuters over seeds still apply.
            let refutations = (settings.refuter_sims > 0 && seed.n > 0).then(|| {
                refute(&RefuteInput {
                    seed: &seed,
                    groups: &[],
                    covariates: &[],
                    level: settings.level,
                    sims: settings.refuter_sims,
                    rng_seed: settings.seed,
                    key,
                })
            });
            (ExampleLevel::empty(), Adjusted::empty(), refutations)
        }
    };
    if let Some(r) = &refutations {
        let failed = r.failed();
        if !failed.is_empty() {
            flags.push(format!("refuted by {}", failed.join(", ")));
        }
    }

    EffectRow {
        outcome: outcome.to_string(),
        arm: c.treatment.arm.clone(),
        compare_to: c.control.arm.clone(),
        kind: c.treatment.kind.clone(),
        intervention: c.treatment.intervention.clone(),
        bucket: c.treatment.bucket.clone(),
        stratum: stratum_name,
        seed,
        example,
        adjusted,
        refutations,
        p_t_holm: f64::NAN,
        p_perm_holm: f64::NAN,
        flags,
    }
}

/// The seed level from the runs table: the outcome of each seed both arms
/// ran, paired by seed (seeds with a null value are flagged and left out).
fn runs_seed_level(
    c: &Comparison,
    outcome: &str,
    runs: &Runs,
    settings: &Settings,
    key: u64,
    flags: &mut Vec<String>,
) -> SeedLevel {
    let mut t = Vec::new();
    let mut cv = Vec::new();
    let mut null_seeds = Vec::new();
    let seeds: BTreeSet<i64> = runs.seeds(&c.treatment.arm).into_iter().collect();
    for s in runs.seeds(&c.control.arm).into_iter().filter(|s| seeds.contains(s)) {
        match (runs.value(&c.treatment.arm, s, outcome), runs.value(&c.control.arm, s, outcome)) {
            (Some(a), Some(b)) if !a.is_nan() && !b.is_nan() => {
                t.push(a);
                cv.push(b);
            }
            _ => null_seeds.push(s.to_string()),
        }
    }
    if !null_seeds.is_empty() {
        flags.push(format!("{outcome} null in runs of seeds {}", null_seeds.join(",")));
    }
    SeedLevel::from_pairs(&t, &cv, settings, key)
}

/// What [`paired_estimates`] reads.
struct PairedInput<'a> {
    c: &'a Comparison,
    ci: usize,
    outcome: &'a str,
    stratum: Option<u16>,
    runs: &'a Runs,
    paired: &'a Paired,
    examples: &'a Examples,
    seed: &'a SeedLevel,
    key: u64,
}

/// The example level, the adjusted estimate and the refuters, from the
/// comparison's example pairs.
fn paired_estimates(
    input: PairedInput<'_>,
    settings: &Settings,
    flags: &mut Vec<String>,
) -> (ExampleLevel, Adjusted, Option<Refutations>) {
    let PairedInput { c, ci, outcome, stratum, runs, paired: p, examples: ex, seed, key } = input;
    if stratum.is_none() {
        let pairs_all = ex.ranges[ci].len();
        let unpaired: usize = pair_shortfall(c, ex, runs, pairs_all);
        if unpaired > 0 {
            flags.push(format!("{unpaired} example rows without a partner in the other arm"));
        }
    }
    if p.null_pairs > 0 {
        flags.push(format!("{outcome} null in {} example pairs (left out)", p.null_pairs));
    }
    if p.is_empty() {
        flags.push("no example pairs".into());
        (ExampleLevel::empty(), Adjusted::empty(), None)
    } else {
        let example = p.example_level(settings, key);
        let (design, incomplete) = p.design();
        if incomplete > 0 {
            flags.push(format!("{incomplete} example pairs with a null covariate left out of the adjustment"));
        }
        let (adjusted, error) = estimate::adjust(&design, settings);
        if let Some(e) = error {
            flags.push(e);
        }
        let refutations = (settings.refuter_sims > 0).then(|| {
            let diffs = p.diffs();
            let groups: Vec<&[f64]> = p.groups.iter().map(|g| &diffs[g.clone()]).collect();
            refute(&RefuteInput {
                seed,
                groups: &groups,
                covariates: &p.covariate_shifts(),
                level: settings.level,
                sims: settings.refuter_sims,
                rng_seed: settings.seed,
                key,
            })
        });
        (example, adjusted, refutations)
    }
}

/// Example rows of the comparison's two arms (over the seeds both ran) that
/// found no partner.
fn pair_shortfall(c: &Comparison, ex: &Examples, runs: &Runs, pairs: usize) -> usize {
    let t: BTreeSet<i64> = runs.seeds(&c.treatment.arm).into_iter().collect();
    let both: Vec<i64> = runs.seeds(&c.control.arm).into_iter().filter(|s| t.contains(s)).collect();
    let rows: usize = both.iter().map(|&s| ex.rows_of(&c.treatment.arm, s) + ex.rows_of(&c.control.arm, s)).sum();
    rows.saturating_sub(2 * pairs)
}
