//! The gRPC service: `proto/intervene.proto` on top of the scheduler.
//!
//! Handlers validate every field ([`validate`]), call the scheduler, and
//! map its errors to status codes: a malformed field is InvalidArgument, an
//! unknown study, job or worker NotFound, an edited resubmission
//! FailedPrecondition (with the diff), a ledger problem Unavailable.
//!
//! - [`auth`]: bearer tokens.
//! - [`server`]: TLS, message size limits, connection limits, serving.

pub mod auth;
pub mod server;
pub mod validate;

use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use intervene_proto::pb;
use intervene_proto::pb::coordinator_server::Coordinator;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::datasets::Datasets;
use crate::scheduler::job::Ending;
use crate::scheduler::studies::NewStudy;
use crate::scheduler::{SchedError, Scheduler};

/// Bytes per FetchDataset chunk.
pub const CHUNK_BYTES: usize = 1 << 20;
/// The most status updates a watcher gets per second.
const WATCH_MIN_INTERVAL: Duration = Duration::from_millis(250);

pub struct CoordinatorService {
    pub scheduler: Arc<Scheduler>,
    pub datasets: Arc<Datasets>,
}

pub fn status_of(e: SchedError) -> Status {
    match e {
        SchedError::InvalidArgument { field, message } => Status::invalid_argument(format!("{field}: {message}")),
        SchedError::NotFound(m) => Status::not_found(m),
        SchedError::FailedPrecondition(m) => Status::failed_precondition(m),
        SchedError::Unavailable(m) => Status::unavailable(m),
        SchedError::Internal(m) => Status::internal(m),
    }
}

type StatusStream = Pin<Box<dyn Stream<Item = Result<pb::StudyStatus, Status>> + Send>>;
type ChunkStream = Pin<Box<dyn Stream<Item = Result<pb::DatasetChunk, Status>> + Send>>;

#[tonic::async_trait]
impl Coordinator for CoordinatorService {
    async fn register(&self, req: Request<pb::RegisterRequest>) -> Result<Response<pb::RegisterResponse>, Status> {
        let r = req.into_inner();
        validate::text("name", &r.name, true)?;
        validate::capabilities(r.capabilities.as_ref())?;
        let caps = r.capabilities.unwrap_or_default();
        let worker_id = self.scheduler.register(r.name, caps).await.map_err(status_of)?;
        let o = self.scheduler.options();
        Ok(Response::new(pb::RegisterResponse {
            worker_id,
            heartbeat_interval_ms: o.heartbeat_interval.as_millis() as u32,
            lease_ttl_ms: o.lease_ttl.as_millis() as u32,
        }))
    }

    async fn lease(&self, req: Request<pb::LeaseRequest>) -> Result<Response<pb::LeaseResponse>, Status> {
        let r = req.into_inner();
        validate::worker_id(&r.worker_id)?;
        validate::wait_ms(r.wait_ms)?;
        let job =
            self.scheduler.lease(&r.worker_id, Duration::from_millis(r.wait_ms as u64)).await.map_err(status_of)?;
        Ok(Response::new(pb::LeaseResponse { job }))
    }

    async fn heartbeat(&self, req: Request<pb::HeartbeatRequest>) -> Result<Response<pb::HeartbeatResponse>, Status> {
        let r = req.into_inner();
        validate::job_attempt(&r.worker_id, &r.study, r.study_version, &r.job_id, r.attempt)?;
        validate::progress(r.progress.as_ref())?;
        let resp = self
            .scheduler
            .heartbeat(&r.worker_id, &r.study, r.study_version, &r.job_id, r.attempt, r.progress)
            .map_err(status_of)?;
        Ok(Response::new(resp))
    }

