//! `intervene export | query | effects | report`: the analysis of a study's
//! results (the `intervene-analysis` crate; no libtorch involved).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use intervene_analysis::effects::table::{TableOptions, scan_table, table_effects, table_frame};
use intervene_analysis::effects::{By, Options, Settings, frame, study_effects};
use intervene_analysis::output::{self, frame_to_text};
use intervene_analysis::report::{ReportOptions, write_report};
use intervene_analysis::{DataFrame, StudyResults, StudyTables, query as sql};

/// Where a study's results are.
#[derive(Debug, clap::Args)]
pub struct StudyArgs {
    /// The study's name (`[study] name` of its study file).
    pub study: String,
    /// State directory the results were written to (`intervene run` and the coordinator's --state).
    #[arg(long, default_value = ".intervene")]
    pub state: PathBuf,
    /// Study version; the highest one by default.
    #[arg(long)]
    pub version: Option<u32>,
}

impl StudyArgs {
    fn load(&self) -> anyhow::Result<StudyTables> {
        let results = StudyResults::locate(&self.state, &self.study, self.version)?;
        Ok(results.load()?)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Parquet,
    Csv,
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub study: StudyArgs,
    /// File format of the exported tables.
    #[arg(long, value_enum, default_value = "parquet")]
    pub format: ExportFormat,
    /// Directory to write `<table>.parquet` / `<table>.csv` into (created if needed).
    #[arg(short = 'o', long = "out")]
    pub out: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum QueryFormat {
    Table,
    Csv,
    Json,
    Parquet,
}

#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    #[command(flatten)]
    pub study: StudyArgs,
    /// SQL over the tables `runs`, `examples`, `curves`, `arms` and `attention`.
    pub sql: String,
    /// Output format; `parquet` needs -o.
    #[arg(long, value_enum, default_value = "table")]
    pub format: QueryFormat,
    /// Write the result to this file instead of standard output.
    #[arg(short = 'o', long = "out")]
    pub out: Option<PathBuf>,
    /// Rows shown in the terminal table.
    #[arg(long, default_value_t = 50)]
    pub max_rows: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EffectsFormat {
    Table,
    Csv,
    Json,
    Parquet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ByArg {
    /// Every arm against its comparison arm (and bucket-stratified averages of inter-model arms).
    Arm,
    /// Inter-model arms per complexity bucket, with their stratified average.
    Bucket,
    /// Every arm conditional on the source-length bin of the example.
    #[value(name = "length_bin", alias = "length-bin")]
    LengthBin,
    /// Inter-model architecture effects averaged over buckets.
    Arch,
}

#[derive(Debug, clap::Args)]
pub struct EffectsArgs {
    /// The study's name; leave out with --table.
    #[arg(required_unless_present = "table")]
    pub study: Option<String>,
    /// State directory the results were written to.
    #[arg(long, default_value = ".intervene")]
    pub state: PathBuf,
    /// Study version; the highest one by default.
    #[arg(long)]
    pub version: Option<u32>,
    /// Outcomes, comma-separated (default: every outcome in the runs table; with --table, required).
    #[arg(long, value_delimiter = ',')]
    pub outcome: Vec<String>,
    /// What each row is conditional on.
    #[arg(long, value_enum, default_value = "arm")]
    pub by: ByArg,
    /// Columns adjusted for in the regression (backdoor) estimate, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "source_len,target_len")]
    pub confounders: Vec<String>,
    /// Bootstrap resamples.
    #[arg(long, default_value_t = 2000)]
    pub resamples: usize,
    /// Random sign flips of the permutation test beyond 16 seeds (below, all 2^k are enumerated).
    #[arg(long, default_value_t = 2000)]
    pub permutations: usize,
    /// Random relabellings of the placebo refuter beyond 12 seeds (0: no refuters).
    #[arg(long, default_value_t = 100)]
    pub refuter_sims: usize,
    /// Seed of the bootstrap, permutations and refuters.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Confidence level of every interval.
    #[arg(long, default_value_t = 0.95)]
    pub level: f64,
    /// Output format; `parquet` needs -o.
    #[arg(long, value_enum, default_value = "table")]
    pub format: EffectsFormat,
    /// Write the effects to this file instead of standard output.
    #[arg(short = 'o', long = "out")]
    pub out: Option<PathBuf>,
    /// Analyse this Parquet or CSV file instead of a study.
    #[arg(long, conflicts_with_all = ["study", "by"], requires_all = ["treatment", "control"])]
    pub table: Option<PathBuf>,
    /// (--table) Column naming each row's arm.
    #[arg(long, requires = "table")]
    pub treatment: Option<String>,
    /// (--table) Value of the treatment column that marks control rows.
    #[arg(long, requires = "table")]
    pub control: Option<String>,
    /// (--table) Columns that pair a treatment row with a control row, comma-separated.
    #[arg(long, value_delimiter = ',', requires = "table")]
    pub pair: Vec<String>,
    /// (--table) Column of the unit of replication (the training run): the headline interval is over its
    /// values. Defaults to the pair column `seed` when the pairs include one.
    #[arg(long, requires = "pair")]
    pub cluster: Option<String>,
    /// Terminal table: also the example-level (these trained models) and adjusted estimates.
    #[arg(long)]
    pub detail: bool,
}

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub study: StudyArgs,
    /// Directory to write report.md, report.html and the plots into.
    #[arg(short = 'o', long = "out")]
    pub out: PathBuf,
    /// Outcomes of the effect section, comma-separated (default: every outcome in the runs table).
    #[arg(long, value_delimiter = ',')]
    pub outcome: Vec<String>,
    /// Columns adjusted for, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "source_len,target_len")]
    pub confounders: Vec<String>,
    /// Bootstrap resamples.
    #[arg(long, default_value_t = 2000)]
    pub resamples: usize,
    /// Seed of the bootstrap, permutations and refuters.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Attention heatmaps to draw at most.
    #[arg(long, default_value_t = 6)]
    pub heatmaps: usize,
}

pub fn export(a: ExportArgs) -> anyhow::Result<ExitCode> {
    let tables = a.study.load()?;
    let written = sql::export(&tables, &a.out, a.format == ExportFormat::Csv)?;
    for (table, rows, path) in written {
        println!("{table:<10} {rows:>9} rows  {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

pub fn query(a: QueryArgs) -> anyhow::Result<ExitCode> {
    let tables = a.study.load()?;
    let df = sql::run_sql(&tables, &a.sql)?;
    emit(&df, a.format.into(), a.out.as_deref(), || frame_to_text(&df, a.max_rows))?;
    Ok(ExitCode::SUCCESS)
}

pub fn effects(a: EffectsArgs) -> anyhow::Result<ExitCode> {
    if !(a.level > 0.0 && a.level < 1.0) {
        bail!("--level `{}`: expected a confidence level strictly between 0 and 1, e.g. 0.95", a.level);
    }
    if a.resamples == 0 || a.permutations == 0 {
        bail!("--resamples and --permutations must be at least 1 (got {} and {})", a.resamples, a.permutations);
    }
    let settings = Settings {
        level: a.level,
        resamples: a.resamples,
        permutations: a.permutations,
        refuter_sims: a.refuter_sims,
        seed: a.seed,
    };
    let confounders: Vec<String> = a.confounders.iter().filter(|c| !c.is_empty()).cloned().collect();
    if let Some(path) = &a.table {
        if a.outcome.is_empty() {
            bail!("--table needs --outcome: the column(s) to compare");
        }
        let (Some(treatment), Some(control)) = (a.treatment.clone(), a.control.clone()) else {
            bail!("--table needs --treatment COLUMN and --control VALUE");
        };
        let opts = TableOptions {
            treatment,
            control: control.clone(),
            outcomes: a.outcome.clone(),
            pair: a.pair.clone(),
            cluster: a.cluster.clone(),
            // The study default (source_len,target_len) means nothing for a foreign table.
            confounders: if a.confounders == ["source_len", "target_len"] { Vec::new() } else { confounders },
            settings,
        };
        let lf = scan_table(path)?;
        let rows = table_effects(lf, &path.display().to_string(), &opts)?;
        let df = table_frame(&rows, &control)?;
        let shown = if a.detail { df.clone() } else { table_headline(&df)? };
        emit(&df, a.format.into(), a.out.as_deref(), || frame_to_text(&shown, usize::MAX))?;
        return Ok(ExitCode::SUCCESS);
    }
    let Some(study) = a.study.clone() else { bail!("give a STUDY, or --table FILE") };
    let tables = StudyArgs { study, state: a.state.clone(), version: a.version }.load()?;
    let by = match a.by {
        ByArg::Arm => By::Arm,
        ByArg::Bucket => By::Bucket,
        ByArg::LengthBin => By::LengthBin,
        ByArg::Arch => By::Arch,
    };
    let options = Options { outcomes: a.outcome.clone(), by, confounders, settings };
    let effects = study_effects(&tables, &options)?;
    for note in &effects.notes {
        eprintln!("note: {note}");
    }
    let df = frame::to_frame(&effects.rows)?;
    emit(&df, a.format.into(), a.out.as_deref(), || frame::to_text(&effects.rows, a.level, a.detail))?;
    Ok(ExitCode::SUCCESS)
}

/// The columns of `effects --table` the terminal shows without --detail: the headline.
fn table_headline(df: &DataFrame) -> anyhow::Result<DataFrame> {
    const HEADLINE: &[&str] = &[
        "treatment",
        "control",
        "outcome",
        "n_pairs",
        "unit",
        "n_units",
        "ate",
        "ci_low",
        "ci_high",
        "ci_kind",
        "p_t",
        "p_t_holm",
        "p_perm",
        "flags",
    ];
    Ok(df.select(HEADLINE.iter().copied())?)
}

pub fn report(a: ReportArgs) -> anyhow::Result<ExitCode> {
    let tables = a.study.load()?;
    let options = Options {
        outcomes: a.outcome.clone(),
        by: By::Arm,
        confounders: a.confounders.iter().filter(|c| !c.is_empty()).cloned().collect(),
        settings: Settings { resamples: a.resamples, seed: a.seed, ..Settings::default() },
    };
    let effects = study_effects(&tables, &options)?;
    let written =
        write_report(&tables, &effects, &a.out, &ReportOptions { heatmaps: a.heatmaps, ..Default::default() })?;
    for path in &written {
        println!("{}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Out {
    Table,
    Csv,
    Json,
    Parquet,
}

impl From<QueryFormat> for Out {
    fn from(f: QueryFormat) -> Self {
        match f {
            QueryFormat::Table => Out::Table,
            QueryFormat::Csv => Out::Csv,
            QueryFormat::Json => Out::Json,
            QueryFormat::Parquet => Out::Parquet,
        }
    }
}

impl From<EffectsFormat> for Out {
    fn from(f: EffectsFormat) -> Self {
        match f {
            EffectsFormat::Table => Out::Table,
            EffectsFormat::Csv => Out::Csv,
            EffectsFormat::Json => Out::Json,
            EffectsFormat::Parquet => Out::Parquet,
        }
    }
}

/// Write a result frame to `out` or standard output in the chosen format.
fn emit(df: &DataFrame, format: Out, out: Option<&Path>, text: impl FnOnce() -> String) -> anyhow::Result<()> {
    if format == Out::Parquet {
        let Some(path) = out else { bail!("--format parquet writes a file: give -o FILE") };
        output::write_parquet(df, path)?;
        return Ok(());
    }
    let mut sink: Box<dyn Write> = match out {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    match format {
        Out::Csv => output::write_csv(df, &mut sink)?,
        Out::Json => {
            output::write_json(df, &mut sink)?;
            sink.write_all(b"\n")?;
        }
        Out::Table | Out::Parquet => sink.write_all(text().as_bytes())?,
    }
    sink.flush()?;
    Ok(())
}
