//! The job scheduler: studies, jobs, leases, retries.
//!
//! **One lock-protected state struct, not an event loop.** Every state
//! change happens inside a method of [`Scheduler`] holding its single
//! `Mutex<State>`; the ledger write that records the change is queued to the
//! writer thread while the lock is still held, so the ledger sees changes in
//! exactly the order they happened. An event enum with one consumer task
//! would serialise the same way but puts two channel hops and a task wake-up
//! on the lease path; with a plain mutex a lease is a queue pop and a channel
//! send (microseconds), which is what lets one coordinator hand out
//! thousands of leases a second. Nothing slow happens under the lock: no
//! await, no I/O, no Parquet. A result is committed after the lock is
//! released, with the job parked in `Completing`; the Complete call is
//! answered once the commit is durable, and the job becomes `Succeeded` when
//! the table writer (`results::batch`) has its rows on disk.
//!
//! - [`job`]: the per-job state machine and its transition diagram.
//! - [`state`]: the in-memory state.
//! - [`recover`]: rebuilding the state from the ledger after a restart.
//! - [`status`]: progress snapshots and ETAs.
//! - [`studies`]: adding, resuming, retrying and cancelling study versions.
//! - [`local`]: the same views read from a state folder, no coordinator.
//! - [`complete`]: recording a result (ledger, then tables).

mod complete;
pub mod job;
pub mod local;
pub mod recover;
pub mod state;
pub mod status;
pub mod studies;
#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use intervene_proto::pb;
use prost::Message;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::results::batch::TableWriter;
use crate::store::{Write, Writer, now_ms};
use job::{Ending, JobState, end_attempt, retry_delay};
use state::{JobRef, State, WorkerRt};

#[derive(Debug, thiserror::Error)]
pub enum SchedError {
    #[error("{field}: {message}")]
    InvalidArgument { field: &'static str, message: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    FailedPrecondition(String),
    /// Try again: the coordinator is busy with this request or its ledger
    /// is unavailable.
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

pub type Result<T> = std::result::Result<T, SchedError>;

/// Timing of leases and heartbeats.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// A lease not renewed within this long expires.
    pub lease_ttl: Duration,
    /// How often workers are asked to heartbeat.
    pub heartbeat_interval: Duration,
    /// The longest a Lease call may wait for a job.
    pub max_lease_wait: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            lease_ttl: Duration::from_secs(30),
            heartbeat_interval: Duration::from_secs(5),
            max_lease_wait: Duration::from_secs(60),
        }
    }
}

pub struct Scheduler {
    state: Mutex<State>,
    writer: Writer,
    tables: TableWriter,
    /// Woken once per job put in the queue.
    queued: Notify,
    /// Bumped on every change a status watcher could see.
    changed: watch::Sender<u64>,
    opts: Options,
    state_dir: PathBuf,
    /// Held by one submission at a time.
    submissions: tokio::sync::Mutex<()>,
    /// Queue only this study's jobs (`intervene run`): other studies in the
    /// ledger keep their queued jobs for a later run or a fleet.
    only_study: Option<String>,
    /// The state folder's lock (`store::lock_state`), held while open.
    _state_lock: Option<std::fs::File>,
    /// Set by [`Scheduler::drain`]: no new leases while the coordinator
    /// waits for its workers to give theirs back.
    draining: std::sync::atomic::AtomicBool,
}

impl Scheduler {
    pub fn new(
        state: State,
        writer: Writer,
        tables: TableWriter,
        opts: Options,
        state_dir: &Path,
        only_study: Option<String>,
        state_lock: Option<std::fs::File>,
    ) -> Arc<Scheduler> {
        let (changed, _) = watch::channel(0);
        let s = Arc::new(Scheduler {
            state: Mutex::new(state),
            writer,
            tables,
            queued: Notify::new(),
            changed,
            opts,
            state_dir: state_dir.to_path_buf(),
            submissions: tokio::sync::Mutex::new(()),
            _state_lock: state_lock,
            only_study,
            draining: std::sync::atomic::AtomicBool::new(false),
        });
        let waiting = s.lock().queue.len();
        for _ in 0..waiting {
            s.queued.notify_one();
        }
        s
    }

    pub fn options(&self) -> Options {
        self.opts
    }

    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    pub fn writer(&self) -> &Writer {
        &self.writer
    }

