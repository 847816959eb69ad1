//! `intervene export | query | effects | report` (built in the analysis issue).
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct ExportArgs {}
#[derive(Debug, clap::Args)]
pub struct QueryArgs {}
#[derive(Debug, clap::Args)]
pub struct EffectsArgs {}
#[derive(Debug, clap::Args)]
pub struct ReportArgs {}

fn not_yet(what: &str) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`intervene {what}` is not built yet")
}
pub fn export(_a: ExportArgs) -> anyhow::Result<ExitCode> {
    not_yet("export")
}
pub fn query(_a: QueryArgs) -> anyhow::Result<ExitCode> {
    not_yet("query")
}
pub fn effects(_a: EffectsArgs) -> anyhow::Result<ExitCode> {
    not_yet("effects")
}
pub fn report(_a: ReportArgs) -> anyhow::Result<ExitCode> {
    not_yet("report")
}
