//! One job's life cycle as an explicit state machine.
//!
//! ```text
//!            +---- expiry / retryable failure / release / fleet failure ---------+
//!            v      (failures < max_attempts; release and fleet failures are   |
//!            |       free; every retry but a release waits a back-off first)  |
//!   Queued --lease--> Leased --heartbeat--> Running --complete--> Completing --commit, rows written--> Succeeded
//!     |                 |                     |                     |
//!     |                 +---------+-----------+                     +--commit failed--> (back where it was)
//!     |                           |
//!     |                           +--fatal failure, or failures reach max_attempts--> Failed
//!     |                           +--ends after the study was cancelled-----------> Cancelled
//!     +--study cancelled--> Cancelled
//!   Failed (not fatal) / Cancelled --study resubmitted--> Queued
//! ```
//!
//! Attempt numbers are never reused: each lease takes `attempts_issued + 1`.
//! A result is accepted from the attempt in flight, or from the latest
//! attempt while its job waits in the queue after that attempt's lease
//! expired (nobody else has started it); anything older is superseded.

use std::sync::Arc;

use intervene_proto::pb;
use tokio::time::Instant;

/// An attempt in a worker's hands.
#[derive(Debug, Clone)]
pub struct Lease {
    pub attempt: u32,
    pub worker_id: String,
    pub deadline: Instant,
    pub leased_at: Instant,
    pub progress: Option<pb::Progress>,
    /// The study was cancelled: the next heartbeat tells the worker to stop.
    pub cancel_requested: bool,
}

#[derive(Debug, Clone)]
pub enum JobState {
    Queued,
    Leased(Lease),
    Running(Lease),
    /// A result was accepted and is being committed, then its table rows
    /// written; the lease cannot expire. A resent result for the same
    /// attempt waits for the commit, and is a duplicate once `recorded`.
    Completing {
        lease: Option<Lease>,
        attempt: u32,
        was_running: bool,
        /// The ledger commit is durable; only the table rows are pending.
        recorded: bool,
    },
    Succeeded {
        attempt: u32,
    },
    Failed {
        reason: String,
        fatal: bool,
    },
    Cancelled,
}

impl JobState {
    pub fn name(&self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Leased(_) => "leased",
            JobState::Running(_) => "running",
            JobState::Completing { .. } => "running",
            JobState::Succeeded { .. } => "succeeded",
            JobState::Failed { .. } => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    pub fn is_final(&self) -> bool {
        matches!(self, JobState::Succeeded { .. } | JobState::Failed { .. } | JobState::Cancelled)
    }

    pub fn lease(&self) -> Option<&Lease> {
        match self {
            JobState::Leased(l) | JobState::Running(l) => Some(l),
            JobState::Completing { lease, .. } => lease.as_ref(),
            _ => None,
        }
    }

    pub fn lease_mut(&mut self) -> Option<&mut Lease> {
        match self {
            JobState::Leased(l) | JobState::Running(l) => Some(l),
            _ => None,
        }
    }

    /// Counted as "running" in status: leased, running or being recorded.
    pub fn in_flight(&self) -> bool {
        matches!(self, JobState::Leased(_) | JobState::Running(_) | JobState::Completing { .. })
    }
}

/// One job of a study version, as the scheduler tracks it. Its state is
/// private: it changes only through the transitions of the diagram above
/// (the methods of `Job` and [`end_attempt`]).
#[derive(Debug)]
pub struct Job {
    pub id: String,
    /// Canonical `JobSpec` JSON, sent with every lease.
    pub spec_json: Arc<str>,
    state: JobState,
    pub attempts_issued: u32,
    pub failures: u32,
    /// Consecutive attempts ended by the fleet (data transfer, lost
    /// connection) rather than the job; not attempts, but bounded so that a
    /// fleet that can never serve the job does not loop forever. In memory
    /// only: a coordinator restart starts the count again.
    pub interruptions: u32,
    /// Why the latest attempt ended without a result (`status --jobs`).
    pub last_reason: Option<String>,
    /// Indices of the study's arms that include this job.
    pub arms: Vec<usize>,
}

/// Why a result or failure report was not applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// From an attempt that is no longer the job's current one.
    Superseded { attempt: u32, current: u32, state: &'static str },
    /// The job already has a result from another attempt, or ended.
    Finished { state: &'static str },
    /// The same attempt's result is being committed right now.
    InProgress,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Superseded { attempt, current, state } => {
                write!(f, "attempt {attempt} was superseded (the job is {state}, its latest attempt is {current})")
            }
            Refusal::Finished { state } => write!(f, "the job is already {state}"),
            Refusal::InProgress => f.write_str("this result is being recorded; retry shortly"),
        }
    }
}