    /// Wait until the table rows of every result recorded so far are on
    /// disk (results are acknowledged before their rows are written).
    pub async fn flush_tables(&self) {
        self.tables.flush().await;
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock would be a bug in a transition; the
        // state itself is still consistent between transitions.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn bump(&self) {
        self.changed.send_modify(|g| *g = g.wrapping_add(1));
    }

    /// Watch for any change of any study.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    fn ledger(&self, write: Write) -> Result<()> {
        self.writer.send(write).map_err(|e| SchedError::Unavailable(e.to_string()))
    }

    fn push_deadline(st: &mut State, r: JobRef, attempt: u32, deadline: Instant) {
        st.deadlines.push(Reverse((deadline, r, attempt)));
    }

    fn enqueue(&self, st: &mut State, r: JobRef, front: bool) {
        if let Some(only) = &self.only_study
            && st.studies[r.0].name != *only
        {
            // Stays queued in the ledger and the state, out of this run.
            return;
        }
        if front {
            st.queue.push_front(r);
        } else {
            st.queue.push_back(r);
        }
        self.queued.notify_one();
    }

    /// Queue a retry once its back-off has passed (at once for none).
    fn enqueue_after(&self, st: &mut State, r: JobRef, delay: Duration) {
        if delay.is_zero() {
            self.enqueue(st, r, true);
        } else {
            st.delayed.push(Reverse((Instant::now() + delay, r)));
        }
    }

    /// Move every retry whose back-off has passed into the queue, first.
    fn release_delayed(&self, st: &mut State, now: Instant) {
        while let Some(Reverse((at, r))) = st.delayed.peek().copied() {
            if at > now {
                break;
            }
            st.delayed.pop();
            if matches!(st.job(r).state(), JobState::Queued) {
                self.enqueue(st, r, true);
            }
        }
    }

    // ------------------------------------------------------------ workers

    /// A new worker id for a worker announcing itself; durable before the
    /// worker uses it.
    pub async fn register(&self, name: String, capabilities: pb::Capabilities) -> Result<String> {
        let worker_id = format!("w-{:016x}", rand::random::<u64>());
        self.writer
            .commit(vec![Write::Worker {
                worker_id: worker_id.clone(),
                name: name.clone(),
                capabilities: capabilities.encode_to_vec(),
                at_ms: now_ms(),
            }])
            .await
            .map_err(|e| SchedError::Unavailable(e.to_string()))?;
        self.lock().workers.insert(worker_id.clone(), WorkerRt { name, capabilities, last_seen: Some(Instant::now()) });
        tracing::info!(worker = %worker_id, "worker registered");
        Ok(worker_id)
    }

    fn seen(st: &mut State, worker_id: &str) -> Result<()> {
        match st.workers.get_mut(worker_id) {
            Some(w) => {
                w.last_seen = Some(Instant::now());
                Ok(())
            }
            None => Err(SchedError::NotFound(format!(
                "worker_id: unknown worker `{worker_id}`; register again (the coordinator may have a new state directory)"
            ))),
        }
    }

    // ------------------------------------------------------------- leases

    /// Stop handing out jobs: every Lease call, the waiting ones included,
    /// is refused at once as unavailable (workers back off and retry, as
    /// for a coordinator that is away). Heartbeats, completions and releases go on,
    /// so a coordinator told to stop together with its workers (a Slurm
    /// `scancel`, a Kubernetes rollout) can wait for their leases to come
    /// back instead of leaving them to expire as failed attempts.
    pub fn drain(&self) {
        self.draining.store(true, std::sync::atomic::Ordering::SeqCst);
        self.queued.notify_waiters();
    }

    fn stopping() -> SchedError {
        SchedError::Unavailable("the coordinator is stopping: it hands out no new jobs".into())
    }

    fn is_draining(&self) -> bool {
        self.draining.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Jobs leased or running now.
    pub fn held_leases(&self) -> usize {
        self.lock().studies.iter().flat_map(|s| &s.jobs).filter(|j| j.state().in_flight()).count()
    }

    fn try_lease(&self, worker_id: &str) -> Result<Option<pb::JobAssignment>> {
        let mut st = self.lock();
        Self::seen(&mut st, worker_id)?;
        if self.is_draining() {
            return Err(Self::stopping());
        }
        let now = Instant::now();
        self.release_delayed(&mut st, now);
        while let Some(r) = st.queue.pop_front() {
            let ttl = self.opts.lease_ttl;
            let Some(attempt) = st.job_mut(r).lease(worker_id, now, ttl) else { continue };
            Self::push_deadline(&mut st, r, attempt, now + ttl);
            let study = &st.studies[r.0];
            let job = &study.jobs[r.1];
            let assignment = pb::JobAssignment {
                study: study.name.clone(),
                study_version: study.version,
                job_id: job.id.clone(),
                attempt,
                spec_json: job.spec_json.to_string(),
                dataset_hash: study.dataset_hash.clone(),
                dataset_bytes: study.dataset_bytes,
                lease_ttl_ms: ttl.as_millis() as u32,
            };
            self.ledger(Write::Lease {
                study: study.name.clone(),
                version: study.version,
                job_id: job.id.clone(),
                attempt,
                worker_id: worker_id.to_string(),
                at_ms: now_ms(),
            })?;
            drop(st);
            self.bump();
            return Ok(Some(assignment));
        }
        Ok(None)
    }

    /// A job for `worker_id`, waiting up to `wait` for one to be queued.
    pub async fn lease(&self, worker_id: &str, wait: Duration) -> Result<Option<pb::JobAssignment>> {
        let deadline = Instant::now() + wait.min(self.opts.max_lease_wait);
        loop {
            let notified = self.queued.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(a) = self.try_lease(worker_id)? {
                return Ok(Some(a));
            }
            if self.is_draining() {
                return Err(Self::stopping());
            }
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep_until(deadline) => return Ok(None),
            }
        }
    }

    fn find_job(st: &State, study: &str, version: u32, job_id: &str) -> Result<JobRef> {
        let s = *st
            .by_key
            .get(&(study.to_string(), version))
            .ok_or_else(|| SchedError::NotFound(format!("study: no study `{study}` version {version}")))?;
        let j = *st.studies[s]
            .index
            .get(job_id)
            .ok_or_else(|| SchedError::NotFound(format!("job_id: study `{study}` v{version} has no job `{job_id}`")))?;
        Ok((s, j))
    }

    /// Progress of an attempt; renews its lease. The answer says stop when
    /// the attempt is no longer wanted.
    pub fn heartbeat(
        &self,
        worker_id: &str,
        study: &str,
        version: u32,
        job_id: &str,
        attempt: u32,
        progress: Option<pb::Progress>,
    ) -> Result<pb::HeartbeatResponse> {
        let mut st = self.lock();
        Self::seen(&mut st, worker_id)?;
        let r = Self::find_job(&st, study, version, job_id)?;
        let now = Instant::now();
        let ttl = self.opts.lease_ttl;
        let job = st.job_mut(r);
        if job.adopt(worker_id, attempt, now, ttl) {
            tracing::info!(study, version, job_id, attempt, worker_id, "a worker came back with its attempt; adopted");
            Self::push_deadline(&mut st, r, attempt, now + ttl);
            self.ledger(Write::Lease {
                study: study.to_string(),
                version,
                job_id: job_id.to_string(),
                attempt,
                worker_id: worker_id.to_string(),
                at_ms: now_ms(),
            })?;
        }
        let job = st.job_mut(r);
        let state_name = job.state().name();
        let issued = job.attempts_issued;
        let Some(lease) = job.current_lease(attempt) else {
            let reason = match job.state() {
                JobState::Completing { attempt: a, .. } | JobState::Succeeded { attempt: a } if *a == attempt => {
                    "the result of this attempt is already recorded".to_string()
                }
                _ => format!("attempt {attempt} is no longer current (job {state_name}, latest attempt {issued})"),
            };
            return Ok(pb::HeartbeatResponse { cancel: true, reason });
        };
        if lease.worker_id != worker_id {
            return Ok(pb::HeartbeatResponse {
                cancel: true,
                reason: format!("attempt {attempt} belongs to worker {}", lease.worker_id),
            });
        }
        lease.deadline = now + ttl;
        if progress.is_some() {
            lease.progress = progress;
        }
        let cancel = lease.cancel_requested;
        let started = job.start();
        if started {
            self.ledger(Write::Started { study: study.to_string(), version, job_id: job_id.to_string() })?;
        }
        drop(st);
        self.bump();
        Ok(pb::HeartbeatResponse {
            cancel,
            reason: if cancel { "the study was cancelled".into() } else { String::new() },
        })
    }

    /// An attempt ended without a result.
    pub fn fail(
        &self,
        worker_id: &str,
        study: &str,
        version: u32,
        job_id: &str,
        attempt: u32,
        ending: Ending,
        reason: &str,
    ) -> Result<pb::FailResponse> {
        let mut st = self.lock();
        Self::seen(&mut st, worker_id)?;
        let r = Self::find_job(&st, study, version, job_id)?;
        let max_attempts = st.studies[r.0].plan.max_attempts;
        let job = st.job_mut(r);
        if job.current_lease(attempt).is_none() {
            tracing::warn!(
                study,
                version,
                job_id,
                attempt,
                worker_id,
                "failure report for an attempt that is not current"
            );
            return Ok(pb::FailResponse {
                requeued: false,
                message: format!("attempt {attempt} is not current (job {}); nothing to do", job.state().name()),
            });
        }
        let requeued = end_attempt(job, ending, reason, max_attempts);
        let delay = retry_delay(job, ending);
        let (state, failures, fatal) =
            (job.state().name(), job.failures, matches!(job.state(), JobState::Failed { fatal: true, .. }));
        tracing::info!(
            study,
            version,
            job_id,
            attempt,
            worker_id,
            ending = ending.outcome(),
            reason,
            state,
            "attempt ended"
        );
        self.ledger(Write::AttemptEnded {
            study: study.to_string(),
            version,
            job_id: job_id.to_string(),
            attempt,
            outcome: ending.outcome(),
            reason: reason.to_string(),
            at_ms: now_ms(),
            job_state: state,
            failures,
            fatal,
        })?;
        if requeued {
            // Retries go first (after their back-off), so a study's
            // stragglers do not wait behind a long queue.
            self.enqueue_after(&mut st, r, delay);
        }
        drop(st);
        self.bump();
        Ok(pb::FailResponse {
            requeued,
            message: if requeued { "the job will run again".into() } else { format!("the job is now {state}") },
        })
    }

    /// Expire every lease whose deadline has passed, and queue the retries
    /// whose back-off is over; returns how many leases expired.
    pub fn expire_due(&self) -> usize {
        let now = Instant::now();
        let mut st = self.lock();
        let mut expired = 0;
        while let Some(Reverse((deadline, r, attempt))) = st.deadlines.peek().cloned() {
            if deadline > now {
                break;
            }
            st.deadlines.pop();
            let max_attempts = st.studies[r.0].plan.max_attempts;
            let (study, version) = (st.studies[r.0].name.clone(), st.studies[r.0].version);
            let job = st.job_mut(r);
            let Some(lease) = job.current_lease(attempt) else { continue };
            if lease.deadline > now {
                let d = lease.deadline;
                Self::push_deadline(&mut st, r, attempt, d);
                continue;
            }
            let worker = lease.worker_id.clone();
            let reason = format!("lease expired: no heartbeat from worker {worker}");
            let requeued = end_attempt(job, Ending::Expired, &reason, max_attempts);
            let delay = retry_delay(job, Ending::Expired);
            let (state, failures, job_id) = (job.state().name(), job.failures, job.id.clone());
            tracing::warn!(%study, version, %job_id, attempt, %worker, state, "lease expired");
            let write = Write::AttemptEnded {
                study,
                version,
                job_id,
                attempt,
                outcome: Ending::Expired.outcome(),
                reason,
                at_ms: now_ms(),
                job_state: state,
                failures,
                fatal: false,
            };
            if let Err(e) = self.ledger(write) {
                tracing::error!(error = %e, "cannot record an expired lease");
            }
            if requeued {
                self.enqueue_after(&mut st, r, delay);
            }
            expired += 1;
        }
        self.release_delayed(&mut st, now);
        drop(st);
        if expired > 0 {
            self.bump();
        }
        expired
    }

    /// Expire leases until `shutdown` fires.
    pub async fn run_expiry(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let period = (self.opts.lease_ttl / 4).clamp(Duration::from_millis(50), Duration::from_secs(2));
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => { self.expire_due(); }
                _ = shutdown.changed() => return,
            }
        }
    }
}
