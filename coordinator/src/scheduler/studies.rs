//! Adding, resuming and cancelling study versions.
//!
//! A submission whose plan and data set equal the latest version's resumes
//! it: finished jobs stay finished, cancelled jobs and jobs that failed for
//! retryable reasons are queued again (a fatal failure would fail the same
//! way, so it stays). A submission that differs is refused with what
//! changed, unless a new version is asked for; a new version reuses the
//! results of identical jobs (same job id, same data set) of earlier
//! versions instead of running them again.

use std::sync::Arc;

use intervene_proto::pb;
use intervene_proto::tables::results_dir;

use super::job::JobState;
use super::state::StudyRt;
use super::{Result, SchedError, Scheduler};
use crate::plan::Plan;
use crate::results::{JobRecord, write_arms, write_job_tables};
use crate::store::{Write, now_ms};

/// A validated, planned submission with its data set materialised.
pub struct NewStudy {
    pub spec_toml: String,
    pub file_name: String,
    pub base_dir: String,
    pub plan: Plan,
    pub dataset_hash: String,
    pub dataset_bytes: u64,
}

/// A result carried over from an earlier version.
struct Reused {
    job: usize,
    from_version: u32,
    attempt: u32,
    worker_id: String,
    finished_at_ms: i64,
    bytes: Vec<u8>,
    has_attention: bool,
}

impl Scheduler {
    /// Submit a study: create its first version, resume the latest one, or
    /// (with `new_version`) create the next version of an edited study.
    pub async fn submit(self: &Arc<Self>, new: NewStudy, new_version: bool) -> Result<pb::SubmitStudyResponse> {
        // One submission at a time: two concurrent submissions of one name
        // must not both become version N+1.
        let _guard = self.submissions.lock().await;
        let name = new.plan.study.clone();
        let latest = {
            let st = self.lock();
            st.latest.get(&name).and_then(|v| st.by_key.get(&(name.clone(), *v)).copied())
        };
        let Some(slot) = latest else {
            return self.create(new, 1).await;
        };
        let (same, version, changes) = {
            let st = self.lock();
            let s = &st.studies[slot];
            let mut changes = crate::plan::diff::diff(&s.plan, &new.plan);
            if s.dataset_hash != new.dataset_hash {
                changes.push(format!(
                    "data set: {} -> {} (the data behind [data] changed)",
                    short(&s.dataset_hash),
                    short(&new.dataset_hash)
                ));
            }
            if changes.is_empty() && s.spec_hash != new.plan.spec_hash {
                changes.push(format!("plan hash: {} -> {}", short(&s.spec_hash), short(&new.plan.spec_hash)));
            }
            (changes.is_empty(), s.version, changes)
        };
        if same {
            return self.resume(slot).await;
        }
        if !new_version {
            return Err(SchedError::FailedPrecondition(format!(
                "study `{name}` version {version} was submitted with a different specification; what changed:\n{}\n\
                 submit with --new-version to run it as version {}",
                changes.iter().map(|c| format!("  {c}")).collect::<Vec<_>>().join("\n"),
                version + 1
            )));
        }
        self.create(new, version + 1).await
    }

    async fn create(self: &Arc<Self>, new: NewStudy, version: u32) -> Result<pb::SubmitStudyResponse> {
        let name = new.plan.study.clone();
        let plan = Arc::new(new.plan);
        let plan_json =
            serde_json::to_string(&*plan).map_err(|e| SchedError::Internal(format!("serialising the plan: {e}")))?;
        let mut rt =
            StudyRt::new(name.clone(), version, plan.clone(), new.dataset_hash.clone(), new.dataset_bytes, now_ms());
        let reused = if version > 1 { self.reusable(&rt).await? } else { Vec::new() };
        let mut writes = vec![Write::Study {
            name: name.clone(),
            version,
            spec_hash: plan.spec_hash.clone(),
            spec_toml: new.spec_toml,
            file_name: new.file_name,
            base_dir: new.base_dir,
            plan_json,
            dataset_hash: new.dataset_hash.clone(),
            dataset_bytes: new.dataset_bytes,
            submitted_at_ms: rt.submitted_at_ms,
            jobs: plan.jobs.iter().map(|j| j.id.clone()).collect(),
        }];
        for r in &reused {
            writes.push(Write::Result {
                study: name.clone(),
                version,
                job_id: rt.jobs[r.job].id.clone(),
                attempt: r.attempt,
                worker_id: r.worker_id.clone(),
                finished_at_ms: r.finished_at_ms,
                result: r.bytes.clone(),
                has_attention: r.has_attention,
                reused_from: Some(format!("{name}@{}", r.from_version)),
            });
        }
        self.writer.commit(writes).await.map_err(|e| SchedError::Unavailable(e.to_string()))?;

        // The plan's table and the carried-over results, before any job runs.
        self.write_initial_tables(&name, version, &plan, &rt, &reused).await;

        for r in &reused {
            rt.jobs[r.job].reuse_result(r.attempt);
        }
        let total = rt.jobs.len() as u32;
        let done = reused.len() as u32;
        let response = pb::SubmitStudyResponse {
            study: name.clone(),
            version,
            jobs_total: total,
            jobs_queued: total - done,
            jobs_already_done: done,
            dataset_hash: rt.dataset_hash.clone(),
            resumed: false,
            jobs_in_progress: 0,
        };
        {
            let mut st = self.lock();
            let slot = st.studies.len();
            let queued: Vec<usize> = rt
                .jobs
                .iter()
                .enumerate()
                .filter(|(_, j)| matches!(j.state(), JobState::Queued))
                .map(|(i, _)| i)
                .collect();
            st.studies.push(rt);
            st.by_key.insert((name.clone(), version), slot);
            st.latest.insert(name.clone(), version);
            for j in queued {
                self.enqueue(&mut st, (slot, j), false);
            }
        }
        tracing::info!(study = %name, version, jobs = total, reused = done, "study submitted");
        self.bump();
        Ok(response)
    }

