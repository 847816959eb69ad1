//! Running one assignment: data set, a training thread, heartbeats, and the
//! report of how it ended.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use intervene_proto::JobSpec;
use intervene_proto::pb;
use tonic::Code;

use super::client::Backoff;
use super::trainer::{FailureKind, TrainError};
use super::{Agent, AgentError, stopped};

/// How long a stopping agent waits for the trainer to notice the request.
const STOP_GRACE: Duration = Duration::from_secs(20);
/// Tries for a failure report before leaving the lease to expire.
const FAIL_TRIES: usize = 5;

/// Why the coordinator told us to stop, if it did.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Stop {
    /// Study cancelled: give the lease back.
    Cancelled(String),
    /// Another attempt owns the job now: say nothing more about this one.
    Superseded(String),
}

impl Agent {
    pub(super) async fn run_job(&mut self, a: pb::JobAssignment) -> Result<(), AgentError> {
        tracing::info!(study = %a.study, version = a.study_version, job = %a.job_id, attempt = a.attempt, "job leased");
        let spec = match JobSpec::from_json(&a.spec_json) {
            Ok(s) => s,
            Err(e) => {
                let err = TrainError::fatal(format!("spec_json does not parse as a JobSpec: {e}"));
                return self.report_failure(&a, &err).await;
            }
        };
        let Some(dataset) = self.fetch_dataset(&a).await? else { return Ok(()) };

        let cancel = Arc::new(AtomicBool::new(false));
        let latest: Arc<Mutex<Option<pb::Progress>>> = Arc::new(Mutex::new(None));
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        {
            let (trainer, cancel, latest) = (self.trainer.clone(), cancel.clone(), latest.clone());
            let device = self.cfg.device.clone();
            let thread = std::thread::Builder::new().name(format!("train-{}", &a.job_id[..8.min(a.job_id.len())]));
            let spawned = thread.spawn(move || {
                let mut report = |p: pb::Progress| *latest.lock().unwrap_or_else(|e| e.into_inner()) = Some(p);
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    trainer.train(&spec, &device, &dataset, &mut report, &cancel)
                }))
                .unwrap_or_else(|panic| {
                    let what = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    Err(TrainError::retryable(format!("the trainer panicked: {what}")))
                });
                let _ = tx.send(outcome);
            });
            if let Err(e) = spawned {
                return self
                    .report_failure(&a, &TrainError::retryable(format!("cannot start a training thread: {e}")))
                    .await;
            }
        }

        let mut stop: Option<Stop> = None;
        let mut tick = tokio::time::interval(self.heartbeat);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut shutdown = self.shutdown.clone();
        let mut grace: Option<tokio::time::Instant> = None;
        let outcome = loop {
            let deadline = grace.unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(86400 * 365));
            tokio::select! {
                r = &mut rx => break r.unwrap_or_else(|_| Err(TrainError::retryable("the training thread ended without an answer"))),
                _ = tick.tick() => {
                    if let Some(s) = self.heartbeat_once(&a, &latest).await? && stop.is_none() {
                        tracing::warn!(job = %a.job_id, reason = ?s, "the coordinator asked to stop this attempt");
                        cancel.store(true, Ordering::Relaxed);
                        stop = Some(s);
                    }
                }
                _ = stopped(&mut shutdown), if grace.is_none() => {
                    tracing::info!(job = %a.job_id, "stopping: asking the trainer to stop");
                    cancel.store(true, Ordering::Relaxed);
                    grace = Some(tokio::time::Instant::now() + STOP_GRACE);
                }
                _ = tokio::time::sleep_until(deadline), if grace.is_some() => {
                    tracing::warn!(job = %a.job_id, "the trainer did not stop in time; giving the lease back");
                    break Err(TrainError::cancelled());
                }
            }
        };

        match outcome {
            Ok(result) => {
                let req = pb::CompleteRequest {
                    worker_id: self.worker_id.clone(),
                    job_id: a.job_id.clone(),
                    attempt: a.attempt,
                    result: Some(self.with_capabilities(result)),
                    study: a.study.clone(),
                    study_version: a.study_version,
                };
                self.send_result(req).await
            }
            Err(_) if matches!(stop, Some(Stop::Superseded(_))) => {
                tracing::info!(job = %a.job_id, attempt = a.attempt, "attempt superseded; dropped");
                Ok(())
            }
            Err(e) => self.report_failure(&a, &e).await,
        }
    }

    /// The job's data set, from the cache or fetched from the coordinator;
    /// None when the attempt ended meanwhile (reported, or dropped when
    /// another attempt owns the job).
    async fn fetch_dataset(&mut self, a: &pb::JobAssignment) -> Result<Option<std::path::PathBuf>, AgentError> {
        // The transfer can take longer than a lease: heartbeats keep the
        // lease while it runs. A transfer that fails is the fleet's failure,
        // not the job's: reported as unavailable, it uses no attempt.
        let dataset = {
            let mut client = self.client.clone();
            let fetch = self.cache.ensure(&mut client, &a.dataset_hash, a.dataset_bytes);
            tokio::pin!(fetch);
            let preparing = Mutex::new(Some(pb::Progress {
                phase: pb::Phase::Preparing as i32,
                valid_loss: f64::NAN,
                ..Default::default()
            }));
            let mut tick = tokio::time::interval(self.heartbeat);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut shutdown = self.shutdown.clone();
            loop {
                tokio::select! {
                    r = &mut fetch => break Ok(r),
                    _ = tick.tick() => {
                        if let Some(s) = self.heartbeat_once(a, &preparing).await? {
                            break Err(Some(s));
                        }
                    }
                    _ = stopped(&mut shutdown) => break Err(None),
                }
            }
        };
        match dataset {
            Ok(Ok(p)) => Ok(Some(p)),
            Ok(Err(e)) => self.report_failure(a, &TrainError::unavailable(e.to_string())).await.map(|()| None),
            Err(Some(Stop::Superseded(reason))) => {
                tracing::info!(job = %a.job_id, attempt = a.attempt, %reason, "attempt superseded while fetching its data; dropped");
                Ok(None)
            }
            // Cancelled by the coordinator, or this agent is stopping.
            Err(_) => self.report_failure(a, &TrainError::cancelled()).await.map(|()| None),
        }
    }

    /// The result as the coordinator records it: the worker's capabilities,
    /// with what the job process itself reported about how it ran (its
    /// thread count and determinism).
    fn with_capabilities(&self, mut result: pb::JobResult) -> pb::JobResult {
        let job = result.ran_on.take().unwrap_or_default();
        let mut ran_on = self.capabilities.clone();
        if job.cpu_threads > 0 {
            ran_on.cpu_threads = job.cpu_threads;
        }
        ran_on.determinism = job.determinism;
        result.ran_on = Some(ran_on);
        result
    }

    /// One heartbeat; Some when the coordinator wants the attempt stopped.
    async fn heartbeat_once(
        &self,
        a: &pb::JobAssignment,
        latest: &Mutex<Option<pb::Progress>>,
    ) -> Result<Option<Stop>, AgentError> {
        let progress = *latest.lock().unwrap_or_else(|e| e.into_inner());
        let req = pb::HeartbeatRequest {
            worker_id: self.worker_id.clone(),
            job_id: a.job_id.clone(),
            attempt: a.attempt,
            progress,
            study: a.study.clone(),
            study_version: a.study_version,
        };
        match self.client.clone().heartbeat(req).await {
            Ok(r) => {
                let r = r.into_inner();
                Ok(r.cancel.then(|| {
                    if r.reason.contains("cancelled") { Stop::Cancelled(r.reason) } else { Stop::Superseded(r.reason) }
                }))
            }
            // The coordinator forgot the job or this worker: nobody wants
            // this attempt any more.
            Err(s) if s.code() == Code::NotFound => Ok(Some(Stop::Superseded(s.message().to_string()))),
            Err(s) => {
                self.transient_or_fatal(s)?;
                Ok(None)
            }
        }
    }

    /// Fail the attempt on the coordinator: retryable, fatal, or released
    /// (cancelled or shutting down; not counted as a failure).
    async fn report_failure(&mut self, a: &pb::JobAssignment, e: &TrainError) -> Result<(), AgentError> {
        let kind = match e.kind {
            FailureKind::Retryable => pb::FailureKind::Retryable,
            FailureKind::Fatal => pb::FailureKind::Fatal,
            FailureKind::Cancelled => pb::FailureKind::Released,
            FailureKind::Unavailable => pb::FailureKind::Unavailable,
        };
        match kind {
            pb::FailureKind::Released | pb::FailureKind::Unavailable => self.summary.released += 1,
            _ => self.summary.failed += 1,
        }
        tracing::warn!(job = %a.job_id, attempt = a.attempt, kind = ?kind, reason = %e.message, "job ended without a result");
        let req = pb::FailRequest {
            worker_id: self.worker_id.clone(),
            job_id: a.job_id.clone(),
            attempt: a.attempt,
            kind: kind as i32,
            reason: e.message.chars().take(4000).collect(),
            study: a.study.clone(),
            study_version: a.study_version,
        };
        let mut backoff = Backoff::new(self.cfg.max_backoff);
        for _ in 0..FAIL_TRIES {
            match self.client.fail(req.clone()).await {
                Ok(_) => return Ok(()),
                Err(s) if s.code() == Code::NotFound => return Ok(()),
                Err(s) => {
                    self.transient_or_fatal(s)?;
                    if self.stopping() {
                        break;
                    }
                    let d = backoff.delay();
                    self.pause(d).await;
                }
            }
        }
        tracing::warn!(job = %a.job_id, "could not report the failure; the lease will expire instead");
        Ok(())
    }
}
