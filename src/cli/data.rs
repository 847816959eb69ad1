//! `intervene data mine | show | stdlib | env`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use intervene_data::mine::cache::{default_cache_dir, mine_stdlib};
use intervene_data::mine::extract::Rule;
use intervene_data::mine::{MineOptions, MineReport, mine_tree};
use intervene_data::{Pair, load_source, write_dataset};
use intervene_proto::job::SourceSpec;

#[derive(Debug, clap::Subcommand)]
pub enum DataCommand {
    /// Mine functions with docstrings from a folder of .py files into Parquet.
    Mine(MineArgs),
    /// Print how many pairs a data file holds and the first few.
    Show(ShowArgs),
    /// Locate the machine's Python standard library and mine it into the cache.
    Stdlib(StdlibArgs),
    /// Mine an interpreter's standard library and site-packages (the python-env source) into the cache.
    Env(EnvArgs),
}

#[derive(Debug, clap::Args)]
pub struct EnvArgs {
    /// A python executable or virtual environment folder (default: $INTERVENE_PYTHON or python3).
    #[arg(long)]
    pub python: Option<String>,
    /// Folders to mine instead of the interpreter's (repeatable), as `paths` in a study file.
    #[arg(long = "path", value_name = "DIR", conflicts_with = "python")]
    pub paths: Vec<String>,
    /// Cache folder (default: $INTERVENE_CACHE_DIR or ~/.cache/intervene/data).
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct MineArgs {
    /// Folder to mine (every .py file below it; hidden folders and __pycache__ are skipped).
    pub dir: PathBuf,
    /// Parquet file to write (columns id, docstring, code, repo, path, func_name, partition).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Worker threads (default: one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Folder name not to descend into (repeatable), e.g. --exclude site-packages.
    #[arg(long = "exclude", value_name = "NAME")]
    pub exclude: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Codesearchnet,
    Parquet,
    Conala,
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// A data file (a folder or a glob also works with --format).
    pub file: String,
    /// Default: from the extension (.jsonl/.jsonl.gz codesearchnet, .parquet parquet, .json conala).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// How many pairs to print.
    #[arg(long, default_value_t = 3)]
    pub head: usize,
}

#[derive(Debug, clap::Args)]
pub struct StdlibArgs {
    /// Cache folder (default: $INTERVENE_CACHE_DIR or ~/.cache/intervene/data).
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
}

pub fn run(c: DataCommand) -> anyhow::Result<ExitCode> {
    match c {
        DataCommand::Mine(a) => mine(a),
        DataCommand::Show(a) => show(a),
        DataCommand::Stdlib(a) => stdlib(a),
        DataCommand::Env(a) => env(a),
    }
}

fn progress_bar(message: &'static str) -> ProgressBar {
    let bar = ProgressBar::new(0);
    if let Ok(style) = ProgressStyle::with_template("{msg} {wide_bar} {pos}/{len} files [{elapsed}]") {
        bar.set_style(style);
    }
    bar.set_message(message);
    bar
}

fn mine(a: MineArgs) -> anyhow::Result<ExitCode> {
    let exclude: Vec<&str> = a.exclude.iter().map(String::as_str).collect();
    let repo = a.dir.canonicalize().ok().and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()));
    let bar = progress_bar("mining");
    let progress = |done: usize, total: usize| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    };
    let options =
        MineOptions { threads: a.threads, exclude_dirs: &exclude, repo: repo.as_deref(), progress: Some(&progress) };
    let (pairs, report) = mine_tree(&a.dir, options)?;
    bar.finish_and_clear();
    print_report(&report);
    // A 0-pair data set is never what was meant (a wrong folder, a tree of
    // tests only) and fails later, far from the cause: refuse it here.
    if pairs.is_empty() {
        bail!(
            "{}: no pairs to write ({} .py files read, {} functions with a docstring, {} kept); {} was not written",
            a.dir.display(),
            report.files_read,
            report.functions_found,
            report.kept,
            a.output.display()
        );
    }
    let info = write_dataset(&pairs, &a.output)?;
    println!(
        "wrote {} pairs to {} ({}, sha256 {})",
        info.pairs,
        a.output.display(),
        human_bytes(info.bytes),
        &info.hash[..16]
    );
    Ok(ExitCode::SUCCESS)
}

