//! The fleet worker: a pull loop against the coordinator.
//!
//! ```text
//! register (capabilities) --> resend kept results --> loop:
//!   Lease (long-poll) --> fetch the data set by hash (cached, verified)
//!     --> train on a dedicated thread, heartbeat every few seconds
//!     --> Complete (result kept on disk until acknowledged) | Fail(kind)
//! ```
//!
//! When the coordinator is away every call is retried with back-off and the
//! training in progress carries on; a finished result waits on disk and is
//! resent, also by the next start of the agent. On shutdown (SIGTERM) the
//! training is asked to stop and the lease is given back with
//! Fail(RELEASED), so the job runs again elsewhere without counting as a
//! failure.
//!
//! - [`trainer`]: the [`Trainer`] trait, and `FakeTrainer` for fleet tests.
//! - [`real`]: the libtorch trainer, [`crate::run_job`]; the fleet runs it
//!   in a process per job ([`crate::isolate::ProcessTrainer`]).
//! - [`client`]: connection, TLS, token, back-off.
//! - [`cache`]: data sets by content hash.
//! - [`pending`]: unacknowledged results on disk.
//! - [`capabilities`]: what the worker reports about itself.
//! - [`job`]: running one assignment.
//! - [`sharing`]: several agents on one GPU (`--jobs-per-gpu`).

pub mod cache;
pub mod capabilities;
pub mod client;
mod job;
pub mod pending;
pub mod real;
pub mod sharing;
pub mod trainer;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use intervene_proto::pb;
use tokio::sync::watch;
use tonic::Code;

pub use client::Connection;
pub use trainer::{FailureKind, TrainError, Trainer};
#[cfg(feature = "fake-train")]
pub use trainer::{FakeTrainer, fake_bleu};

use cache::DatasetCache;
use client::{Backoff, Client, is_transient};
use pending::Pending;
use sharing::{Decision, GpuShare};

#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub connection: Connection,
    /// The name the operator sees in `intervene status`.
    pub name: String,
    /// "cpu" or "cuda:N".
    pub device: String,
    /// Where data sets are cached (may be shared by several agents).
    pub cache_dir: PathBuf,
    /// Where this agent keeps unacknowledged results (one per agent).
    pub pending_dir: PathBuf,
    /// How long one Lease call may wait for a job.
    pub lease_wait: Duration,
    /// The longest pause between retries when the coordinator is away.
    pub max_backoff: Duration,
    /// The GPU this agent shares with others (`--jobs-per-gpu`), and whether
    /// it is the one whose first job is measured.
    pub share: Option<(Arc<GpuShare>, bool)>,
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("the coordinator refused the token: {0}")]
    Unauthenticated(String),
    #[error(transparent)]
    Connect(#[from] client::ConnectError),
    #[error("the coordinator refused a request: {0}")]
    Refused(tonic::Status),
    #[error("{0}")]
    Local(String),
}

/// The trainer the fleet uses: every job in a process of its own (the
/// `intervene` binary at `program`), with `threads` torch threads (torch's
/// default when `None`).
pub fn process_trainer(program: PathBuf, threads: Option<usize>) -> Arc<dyn Trainer> {
    Arc::new(crate::isolate::ProcessTrainer::new(program, threads))
}

/// What an agent did before it stopped.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub completed: u32,
    pub failed: u32,
    pub released: u32,
}

pub(crate) struct Agent {
    cfg: AgentConfig,
    trainer: Arc<dyn Trainer>,
    client: Client,
    worker_id: String,
    heartbeat: Duration,
    capabilities: pb::Capabilities,
    cache: DatasetCache,
    pending: Pending,
    shutdown: watch::Receiver<bool>,
    summary: Summary,
}

/// Run an agent until `shutdown` becomes true. Returns an error only for
/// what retrying cannot fix (a refused token, a malformed request).
pub async fn run(
    cfg: AgentConfig,
    trainer: Arc<dyn Trainer>,
    shutdown: watch::Receiver<bool>,
) -> Result<Summary, AgentError> {
    // An agent sharing a GPU starts once the device's first job showed
    // that the jobs fit.
    if let Some((share, false)) = &cfg.share {
        let mut stop = shutdown.clone();
        let decision = tokio::select! {
            d = share.wait() => d,
            _ = stopped(&mut stop) => return Ok(Summary::default()),
        };
        if let Decision::Refused(e) = decision {
            return Err(AgentError::Local(e));
        }
    }
    let client = cfg.connection.client()?;
    let capabilities = capabilities::detect(&cfg.device);
    let mut agent = Agent {
        cache: DatasetCache::new(cfg.cache_dir.clone()),
        pending: Pending::new(cfg.pending_dir.clone()),
        cfg,
        trainer,
        client,
        worker_id: String::new(),
        heartbeat: Duration::from_secs(5),
        capabilities,
        shutdown,
        summary: Summary::default(),
    };
    if !agent.register().await? {
        return Ok(agent.summary);
    }
    agent.resend_pending().await?;
    let mut backoff = Backoff::new(agent.cfg.max_backoff);
    while !agent.stopping() {
        let request =
            pb::LeaseRequest { worker_id: agent.worker_id.clone(), wait_ms: agent.cfg.lease_wait.as_millis() as u32 };
        let mut client = agent.client.clone();
        let mut shutdown = agent.shutdown.clone();
        // Stopping while idle abandons the poll; a job handed out at that
        // very moment expires on the coordinator and runs again.
        let answer = tokio::select! {
            a = client.lease(request) => a,
            _ = stopped(&mut shutdown) => break,
        };
        match answer {
            Ok(resp) => {
                backoff.reset();
                if let Some(job) = resp.into_inner().job {
                    agent.run_measured_job(job).await?;
                }
            }
            Err(s) if s.code() == Code::NotFound => {
                tracing::warn!(error = %s.message(), "the coordinator does not know this worker; registering again");
                if !agent.register().await? {
                    break;
                }
            }
            Err(s) => {
                agent.transient_or_fatal(s)?;
                agent.pause(backoff.delay()).await;
            }
        }
    }
    tracing::info!(worker = %agent.worker_id, summary = ?agent.summary, "agent stopped");
    Ok(agent.summary)
}

