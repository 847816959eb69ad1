//! The ledger's single writer thread and its group commit.
//!
//! Every change to the ledger is a [`Write`] sent over a channel. The thread
//! blocks for the first write, then drains whatever else is queued (up to
//! [`MAX_BATCH`]), applies the whole batch in one transaction and commits
//! once: one fsync of the WAL per batch however many leases it holds. Writers
//! that need durability before they answer pass an acknowledgement channel
//! and are told after the commit.
//!
//! A failed transaction is not retried op by op: the ledger would no longer
//! match what the coordinator told its clients. The writer records the
//! error, fails every acknowledgement of the batch and of any later write,
//! and [`Writer::failure`] reports it so the coordinator stops instead of
//! running on memory alone. A restart recovers from the last commit.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;

use rusqlite::{Connection, Transaction, params};
use tokio::sync::oneshot;

use super::{Result, StoreError};

/// The most writes applied in one transaction.
pub const MAX_BATCH: usize = 4096;

/// One change to the ledger.
#[derive(Debug, Clone)]
pub enum Write {
    /// A new study version and its jobs (all queued), in plan order.
    Study {
        name: String,
        version: u32,
        spec_hash: String,
        spec_toml: String,
        file_name: String,
        base_dir: String,
        plan_json: String,
        dataset_hash: String,
        dataset_bytes: u64,
        submitted_at_ms: i64,
        jobs: Vec<String>,
    },
    /// A resubmission: the study is no longer cancelled and these jobs are
    /// queued again with a fresh failure count.
    Resume {
        name: String,
        version: u32,
        jobs: Vec<String>,
    },
    /// An attempt handed to a worker.
    Lease {
        study: String,
        version: u32,
        job_id: String,
        attempt: u32,
        worker_id: String,
        at_ms: i64,
    },
    /// The first heartbeat of an attempt.
    Started {
        study: String,
        version: u32,
        job_id: String,
    },
    /// An attempt ended without a result; the job moves to `job_state`.
    AttemptEnded {
        study: String,
        version: u32,
        job_id: String,
        attempt: u32,
        outcome: &'static str,
        reason: String,
        at_ms: i64,
        job_state: &'static str,
        failures: u32,
        fatal: bool,
    },
    /// The result of an attempt; the job succeeded.
    Result {
        study: String,
        version: u32,
        job_id: String,
        attempt: u32,
        worker_id: String,
        finished_at_ms: i64,
        result: Vec<u8>,
        has_attention: bool,
        /// "name/vN" when carried over from an earlier version.
        reused_from: Option<String>,
    },
    /// A study was cancelled: its queued jobs are dropped.
    Cancel {
        study: String,
        version: u32,
        dropped: Vec<String>,
    },
    /// Attempt numbers at or below `issued` are burnt (recovery after a crash
    /// may have lost the record of the last attempt handed out).
    BurnAttempts {
        study: String,
        version: u32,
        job_id: String,
        issued: u32,
    },
    /// Batch `seq` of the table writer holds the rows of these results
    /// (study, version, job id); recorded before its files are written.
    TablesBatch {
        seq: i64,
        jobs: Vec<(String, u32, String)>,
    },
    Worker {
        worker_id: String,
        name: String,
        capabilities: Vec<u8>,
        at_ms: i64,
    },
}

struct Msg {
    write: Write,
    ack: Option<oneshot::Sender<std::result::Result<(), String>>>,
}

/// Handle to the writer thread. Cloning shares the thread.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Msg>,
    failure: Arc<Mutex<Option<String>>>,
    path: PathBuf,
    exited: WriterExit,
}

/// Says when the writer thread has ended and closed the ledger (after the
/// last [`Writer`] handle is dropped).
#[derive(Clone, Default)]
pub struct WriterExit(Arc<(Mutex<bool>, std::sync::Condvar)>);

impl WriterExit {
    fn set(&self) {
        let (done, cv) = &*self.0;
        *done.lock().unwrap_or_else(|p| p.into_inner()) = true;
        cv.notify_all();
    }

    /// Waits at most `timeout` for the thread to end; true when it has.
    pub fn wait(&self, timeout: std::time::Duration) -> bool {
        let (done, cv) = &*self.0;
        let guard = done.lock().unwrap_or_else(|p| p.into_inner());
        let (guard, _) = cv.wait_timeout_while(guard, timeout, |d| !*d).unwrap_or_else(|p| p.into_inner());
        *guard
    }
}

impl Writer {
    pub fn start(path: &Path) -> Result<Writer> {
        let conn = super::open_connection(path)?;
        let (tx, rx) = mpsc::channel::<Msg>();
        let failure = Arc::new(Mutex::new(None));
        let thread_failure = failure.clone();
        let thread_path = path.to_path_buf();
        let exited = WriterExit::default();
        let thread_exited = exited.clone();
        thread::Builder::new()
            .name("ledger-writer".into())
            .spawn(move || {
                run(conn, rx, thread_failure, thread_path);
                thread_exited.set();
            })
            .map_err(|source| StoreError::Io { path: path.to_path_buf(), source })?;
        Ok(Writer { tx, failure, path: path.to_path_buf(), exited })
    }