    async fn complete(&self, req: Request<pb::CompleteRequest>) -> Result<Response<pb::CompleteResponse>, Status> {
        let r = req.into_inner();
        validate::job_attempt(&r.worker_id, &r.study, r.study_version, &r.job_id, r.attempt)?;
        validate::result(r.result.as_ref())?;
        let result = r.result.unwrap_or_default();
        let resp = self
            .scheduler
            .complete(&r.worker_id, &r.study, r.study_version, &r.job_id, r.attempt, result)
            .await
            .map_err(status_of)?;
        Ok(Response::new(resp))
    }

    async fn fail(&self, req: Request<pb::FailRequest>) -> Result<Response<pb::FailResponse>, Status> {
        let r = req.into_inner();
        validate::job_attempt(&r.worker_id, &r.study, r.study_version, &r.job_id, r.attempt)?;
        validate::text("reason", &r.reason, false)?;
        let ending = match validate::failure_kind(r.kind)? {
            pb::FailureKind::Retryable => Ending::Retryable,
            pb::FailureKind::Fatal => Ending::Fatal,
            pb::FailureKind::Unavailable => Ending::Unavailable,
            _ => Ending::Released,
        };
        let resp = self
            .scheduler
            .fail(&r.worker_id, &r.study, r.study_version, &r.job_id, r.attempt, ending, &r.reason)
            .map_err(status_of)?;
        Ok(Response::new(resp))
    }

    async fn submit_study(
        &self,
        req: Request<pb::SubmitStudyRequest>,
    ) -> Result<Response<pb::SubmitStudyResponse>, Status> {
        let r = req.into_inner();
        if r.spec_toml.trim().is_empty() {
            return Err(validate::invalid("spec_toml", "is empty"));
        }
        if r.spec_toml.len() > validate::MAX_SPEC_BYTES {
            return Err(validate::invalid(
                "spec_toml",
                format!(
                    "is {} bytes; study files of at most {} bytes are accepted",
                    r.spec_toml.len(),
                    validate::MAX_SPEC_BYTES
                ),
            ));
        }
        validate::text("file_name", &r.file_name, true)?;
        validate::text("base_dir", &r.base_dir, true)?;
        let base_dir = Path::new(&r.base_dir);
        if !base_dir.is_absolute() {
            return Err(validate::invalid(
                "base_dir",
                format!("{} is not an absolute path on the coordinator's machine", validate::shown(&r.base_dir)),
            ));
        }
        if !base_dir.is_dir() {
            return Err(validate::invalid(
                "base_dir",
                format!("{} is not a directory on the coordinator's machine", validate::shown(&r.base_dir)),
            ));
        }
        // The errors are already `error: FILE:LINE: ...` lines naming the
        // submitted file: a header in front would make the CLI print
        // `error: ...` twice at the top.
        let study = crate::spec::parse(&r.spec_toml, &r.file_name, base_dir)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let plan = crate::plan::plan(&study).map_err(|e| Status::invalid_argument(e.to_string()))?;
        // Run in its own task: a client that hangs up mid-submission must not
        // abandon a half-materialised data set or a half-recorded study.
        let (scheduler, datasets) = (self.scheduler.clone(), self.datasets.clone());
        let task = tokio::spawn(async move {
            let data = datasets
                .materialise(&plan, Path::new(&r.base_dir))
                .await
                .map_err(|e| Status::invalid_argument(format!("spec_toml ({}): {e}", r.file_name)))?;
            let new = NewStudy {
                spec_toml: r.spec_toml,
                file_name: r.file_name,
                base_dir: r.base_dir,
                plan,
                dataset_hash: data.hash,
                dataset_bytes: data.bytes,
            };
            scheduler.submit(new, r.new_version).await.map_err(status_of)
        });
        let resp = task.await.map_err(|e| Status::internal(format!("submission task: {e}")))??;
        Ok(Response::new(resp))
    }

    async fn get_study(&self, req: Request<pb::GetStudyRequest>) -> Result<Response<pb::StudyStatus>, Status> {
        let r = req.into_inner();
        validate::study_ref(&r.study)?;
        Ok(Response::new(self.scheduler.status(&r.study).map_err(status_of)?))
    }

