//! Per-arm summaries of a study's recorded results (n, mean and standard
//! deviation of each outcome), read from the ledger: what `intervene run`
//! prints when a study is done. Effects with confidence intervals are the
//! analysis crate's job; this is the at-a-glance view.

use std::collections::HashMap;
use std::path::Path;

use intervene_proto::pb;
use intervene_proto::stats::{mean, std_dev};
use prost::Message;

use crate::plan::Plan;
use crate::store::{StoreError, load};

#[derive(Debug, Clone, PartialEq)]
pub struct ArmSummary {
    pub arm: String,
    pub kind: String,
    /// Jobs of the arm with a result.
    pub n: usize,
    /// Jobs of the arm.
    pub total: usize,
    /// (outcome, mean, sample standard deviation); NaN where n < 1 (mean)
    /// or n < 2 (sd), or where the outcome was not measured.
    pub outcomes: Vec<(String, f64, f64)>,
}

/// The value of a named outcome in a result's metrics.
pub fn outcome(m: &pb::RunMetrics, name: &str) -> Option<f64> {
    match name {
        "bleu" => Some(m.bleu),
        "codexglue_bleu" => Some(m.codexglue_bleu),
        "token_accuracy" => Some(m.token_accuracy),
        "exact_match" => Some(m.exact_match),
        "syntax_valid" => m.syntax_valid,
        "bleu_vocab" => m.bleu_vocab,
        _ => None,
    }
}

/// Summaries of every arm of `study` version `version`, in plan order.
pub fn summarise(state_dir: &Path, study: &str, version: u32) -> Result<Vec<ArmSummary>, StoreError> {
    let path = crate::store::ledger_path(state_dir);
    let conn = crate::store::open_connection(&path)?;
    let plan_json: String = conn
        .query_row(
            "SELECT plan_json FROM studies WHERE name = ?1 AND version = ?2",
            rusqlite::params![study, version],
            |r| r.get(0),
        )
        .map_err(|source| StoreError::Sqlite { path: path.clone(), source })?;
    let plan: Plan = serde_json::from_str(&plan_json)
        .map_err(|e| StoreError::Corrupt { path: path.clone(), message: format!("plan of {study} v{version}: {e}") })?;
    let mut metrics: HashMap<String, pb::RunMetrics> = HashMap::new();
    for (job_id, _, _, _, bytes) in load::study_results(&conn, &path, study, version)? {
        let result = pb::JobResult::decode(bytes.as_slice())
            .map_err(|e| StoreError::Corrupt { path: path.clone(), message: format!("result of job {job_id}: {e}") })?;
        metrics.insert(job_id, result.metrics.unwrap_or_default());
    }
    Ok(plan
        .arms
        .iter()
        .map(|arm| {
            let done: Vec<&pb::RunMetrics> = arm.jobs.iter().filter_map(|(_, id)| metrics.get(id)).collect();
            let outcomes = plan
                .outcomes
                .iter()
                .map(|name| {
                    let xs: Vec<f64> = done.iter().filter_map(|m| outcome(m, name)).collect();
                    (name.clone(), mean(&xs), std_dev(&xs))
                })
                .collect();
            ArmSummary { arm: arm.name.clone(), kind: arm.kind.clone(), n: done.len(), total: arm.jobs.len(), outcomes }
        })
        .collect())
}
