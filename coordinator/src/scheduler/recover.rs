//! Rebuilding the scheduler's state from the ledger after a restart, and
//! rewriting any result table the crash left unwritten.
//!
//! - Succeeded, failed and cancelled jobs stay as they were: no completed
//!   result is lost or rerun.
//! - Queued jobs are queued again, in plan order.
//! - An attempt that was in flight is adopted again with a fresh deadline:
//!   its worker may still be training and reconnects with its heartbeats and
//!   its result; if it does not within one lease period, the lease expires
//!   as any other and the job is queued as a new attempt.
//! - Leases are recorded without waiting for the commit, so the last attempt
//!   number handed out before a crash may be missing from the ledger. Every
//!   unfinished job therefore burns one attempt number: the next lease gets
//!   `recorded + 2`, and an attempt the ledger never saw can never be
//!   confused with a new one.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use intervene_proto::pb;
use intervene_proto::tables::{ATTENTION, results_dir};
use prost::Message;
use rusqlite::OptionalExtension;
use tokio::time::Instant;

use super::job::{JobState, Lease};
use super::state::{State, StudyRt, WorkerRt};
use crate::plan::Plan;
use crate::results::batch::{TableWriter, batch_stem};
use crate::results::{JOB_TABLES, JobRecord, write_arms, write_tables};
use crate::store::{Snapshot, StoreError, Write, now_ms};

/// The state to resume from, and the ledger writes that record the burnt
/// attempt numbers.
pub fn rebuild(
    snapshot: Snapshot,
    lease_ttl: std::time::Duration,
    ledger: &Path,
) -> Result<(State, Vec<Write>), StoreError> {
    let now = Instant::now();
    let wall_now = now_ms();
    let mut st = State::default();
    let mut writes = Vec::new();
    for (id, (name, caps)) in snapshot.workers {
        let capabilities = pb::Capabilities::decode(caps.as_slice()).unwrap_or_default();
        st.workers.insert(id, WorkerRt { name, capabilities, last_seen: None });
    }
    for ls in snapshot.studies {
        let corrupt = |message: String| StoreError::Corrupt { path: ledger.to_path_buf(), message };
        let plan: Plan = serde_json::from_str(&ls.plan_json)
            .map_err(|e| corrupt(format!("the plan of study {} v{} does not parse: {e}", ls.name, ls.version)))?;
        let mut rt = StudyRt::new(
            ls.name.clone(),
            ls.version,
            Arc::new(plan),
            ls.dataset_hash,
            ls.dataset_bytes,
            ls.submitted_at_ms,
        );
        rt.spec_hash = ls.spec_hash;
        rt.cancelled = ls.cancelled;
        let loaded: HashMap<&str, &crate::store::LoadedJob> = ls.jobs.iter().map(|j| (j.job_id.as_str(), j)).collect();
        let slot = st.studies.len();
        let mut queued = Vec::new();
        for (i, job) in rt.jobs.iter_mut().enumerate() {
            let lj = loaded.get(job.id.as_str()).ok_or_else(|| {
                corrupt(format!(
                    "job {} of study {} v{} is in its plan but not in the ledger",
                    job.id, ls.name, ls.version
                ))
            })?;
            job.attempts_issued = lj.attempts_issued;
            job.failures = lj.failures;
            job.last_reason = lj.last_reason.clone();
            let state = match (lj.state.as_str(), lj.in_flight.clone()) {
                ("succeeded", _) => JobState::Succeeded { attempt: lj.result.as_ref().map_or(0, |r| r.attempt) },
                ("failed", _) => JobState::Failed { reason: lj.reason.clone().unwrap_or_default(), fatal: lj.fatal },
                ("cancelled", _) => JobState::Cancelled,
                ("leased" | "running", Some(a)) => {
                    let ran = std::time::Duration::from_millis((wall_now - a.leased_at_ms).max(0) as u64);
                    let lease = Lease {
                        attempt: a.attempt,
                        worker_id: a.worker_id,
                        deadline: now + lease_ttl,
                        leased_at: now.checked_sub(ran).unwrap_or(now),
                        progress: None,
                        cancel_requested: rt.cancelled,
                    };
                    st.deadlines.push(std::cmp::Reverse((lease.deadline, (slot, i), lease.attempt)));
                    if lj.state == "running" { JobState::Running(lease) } else { JobState::Leased(lease) }
                }
                ("queued" | "leased" | "running", _) => {
                    queued.push(i);
                    JobState::Queued
                }
                (other, _) => return Err(corrupt(format!("job {} has unknown state `{other}`", job.id))),
            };
            job.restore(state);
            if !job.state().is_final() {
                job.attempts_issued += 1;
                writes.push(Write::BurnAttempts {
                    study: ls.name.clone(),
                    version: ls.version,
                    job_id: job.id.clone(),
                    issued: job.attempts_issued,
                });
            }
        }
        for i in queued {
            st.queue.push_back((slot, i));
        }
        st.by_key.insert((ls.name.clone(), ls.version), slot);
        let latest = st.latest.entry(ls.name.clone()).or_insert(ls.version);
        *latest = (*latest).max(ls.version);
        st.studies.push(rt);
    }
    Ok((st, writes))
}

