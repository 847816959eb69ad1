//! `intervene validate | plan`: what a study file will run, before any
//! GPU-hour is spent.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use intervene_analysis::output::{Align, TextTable};
use intervene_coordinator::plan::{self, Plan, thousands};
use intervene_coordinator::spec::{self, Study};

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// The study file (TOML).
    pub file: PathBuf,
    /// Do not open the data source (for a study whose data files exist only
    /// on the machines that run it, e.g. a cluster's shared disk).
    #[arg(long)]
    pub no_data: bool,
}

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// The study file (TOML).
    pub file: PathBuf,
    /// Print the whole plan (arms and fully resolved jobs) as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Validate and plan a study file; errors are printed with their locations.
pub fn load_and_plan(file: &std::path::Path) -> anyhow::Result<(Study, Plan)> {
    let study = spec::load(file).map_err(|e| anyhow::anyhow!("{e}"))?;
    let plan = plan::plan(&study).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((study, plan))
}

pub fn validate(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let checked = spec::load(&args.file).and_then(|s| plan::plan(&s).map(|p| (s, p)));
    let checked = checked
        .and_then(|(s, p)| if args.no_data { Ok((s, p, None)) } else { data_pairs(&s).map(|n| (s, p, Some(n))) });
    match checked {
        Ok((study, plan, pairs)) => {
            let warnings = plan::warnings(&study, &plan);
            if !warnings.is_empty() {
                eprintln!("{warnings}");
            }
            let data = match pairs {
                Some(n) => format!("; the data source yields {} pairs", thousands(n as u64)),
                None => "; data not opened (--no-data)".to_string(),
            };
            println!(
                "{}: ok (study {}, {} arms, {} jobs{data})",
                args.file.display(),
                study.name,
                plan.arms.len(),
                plan.jobs.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            eprintln!("{errors}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Opens the study's data source as a job would (mined trees are cached as
/// the workers cache them) and counts its pairs: a source that cannot be
/// read, or yields fewer pairs than the splits ask for, is refused here
/// rather than in every job. The length limits are applied later, per job,
/// so enough pairs here is necessary, not sufficient.
fn data_pairs(study: &Study) -> Result<usize, spec::SpecErrors> {
    let d = &study.data;
    let cache_dir = intervene_data::mine::cache::default_cache_dir();
    let needed = d.train as usize + d.valid as usize + d.test as usize;
    let message = match intervene_data::load_source(&d.source, &study.source.base_dir, &cache_dir) {
        Ok(pairs) if pairs.len() >= needed => return Ok(pairs.len()),
        Ok(pairs) if pairs.is_empty() => {
            "the source yields no pairs; accepted: a source with at least train + valid + test pairs".to_string()
        }
        Ok(pairs) => format!(
            "the source yields {} pairs, fewer than train + valid + test = {}; accepted: smaller splits or more data",
            thousands(pairs.len() as u64),
            thousands(needed as u64)
        ),
        Err(e) => {
            let text = super::errors::render(&anyhow::Error::new(e));
            format!("cannot load the data: {}", text.trim_start_matches("error: "))
        }
    };
    Err(study.source.locate(vec![spec::Issue::new("data.source", message)]))
}

pub fn plan(args: PlanArgs) -> anyhow::Result<ExitCode> {
    let (study, plan) = match spec::load(&args.file).and_then(|s| plan::plan(&s).map(|p| (s, p))) {
        Ok(v) => v,
        Err(errors) => {
            eprintln!("{errors}");
            return Ok(ExitCode::FAILURE);
        }
    };
    if let Some(warning) = power_warning(&study) {
        eprintln!("warning: {warning}");
    }
    let warnings = plan::warnings(&study, &plan);
    if !warnings.is_empty() {
        eprintln!("{warnings}");
    }
    if args.json {
        let json = serde_json::to_string_pretty(&plan).context("serialising the plan")?;
        println!("{json}");
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", render(&study, &plan));
    Ok(ExitCode::SUCCESS)
}

/// `[study] minimum_effect`: whether the study's seeds can detect it (two-sided
/// paired t over seeds, alpha 0.05, power 0.8; docs/effects.md).
pub fn power_warning(study: &Study) -> Option<String> {
    use intervene_analysis::stats::power::{paired_t_power, seeds_needed};
    let (effect, sd) = study.minimum_effect?;
    let k = study.seeds.len();
    let needed = seeds_needed(effect / sd, 0.05, 0.8);
    if needed.is_some_and(|n| n.seeds as usize <= k) {
        return None;
    }
    let power = if k >= 2 { paired_t_power(effect / sd, k as f64, 0.05) } else { 0.0 };
    let need = needed.map_or_else(|| "more than ten million".to_string(), |n| n.seeds.to_string());
    Some(format!(
        "study.minimum_effect: {k} seed(s) detect an effect of {effect} points (sd of per-seed differences {sd}) \
         with power {power:.2}; {need} seeds are needed for power 0.8 at alpha 0.05 (`intervene power --effect \
         {effect} --sd {sd}`)"
    ))
}

pub fn render(study: &Study, plan: &Plan) -> String {
    let d = &study.data;
    let mut out = format!(
        "study {} (plan {}): data {} {}/{}/{} (train/valid/test), seeds {}\n\n",
        plan.study,
        &plan.spec_hash[..12],
        source_text(&d.source),
        d.train,
        d.valid,
        d.test,
        join(&plan.seeds),
    );
    let mut t = TextTable::new(&[
        ("ARM", Align::Left),
        ("INTERVENTION", Align::Left),
        ("KIND", Align::Left),
        ("CHANGED", Align::Left),
        ("ARCH", Align::Left),
        ("PARAMS", Align::Right),
        ("STEPS", Align::Right),
        ("BUCKET", Align::Left),
        ("SEEDS", Align::Left),
        ("JOBS", Align::Left),
    ]);
    for arm in &plan.arms {
        let seeds: Vec<u64> = arm.jobs.iter().map(|(s, _)| *s).collect();
        let jobs: Vec<&str> = arm.jobs.iter().map(|(_, id)| &id[..8]).collect();
        // Steps per job (each seed of an arm runs as many).
        let steps = arm.jobs.first().and_then(|(_, id)| plan.job(id)).map(|j| plan::steps::optimisation_steps(&j.spec));
        t.row(vec![
            arm.name.clone(),
            arm.intervention.clone().unwrap_or_else(|| "-".into()),
            arm.kind.clone(),
            Some(arm.changed_text()).filter(|c| !c.is_empty()).unwrap_or_else(|| "-".into()),
            arm.arch.to_string(),
            thousands(arm.params),
            steps.map_or_else(|| "-".into(), thousands),
            arm.bucket.clone().unwrap_or_else(|| "-".into()),
            join(&seeds),
            jobs.join(" "),
        ]);
    }
    out.push_str(&t.render());
    out.push_str("\nSTEPS: optimisation steps per job, ceil(train pairs / batch_size) x epochs (fewer if early stopping ends it)\n");
    let cells: usize = plan.arms.iter().map(|a| a.jobs.len()).sum();
    let shared = cells - plan.jobs.len();
    out.push_str(&format!(
        "\ntotal: {} arms x {} seeds = {} cells, {} jobs to run{}\n",
        plan.arms.len(),
        plan.seeds.len(),
        cells,
        plan.jobs.len(),
        if shared > 0 { format!(" ({shared} cells share a job with another arm)") } else { String::new() }
    ));
    out
}

fn join(seeds: &[u64]) -> String {
    seeds.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
}

fn source_text(s: &intervene_proto::job::SourceSpec) -> String {
    use intervene_proto::job::SourceSpec::*;
    match s {
        Codesearchnet { path } | Parquet { path } | Conala { path } | PythonTree { path } => {
            format!("{} {path}", s.kind())
        }
        PythonStdlib => "python-stdlib".into(),
        PythonEnv { python, paths } => match (python, paths.is_empty()) {
            (_, false) => format!("python-env {}", paths.join(" ")),
            (Some(python), true) => format!("python-env {python}"),
            (None, true) => "python-env".into(),
        },
        Synthetic { task, size, seed } => format!("synthetic {task:?} x{size} (seed {seed})").to_lowercase(),
    }
}
