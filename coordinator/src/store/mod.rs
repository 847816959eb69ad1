//! The durable ledger: one SQLite file (`<state>/ledger.sqlite`, WAL,
//! `synchronous = FULL`) holding studies (name, version, spec hash, spec
//! text, plan JSON, data set hash, base directory), jobs, attempts, results
//! (the `JobResult` protobuf bytes) and workers.
//!
//! Writes go through one writer thread ([`writer`]) that group-commits:
//! it takes every write queued since its last commit, applies them in one
//! transaction and commits once, so a burst of leases costs one fsync, not
//! one each. Callers that must not answer before their write is durable
//! (a result, a submission) wait for the commit; a lease does not, because
//! an uncommitted lease is harmless after a crash (see `scheduler::recover`).
//!
//! Reads ([`load`]) happen once, at start-up, on their own connection.

pub mod filesystem;
pub mod load;
pub mod writer;

use std::path::{Path, PathBuf};

use rusqlite::Connection;

pub use load::{LoadedAttempt, LoadedJob, LoadedResult, LoadedStudy, Snapshot};
pub use writer::{Write, Writer};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("ledger {path}: {source}")]
    Sqlite { path: PathBuf, source: rusqlite::Error },
    #[error("ledger {path}: {message}")]
    Corrupt { path: PathBuf, message: String },
    #[error("creating the state directory {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("the ledger writer has stopped: {0}")]
    WriterGone(String),
    /// The state folder cannot be used as asked (no ledger, in use).
    #[error("{path}: {message}")]
    State { path: PathBuf, message: String },
}

/// The lock a coordinator (or `intervene run`) holds on its state folder
/// while it has it open: two schedulers on one ledger would each believe
/// they own every lease. The operating system drops it when the process
/// dies, so a crash never leaves a folder locked.
pub fn lock_state(state_dir: &Path) -> Result<std::fs::File> {
    use std::io::{Read, Seek, Write};
    std::fs::create_dir_all(state_dir).map_err(|source| StoreError::Io { path: state_dir.to_path_buf(), source })?;
    if let Some(message) = filesystem::check_local(state_dir) {
        return Err(StoreError::State { path: state_dir.to_path_buf(), message });
    }
    let path = state_dir.join("coordinator.lock");
    let io = |source| StoreError::Io { path: path.clone(), source };
    let mut file =
        std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            return Err(StoreError::State {
                path: state_dir.to_path_buf(),
                message: format!(
                    "in use by another coordinator or `intervene run`{}; one process at a time may use a state \
                     folder (ask that coordinator with --coordinator URL, or wait for the run to end)",
                    if holder.is_empty() { String::new() } else { format!(" (pid {holder})") }
                ),
            });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
    }
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    write!(file, "{}", std::process::id()).map_err(io)?;
    Ok(file)
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// The ledger's file inside a state directory.
pub fn ledger_path(state_dir: &Path) -> PathBuf {
    state_dir.join("ledger.sqlite")
}