    /// Queue a write; it is committed with the next batch. Returns an error
    /// only when the writer has already failed.
    pub fn send(&self, write: Write) -> Result<()> {
        if let Some(err) = self.failure() {
            return Err(StoreError::WriterGone(err));
        }
        self.tx.send(Msg { write, ack: None }).map_err(|_| StoreError::WriterGone("writer thread exited".into()))
    }

    /// Queue writes and wait until they are committed.
    pub async fn commit(&self, writes: Vec<Write>) -> Result<()> {
        if let Some(err) = self.failure() {
            return Err(StoreError::WriterGone(err));
        }
        let gone = || StoreError::WriterGone("writer thread exited".into());
        let mut last = None;
        let n = writes.len();
        for (i, write) in writes.into_iter().enumerate() {
            let ack = if i + 1 == n {
                let (tx, rx) = oneshot::channel();
                last = Some(rx);
                Some(tx)
            } else {
                None
            };
            self.tx.send(Msg { write, ack }).map_err(|_| gone())?;
        }
        // Writes commit in order, so the last one's commit covers them all.
        match last {
            Some(rx) => rx.await.map_err(|_| gone())?.map_err(StoreError::WriterGone),
            None => Ok(()),
        }
    }

    /// [`Writer::commit`] for a thread outside the async runtime (it blocks
    /// the calling thread until the commit).
    pub fn commit_blocking(&self, writes: Vec<Write>) -> Result<()> {
        if let Some(err) = self.failure() {
            return Err(StoreError::WriterGone(err));
        }
        let gone = || StoreError::WriterGone("writer thread exited".into());
        let (tx, rx) = oneshot::channel();
        let n = writes.len();
        let mut ack = Some(tx);
        for (i, write) in writes.into_iter().enumerate() {
            let ack = if i + 1 == n { ack.take() } else { None };
            self.tx.send(Msg { write, ack }).map_err(|_| gone())?;
        }
        if n == 0 {
            return Ok(());
        }
        rx.blocking_recv().map_err(|_| gone())?.map_err(StoreError::WriterGone)
    }

    /// Why the writer stopped, if it did.
    pub fn failure(&self) -> Option<String> {
        self.failure.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A handle that outlives this one and says when the thread has ended.
    pub fn exit_watch(&self) -> WriterExit {
        self.exited.clone()
    }
}

fn run(mut conn: Connection, rx: mpsc::Receiver<Msg>, failure: Arc<Mutex<Option<String>>>, path: PathBuf) {
    let mut batch: Vec<Msg> = Vec::with_capacity(MAX_BATCH);
    while let Ok(first) = rx.recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
        let failed = failure.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let outcome = match failed {
            Some(err) => Err(err),
            None => apply(&mut conn, &batch).map_err(|e| {
                let msg = format!("{}: {e}", path.display());
                tracing::error!(error = %msg, "ledger transaction failed; the coordinator must stop");
                *failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(msg.clone());
                msg
            }),
        };
        for m in batch.drain(..) {
            if let Some(ack) = m.ack {
                let _ = ack.send(outcome.clone());
            }
        }
    }
}

fn apply(conn: &mut Connection, batch: &[Msg]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    for m in batch {
        apply_one(&tx, &m.write)?;
    }
    tx.commit()
}