impl Job {
    /// A new job, queued.
    pub fn new(id: String, spec_json: Arc<str>, arms: Vec<usize>) -> Job {
        Job {
            id,
            spec_json,
            state: JobState::Queued,
            attempts_issued: 0,
            failures: 0,
            interruptions: 0,
            last_reason: None,
            arms,
        }
    }

    /// Where the job is in its life cycle. It changes only through the
    /// transition methods below.
    pub fn state(&self) -> &JobState {
        &self.state
    }

    /// The lease of the attempt in flight, to extend it or note progress
    /// (not a change of state).
    pub fn lease_mut(&mut self) -> Option<&mut Lease> {
        self.state.lease_mut()
    }

    /// Leased -> Running, on the first heartbeat; true when it changed.
    pub fn start(&mut self) -> bool {
        if !matches!(self.state, JobState::Leased(_)) {
            return false;
        }
        if let JobState::Leased(l) = std::mem::replace(&mut self.state, JobState::Queued) {
            self.state = JobState::Running(l);
        }
        true
    }

    /// Queued -> Leased for an attempt the ledger never recorded (the lease
    /// was handed out just before a coordinator crash, and recovery queued
    /// the job with that attempt number burnt): true when nobody has leased
    /// the job since, and the worker keeps it.
    pub fn adopt(&mut self, worker_id: &str, attempt: u32, now: Instant, ttl: std::time::Duration) -> bool {
        if !(matches!(self.state, JobState::Queued) && attempt > 0 && attempt == self.attempts_issued) {
            return false;
        }
        self.state = JobState::Leased(Lease {
            attempt,
            worker_id: worker_id.to_string(),
            deadline: now + ttl,
            leased_at: now,
            progress: None,
            cancel_requested: false,
        });
        true
    }

    /// Queued -> Succeeded with the result of `attempt` recorded for the
    /// same job by an earlier version of the study.
    pub fn reuse_result(&mut self, attempt: u32) {
        if matches!(self.state, JobState::Queued) {
            self.state = JobState::Succeeded { attempt };
            self.attempts_issued = attempt;
        }
    }

    /// Failed / Cancelled -> Queued when the study is resubmitted, with a
    /// fresh count of failures; true when it changed.
    pub fn requeue(&mut self) -> bool {
        if !matches!(self.state, JobState::Failed { .. } | JobState::Cancelled) {
            return false;
        }
        self.state = JobState::Queued;
        self.failures = 0;
        self.interruptions = 0;
        true
    }

    /// Queued -> Cancelled (the study was cancelled); true when it changed.
    /// A job in flight is asked to stop through its lease instead.
    pub fn cancel_queued(&mut self) -> bool {
        if !matches!(self.state, JobState::Queued) {
            return false;
        }
        self.state = JobState::Cancelled;
        true
    }

    /// The state recovery read from the ledger, for a job just created
    /// (queued, never leased in this process).
    pub fn restore(&mut self, state: JobState) {
        debug_assert!(matches!(self.state, JobState::Queued), "restore is for a fresh job");
        self.state = state;
    }

