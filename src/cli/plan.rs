//! `intervene validate | plan`.
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {}
#[derive(Debug, clap::Args)]
pub struct PlanArgs {}

pub fn validate(_a: ValidateArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`intervene validate` is not built yet")
}
pub fn plan(_a: PlanArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`intervene plan` is not built yet")
}
