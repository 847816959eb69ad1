//! Progress snapshots: per-arm counts, the jobs in flight with their
//! progress, and estimated times to completion.
//!
//! The ETA is an estimate, never a promise: the mean wall time of the
//! study's finished attempts, times the number of "rounds" the fleet needs
//! to reach each job. A queued job at position `p` of the queue (all studies
//! together, the order in which jobs are handed out) finishes after about
//! `(p / workers + 1)` job times; a running job after the mean minus what it
//! already ran. An arm is done when its last job is, the study when its
//! last arm is. Until one job has finished, the ETA is unknown (0).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use intervene_proto::pb;
use tokio::time::Instant;

use super::job::JobState;
use super::state::State;
use super::{Result, SchedError, Scheduler};

impl Scheduler {
    pub fn status(&self, study: &str) -> Result<pb::StudyStatus> {
        let st = self.lock();
        let slot = find(&st, study)?;
        Ok(snapshot(&st, slot, self.opts.lease_ttl, &self.state_dir))
    }

    /// Every job of a study version (`intervene status STUDY --jobs`).
    pub fn jobs(&self, study: &str) -> Result<pb::ListJobsResponse> {
        let st = self.lock();
        let slot = find(&st, study)?;
        Ok(jobs_view(&st, slot))
    }

    /// Every study version, in submission order.
    pub fn list(&self) -> Vec<pb::StudyStatus> {
        let st = self.lock();
        (0..st.studies.len()).map(|slot| snapshot(&st, slot, self.opts.lease_ttl, &self.state_dir)).collect()
    }
}

/// The slot of `study` (NAME or NAME@VERSION), or an error naming the
/// versions that exist.
pub(super) fn find(st: &State, study: &str) -> Result<usize> {
    if let Some(slot) = st.find_study(study) {
        return Ok(slot);
    }
    let name = study.rsplit_once('@').map_or(study, |(n, _)| n);
    let versions: Vec<String> =
        st.studies.iter().filter(|s| s.name == name).map(|s| format!("{}@{}", s.name, s.version)).collect();
    let known = if versions.is_empty() {
        let names: std::collections::BTreeSet<&str> = st.studies.iter().map(|s| s.name.as_str()).collect();
        if names.is_empty() {
            "there are no studies".to_string()
        } else {
            format!("known studies: {}", names.into_iter().collect::<Vec<_>>().join(", "))
        }
    } else {
        format!("versions: {}", versions.join(", "))
    };
    Err(SchedError::NotFound(format!("study: no study `{study}` ({known})")))
}

/// One row per job of `slot`, in plan order.
pub(super) fn jobs_view(st: &State, slot: usize) -> pb::ListJobsResponse {
    let s = &st.studies[slot];
    let jobs = s
        .plan
        .jobs
        .iter()
        .zip(&s.jobs)
        .map(|(planned, job)| {
            let (state, reason) = match job.state() {
                JobState::Failed { reason, .. } => ("failed", Some(reason.clone())),
                other => (other.name(), job.last_reason.clone()),
            };
            pb::JobStatus {
                job_id: job.id.clone(),
                arms: planned.arms.clone(),
                seed: planned.spec.seed,
                state: if state == "leased" { "running".into() } else { state.into() },
                attempts: job.attempts_issued,
                failures: job.failures,
                last_reason: reason.unwrap_or_default(),
                worker: job.state().lease().map_or_else(String::new, |l| {
                    st.workers.get(&l.worker_id).map_or_else(|| l.worker_id.clone(), |w| w.name.clone())
                }),
            }
        })
        .collect();
    pb::ListJobsResponse { study: s.name.clone(), version: s.version, jobs }
}

/// Workers heard from recently: the fleet's parallelism for the ETA.
fn live_workers(st: &State, ttl: Duration) -> usize {
    let now = Instant::now();
    st.workers.values().filter(|w| w.last_seen.is_some_and(|t| now.duration_since(t) < ttl * 2)).count()
}

