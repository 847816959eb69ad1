//! Reading the ledger back at start-up: everything the scheduler needs to
//! rebuild its state, and the results to regenerate missing Parquet files.

use std::collections::HashMap;
use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use super::{Result, StoreError};

#[derive(Debug, Default)]
pub struct Snapshot {
    /// Every study version, ordered by submission.
    pub studies: Vec<LoadedStudy>,
    /// worker id -> (name, capabilities protobuf)
    pub workers: HashMap<String, (String, Vec<u8>)>,
    /// The highest table-writer batch number recorded (0 when none).
    pub max_table_batch: i64,
}

#[derive(Debug)]
pub struct LoadedStudy {
    pub name: String,
    pub version: u32,
    pub spec_hash: String,
    pub spec_toml: String,
    pub file_name: String,
    pub base_dir: String,
    pub plan_json: String,
    pub dataset_hash: String,
    pub dataset_bytes: u64,
    pub submitted_at_ms: i64,
    pub cancelled: bool,
    /// In plan order.
    pub jobs: Vec<LoadedJob>,
}

#[derive(Debug, Clone)]
pub struct LoadedJob {
    pub job_id: String,
    pub state: String,
    pub attempts_issued: u32,
    pub failures: u32,
    pub reason: Option<String>,
    /// Why the latest attempt that ended without a result ended.
    pub last_reason: Option<String>,
    pub fatal: bool,
    /// The attempt in flight when the ledger was last written (state leased
    /// or running).
    pub in_flight: Option<LoadedAttempt>,
    /// The recorded result, for succeeded jobs.
    pub result: Option<LoadedResult>,
}

/// What the ledger says of a recorded result (its bytes are read only when
/// a table file has to be rewritten).
#[derive(Debug, Clone, Default)]
pub struct LoadedResult {
    pub attempt: u32,
    pub worker_id: String,
    pub finished_at_ms: i64,
    pub has_attention: bool,
    /// The table writer's batch holding its rows; None for per-job files
    /// or rows not written yet.
    pub table_batch: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct LoadedAttempt {
    pub attempt: u32,
    pub worker_id: String,
    pub leased_at_ms: i64,
}

/// Every study version, without its jobs, in submission order.
fn load_studies(conn: &Connection, path: &Path) -> Result<Vec<LoadedStudy>> {
    let sql = |source| StoreError::Sqlite { path: path.to_path_buf(), source };
    let mut studies = Vec::new();
    let mut stmt = conn
        .prepare(
            "SELECT name, version, spec_hash, spec_toml, file_name, base_dir, plan_json, dataset_hash,
                    dataset_bytes, submitted_at_ms, cancelled
             FROM studies ORDER BY submitted_at_ms, name, version",
        )
        .map_err(sql)?;
    let rows = stmt
        .query_map([], |r| {
            Ok(LoadedStudy {
                name: r.get(0)?,
                version: r.get(1)?,
                spec_hash: r.get(2)?,
                spec_toml: r.get(3)?,
                file_name: r.get(4)?,
                base_dir: r.get(5)?,
                plan_json: r.get(6)?,
                dataset_hash: r.get(7)?,
                dataset_bytes: r.get::<_, i64>(8)? as u64,
                submitted_at_ms: r.get(9)?,
                cancelled: r.get::<_, i64>(10)? != 0,
                jobs: Vec::new(),
            })
        })
        .map_err(sql)?;
    for row in rows {
        studies.push(row.map_err(sql)?);
    }

    Ok(studies)
}

/// worker id -> (name, capabilities protobuf), of every registered worker.
fn load_workers(conn: &Connection, path: &Path) -> Result<HashMap<String, (String, Vec<u8>)>> {
    let sql = |source| StoreError::Sqlite { path: path.to_path_buf(), source };
    let mut workers = HashMap::new();
    let mut stmt = conn.prepare("SELECT worker_id, name, capabilities FROM workers").map_err(sql)?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, Vec<u8>>(2)?)))
        .map_err(sql)?;
    for row in rows {
        let (id, name, caps) = row.map_err(sql)?;
        workers.insert(id, (name, caps));
    }
    Ok(workers)
}