    /// The arms table and the tables of results carried over from an
    /// earlier version; a failure is logged (a restart writes them again).
    async fn write_initial_tables(&self, name: &str, version: u32, plan: &Arc<Plan>, rt: &StudyRt, reused: &[Reused]) {
        let dir = self.state_dir.join(results_dir(name, version));
        let records: Vec<(usize, u32, String, i64, Vec<u8>)> =
            reused.iter().map(|r| (r.job, r.attempt, r.worker_id.clone(), r.finished_at_ms, r.bytes.clone())).collect();
        let arm_refs: Vec<_> = records.iter().map(|(j, ..)| rt.arm_refs(*j)).collect();
        let (plan2, name2) = (plan.clone(), name.to_string());
        let written = tokio::task::spawn_blocking(move || -> std::result::Result<(), String> {
            write_arms(&dir, version, &plan2).map_err(|e| e.to_string())?;
            for ((job, attempt, worker, at, bytes), arms) in records.iter().zip(&arm_refs) {
                let result = <pb::JobResult as prost::Message>::decode(bytes.as_slice()).map_err(|e| e.to_string())?;
                let rec = JobRecord {
                    study: &name2,
                    study_version: version,
                    job_id: &plan2.jobs[*job].id,
                    spec: &plan2.jobs[*job].spec,
                    arms,
                    attempt: *attempt,
                    worker,
                    result: &result,
                    finished_at_ms: *at,
                };
                write_job_tables(&dir, &rec).map_err(|e| e.to_string())?;
            }
            Ok(())
        })
        .await;
        match written {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(study = %name, version, error = %e, "writing the plan's tables"),
            Err(e) => tracing::error!(study = %name, version, error = %e, "writing the plan's tables"),
        }
    }

    /// Results of earlier versions of the same study for identical jobs on
    /// the same data set.
    async fn reusable(&self, rt: &StudyRt) -> Result<Vec<Reused>> {
        let candidates: Vec<(u32, Vec<(usize, u32)>)> = {
            let st = self.lock();
            let mut out = Vec::new();
            for s in st.studies.iter().filter(|s| s.name == rt.name && s.dataset_hash == rt.dataset_hash) {
                let mut found = Vec::new();
                for (i, job) in rt.jobs.iter().enumerate() {
                    if let Some(&k) = s.index.get(&job.id)
                        && let Some(attempt) = s.jobs[k].recorded_attempt()
                    {
                        found.push((i, attempt));
                    }
                }
                out.push((s.version, found));
            }
            out
        };
        let path = self.writer.path().to_path_buf();
        let (name, ids): (String, Vec<String>) = (rt.name.clone(), rt.jobs.iter().map(|j| j.id.clone()).collect());
        tokio::task::spawn_blocking(move || -> Result<Vec<Reused>> {
            let conn = crate::store::open_connection(&path).map_err(|e| SchedError::Unavailable(e.to_string()))?;
            let mut taken = std::collections::HashSet::new();
            let mut out = Vec::new();
            // Latest version first: its results are the freshest.
            for (version, found) in candidates.into_iter().rev() {
                for (job, attempt) in found {
                    if !taken.insert(job) {
                        continue;
                    }
                    let row = conn
                        .query_row(
                            "SELECT worker_id, finished_at_ms, result, has_attention FROM results
                             WHERE study = ?1 AND version = ?2 AND job_id = ?3",
                            rusqlite::params![name, version, ids[job]],
                            |r| {
                                Ok((
                                    r.get::<_, String>(0)?,
                                    r.get::<_, i64>(1)?,
                                    r.get::<_, Vec<u8>>(2)?,
                                    r.get::<_, i64>(3)? != 0,
                                ))
                            },
                        )
                        .map_err(|e| SchedError::Unavailable(format!("reading earlier results: {e}")))?;
                    out.push(Reused {
                        job,
                        from_version: version,
                        attempt,
                        worker_id: row.0,
                        finished_at_ms: row.1,
                        bytes: row.2,
                        has_attention: row.3,
                    });
                }
            }
            Ok(out)
        })
        .await
        .map_err(|e| SchedError::Internal(e.to_string()))?
    }

