//! Command-line interface: one module per area, each with its clap argument
//! structs and a `run` function.

mod analysis;
mod client;
mod data;
mod errors;
mod fleet;
mod plan;
mod power;
mod progress;
mod run;
mod train;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "intervene", version, about = "Interventional studies on neural code generators")]
struct Cli {
    /// More log output (-v info, -vv debug); INTERVENE_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check a study file; exit 0 or print every error with its location.
    Validate(plan::ValidateArgs),
    /// Show the arms and jobs a study file expands into.
    Plan(plan::PlanArgs),
    /// Data sets: mine Python trees, show pairs.
    #[command(subcommand)]
    Data(data::DataCommand),
    /// Train and evaluate one job of a study locally.
    Train(train::TrainArgs),
    /// Generate code for a docstring from a trained checkpoint.
    Generate(train::GenerateArgs),
    /// Score line-aligned hypothesis and reference files.
    Score(train::ScoreArgs),
    /// Run a study end to end on this machine: an in-process coordinator and local workers.
    Run(fleet::RunArgs),
    /// Serve the coordinator (gRPC).
    Coordinator(fleet::CoordinatorArgs),
    /// Run a worker (or one per GPU) that pulls jobs from a coordinator.
    Worker(fleet::WorkerArgs),
    /// Submit a study to a coordinator.
    Submit(fleet::SubmitArgs),
    /// Progress of a study (or all studies) on a coordinator or in a state folder; --jobs per job.
    Status(fleet::StatusArgs),
    /// Cancel a study: drop queued jobs and stop running ones.
    Cancel(fleet::CancelArgs),
    /// Queue a study's failed jobs again (same jobs, same seeds).
    Retry(fleet::RetryArgs),
    /// Export a study's result tables.
    Export(analysis::ExportArgs),
    /// Run SQL over a study's runs, examples and curves tables.
    Query(analysis::QueryArgs),
    /// Estimate the causal effect of every intervention with confidence intervals.
    Effects(analysis::EffectsArgs),
    /// Write a Markdown and HTML report with plots.
    Report(analysis::ReportArgs),
    /// The number of seeds a paired study needs to detect a seed-level effect.
    Power(power::PowerArgs),
    /// Internal: trains one job for a worker (its child process).
    #[command(hide = true)]
    JobProcess,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    let result = match cli.command {
        Command::Validate(a) => plan::validate(a),
        Command::Plan(a) => plan::plan(a),
        Command::Data(c) => data::run(c),
        Command::Train(a) => train::train(a),
        Command::Generate(a) => train::generate(a),
        Command::Score(a) => train::score(a),
        Command::Run(a) => fleet::run(a),
        Command::Coordinator(a) => fleet::coordinator(a),
        Command::Worker(a) => fleet::worker(a),
        Command::Submit(a) => fleet::submit(a),
        Command::Status(a) => fleet::status(a),
        Command::Cancel(a) => fleet::cancel(a),
        Command::Retry(a) => fleet::retry(a),
        Command::Export(a) => analysis::export(a),
        Command::Query(a) => analysis::query(a),
        Command::Effects(a) => analysis::effects(a),
        Command::Report(a) => analysis::report(a),
        Command::Power(a) => power::power(a),
        Command::JobProcess => Ok(ExitCode::from(intervene_worker::isolate::child::serve().clamp(0, 255) as u8)),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("{}", errors::render(&err));
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_env("INTERVENE_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    // Colour codes only on a terminal: batch logs (Slurm, nohup) stay readable.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).init();
}