/// The result rows of one study version by job id; raises `max_batch` to
/// the highest table batch among them.
fn load_results(
    conn: &Connection,
    path: &Path,
    study: &LoadedStudy,
    max_batch: &mut i64,
) -> Result<HashMap<String, LoadedResult>> {
    let sql = |source| StoreError::Sqlite { path: path.to_path_buf(), source };
    let mut result_stmt = conn
        .prepare_cached(
            "SELECT job_id, attempt, worker_id, finished_at_ms, has_attention, table_batch FROM results
             WHERE study = ?1 AND version = ?2",
        )
        .map_err(sql)?;
    let mut results: HashMap<String, LoadedResult> = HashMap::new();
    let rows = result_stmt
        .query_map(params![study.name, study.version], |r| {
            Ok((
                r.get::<_, String>(0)?,
                LoadedResult {
                    attempt: r.get(1)?,
                    worker_id: r.get(2)?,
                    finished_at_ms: r.get(3)?,
                    has_attention: r.get::<_, i64>(4)? != 0,
                    table_batch: r.get(5)?,
                },
            ))
        })
        .map_err(sql)?;
    for row in rows {
        let (id, v) = row.map_err(sql)?;
        if let Some(b) = v.table_batch {
            *max_batch = (*max_batch).max(b);
        }
        results.insert(id, v);
    }
    Ok(results)
}

pub fn load(conn: &Connection, path: &Path) -> Result<Snapshot> {
    let sql = |source| StoreError::Sqlite { path: path.to_path_buf(), source };
    let mut snapshot =
        Snapshot { studies: load_studies(conn, path)?, workers: load_workers(conn, path)?, max_table_batch: 0 };

    let mut jobs_stmt = conn
        .prepare(
            "SELECT job_id, state, attempts_issued, failures, reason, fatal FROM jobs
             WHERE study = ?1 AND version = ?2 ORDER BY ordinal",
        )
        .map_err(sql)?;
    let mut attempt_stmt = conn
        .prepare(
            "SELECT attempt, worker_id, leased_at_ms FROM attempts
             WHERE study = ?1 AND version = ?2 AND job_id = ?3 AND outcome IS NULL
             ORDER BY attempt DESC LIMIT 1",
        )
        .map_err(sql)?;
    let mut reason_stmt = conn
        .prepare(
            "SELECT reason FROM attempts
             WHERE study = ?1 AND version = ?2 AND job_id = ?3 AND reason IS NOT NULL AND outcome NOT IN ('succeeded', 'released')
             ORDER BY attempt DESC LIMIT 1",
        )
        .map_err(sql)?;
    for study in &mut snapshot.studies {
        let mut results = load_results(conn, path, study, &mut snapshot.max_table_batch)?;
        let rows = jobs_stmt
            .query_map(params![study.name, study.version], |r| {
                Ok(LoadedJob {
                    job_id: r.get(0)?,
                    state: r.get(1)?,
                    attempts_issued: r.get(2)?,
                    failures: r.get(3)?,
                    reason: r.get(4)?,
                    last_reason: None,
                    fatal: r.get::<_, i64>(5)? != 0,
                    in_flight: None,
                    result: None,
                })
            })
            .map_err(sql)?;
        for row in rows {
            let mut job = row.map_err(sql)?;
            if job.attempts_issued > 0 {
                job.last_reason = reason_stmt
                    .query_row(params![study.name, study.version, job.job_id], |r| r.get(0))
                    .optional()
                    .map_err(sql)?;
            }
            if job.state == "leased" || job.state == "running" {
                job.in_flight = attempt_stmt
                    .query_row(params![study.name, study.version, job.job_id], |r| {
                        Ok(LoadedAttempt { attempt: r.get(0)?, worker_id: r.get(1)?, leased_at_ms: r.get(2)? })
                    })
                    .optional()
                    .map_err(sql)?;
            }
            job.result = results.remove(&job.job_id);
            if job.state == "succeeded" && job.result.is_none() {
                return Err(StoreError::Corrupt {
                    path: path.to_path_buf(),
                    message: format!(
                        "job {} of study {} v{} is marked succeeded but has no result row",
                        job.job_id, study.name, study.version
                    ),
                });
            }
            study.jobs.push(job);
        }
    }

    Ok(snapshot)
}

/// Every recorded result of a study version: (job id, attempt, worker,
/// finished at, protobuf bytes), in job order.
pub fn study_results(
    conn: &Connection,
    path: &Path,
    study: &str,
    version: u32,
) -> Result<Vec<(String, u32, String, i64, Vec<u8>)>> {
    let sql = |source| StoreError::Sqlite { path: path.to_path_buf(), source };
    let mut stmt = conn
        .prepare(
            "SELECT r.job_id, r.attempt, r.worker_id, r.finished_at_ms, r.result FROM results r
             JOIN jobs j ON j.study = r.study AND j.version = r.version AND j.job_id = r.job_id
             WHERE r.study = ?1 AND r.version = ?2 ORDER BY j.ordinal",
        )
        .map_err(sql)?;
    let rows = stmt
        .query_map(params![study, version], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .map_err(sql)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().map_err(sql)
}