fn apply_one(tx: &Transaction, w: &Write) -> rusqlite::Result<()> {
    match w {
        Write::Study { .. } => insert_study(tx, w)?,
        Write::Resume { name, version, jobs } => {
            tx.execute("UPDATE studies SET cancelled = 0 WHERE name = ?1 AND version = ?2", params![name, version])?;
            let mut stmt = tx.prepare_cached(
                "UPDATE jobs SET state = 'queued', failures = 0, reason = NULL, fatal = 0
                 WHERE study = ?1 AND version = ?2 AND job_id = ?3",
            )?;
            for id in jobs {
                stmt.execute(params![name, version, id])?;
            }
        }
        Write::Lease { study, version, job_id, attempt, worker_id, at_ms } => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO attempts (study, version, job_id, attempt, worker_id, leased_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![study, version, job_id, attempt, worker_id, at_ms])?;
            tx.prepare_cached(
                "UPDATE jobs SET state = 'leased', attempts_issued = MAX(attempts_issued, ?4)
                 WHERE study = ?1 AND version = ?2 AND job_id = ?3",
            )?
            .execute(params![study, version, job_id, attempt])?;
        }
        Write::Started { study, version, job_id } => {
            tx.prepare_cached(
                "UPDATE jobs SET state = 'running' WHERE study = ?1 AND version = ?2 AND job_id = ?3 AND state = 'leased'",
            )?
            .execute(params![study, version, job_id])?;
        }
        Write::AttemptEnded { study, version, job_id, attempt, outcome, reason, at_ms, job_state, failures, fatal } => {
            tx.prepare_cached(
                "UPDATE attempts SET ended_at_ms = ?5, outcome = ?6, reason = ?7
                 WHERE study = ?1 AND version = ?2 AND job_id = ?3 AND attempt = ?4",
            )?
            .execute(params![study, version, job_id, attempt, at_ms, outcome, reason])?;
            let final_reason = (*job_state == "failed").then_some(reason.as_str());
            tx.prepare_cached(
                "UPDATE jobs SET state = ?4, failures = ?5, reason = ?6, fatal = ?7
                 WHERE study = ?1 AND version = ?2 AND job_id = ?3",
            )?
            .execute(params![study, version, job_id, job_state, failures, final_reason, *fatal as i64])?;
        }
        Write::Result { .. } => insert_result(tx, w)?,
        Write::Cancel { study, version, dropped } => {
            tx.execute("UPDATE studies SET cancelled = 1 WHERE name = ?1 AND version = ?2", params![study, version])?;
            let mut stmt = tx.prepare_cached(
                "UPDATE jobs SET state = 'cancelled' WHERE study = ?1 AND version = ?2 AND job_id = ?3",
            )?;
            for id in dropped {
                stmt.execute(params![study, version, id])?;
            }
        }
        Write::BurnAttempts { study, version, job_id, issued } => {
            tx.prepare_cached(
                "UPDATE jobs SET attempts_issued = MAX(attempts_issued, ?4) WHERE study = ?1 AND version = ?2 AND job_id = ?3",
            )?
            .execute(params![study, version, job_id, issued])?;
        }
        Write::TablesBatch { seq, jobs } => {
            let mut stmt = tx.prepare_cached(
                "UPDATE results SET table_batch = ?4 WHERE study = ?1 AND version = ?2 AND job_id = ?3",
            )?;
            for (study, version, job_id) in jobs {
                stmt.execute(params![study, version, job_id, seq])?;
            }
        }
        Write::Worker { worker_id, name, capabilities, at_ms } => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO workers (worker_id, name, capabilities, registered_at_ms) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![worker_id, name, capabilities, at_ms])?;
        }
    }
    Ok(())
}

/// A new study version and its queued jobs.
fn insert_study(tx: &Transaction, w: &Write) -> rusqlite::Result<()> {
    let Write::Study {
        name,
        version,
        spec_hash,
        spec_toml,
        file_name,
        base_dir,
        plan_json,
        dataset_hash,
        dataset_bytes,
        submitted_at_ms,
        jobs,
    } = w
    else {
        unreachable!("insert_study is called with a Write::Study")
    };
    tx.execute(
        "INSERT INTO studies (name, version, spec_hash, spec_toml, file_name, base_dir, plan_json,
             dataset_hash, dataset_bytes, submitted_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            name,
            version,
            spec_hash,
            spec_toml,
            file_name,
            base_dir,
            plan_json,
            dataset_hash,
            *dataset_bytes as i64,
            submitted_at_ms
        ],
    )?;
    let mut stmt = tx.prepare_cached(
        "INSERT INTO jobs (study, version, job_id, ordinal, state) VALUES (?1, ?2, ?3, ?4, 'queued')",
    )?;
    for (i, id) in jobs.iter().enumerate() {
        stmt.execute(params![name, version, id, i as i64])?;
    }
    Ok(())
}

/// A result, its attempt (inserted if its lease was lost in a crash) and
/// the job's new state.
fn insert_result(tx: &Transaction, w: &Write) -> rusqlite::Result<()> {
    let Write::Result {
        study,
        version,
        job_id,
        attempt,
        worker_id,
        finished_at_ms,
        result,
        has_attention,
        reused_from,
    } = w
    else {
        unreachable!("insert_result is called with a Write::Result")
    };
    tx.prepare_cached(
        "INSERT INTO results (study, version, job_id, attempt, worker_id, finished_at_ms, result, has_attention, reused_from)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        study,
        version,
        job_id,
        attempt,
        worker_id,
        finished_at_ms,
        result,
        *has_attention as i64,
        reused_from
    ])?;
    if reused_from.is_none() {
        // The attempt row may be missing when the lease that issued
        // it was not committed before a crash; the result still is
        // this attempt's.
        tx.prepare_cached(
            "INSERT INTO attempts (study, version, job_id, attempt, worker_id, leased_at_ms, ended_at_ms, outcome)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, 'succeeded')
             ON CONFLICT (study, version, job_id, attempt)
             DO UPDATE SET ended_at_ms = ?6, outcome = 'succeeded'",
        )?
        .execute(params![study, version, job_id, attempt, worker_id, finished_at_ms])?;
    }
    tx.prepare_cached(
        "UPDATE jobs SET state = 'succeeded', attempts_issued = MAX(attempts_issued, ?4)
         WHERE study = ?1 AND version = ?2 AND job_id = ?3",
    )?
    .execute(params![study, version, job_id, attempt])?;
    Ok(())
}