/// Bumped when the schema changes; an older ledger is refused, not guessed at.
/// Version 2 added `results.table_batch`.
const SCHEMA_VERSION: i64 = 2;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS studies (
    name            TEXT    NOT NULL,
    version         INTEGER NOT NULL,
    spec_hash       TEXT    NOT NULL,
    spec_toml       TEXT    NOT NULL,
    file_name       TEXT    NOT NULL,
    base_dir        TEXT    NOT NULL,
    plan_json       TEXT    NOT NULL,
    dataset_hash    TEXT    NOT NULL,
    dataset_bytes   INTEGER NOT NULL,
    submitted_at_ms INTEGER NOT NULL,
    cancelled       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (name, version)
);
CREATE TABLE IF NOT EXISTS jobs (
    study           TEXT    NOT NULL,
    version         INTEGER NOT NULL,
    job_id          TEXT    NOT NULL,
    ordinal         INTEGER NOT NULL,
    -- queued | leased | running | succeeded | failed | cancelled
    state           TEXT    NOT NULL,
    -- The highest attempt number handed out so far.
    attempts_issued INTEGER NOT NULL DEFAULT 0,
    -- Attempts that failed or expired (released ones do not count).
    failures        INTEGER NOT NULL DEFAULT 0,
    -- Why the job failed, for failed jobs.
    reason          TEXT,
    -- 1 when a final failure was `fatal` (a rerun would fail the same way).
    fatal           INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (study, version, job_id)
);
CREATE TABLE IF NOT EXISTS attempts (
    study           TEXT    NOT NULL,
    version         INTEGER NOT NULL,
    job_id          TEXT    NOT NULL,
    attempt         INTEGER NOT NULL,
    worker_id       TEXT    NOT NULL,
    leased_at_ms    INTEGER NOT NULL,
    ended_at_ms     INTEGER,
    -- NULL while in flight; succeeded | expired | failed | fatal | released | cancelled
    outcome         TEXT,
    reason          TEXT,
    PRIMARY KEY (study, version, job_id, attempt)
);
CREATE TABLE IF NOT EXISTS results (
    study           TEXT    NOT NULL,
    version         INTEGER NOT NULL,
    job_id          TEXT    NOT NULL,
    attempt         INTEGER NOT NULL,
    worker_id       TEXT    NOT NULL,
    finished_at_ms  INTEGER NOT NULL,
    -- The JobResult protobuf, exactly as the worker sent it.
    result          BLOB    NOT NULL,
    has_attention   INTEGER NOT NULL,
    -- (study, version) the result was first recorded under, when it was
    -- carried over from an earlier version; NULL otherwise.
    reused_from     TEXT,
    -- The table writer's batch holding this result's rows
    -- (`<table>/batch-<n>.parquet`); NULL when the rows are in per-job files
    -- (`<table>/<job_id>.parquet`) or not written yet.
    table_batch     INTEGER,
    PRIMARY KEY (study, version, job_id)
);
CREATE TABLE IF NOT EXISTS workers (
    worker_id       TEXT    PRIMARY KEY,
    name            TEXT    NOT NULL,
    capabilities    BLOB    NOT NULL,
    registered_at_ms INTEGER NOT NULL
);
";

/// Open (creating if needed) the ledger and set it up for durable,
/// concurrent use: WAL so start-up reads never block the writer, FULL
/// synchronous so a committed transaction survives a power cut.
pub fn open_connection(path: &Path) -> Result<Connection> {
    let sql = |source| StoreError::Sqlite { path: path.to_path_buf(), source };
    let conn = Connection::open(path).map_err(sql)?;
    conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(sql)?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).map_err(sql)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            message: format!("cannot switch to WAL journaling (got `{mode}`)"),
        });
    }
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;").map_err(sql)?;
    Ok(conn)
}

/// Create the schema in a new ledger, or check an existing one's version.
pub fn init_schema(conn: &Connection, path: &Path) -> Result<()> {
    let sql = |source| StoreError::Sqlite { path: path.to_path_buf(), source };
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(sql)?;
    match version {
        0 => {
            conn.execute_batch(SCHEMA).map_err(sql)?;
            conn.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}")).map_err(sql)?;
            Ok(())
        }
        1 => {
            // Version 1 wrote one file per job; those results keep a NULL batch.
            conn.execute_batch(&format!(
                "BEGIN; ALTER TABLE results ADD COLUMN table_batch INTEGER; PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
            ))
            .map_err(sql)?;
            Ok(())
        }
        SCHEMA_VERSION => Ok(()),
        other => Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            message: format!(
                "schema version {other}, but this build reads version {SCHEMA_VERSION}; use the intervene release that wrote it"
            ),
        }),
    }
}

/// Create the state directory and open the ledger: the snapshot to recover
/// from and the writer for everything after.
pub fn open(state_dir: &Path) -> Result<(Snapshot, Writer)> {
    std::fs::create_dir_all(state_dir).map_err(|source| StoreError::Io { path: state_dir.to_path_buf(), source })?;
    let path = ledger_path(state_dir);
    let conn = open_connection(&path)?;
    init_schema(&conn, &path)?;
    let snapshot = load::load(&conn, &path)?;
    drop(conn);
    let writer = Writer::start(&path)?;
    Ok((snapshot, writer))
}

/// Milliseconds since the Unix epoch, for ledger timestamps.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