    async fn list_jobs(&self, req: Request<pb::GetStudyRequest>) -> Result<Response<pb::ListJobsResponse>, Status> {
        let r = req.into_inner();
        validate::study_ref(&r.study)?;
        Ok(Response::new(self.scheduler.jobs(&r.study).map_err(status_of)?))
    }

    async fn retry_study(
        &self,
        req: Request<pb::GetStudyRequest>,
    ) -> Result<Response<pb::SubmitStudyResponse>, Status> {
        let r = req.into_inner();
        validate::study_ref(&r.study)?;
        Ok(Response::new(self.scheduler.retry(&r.study).await.map_err(status_of)?))
    }

    async fn list_studies(
        &self,
        _req: Request<pb::ListStudiesRequest>,
    ) -> Result<Response<pb::ListStudiesResponse>, Status> {
        Ok(Response::new(pb::ListStudiesResponse { studies: self.scheduler.list() }))
    }

    type WatchStudyStream = StatusStream;

    async fn watch_study(&self, req: Request<pb::GetStudyRequest>) -> Result<Response<StatusStream>, Status> {
        let r = req.into_inner();
        validate::study_ref(&r.study)?;
        let first = self.scheduler.status(&r.study).map_err(status_of)?;
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let scheduler = self.scheduler.clone();
        let mut changes = scheduler.subscribe();
        tokio::spawn(async move {
            let mut last = first;
            if tx.send(Ok(last.clone())).await.is_err() {
                return;
            }
            while last.state == "running" {
                tokio::select! {
                    changed = changes.changed() => if changed.is_err() { return },
                    _ = tx.closed() => return,
                }
                tokio::time::sleep(WATCH_MIN_INTERVAL).await;
                let Ok(now) = scheduler.status(&r.study) else { return };
                if now != last {
                    if tx.send(Ok(now.clone())).await.is_err() {
                        return;
                    }
                    last = now;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn cancel_study(
        &self,
        req: Request<pb::CancelStudyRequest>,
    ) -> Result<Response<pb::CancelStudyResponse>, Status> {
        let r = req.into_inner();
        validate::study_ref(&r.study)?;
        Ok(Response::new(self.scheduler.cancel(&r.study).await.map_err(status_of)?))
    }

    type FetchDatasetStream = ChunkStream;

    async fn fetch_dataset(&self, req: Request<pb::FetchDatasetRequest>) -> Result<Response<ChunkStream>, Status> {
        let r = req.into_inner();
        validate::dataset_hash(&r.dataset_hash)?;
        let path = self.datasets.path(&r.dataset_hash);
        let mut file = tokio::fs::File::open(&path)
            .await
            .map_err(|_| Status::not_found(format!("dataset_hash: no data set {} here", r.dataset_hash)))?;
        let total = file.metadata().await.map_err(|e| Status::internal(format!("{}: {e}", path.display())))?.len();
        if r.offset > total {
            return Err(validate::invalid("offset", format!("{} is beyond the data set's {total} bytes", r.offset)));
        }
        file.seek(std::io::SeekFrom::Start(r.offset)).await.map_err(|e| Status::internal(e.to_string()))?;
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        tokio::spawn(async move {
            let mut offset = r.offset;
            loop {
                let mut buf = vec![0u8; CHUNK_BYTES];
                let n = match file.read(&mut buf).await {
                    Ok(n) => n,
                    Err(e) => {
                        let _ = tx.send(Err(Status::internal(format!("reading the data set: {e}")))).await;
                        return;
                    }
                };
                if n == 0 && offset < total {
                    let _ = tx.send(Err(Status::internal("the data set file is shorter than it was"))).await;
                    return;
                }
                buf.truncate(n);
                let done = n == 0 || offset + n as u64 >= total;
                if n > 0 && tx.send(Ok(pb::DatasetChunk { offset, total_bytes: total, data: buf })).await.is_err() {
                    return;
                }
                offset += n as u64;
                if done {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}
