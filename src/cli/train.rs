//! `intervene train | generate | score` (built in the models issue).
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct TrainArgs {}
#[derive(Debug, clap::Args)]
pub struct GenerateArgs {}
#[derive(Debug, clap::Args)]
pub struct ScoreArgs {}

pub fn train(_a: TrainArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`intervene train` is not built yet")
}
pub fn generate(_a: GenerateArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`intervene generate` is not built yet")
}
pub fn score(_a: ScoreArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`intervene score` is not built yet")
}