impl Agent {
    /// A job; on the first agent of a shared GPU, measured until one job
    /// has decided how many fit.
    async fn run_measured_job(&mut self, job: pb::JobAssignment) -> Result<(), AgentError> {
        let share = match &self.cfg.share {
            Some((share, true)) if share.decision() == Decision::Measuring => share.clone(),
            _ => return self.run_job(job).await,
        };
        share.job_starts();
        let sampler = tokio::spawn({
            let share = share.clone();
            async move {
                loop {
                    tokio::time::sleep(share.sample_every).await;
                    let s = share.clone();
                    let _ = tokio::task::spawn_blocking(move || s.sample()).await;
                }
            }
        });
        let completed = self.summary.completed;
        let outcome = self.run_job(job).await;
        sampler.abort();
        outcome?;
        match share.job_ended(self.summary.completed > completed) {
            Decision::Refused(e) => Err(AgentError::Local(e)),
            _ => Ok(()),
        }
    }

    fn stopping(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Sleep, cut short by shutdown.
    async fn pause(&mut self, d: Duration) {
        let mut shutdown = self.shutdown.clone();
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = stopped(&mut shutdown) => {}
        }
    }

    /// Ok for a transient error (the caller retries), the agent's error otherwise.
    fn transient_or_fatal(&self, s: tonic::Status) -> Result<(), AgentError> {
        if s.code() == Code::Unauthenticated {
            return Err(AgentError::Unauthenticated(s.message().to_string()));
        }
        if is_transient(&s) {
            tracing::warn!(code = ?s.code(), error = %s.message(), "coordinator unreachable; retrying");
            return Ok(());
        }
        Err(AgentError::Refused(s))
    }

    /// Register, retrying while the coordinator is away; false when asked to
    /// stop first.
    async fn register(&mut self) -> Result<bool, AgentError> {
        let mut backoff = Backoff::new(self.cfg.max_backoff);
        loop {
            if self.stopping() {
                return Ok(false);
            }
            let req =
                pb::RegisterRequest { name: self.cfg.name.clone(), capabilities: Some(self.capabilities.clone()) };
            match self.client.register(req).await {
                Ok(r) => {
                    let r = r.into_inner();
                    self.worker_id = r.worker_id;
                    self.heartbeat = Duration::from_millis(r.heartbeat_interval_ms.max(100) as u64);
                    tracing::info!(worker = %self.worker_id, name = %self.cfg.name, device = %self.cfg.device, "registered");
                    return Ok(true);
                }
                Err(s) => {
                    self.transient_or_fatal(s)?;
                    let d = backoff.delay();
                    self.pause(d).await;
                }
            }
        }
    }

    /// Send every result kept on disk by an earlier run.
    async fn resend_pending(&mut self) -> Result<(), AgentError> {
        for mut req in self.pending.load() {
            tracing::info!(study = %req.study, job = %req.job_id, attempt = req.attempt, "resending a kept result");
            req.worker_id = self.worker_id.clone();
            self.send_result(req).await?;
        }
        Ok(())
    }

    /// Deliver a result: kept on disk first, removed once the coordinator
    /// answered (accepted, duplicate or refused as superseded).
    async fn send_result(&mut self, req: pb::CompleteRequest) -> Result<(), AgentError> {
        if let Err(e) = self.pending.save(&req) {
            tracing::error!(error = %e, "cannot keep the result on disk; sending it anyway");
        }
        // No longer than a heartbeat between tries: until the result is
        // recorded the lease lives on these calls, and a coordinator that
        // just restarted expires leases it does not hear from.
        let mut backoff = Backoff::new(self.cfg.max_backoff.min(self.heartbeat));
        loop {
            match self.client.complete(req.clone()).await {
                Ok(r) => {
                    let r = r.into_inner();
                    if r.accepted {
                        self.summary.completed += 1;
                        tracing::info!(job = %req.job_id, attempt = req.attempt, duplicate = r.duplicate, "result recorded");
                    } else {
                        tracing::warn!(job = %req.job_id, attempt = req.attempt, reason = %r.message, "result refused");
                    }
                    self.pending.remove(&req);
                    return Ok(());
                }
                Err(s) if matches!(s.code(), Code::NotFound | Code::InvalidArgument) => {
                    tracing::error!(job = %req.job_id, error = %s.message(), "the coordinator cannot take this result; dropping it");
                    self.pending.remove(&req);
                    return Ok(());
                }
                Err(s) => {
                    self.transient_or_fatal(s)?;
                    if self.stopping() {
                        tracing::warn!(job = %req.job_id, "stopping with an unacknowledged result; it is kept on disk");
                        return Ok(());
                    }
                    let d = backoff.delay();
                    self.pause(d).await;
                }
            }
        }
    }
}

/// Resolves once shutdown is asked for. The borrow of the watch value is
/// dropped inside, so the futures awaiting this stay `Send`.
pub(crate) async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}
