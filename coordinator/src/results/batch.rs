//! The coordinator's table writer: finished jobs are written in batches, on
//! their own thread, after the Complete call has been answered.
//!
//! Why: writing four Parquet files per finished job, each with its own
//! fsync, inside the Complete call held the coordinator to about 55 results
//! a second whatever the fleet size (issue 7's profile). Here one thread
//! takes every finished job queued since its last write (up to
//! [`MAX_JOBS`]) and writes one file per table for all of them,
//! `<table>/batch-<seq>.parquet`: under load the cost per job shrinks as the
//! batches grow, and when jobs trickle in, each one is written at once.
//!
//! Crash safety. A job reaches this thread only after its result is
//! committed to the ledger, so nothing here can lose a result. Before the
//! files of batch `seq` are written, the ledger records which results it
//! holds (`results.table_batch`); after a crash, recovery
//! (`scheduler::recover`) rewrites any missing file of a recorded batch
//! whole, under the same name, and writes results that never got a batch
//! number as per-job files. A row is therefore never lost and never written
//! twice. A job stays `Completing` until its batch is on disk, so a study
//! reported finished has every file.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;

use intervene_proto::pb;

use super::{ArmRef, JOB_TABLES, JobRecord, write_tables};
use crate::plan::Plan;
use crate::store::{Write, Writer};

/// The most jobs written in one batch: bounds a batch's memory (a job's
/// examples are a few hundred rows) and the delay before its jobs count as
/// succeeded.
pub const MAX_JOBS: usize = 1024;

/// The file stem of batch `seq` in every table folder.
pub fn batch_stem(seq: i64) -> String {
    format!("batch-{seq:08}")
}

/// A finished job whose result is committed, waiting for its rows.
pub struct FinishedJob {
    /// The study version's results folder.
    pub dir: PathBuf,
    pub study: String,
    pub study_version: u32,
    pub plan: Arc<Plan>,
    /// Index of the job in `plan.jobs`.
    pub job: usize,
    pub arms: Vec<ArmRef>,
    pub attempt: u32,
    /// The worker's name as the tables show it.
    pub worker: String,
    pub result: pb::JobResult,
    pub finished_at_ms: i64,
}

impl FinishedJob {
    pub fn record(&self) -> JobRecord<'_> {
        let job = &self.plan.jobs[self.job];
        JobRecord {
            study: &self.study,
            study_version: self.study_version,
            job_id: &job.id,
            spec: &job.spec,
            arms: &self.arms,
            attempt: self.attempt,
            worker: &self.worker,
            result: &self.result,
            finished_at_ms: self.finished_at_ms,
        }
    }
}

/// Called once the job's rows are on disk, or with why they are not (the
/// result is in the ledger either way; a restart writes missing files).
pub type Done = Box<dyn FnOnce(Result<(), String>) + Send>;

enum Msg {
    Job(Box<FinishedJob>, Done),
    /// Answered once every job queued before it is written.
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// Handle to the table-writer thread.
pub struct TableWriter {
    tx: mpsc::Sender<Msg>,
}

impl TableWriter {
    /// Start the thread; batches are numbered from `next_seq`, which must
    /// be above every batch number in the ledger.
    pub fn start(ledger: Writer, next_seq: i64) -> std::io::Result<TableWriter> {
        let (tx, rx) = mpsc::channel();
        thread::Builder::new().name("table-writer".into()).spawn(move || run(rx, ledger, next_seq))?;
        Ok(TableWriter { tx })
    }

    /// Queue a finished job; `done` runs on the writer thread.
    pub fn submit(&self, job: FinishedJob, done: Done) {
        if let Err(mpsc::SendError(Msg::Job(_, done))) = self.tx.send(Msg::Job(Box::new(job), done)) {
            done(Err("the table writer has stopped".into()));
        }
    }

    /// Wait until every job submitted so far is written (or has failed to
    /// be): before a coordinator exits, and in tests.
    pub async fn flush(&self) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.tx.send(Msg::Flush(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

fn run(rx: mpsc::Receiver<Msg>, ledger: Writer, mut seq: i64) {
    let mut batch: Vec<(Box<FinishedJob>, Done)> = Vec::new();
    let mut flushes = Vec::new();
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some(m) = next.take() {
            match m {
                Msg::Job(job, done) => batch.push((job, done)),
                Msg::Flush(tx) => flushes.push(tx),
            }
            if batch.len() < MAX_JOBS {
                next = rx.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            let jobs: Vec<&FinishedJob> = batch.iter().map(|(j, _)| j.as_ref()).collect();
            let outcome = write_batch(&ledger, seq, &jobs);
            seq += 1;
            for (_, done) in batch.drain(..) {
                done(outcome.clone());
            }
        }
        for tx in flushes.drain(..) {
            let _ = tx.send(());
        }
    }
}

/// Record batch `seq` in the ledger, then write its files: one per table and
/// study version present in it.
fn write_batch(ledger: &Writer, seq: i64, jobs: &[&FinishedJob]) -> Result<(), String> {
    let members =
        jobs.iter().map(|j| (j.study.clone(), j.study_version, j.plan.jobs[j.job].id.clone())).collect::<Vec<_>>();
    ledger.commit_blocking(vec![Write::TablesBatch { seq, jobs: members }]).map_err(|e| e.to_string())?;
    let stem = batch_stem(seq);
    let mut dirs: Vec<&PathBuf> = jobs.iter().map(|j| &j.dir).collect();
    dirs.dedup();
    dirs.sort();
    dirs.dedup();
    // One study's failure (its disk is full, say) does not stop the others.
    let mut failed = Vec::new();
    for dir in dirs {
        let recs: Vec<JobRecord> = jobs.iter().filter(|j| &j.dir == dir).map(|j| j.record()).collect();
        if let Err(e) = write_tables(dir, &stem, &recs, &JOB_TABLES) {
            failed.push(e.to_string());
        }
    }
    if failed.is_empty() { Ok(()) } else { Err(failed.join("; ")) }
}