/// Rewrite every result table file a crash left unwritten, and every
/// missing `arms.parquet`. A result recorded in a table-writer batch has its
/// batch's missing files rewritten whole under the same name; a result with
/// no batch (a per-job file, or a crash before its batch was recorded) gets
/// its missing per-job files. Returns how many jobs' rows were rewritten.
pub fn regenerate_missing(state: &State, state_dir: &Path, ledger: &Path) -> Result<usize, StoreError> {
    let sql = |source| StoreError::Sqlite { path: ledger.to_path_buf(), source };
    let mut conn = None;
    let mut rewritten = 0;
    for s in &state.studies {
        let dir = state_dir.join(results_dir(&s.name, s.version));
        if !dir.join(format!("{}.parquet", intervene_proto::tables::ARMS)).exists()
            && let Err(e) = write_arms(&dir, s.version, &s.plan)
        {
            tracing::error!(study = %s.name, version = s.version, error = %e, "rewriting arms.parquet");
        }
        if !s.jobs.iter().any(|j| matches!(j.state(), JobState::Succeeded { .. })) {
            continue;
        }
        if conn.is_none() {
            conn = Some(crate::store::open_connection(ledger)?);
        }
        let Some(c) = conn.as_ref() else { continue };
        // job id -> (batch, has attention)
        let mut stmt = c
            .prepare_cached("SELECT job_id, table_batch, has_attention FROM results WHERE study = ?1 AND version = ?2")
            .map_err(sql)?;
        let recorded: HashMap<String, (Option<i64>, bool)> = stmt
            .query_map(rusqlite::params![s.name, s.version], |r| {
                Ok((r.get::<_, String>(0)?, (r.get::<_, Option<i64>>(1)?, r.get::<_, i64>(2)? != 0)))
            })
            .and_then(|rows| rows.collect())
            .map_err(sql)?;
        // (file stem, job indices, missing tables)
        let mut to_write: Vec<(String, Vec<usize>, Vec<&'static str>)> = Vec::new();
        let mut batches: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
        for (i, job) in s.jobs.iter().enumerate() {
            if !matches!(job.state(), JobState::Succeeded { .. }) {
                continue;
            }
            match recorded.get(&job.id) {
                Some((Some(seq), _)) => batches.entry(*seq).or_default().push(i),
                Some((None, has_attention)) => {
                    let missing = missing_tables(&dir, &job.id, *has_attention);
                    if !missing.is_empty() {
                        to_write.push((job.id.clone(), vec![i], missing));
                    }
                }
                // `store::load` refuses a succeeded job without a result row.
                None => {}
            }
        }
        for (seq, jobs) in batches {
            let has_attention = jobs.iter().any(|i| recorded.get(&s.jobs[*i].id).is_some_and(|r| r.1));
            let stem = batch_stem(seq);
            let missing = missing_tables(&dir, &stem, has_attention);
            if !missing.is_empty() {
                to_write.push((stem, jobs, missing));
            }
        }
        for (stem, jobs, missing) in to_write {
            let mut owned = Vec::with_capacity(jobs.len());
            for &i in &jobs {
                let &JobState::Succeeded { attempt } = s.jobs[i].state() else { continue };
                let row: Option<(String, i64, Vec<u8>)> = c
                    .query_row(
                        "SELECT worker_id, finished_at_ms, result FROM results
                         WHERE study = ?1 AND version = ?2 AND job_id = ?3",
                        rusqlite::params![s.name, s.version, s.jobs[i].id],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                    )
                    .optional()
                    .map_err(sql)?;
                let Some((worker_id, finished_at_ms, bytes)) = row else { continue };
                let result = pb::JobResult::decode(bytes.as_slice()).map_err(|e| StoreError::Corrupt {
                    path: ledger.to_path_buf(),
                    message: format!("the result of job {} does not decode: {e}", s.jobs[i].id),
                })?;
                let worker = state.workers.get(&worker_id).map_or(worker_id, |w| w.name.clone());
                owned.push((i, attempt, worker, finished_at_ms, result, s.arm_refs(i)));
            }
            let recs: Vec<JobRecord> = owned
                .iter()
                .map(|(i, attempt, worker, finished_at_ms, result, arms)| JobRecord {
                    study: &s.name,
                    study_version: s.version,
                    job_id: &s.jobs[*i].id,
                    spec: &s.plan.jobs[*i].spec,
                    arms,
                    attempt: *attempt,
                    worker,
                    result,
                    finished_at_ms: *finished_at_ms,
                })
                .collect();
            match write_tables(&dir, &stem, &recs, &missing) {
                Ok(()) => rewritten += recs.len(),
                Err(e) => tracing::error!(study = %s.name, file = %stem, error = %e, "rewriting result tables"),
            }
        }
    }
    Ok(rewritten)
}

/// The tables of `JOB_TABLES` with no `<stem>.parquet` under `dir`
/// (attention only when there are attention rows to write).
fn missing_tables(dir: &Path, stem: &str, has_attention: bool) -> Vec<&'static str> {
    let file = format!("{stem}.parquet");
    JOB_TABLES
        .iter()
        .filter(|&&t| (t != ATTENTION || has_attention) && !dir.join(t).join(&file).exists())
        .copied()
        .collect()
}