fn print_report(r: &MineReport) {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("mined {} in {} ({threads} cores)", r.root.display(), seconds(r.elapsed));
    println!("  {:<44} {:>7}", "files read", r.files_read);
    println!("  {:<44} {:>7}", "files not UTF-8 (skipped)", r.files_not_utf8);
    println!("  {:<44} {:>7}", "files that did not parse (skipped)", r.files_unparsed);
    if !r.skipped_examples.is_empty() {
        println!("    e.g. {}", r.skipped_examples.join(", "));
    }
    println!("  {:<44} {:>7}", "functions and methods with a docstring", r.functions_found);
    println!("  {:<44} {:>7}", "kept", r.kept);
    println!("  dropped:");
    for rule in Rule::ALL {
        println!("    {:<42} {:>7}", rule.describe(), r.dropped_by(rule));
    }
}

fn seconds(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

fn infer_format(file: &str) -> anyhow::Result<Format> {
    let lower = file.to_lowercase();
    if lower.ends_with(".jsonl") || lower.ends_with(".jsonl.gz") {
        Ok(Format::Codesearchnet)
    } else if lower.ends_with(".parquet") {
        Ok(Format::Parquet)
    } else if lower.ends_with(".json") {
        Ok(Format::Conala)
    } else {
        bail!(
            "{file}: cannot tell the format from the extension (.jsonl/.jsonl.gz, .parquet, .json); pass --format codesearchnet|parquet|conala"
        )
    }
}

fn show(a: ShowArgs) -> anyhow::Result<ExitCode> {
    let format = match a.format {
        Some(f) => f,
        None => infer_format(&a.file)?,
    };
    let (spec, name) = match format {
        Format::Codesearchnet => (SourceSpec::Codesearchnet { path: a.file.clone() }, "codesearchnet"),
        Format::Parquet => (SourceSpec::Parquet { path: a.file.clone() }, "parquet"),
        Format::Conala => (SourceSpec::Conala { path: a.file.clone() }, "conala"),
    };
    let cwd = std::env::current_dir().context("reading the current folder")?;
    let pairs = load_source(&spec, &cwd, &default_cache_dir())?;
    println!("{}: {} pairs ({name})", a.file, pairs.len());
    for (i, pair) in pairs.iter().take(a.head).enumerate() {
        print_pair(i + 1, pair);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_pair(n: usize, p: &Pair) {
    let mut meta = vec![format!("id {}", p.id)];
    for (key, value) in [("repo", &p.repo), ("path", &p.path), ("func", &p.func_name), ("partition", &p.partition)] {
        if let Some(v) = value {
            meta.push(format!("{key} {v}"));
        }
    }
    println!("\n[{n}] {}", meta.join("  "));
    println!("  docstring: {}", p.docstring.trim());
    println!("  code:");
    for line in p.code.lines() {
        println!("    {line}");
    }
}

fn stdlib(a: StdlibArgs) -> anyhow::Result<ExitCode> {
    let cache_dir = a.cache_dir.unwrap_or_else(default_cache_dir);
    let bar = progress_bar("mining the stdlib");
    let progress = |done: usize, total: usize| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    };
    let (stdlib, mined) = mine_stdlib(&cache_dir, Some(&progress))?;
    bar.finish_and_clear();
    println!("python {} ({}): standard library at {}", stdlib.version, stdlib.python, stdlib.path.display());
    match &mined.report {
        Some(report) => print_report(report),
        None => println!("read from the cache (the tree has not changed since it was mined)"),
    }
    println!("{} pairs cached in {}", mined.pairs.len(), mined.cache_file.display());
    Ok(ExitCode::SUCCESS)
}

fn env(a: EnvArgs) -> anyhow::Result<ExitCode> {
    use intervene_data::sources::python_env::{listed_trees, locate_env, mine_env};
    let cache_dir = a.cache_dir.unwrap_or_else(default_cache_dir);
    let cwd = std::env::current_dir().context("reading the current folder")?;
    let env = if a.paths.is_empty() { locate_env(a.python.as_deref(), &cwd)? } else { listed_trees(&a.paths, &cwd) };
    if !env.python.is_empty() {
        println!("python {} ({})", env.version, env.python);
    }
    let bar = progress_bar("mining");
    let progress = |done: usize, total: usize| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    };
    let (_, report) = mine_env(env, &cache_dir, Some(&progress))?;
    bar.finish_and_clear();
    println!("  {:<14} {:>8} {:>11} {:>8}  folder", "tree", "pairs", "duplicates", "cached");
    for t in &report.trees {
        let cached = if t.cached { "yes" } else { "no" };
        println!("  {:<14} {:>8} {:>11} {:>8}  {}", t.label, t.mined, t.duplicates, cached, t.root.display());
    }
    println!(
        "{} pairs from {} packages, deduplicated across trees, in {} (cached in {})",
        report.pairs,
        report.packages,
        seconds(report.elapsed),
        cache_dir.join("mined").display()
    );
    Ok(ExitCode::SUCCESS)
}