    /// Queued -> Leased with the next attempt number.
    pub fn lease(&mut self, worker_id: &str, now: Instant, ttl: std::time::Duration) -> Option<u32> {
        if !matches!(self.state, JobState::Queued) {
            return None;
        }
        self.attempts_issued += 1;
        self.state = JobState::Leased(Lease {
            attempt: self.attempts_issued,
            worker_id: worker_id.to_string(),
            deadline: now + ttl,
            leased_at: now,
            progress: None,
            cancel_requested: false,
        });
        Some(self.attempts_issued)
    }

    /// Whether a result from `attempt` may be recorded now.
    pub fn check_result(&self, attempt: u32) -> Result<(), Refusal> {
        match &self.state {
            JobState::Leased(l) | JobState::Running(l) if l.attempt == attempt => Ok(()),
            JobState::Queued if attempt == self.attempts_issued && attempt > 0 => Ok(()),
            JobState::Completing { attempt: a, .. } if *a == attempt => Err(Refusal::InProgress),
            JobState::Succeeded { .. } | JobState::Failed { .. } | JobState::Cancelled => {
                Err(Refusal::Finished { state: self.state.name() })
            }
            other => Err(Refusal::Superseded {
                attempt,
                current: other.lease().map_or(self.attempts_issued, |l| l.attempt),
                state: other.name(),
            }),
        }
    }

    /// -> Completing, remembering where to go back to if the commit fails.
    pub fn begin_complete(&mut self, attempt: u32) -> Result<(), Refusal> {
        self.check_result(attempt)?;
        let (lease, was_running) = match std::mem::replace(&mut self.state, JobState::Queued) {
            JobState::Leased(l) => (Some(l), false),
            JobState::Running(l) => (Some(l), true),
            _ => (None, false),
        };
        self.state = JobState::Completing { lease, attempt, was_running, recorded: false };
        Ok(())
    }

    /// The attempt whose result is durably recorded, if any (the job may
    /// still be waiting for its table rows).
    pub fn recorded_attempt(&self) -> Option<u32> {
        match self.state {
            JobState::Succeeded { attempt } | JobState::Completing { attempt, recorded: true, .. } => Some(attempt),
            _ => None,
        }
    }

    /// The result of the Completing attempt is committed to the ledger.
    pub fn result_recorded(&mut self) {
        if let JobState::Completing { recorded, .. } = &mut self.state {
            *recorded = true;
        }
    }

    /// Completing -> Succeeded.
    pub fn finish_complete(&mut self) {
        if let JobState::Completing { attempt, .. } = self.state {
            self.state = JobState::Succeeded { attempt };
        }
    }

    /// Completing -> the state it came from (the commit failed).
    pub fn abort_complete(&mut self) -> bool {
        let JobState::Completing { lease, was_running, .. } = std::mem::replace(&mut self.state, JobState::Queued)
        else {
            return false;
        };
        match lease {
            Some(l) if was_running => self.state = JobState::Running(l),
            Some(l) => self.state = JobState::Leased(l),
            // It was queued: the caller puts it back in the queue.
            None => return true,
        }
        false
    }

    /// The current in-flight attempt, if `attempt` is it.
    pub fn current_lease(&mut self, attempt: u32) -> Option<&mut Lease> {
        self.state.lease_mut().filter(|l| l.attempt == attempt)
    }
}

/// What an ended attempt (expired, failed, released) does to its job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Expired,
    Retryable,
    Fatal,
    Released,
    /// The fleet failed (data transfer, lost connection), not the job.
    Unavailable,
}

/// Fleet failures in a row after which a job is failed anyway.
pub const MAX_INTERRUPTIONS: u32 = 20;

impl Ending {
    pub fn outcome(self) -> &'static str {
        match self {
            Ending::Expired => "expired",
            Ending::Retryable => "failed",
            Ending::Fatal => "fatal",
            Ending::Released => "released",
            Ending::Unavailable => "unavailable",
        }
    }

    /// Whether the ending uses one of the job's attempts.
    pub fn counts(self) -> bool {
        !matches!(self, Ending::Released | Ending::Unavailable)
    }
}