impl super::Scheduler {
    /// Open the ledger under `state_dir` and resume from it: the state as it
    /// was committed, the burnt attempt numbers committed before any new
    /// lease, and every missing result table rewritten.
    pub async fn open(state_dir: &Path, opts: super::Options) -> Result<Arc<super::Scheduler>, StoreError> {
        Self::open_for(state_dir, opts, None).await
    }

    /// [`Scheduler::open`] that queues only the jobs of study `only` (by
    /// name, every version): other unfinished studies in the ledger are left
    /// as they are, their jobs queued but not handed out.
    pub async fn open_for(
        state_dir: &Path,
        opts: super::Options,
        only: Option<String>,
    ) -> Result<Arc<super::Scheduler>, StoreError> {
        let lock = crate::store::lock_state(state_dir)?;
        let dir = state_dir.to_path_buf();
        let ttl = opts.lease_ttl;
        let keep = only.clone();
        let (state, writer, burns, next_batch) = tokio::task::spawn_blocking(move || -> Result<_, StoreError> {
            let (snapshot, writer) = crate::store::open(&dir)?;
            let next_batch = snapshot.max_table_batch + 1;
            let (mut state, burns) = rebuild(snapshot, ttl, writer.path())?;
            if let Some(only) = &keep {
                let studies = &state.studies;
                let kept: std::collections::VecDeque<_> =
                    state.queue.iter().copied().filter(|r| studies[r.0].name == *only).collect();
                state.queue = kept;
            }
            let rewritten = regenerate_missing(&state, &dir, writer.path())?;
            if rewritten > 0 {
                tracing::warn!(jobs = rewritten, "rewrote result tables missing after a crash");
            }
            Ok((state, writer, burns, next_batch))
        })
        .await
        .map_err(|e| StoreError::WriterGone(format!("recovery task: {e}")))??;
        let in_flight = state.studies.iter().flat_map(|s| &s.jobs).filter(|j| j.state().in_flight()).count();
        let queued = state.queue.len();
        writer.commit(burns).await?;
        if in_flight + queued > 0 {
            tracing::info!(in_flight, queued, "resumed from the ledger");
        }
        let tables = TableWriter::start(writer.clone(), next_batch)
            .map_err(|source| StoreError::Io { path: state_dir.to_path_buf(), source })?;
        Ok(super::Scheduler::new(state, writer, tables, opts, state_dir, only, Some(lock)))
    }
}
