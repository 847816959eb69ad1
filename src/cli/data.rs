//! `intervene data ...` (built in the data issue).
use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum DataCommand {
    /// Mine functions with docstrings from a folder of .py files into Parquet.
    Mine,
}

pub fn run(_c: DataCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`intervene data` is not built yet")
}
