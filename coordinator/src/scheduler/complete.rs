//! Recording a result: the ledger commit first (the Complete call is
//! answered once it is durable), then the result tables, after which the job
//! counts as succeeded.

use std::sync::Arc;

use intervene_proto::pb;
use prost::Message;
use tokio::time::Instant;

use super::job::Refusal;
use super::state::JobRef;
use super::{Result, SchedError, Scheduler};
use crate::results::batch::FinishedJob;
use crate::store::{Write, now_ms};

impl Scheduler {
    /// Record the result of an attempt. Acknowledged once the ledger commit
    /// is durable; the job counts as succeeded when its table rows are
    /// written too, so a finished study has all its files.
    pub async fn complete(
        self: &Arc<Self>,
        worker_id: &str,
        study: &str,
        version: u32,
        job_id: &str,
        attempt: u32,
        result: pb::JobResult,
    ) -> Result<pb::CompleteResponse> {
        let (r, worker_name, started) = {
            let mut st = self.lock();
            // A worker restarted with a new id may resend a result it kept on
            // disk; (job, attempt) identifies the result, not the worker id.
            let _ = Self::seen(&mut st, worker_id);
            let r = Self::find_job(&st, study, version, job_id)?;
            let job = st.job_mut(r);
            if job.recorded_attempt() == Some(attempt) {
                return Ok(pb::CompleteResponse {
                    accepted: true,
                    duplicate: true,
                    message: "already recorded".into(),
                });
            }
            let started = job.state().lease().map(|l| l.leased_at);
            match job.begin_complete(attempt) {
                Ok(()) => {}
                Err(Refusal::InProgress) => return Err(SchedError::Unavailable(Refusal::InProgress.to_string())),
                Err(refusal) => {
                    tracing::warn!(study, version, job_id, attempt, worker_id, %refusal, "result refused");
                    return Ok(pb::CompleteResponse {
                        accepted: false,
                        duplicate: false,
                        message: refusal.to_string(),
                    });
                }
            }
            let worker_name = st.workers.get(worker_id).map_or_else(|| worker_id.to_string(), |w| w.name.clone());
            (r, worker_name, started)
        };
        // The rest runs in its own task: a client that hangs up must not
        // leave the job parked in Completing.
        let this = self.clone();
        let (study, job_id, worker_id) = (study.to_string(), job_id.to_string(), worker_id.to_string());
        tokio::spawn(async move {
            this.finish_complete(r, study, version, job_id, attempt, worker_id, worker_name, started, result).await
        })
        .await
        .map_err(|e| SchedError::Internal(format!("recording the result: {e}")))?
    }

    #[allow(clippy::too_many_arguments)]
    async fn finish_complete(
        self: Arc<Self>,
        r: JobRef,
        study: String,
        version: u32,
        job_id: String,
        attempt: u32,
        worker_id: String,
        worker_name: String,
        started: Option<Instant>,
        result: pb::JobResult,
    ) -> Result<pb::CompleteResponse> {
        let finished_at_ms = now_ms();
        let write = Write::Result {
            study: study.clone(),
            version,
            job_id: job_id.clone(),
            attempt,
            worker_id,
            finished_at_ms,
            result: result.encode_to_vec(),
            has_attention: !result.attention.is_empty(),
            reused_from: None,
        };
        if let Err(e) = self.writer.commit(vec![write]).await {
            let mut st = self.lock();
            if st.job_mut(r).abort_complete() {
                self.enqueue(&mut st, r, true);
            }
            return Err(SchedError::Unavailable(format!("the result could not be recorded: {e}")));
        }
        let (plan, arms) = {
            let mut st = self.lock();
            st.job_mut(r).result_recorded();
            let s = &st.studies[r.0];
            (s.plan.clone(), s.arm_refs(r.1))
        };
        let finished = FinishedJob {
            dir: self.state_dir.join(intervene_proto::tables::results_dir(&study, version)),
            study: study.clone(),
            study_version: version,
            plan,
            job: r.1,
            arms,
            attempt,
            worker: worker_name.clone(),
            result,
            finished_at_ms,
        };
        let this = self.clone();
        self.tables.submit(
            finished,
            Box::new(move |written| {
                if let Err(e) = written {
                    // The ledger has the result; a restart writes the files.
                    tracing::error!(%study, %job_id, error = %e, "writing the result tables");
                }
                {
                    let mut st = this.lock();
                    st.job_mut(r).finish_complete();
                    let s = &mut st.studies[r.0];
                    if let Some(t) = started {
                        s.done_seconds += t.elapsed().as_secs_f64();
                        s.done_count += 1;
                    }
                }
                tracing::info!(%study, version, %job_id, attempt, worker = %worker_name, "result recorded");
                this.bump();
            }),
        );
        Ok(pb::CompleteResponse { accepted: true, duplicate: false, message: "recorded".into() })
    }
}
