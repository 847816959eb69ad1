//! `intervene run | coordinator | worker | submit | status | cancel` (built in the fleet issue).
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct RunArgs {}
#[derive(Debug, clap::Args)]
pub struct CoordinatorArgs {}
#[derive(Debug, clap::Args)]
pub struct WorkerArgs {}
#[derive(Debug, clap::Args)]
pub struct SubmitArgs {}
#[derive(Debug, clap::Args)]
pub struct StatusArgs {}
#[derive(Debug, clap::Args)]
pub struct CancelArgs {}

fn not_yet(what: &str) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`intervene {what}` is not built yet")
}
pub fn run(_a: RunArgs) -> anyhow::Result<ExitCode> {
    not_yet("run")
}
pub fn coordinator(_a: CoordinatorArgs) -> anyhow::Result<ExitCode> {
    not_yet("coordinator")
}
pub fn worker(_a: WorkerArgs) -> anyhow::Result<ExitCode> {
    not_yet("worker")
}
pub fn submit(_a: SubmitArgs) -> anyhow::Result<ExitCode> {
    not_yet("submit")
}
pub fn status(_a: StatusArgs) -> anyhow::Result<ExitCode> {
    not_yet("status")
}
pub fn cancel(_a: CancelArgs) -> anyhow::Result<ExitCode> {
    not_yet("cancel")
}
