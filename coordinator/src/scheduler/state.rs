//! The scheduler's in-memory state: studies, their jobs, the queue, the
//! lease deadlines and the known workers. Only `Scheduler` touches it, and
//! only with its one lock held.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;

use intervene_proto::pb;
use tokio::time::Instant;

use super::job::{Job, JobState};
use crate::plan::Plan;
use crate::results::ArmRef;

/// (study slot, job index): a job's address in [`State`].
pub type JobRef = (usize, usize);

#[derive(Default)]
pub struct State {
    pub studies: Vec<StudyRt>,
    /// (name, version) -> slot in `studies`.
    pub by_key: HashMap<(String, u32), usize>,
    /// name -> latest version.
    pub latest: HashMap<String, u32>,
    /// Jobs waiting for a worker, oldest first; entries whose job is no
    /// longer queued are skipped when popped.
    pub queue: VecDeque<JobRef>,
    /// Lease deadlines, earliest first; an entry is stale when its job's
    /// lease has moved on (renewed, ended).
    pub deadlines: BinaryHeap<Reverse<(Instant, JobRef, u32)>>,
    /// Jobs waiting out a retry back-off (state Queued, not yet in `queue`),
    /// by when they may be leased again.
    pub delayed: BinaryHeap<Reverse<(Instant, JobRef)>>,
    pub workers: HashMap<String, WorkerRt>,
}

pub struct WorkerRt {
    pub name: String,
    pub capabilities: pb::Capabilities,
    pub last_seen: Option<Instant>,
}

/// A study version as the scheduler runs it.
pub struct StudyRt {
    pub name: String,
    pub version: u32,
    pub spec_hash: String,
    pub plan: Arc<Plan>,
    pub dataset_hash: String,
    pub dataset_bytes: u64,
    pub submitted_at_ms: i64,
    pub cancelled: bool,
    /// Same order as `plan.jobs`.
    pub jobs: Vec<Job>,
    /// job id -> index in `jobs`.
    pub index: HashMap<String, usize>,
    /// Wall time of every successful attempt so far (seconds), for the ETA.
    pub done_seconds: f64,
    pub done_count: u64,
}

impl StudyRt {
    pub fn new(
        name: String,
        version: u32,
        plan: Arc<Plan>,
        dataset_hash: String,
        dataset_bytes: u64,
        submitted_at_ms: i64,
    ) -> StudyRt {
        let arm_index: HashMap<&str, usize> = plan.arms.iter().enumerate().map(|(i, a)| (a.name.as_str(), i)).collect();
        let jobs: Vec<Job> = plan
            .jobs
            .iter()
            .map(|j| {
                let arms = j.arms.iter().filter_map(|a| arm_index.get(a.as_str()).copied()).collect();
                Job::new(j.id.clone(), Arc::from(j.spec.canonical_json()), arms)
            })
            .collect();
        let index = jobs.iter().enumerate().map(|(i, j)| (j.id.clone(), i)).collect();
        StudyRt {
            name,
            version,
            spec_hash: plan.spec_hash.clone(),
            plan,
            dataset_hash,
            dataset_bytes,
            submitted_at_ms,
            cancelled: false,
            jobs,
            index,
            done_seconds: 0.0,
            done_count: 0,
        }
    }

    /// The arms a job's result rows are labelled with.
    pub fn arm_refs(&self, job: usize) -> Vec<ArmRef> {
        self.jobs[job]
            .arms
            .iter()
            .map(|&i| {
                let a = &self.plan.arms[i];
                ArmRef {
                    arm: a.name.clone(),
                    intervention: a.intervention.clone(),
                    kind: a.kind.clone(),
                    compare_to: a.compare_to.clone(),
                    bucket: a.bucket.clone(),
                }
            })
            .collect()
    }

    /// True when no job can still run.
    pub fn finished(&self) -> bool {
        self.jobs.iter().all(|j| j.state().is_final())
    }

    /// "running", "succeeded", "failed" (finished with failures) or "cancelled".
    pub fn state_name(&self) -> &'static str {
        if !self.finished() {
            return "running";
        }
        if self.jobs.iter().any(|j| matches!(j.state(), JobState::Cancelled)) {
            "cancelled"
        } else if self.jobs.iter().any(|j| matches!(j.state(), JobState::Failed { .. })) {
            "failed"
        } else {
            "succeeded"
        }
    }
}

impl State {
    /// The slot of `study`: `NAME` (its latest version) or `NAME@VERSION`.
    pub fn find_study(&self, study: &str) -> Option<usize> {
        let (name, version) = match study.rsplit_once('@') {
            Some((name, v)) => (name, v.parse::<u32>().ok()?),
            None => (study, *self.latest.get(study)?),
        };
        self.by_key.get(&(name.to_string(), version)).copied()
    }

    pub fn job(&self, (s, j): JobRef) -> &Job {
        &self.studies[s].jobs[j]
    }

    pub fn job_mut(&mut self, (s, j): JobRef) -> &mut Job {
        &mut self.studies[s].jobs[j]
    }
}
