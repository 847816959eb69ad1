//! Write a simulated study's results (the table layout the coordinator
//! writes) under a state directory, for trying `intervene effects | query |
//! report` without training anything, for fixtures and for benchmarks.
//!
//! cargo run -p intervene-analysis --example simulate_study -- \
//!     --state DIR [--study NAME] [--seeds 1,2,3] [--examples N] [--rng-seed S]
//!     [--preset realistic|pinned] [--missing ARM:SEED]... [--flat-csv FILE]

use std::path::PathBuf;
use std::process::ExitCode;

use intervene_analysis::simulate::{SimArm, Simulation};

fn usage(problem: &str) -> ExitCode {
    eprintln!("error: {problem}");
    eprintln!(
        "usage: simulate_study --state DIR [--study NAME] [--seeds 1,2,3] [--examples N] [--rng-seed S] \
         [--preset realistic|pinned] [--missing ARM:SEED]... [--flat-csv FILE]"
    );
    ExitCode::FAILURE
}

fn main() -> ExitCode {
    let mut state = None;
    let mut study = "simulated".to_string();
    let mut seeds = vec![1i64, 2, 3];
    let mut examples = 1500usize;
    let mut rng_seed = 7u64;
    let mut preset = "realistic".to_string();
    let mut missing = Vec::new();
    let mut flat_csv = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let Some(value) = args.next() else { return usage(&format!("{flag} needs a value")) };
        match flag.as_str() {
            "--state" => state = Some(PathBuf::from(value)),
            "--study" => study = value,
            "--seeds" => match value.split(',').map(str::parse).collect::<Result<Vec<i64>, _>>() {
                Ok(s) if !s.is_empty() => seeds = s,
                _ => return usage(&format!("--seeds `{value}`: expected integers separated by commas")),
            },
            "--examples" => match value.parse() {
                Ok(n) if n > 0 => examples = n,
                _ => return usage(&format!("--examples `{value}`: expected a positive integer")),
            },
            "--rng-seed" => match value.parse() {
                Ok(n) => rng_seed = n,
                Err(_) => return usage(&format!("--rng-seed `{value}`: expected an integer")),
            },
            "--preset" => preset = value,
            "--missing" => {
                match value.rsplit_once(':').and_then(|(a, s)| s.parse::<i64>().ok().map(|s| (a.to_string(), s))) {
                    Some(m) => missing.push(m),
                    None => return usage(&format!("--missing `{value}`: expected ARM:SEED")),
                }
            }
            "--flat-csv" => flat_csv = Some(PathBuf::from(value)),
            _ => return usage(&format!("unknown flag {flag}")),
        }
    }
    let Some(state) = state else { return usage("--state is required") };
    let mut sim = Simulation::realistic(&study, seeds, examples, rng_seed);
    match preset.as_str() {
        "realistic" => {}
        "pinned" => {
            // Small and unclipped: the reference values of bench/check_effects.py.
            sim.arms = vec![
                SimArm::new("control", "control", None, "lstm-attention", 0.0),
                SimArm::new("hidden-size/hidden_dim=128", "intra", Some("control"), "lstm-attention", -2.0),
                SimArm::new("docstring-dropout/p=0.3", "mutation", Some("control"), "lstm-attention", 1.5),
            ];
            sim.arms[1].attention = false;
            sim.arms[2].attention = false;
            sim.clip = false;
            sim.epochs = 3;
        }
        other => return usage(&format!("--preset `{other}`: expected realistic or pinned")),
    }
    sim.missing = missing;
    match sim.write(&state) {
        Ok(dir) => println!("{}", dir.display()),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    }
    if let Some(path) = flat_csv {
        let result = sim.tables().and_then(|t| {
            let examples = t.examples.ok_or_else(|| intervene_analysis::Error::BadArgument {
                flag: "--flat-csv".into(),
                value: path.display().to_string(),
                message: "the simulation has no examples".into(),
            })?;
            let df = examples
                .select([
                    polars_col("arm"),
                    polars_col("seed"),
                    polars_col("example_id"),
                    polars_col("source_len"),
                    polars_col("target_len"),
                    polars_col("sentence_bleu"),
                    polars_col("exact_match"),
                ])
                .collect()
                .map_err(|source| intervene_analysis::Error::Polars { context: "flattening".into(), source })?;
            let mut file = std::fs::File::create(&path)
                .map_err(|source| intervene_analysis::Error::Io { path: path.clone(), source })?;
            intervene_analysis::output::write_csv(&df, &mut file)
        });
        if let Err(e) = result {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

fn polars_col(name: &str) -> polars::prelude::Expr {
    polars::prelude::col(name)
}