/// How long a job waits before its next attempt after `ending`: none after
/// a release (the job did nothing wrong and another worker may be idle),
/// otherwise 1 s doubling with each failure or fleet failure, at most 60 s,
/// so a retry does not hit the same fault milliseconds later.
pub fn retry_delay(job: &Job, ending: Ending) -> std::time::Duration {
    let n = match ending {
        Ending::Released => return std::time::Duration::ZERO,
        Ending::Unavailable => job.interruptions,
        _ => job.failures,
    };
    std::time::Duration::from_secs(1u64 << n.saturating_sub(1).min(6)).min(std::time::Duration::from_secs(60))
}

/// Apply an attempt's ending: returns true when the job goes back to the
/// queue. The caller checked that the attempt is the one in flight.
pub fn end_attempt(job: &mut Job, ending: Ending, reason: &str, max_attempts: u32) -> bool {
    let cancel = job.state.lease().is_some_and(|l| l.cancel_requested);
    if ending.counts() {
        job.failures += 1;
    }
    if ending != Ending::Released {
        job.last_reason = Some(reason.to_string());
    }
    if ending == Ending::Unavailable {
        job.interruptions += 1;
    } else {
        job.interruptions = 0;
    }
    job.state = if cancel {
        JobState::Cancelled
    } else if ending == Ending::Fatal {
        JobState::Failed { reason: reason.to_string(), fatal: true }
    } else if ending.counts() && job.failures >= max_attempts.max(1) {
        JobState::Failed {
            reason: format!("{reason} (attempt {} of at most {max_attempts})", job.failures),
            fatal: false,
        }
    } else if ending == Ending::Unavailable && job.interruptions >= MAX_INTERRUPTIONS {
        JobState::Failed {
            reason: format!("{reason} (the fleet failed this job {MAX_INTERRUPTIONS} times in a row)"),
            fatal: false,
        }
    } else {
        JobState::Queued
    };
    matches!(job.state, JobState::Queued)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn job() -> Job {
        Job::new("j".into(), Arc::from("{}"), vec![0])
    }

    #[test]
    fn transitions_refuse_the_states_they_do_not_leave() {
        let now = Instant::now();
        let ttl = Duration::from_secs(1);
        let mut j = job();
        assert!(!j.start(), "a queued job is not started by a heartbeat");
        assert!(!j.requeue(), "a queued job is already queued");
        assert!(!j.adopt("w", 1, now, ttl), "attempt 1 was never issued");
        j.lease("w", now, ttl);
        assert!(!j.cancel_queued(), "a leased job is asked to stop through its lease");
        assert!(j.start());
        assert!(matches!(j.state(), JobState::Running(_)));
        assert!(!j.start());
        assert!(!end_attempt(&mut j, Ending::Fatal, "bad", 3));
        assert!(matches!(j.state(), JobState::Failed { fatal: true, .. }));
        assert!(j.requeue());
        assert_eq!((j.failures, j.state().name()), (0, "queued"));
        assert!(j.adopt("w2", 1, now, ttl), "the burnt attempt is adopted while queued");
        let mut k = job();
        assert!(k.cancel_queued());
        assert!(!k.cancel_queued());
        let mut r = job();
        r.reuse_result(4);
        assert_eq!((r.recorded_attempt(), r.attempts_issued), (Some(4), 4));
    }

    #[test]
    fn fleet_failures_use_no_attempt_but_are_bounded_and_back_off() {
        let mut j = job();
        let now = Instant::now();
        for n in 1..MAX_INTERRUPTIONS {
            j.lease("w", now, Duration::from_secs(1));
            assert!(end_attempt(&mut j, Ending::Unavailable, "data set transfer failed", 3));
            assert_eq!(j.failures, 0, "a fleet failure is not an attempt");
            assert_eq!(retry_delay(&j, Ending::Unavailable), Duration::from_secs((1u64 << (n - 1).min(6)).min(60)));
        }
        j.lease("w", now, Duration::from_secs(1));
        assert!(!end_attempt(&mut j, Ending::Unavailable, "data set transfer failed", 3));
        assert!(matches!(&j.state, JobState::Failed { reason, .. } if reason.contains("20 times in a row")));
    }

    #[test]
    fn retries_wait_longer_after_each_failure_and_releases_not_at_all() {
        let mut j = job();
        let now = Instant::now();
        j.lease("w", now, Duration::from_secs(1));
        end_attempt(&mut j, Ending::Retryable, "crashed", 5);
        assert_eq!(retry_delay(&j, Ending::Retryable), Duration::from_secs(1));
        j.lease("w", now, Duration::from_secs(1));
        end_attempt(&mut j, Ending::Expired, "lease expired", 5);
        assert_eq!(retry_delay(&j, Ending::Expired), Duration::from_secs(2));
        assert_eq!(retry_delay(&j, Ending::Released), Duration::ZERO);
        // A job's own failure ends a run of fleet failures.
        assert_eq!(j.interruptions, 0);
    }

    #[test]
    fn attempts_are_numbered_and_never_reused() {
        let mut j = job();
        let now = Instant::now();
        assert_eq!(j.lease("w1", now, Duration::from_secs(1)), Some(1));
        assert_eq!(j.lease("w2", now, Duration::from_secs(1)), None, "a leased job is not leased twice");
        assert!(end_attempt(&mut j, Ending::Expired, "lease expired", 3));
        assert_eq!(j.lease("w2", now, Duration::from_secs(1)), Some(2));
        assert!(end_attempt(&mut j, Ending::Released, "shutting down", 3));
        assert_eq!(j.failures, 1, "a release is not a failure");
        assert_eq!(j.lease("w3", now, Duration::from_secs(1)), Some(3));
    }

    #[test]
    fn results_from_superseded_attempts_are_refused() {
        let mut j = job();
        let now = Instant::now();
        j.lease("w1", now, Duration::from_secs(1));
        end_attempt(&mut j, Ending::Expired, "lease expired", 3);
        // Attempt 1 expired but nobody took the job again: its result counts.
        assert_eq!(j.check_result(1), Ok(()));
        j.lease("w2", now, Duration::from_secs(1));
        assert!(matches!(j.check_result(1), Err(Refusal::Superseded { attempt: 1, current: 2, .. })));
        j.begin_complete(2).unwrap();
        assert_eq!(j.check_result(2), Err(Refusal::InProgress));
        j.finish_complete();
        assert!(matches!(j.state, JobState::Succeeded { attempt: 2 }));
        assert_eq!(j.check_result(2), Err(Refusal::Finished { state: "succeeded" }));
    }

    #[test]
    fn failures_are_final_after_max_attempts_or_when_fatal() {
        let mut j = job();
        let now = Instant::now();
        for _ in 0..2 {
            j.lease("w", now, Duration::from_secs(1));
            assert!(end_attempt(&mut j, Ending::Retryable, "out of memory", 3));
        }
        j.lease("w", now, Duration::from_secs(1));
        assert!(!end_attempt(&mut j, Ending::Retryable, "out of memory", 3));
        assert!(
            matches!(&j.state, JobState::Failed { fatal: false, reason } if reason.contains("attempt 3 of at most 3"))
        );

        let mut j = job();
        j.lease("w", now, Duration::from_secs(1));
        assert!(!end_attempt(&mut j, Ending::Fatal, "diverged", 3));
        assert!(matches!(j.state, JobState::Failed { fatal: true, .. }));
    }

    #[test]
    fn a_failed_commit_restores_the_lease() {
        let mut j = job();
        j.lease("w", Instant::now(), Duration::from_secs(1));
        j.begin_complete(1).unwrap();
        assert!(!j.abort_complete());
        assert!(matches!(j.state, JobState::Leased(ref l) if l.attempt == 1));
    }
}