    async fn resume(self: &Arc<Self>, slot: usize) -> Result<pb::SubmitStudyResponse> {
        // A fatal failure would fail the same way again: a resubmission
        // leaves it; `intervene retry` asks for it explicitly.
        self.requeue(slot, |state| matches!(state, JobState::Cancelled | JobState::Failed { fatal: false, .. })).await
    }

    /// `intervene retry`: every failed job of the study (fatal ones too)
    /// queued again with its attempts counted from zero; same job, same seed.
    pub async fn retry(self: &Arc<Self>, study: &str) -> Result<pb::SubmitStudyResponse> {
        let slot = super::status::find(&self.lock(), study)?;
        self.requeue(slot, |state| matches!(state, JobState::Failed { .. })).await
    }

    /// Queue again the jobs of `slot` whose state `pick` selects.
    async fn requeue(self: &Arc<Self>, slot: usize, pick: fn(&JobState) -> bool) -> Result<pb::SubmitStudyResponse> {
        let (name, version, requeue) = {
            let st = self.lock();
            let s = &st.studies[slot];
            let requeue: Vec<usize> =
                s.jobs.iter().enumerate().filter(|(_, j)| pick(j.state())).map(|(i, _)| i).collect();
            (s.name.clone(), s.version, requeue)
        };
        let ids: Vec<String> = {
            let st = self.lock();
            requeue.iter().map(|&j| st.studies[slot].jobs[j].id.clone()).collect()
        };
        self.writer
            .commit(vec![Write::Resume { name: name.clone(), version, jobs: ids }])
            .await
            .map_err(|e| SchedError::Unavailable(e.to_string()))?;
        let response = {
            let mut st = self.lock();
            st.studies[slot].cancelled = false;
            for j in &mut st.studies[slot].jobs {
                if let Some(l) = j.lease_mut() {
                    l.cancel_requested = false;
                }
            }
            let mut queued = 0;
            for &j in &requeue {
                let job = &mut st.studies[slot].jobs[j];
                if pick(job.state()) && job.requeue() {
                    queued += 1;
                    self.enqueue(&mut st, (slot, j), false);
                }
            }
            let s = &st.studies[slot];
            // Queued or in flight now, less the jobs this call queued: what
            // was already under way and is left alone.
            let in_progress = s
                .jobs
                .iter()
                .filter(|j| j.recorded_attempt().is_none())
                .filter(|j| {
                    matches!(
                        j.state(),
                        JobState::Queued | JobState::Leased(_) | JobState::Running(_) | JobState::Completing { .. }
                    )
                })
                .count() as u32;
            pb::SubmitStudyResponse {
                study: name.clone(),
                version,
                jobs_total: s.jobs.len() as u32,
                jobs_queued: queued,
                jobs_already_done: s.jobs.iter().filter(|j| j.recorded_attempt().is_some()).count() as u32,
                dataset_hash: s.dataset_hash.clone(),
                resumed: true,
                jobs_in_progress: in_progress.saturating_sub(queued),
            }
        };
        tracing::info!(study = %name, version, requeued = response.jobs_queued, "study resumed");
        self.bump();
        Ok(response)
    }

    /// Drop a study's queued jobs and ask its running ones to stop.
    pub async fn cancel(&self, study: &str) -> Result<pb::CancelStudyResponse> {
        let (name, version, dropped, stopping) = {
            let mut st = self.lock();
            let slot = super::status::find(&st, study)?;
            let s = &mut st.studies[slot];
            s.cancelled = true;
            let mut dropped = Vec::new();
            let mut stopping = 0;
            for j in &mut s.jobs {
                if j.cancel_queued() {
                    dropped.push(j.id.clone());
                } else if let Some(l) = j.lease_mut() {
                    l.cancel_requested = true;
                    stopping += 1;
                }
            }
            (s.name.clone(), s.version, dropped, stopping)
        };
        let n = dropped.len() as u32;
        self.writer
            .commit(vec![Write::Cancel { study: name.clone(), version, dropped }])
            .await
            .map_err(|e| SchedError::Unavailable(e.to_string()))?;
        tracing::info!(study = %name, version, dropped = n, stopping, "study cancelled");
        self.bump();
        Ok(pb::CancelStudyResponse { dropped_queued: n, stopping_running: stopping })
    }
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}
