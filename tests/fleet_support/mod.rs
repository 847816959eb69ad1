//! Shared by the fleet end-to-end tests: the real `intervene` binary as
//! coordinator, workers and CLI on loopback, a real SQLite ledger, and a
//! deadline on everything so a hang fails the test instead of blocking CI.
//! Children are killed when their guard drops, also when a test panics.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_intervene");
pub const TOKEN: &str = "fleet-test-token-0123456789abcdef";

/// Fails the test when its time is up.
#[derive(Clone, Copy)]
pub struct Deadline {
    end: Instant,
}

impl Deadline {
    pub fn after(secs: u64) -> Deadline {
        Deadline { end: Instant::now() + Duration::from_secs(secs) }
    }

    pub fn left(&self) -> Duration {
        self.end.saturating_duration_since(Instant::now())
    }

    /// Poll `cond` every 50 ms until it holds; panics with `what` at the deadline.
    pub fn wait_for(&self, what: &str, mut cond: impl FnMut() -> bool) {
        loop {
            if cond() {
                return;
            }
            assert!(Instant::now() < self.end, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A child process killed (SIGKILL) when dropped.
pub struct Proc {
    pub child: Child,
    pub name: String,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait for the exit (at most `secs`).
    pub fn terminate(&mut self, secs: u64) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill").arg("-TERM").arg(self.pid().to_string()).status();
        self.wait_exit(secs)
    }

    /// Its exit status, waiting at most `secs`.
    pub fn wait_exit(&mut self, secs: u64) -> Option<std::process::ExitStatus> {
        let end = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < end {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A base command with the test token in the environment and quiet logs.
pub fn intervene(args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args).env("INTERVENE_TOKEN", TOKEN).env("INTERVENE_LOG", "info").env_remove("INTERVENE_COORDINATOR");
    c
}

/// Run a CLI command to completion within `secs`.
pub fn run_cli(mut cmd: Command, secs: u64) -> Output {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().expect("spawn intervene");
    let (tx, rx) = mpsc::channel();
    let pid = child.id();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(out) => out.expect("wait for intervene"),
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("`intervene` did not finish within {secs} s");
        }
    }
}

pub fn text(out: &Output) -> (String, String) {
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Start a coordinator on `listen` (use 127.0.0.1:0 for a free port);
/// returns it and its URL, read from its first line of output.
pub fn coordinator(state: &Path, listen: &str, extra: &[&str], deadline: Deadline) -> (Proc, String) {
    let log = std::fs::File::create(state.with_extension("coordinator.log")).expect("log file");
    let mut cmd = intervene(&["coordinator", "--listen", listen, "--state", state.to_str().unwrap()]);
    cmd.args(extra).stdout(Stdio::piped()).stderr(log);
    let mut child = cmd.spawn().expect("spawn coordinator");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        if let Some(Ok(line)) = lines.next() {
            let _ = tx.send(line);
        }
        // Keep draining so the coordinator never blocks on a full pipe.
        for _ in lines {}
    });
    let proc = Proc { child, name: "coordinator".into() };
    let line = rx.recv_timeout(deadline.left().min(Duration::from_secs(60))).expect("the coordinator did not start");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://") || w.starts_with("https://"))
        .unwrap_or_else(|| panic!("no URL in `{line}`"))
        .to_string();
    (proc, url)
}

/// Start a worker with fake training of `seconds` per job.
pub fn worker(url: &str, name: &str, cache: &Path, seconds: f64, extra: &[&str]) -> Proc {
    let seconds = seconds.to_string();
    let mut args = vec!["--fake-train", seconds.as_str()];
    args.extend_from_slice(extra);
    real_worker(url, name, cache, &args)
}

/// Start a worker that trains for real (one torch thread).
pub fn real_worker(url: &str, name: &str, cache: &Path, extra: &[&str]) -> Proc {
    let log = std::fs::File::create(cache.with_extension(format!("{name}.log"))).expect("log file");
    let mut cmd = intervene(&[
        "worker",
        "--coordinator",
        url,
        "--name",
        name,
        "--cache-dir",
        cache.to_str().unwrap(),
        "--threads",
        "1",
        "--lease-wait-ms",
        "1000",
    ]);
    cmd.args(extra).stdout(Stdio::null()).stderr(log);
    Proc { child: cmd.spawn().expect("spawn worker"), name: name.into() }
}

/// A small study on synthetic data: a control and one intra arm, `seeds`
/// seeds each, so 2 x seeds jobs.
pub fn study(dir: &Path, name: &str, seeds: usize, hidden: u32) -> PathBuf {
    let seeds: Vec<usize> = (1..=seeds).collect();
    let text = format!(
        r#"version = 1
[study]
name = "{name}"
seeds = {seeds:?}
max_attempts = 3
[data]
source = {{ kind = "synthetic", task = "mixed", size = 300 }}
train = 200
valid = 50
test = 50
tokenizer = "python-lexer"
vocab_size = 200
max_source_len = 20
max_target_len = 40
[model]
arch = "lstm"
embedding_dim = 16
hidden_dim = {hidden}
layers = 1
dropout = 0.0
bidirectional = false
[train]
batch_size = 8
epochs = 2
learning_rate = 1e-3
[decode]
strategy = "greedy"
[[intra]]
name = "wider"
vary = {{ hidden_dim = [64] }}
"#
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// Read-only queries against a coordinator's ledger (safe while it runs: WAL).
pub struct Ledger {
    conn: rusqlite::Connection,
}

impl Ledger {
    pub fn open(state: &Path) -> Option<Ledger> {
        let path = state.join("ledger.sqlite");
        if !path.exists() {
            return None;
        }
        let conn = rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).ok()?;
        conn.busy_timeout(Duration::from_secs(5)).ok()?;
        Some(Ledger { conn })
    }

    pub fn count(&self, sql: &str) -> i64 {
        self.conn.query_row(sql, [], |r| r.get(0)).unwrap_or(-1)
    }

    pub fn strings(&self, sql: &str) -> Vec<String> {
        let mut stmt = self.conn.prepare(sql).expect("query");
        stmt.query_map([], |r| r.get::<_, String>(0)).expect("rows").map(|r| r.expect("row")).collect()
    }

    pub fn rows(&self, sql: &str) -> Vec<(String, i64, String, Option<String>)> {
        let mut stmt = self.conn.prepare(sql).expect("query");
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .expect("rows")
            .map(|r| r.expect("row"))
            .collect()
    }
}

/// Jobs of a study version in each state, as the ledger has them.
pub fn job_states(state: &Path, study: &str, version: u32) -> std::collections::BTreeMap<String, i64> {
    let mut out = std::collections::BTreeMap::new();
    if let Some(l) = Ledger::open(state) {
        for s in ["queued", "leased", "running", "succeeded", "failed", "cancelled"] {
            out.insert(
                s.to_string(),
                l.count(&format!(
                    "SELECT COUNT(*) FROM jobs WHERE study = '{study}' AND version = {version} AND state = '{s}'"
                )),
            );
        }
    }
    out
}

pub fn succeeded(state: &Path, study: &str, version: u32) -> i64 {
    job_states(state, study, version).get("succeeded").copied().unwrap_or(0)
}

/// Every `runs` row of a study version: (job_id, arm, bleu).
pub fn runs_rows(state: &Path, study: &str, version: u32) -> Vec<(String, String, f64)> {
    use polars::prelude::*;
    let dir = state.join(format!("results/{study}/v{version}/runs"));
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(&dir) else { return out };
    for e in entries {
        let path = e.unwrap().path();
        // A table being written atomically (a hidden `.<job>.parquet.*.tmp`,
        // renamed when complete); the caller waits for the finished file.
        if path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.')) {
            continue;
        }
        assert_eq!(path.extension().and_then(|e| e.to_str()), Some("parquet"), "stray file {}", path.display());
        let df = ParquetReader::new(std::fs::File::open(&path).unwrap()).finish().unwrap();
        let ids = df.column("job_id").unwrap().str().unwrap().clone();
        let arms = df.column("arm").unwrap().str().unwrap().clone();
        let bleu = df.column("bleu").unwrap().f64().unwrap().clone();
        for i in 0..df.height() {
            out.push((ids.get(i).unwrap().to_string(), arms.get(i).unwrap().to_string(), bleu.get(i).unwrap()));
        }
    }
    out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    out
}

/// The checks every fleet test ends with: every job of the plan has exactly
/// one recorded result, one `runs` row per (job, arm) and none twice, and
/// each row carries the value the fake trainer computed for that job.
pub fn assert_complete_and_unique(state: &Path, study: &str, version: u32, jobs: i64, arms_per_job: usize) {
    for (job, _, bleu) in assert_recorded_once(state, study, version, jobs, arms_per_job) {
        let expected = intervene_worker::agent::trainer::fake_bleu(&job);
        assert!((bleu - expected).abs() < 1e-9, "job {job}: bleu {bleu}, its worker computed {expected}");
    }
}

/// Every job of the plan has exactly one recorded result and one `runs` row
/// per (job, arm), none twice; returns the rows.
pub fn assert_recorded_once(
    state: &Path,
    study: &str,
    version: u32,
    jobs: i64,
    arms_per_job: usize,
) -> Vec<(String, String, f64)> {
    let l = Ledger::open(state).expect("ledger");
    let q = |s: &str| format!("{s} WHERE study = '{study}' AND version = {version}");
    assert_eq!(l.count(&q("SELECT COUNT(*) FROM jobs")), jobs, "jobs in the plan");
    assert_eq!(l.count(&q("SELECT COUNT(*) FROM results")), jobs, "one result per job");
    assert_eq!(l.count(&q("SELECT COUNT(DISTINCT job_id) FROM results")), jobs, "no job recorded twice");
    assert_eq!(
        l.count(&format!(
            "SELECT COUNT(*) FROM attempts WHERE study = '{study}' AND outcome = 'succeeded' \
             AND job_id IN (SELECT job_id FROM jobs WHERE study = '{study}' AND version = {version})"
        )),
        jobs,
        "exactly one succeeded attempt per job"
    );
    // The tables are written just after the ledger commit: give the last
    // ones a moment.
    let expected = jobs as usize * arms_per_job;
    let end = Instant::now() + Duration::from_secs(30);
    let mut rows = runs_rows(state, study, version);
    while rows.len() < expected && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(100));
        rows = runs_rows(state, study, version);
    }
    assert_eq!(rows.len(), expected, "one runs row per (job, arm)");
    let mut keys: Vec<(&str, &str)> = rows.iter().map(|(j, a, _)| (j.as_str(), a.as_str())).collect();
    keys.dedup();
    assert_eq!(keys.len(), rows.len(), "duplicate runs rows");
    rows
}