pub(super) fn snapshot(st: &State, slot: usize, ttl: Duration, state_dir: &std::path::Path) -> pb::StudyStatus {
    let s = &st.studies[slot];
    let now = Instant::now();
    let mean = (s.done_count > 0).then(|| s.done_seconds / s.done_count as f64);

    // Seconds until each unfinished job of this study is done.
    let mut eta: HashMap<usize, f64> = HashMap::new();
    if let Some(mean) = mean {
        let workers = live_workers(st, ttl).max(1);
        let mut seen = HashSet::new();
        let mut position = 0usize;
        for &r in &st.queue {
            if !matches!(st.job(r).state(), JobState::Queued) || !seen.insert(r) {
                continue;
            }
            if r.0 == slot {
                eta.insert(r.1, mean * ((position / workers) as f64 + 1.0));
            }
            position += 1;
        }
        for (i, j) in s.jobs.iter().enumerate() {
            if let Some(l) = j.state().lease() {
                eta.insert(i, (mean - now.duration_since(l.leased_at).as_secs_f64()).max(0.0));
            }
        }
    }
    let ms = |secs: f64| (secs * 1000.0).round() as u64;

    let mut arms = Vec::with_capacity(s.plan.arms.len());
    for arm in &s.plan.arms {
        let mut a = pb::ArmStatus {
            arm: arm.name.clone(),
            intervention: arm.intervention.clone().unwrap_or_default(),
            kind: arm.kind.clone(),
            total: arm.jobs.len() as u32,
            ..Default::default()
        };
        let mut arm_eta: f64 = 0.0;
        for (_, id) in &arm.jobs {
            let Some(&i) = s.index.get(id) else { continue };
            count(s.jobs[i].state(), &mut a.queued, &mut a.running, &mut a.succeeded, &mut a.failed, &mut a.cancelled);
            if let Some(e) = eta.get(&i) {
                arm_eta = arm_eta.max(*e);
            }
        }
        a.eta_ms = ms(arm_eta);
        arms.push(a);
    }

    let mut out = pb::StudyStatus {
        study: s.name.clone(),
        version: s.version,
        state: s.state_name().to_string(),
        jobs_total: s.jobs.len() as u32,
        eta_ms: ms(eta.values().copied().fold(0.0, f64::max)),
        submitted_at_ms: s.submitted_at_ms,
        results_dir: state_dir.join(intervene_proto::tables::results_dir(&s.name, s.version)).display().to_string(),
        ..Default::default()
    };
    for (i, j) in s.jobs.iter().enumerate() {
        count(
            j.state(),
            &mut out.jobs_queued,
            &mut out.jobs_running,
            &mut out.jobs_succeeded,
            &mut out.jobs_failed,
            &mut out.jobs_cancelled,
        );
        if let Some(l) = j.state().lease() {
            out.running.push(pb::RunningJob {
                job_id: j.id.clone(),
                attempt: l.attempt,
                worker: st.workers.get(&l.worker_id).map_or_else(|| l.worker_id.clone(), |w| w.name.clone()),
                progress: l.progress,
                arms: s.plan.jobs.get(i).map(|p| p.arms.clone()).unwrap_or_default(),
                seed: s.plan.jobs.get(i).map_or(0, |p| p.spec.seed),
            });
        }
    }
    out.arms = arms;
    out
}

fn count(state: &JobState, queued: &mut u32, running: &mut u32, done: &mut u32, failed: &mut u32, cancelled: &mut u32) {
    match state {
        JobState::Queued => *queued += 1,
        JobState::Leased(_) | JobState::Running(_) | JobState::Completing { .. } => *running += 1,
        JobState::Succeeded { .. } => *done += 1,
        JobState::Failed { .. } => *failed += 1,
        JobState::Cancelled => *cancelled += 1,
    }
}
