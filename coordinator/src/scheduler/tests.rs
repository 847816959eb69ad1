//! The scheduler against a real ledger in a temporary directory, with
//! tokio's clock paused so lease expiry is exact and instant.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use intervene_proto::pb;
use tokio::time::advance;

use super::job::Ending;
use super::studies::NewStudy;
use super::{Options, SchedError, Scheduler};

const TTL: Duration = Duration::from_secs(10);

pub fn study_toml(name: &str, seeds: &[u64], max_attempts: u32, hidden: u32) -> String {
    format!(
        r#"version = 1
[study]
name = "{name}"
seeds = {seeds:?}
max_attempts = {max_attempts}
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
epochs = 1
learning_rate = 1e-3
[decode]
strategy = "greedy"
"#
    )
}

fn new_study(toml: &str, dataset: &str) -> NewStudy {
    let study = crate::spec::parse(toml, "s.toml", Path::new(".")).unwrap();
    let plan = crate::plan::plan(&study).unwrap();
    NewStudy {
        spec_toml: toml.into(),
        file_name: "s.toml".into(),
        base_dir: "/".into(),
        plan,
        dataset_hash: dataset.repeat(64 / dataset.len()),
        dataset_bytes: 10,
    }
}

fn opts() -> Options {
    Options { lease_ttl: TTL, heartbeat_interval: Duration::from_secs(2), max_lease_wait: Duration::from_secs(30) }
}

async fn open(dir: &Path) -> Arc<Scheduler> {
    Scheduler::open(dir, opts()).await.unwrap()
}

async fn worker(s: &Scheduler, name: &str) -> String {
    s.register(name.into(), pb::Capabilities { device: "cpu".into(), ..Default::default() }).await.unwrap()
}

fn result(bleu: f64) -> pb::JobResult {
    let example = |id: &str| pb::ExampleRow { example_id: id.into(), sentence_bleu: bleu, ..Default::default() };
    pb::JobResult {
        metrics: Some(pb::RunMetrics { bleu, ..Default::default() }),
        examples: vec![example("e1"), example("e2")],
        ..Default::default()
    }
}

/// The `job_id` of every row of every Parquet file in a table folder.
fn table_jobs(dir: &Path) -> Vec<String> {
    use polars::prelude::*;
    let mut ids = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(path.extension().and_then(|e| e.to_str()), Some("parquet"), "stray file {}", path.display());
        let df = ParquetReader::new(std::fs::File::open(&path).unwrap()).finish().unwrap();
        ids.extend(df.column("job_id").unwrap().str().unwrap().iter().map(|v| v.unwrap_or_default().to_string()));
    }
    ids.sort();
    ids
}

async fn lease(s: &Scheduler, w: &str) -> pb::JobAssignment {
    s.lease(w, Duration::ZERO).await.unwrap().expect("a job is queued")
}

#[tokio::test(start_paused = true)]
async fn an_expired_lease_is_retried_with_the_same_seed_until_max_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path()).await;
    s.submit(new_study(&study_toml("exp", &[1], 2, 16), "a"), false).await.unwrap();
    let w = worker(&s, "w1").await;
    let first = lease(&s, &w).await;
    assert_eq!(first.attempt, 1);
    assert!(s.lease(&w, Duration::from_millis(5)).await.unwrap().is_none(), "one job, already leased");

    // The empty poll above already let 5 ms pass.
    advance(TTL - Duration::from_millis(20)).await;
    assert_eq!(s.expire_due(), 0, "not expired before its deadline");
    advance(Duration::from_millis(20)).await;
    assert_eq!(s.expire_due(), 1);

    // A retry waits out its back-off (1 s after the first failure).
    assert!(s.lease(&w, Duration::ZERO).await.unwrap().is_none(), "not before the back-off");
    advance(Duration::from_secs(1)).await;
    let second = lease(&s, &w).await;
    assert_eq!((second.job_id.as_str(), second.attempt), (first.job_id.as_str(), 2));
    assert_eq!(second.spec_json, first.spec_json, "a retry runs the same specification, seed included");

    advance(TTL + Duration::from_millis(1)).await;
    assert_eq!(s.expire_due(), 1);
    let st = s.status("exp").unwrap();
    assert_eq!((st.jobs_failed, st.jobs_queued, st.state.as_str()), (1, 0, "failed"));
    assert!(s.lease(&w, Duration::ZERO).await.unwrap().is_none(), "a failed job is not retried");
}

#[tokio::test(start_paused = true)]
async fn heartbeats_renew_the_lease_and_report_progress() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path()).await;
    s.submit(new_study(&study_toml("hb", &[1], 3, 16), "a"), false).await.unwrap();
    let w = worker(&s, "w1").await;
    let a = lease(&s, &w).await;
    for _ in 0..5 {
        advance(TTL / 2).await;
        let progress = pb::Progress { phase: 2, epoch: 1, epochs: 1, train_loss: 2.5, ..Default::default() };
        let r = s.heartbeat(&w, "hb", 1, &a.job_id, a.attempt, Some(progress)).unwrap();
        assert!(!r.cancel, "{}", r.reason);
        assert_eq!(s.expire_due(), 0);
    }
    let st = s.status("hb").unwrap();
    assert_eq!(st.jobs_running, 1);
    assert_eq!(st.running[0].progress.as_ref().unwrap().train_loss, 2.5);
}

#[tokio::test(start_paused = true)]
async fn complete_is_idempotent_and_superseded_results_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path()).await;
    s.submit(new_study(&study_toml("idem", &[1], 3, 16), "a"), false).await.unwrap();
    let (w1, w2) = (worker(&s, "w1").await, worker(&s, "w2").await);
    let a1 = lease(&s, &w1).await;
    advance(TTL + Duration::from_millis(1)).await;
    s.expire_due();
    advance(Duration::from_secs(1)).await;
    let a2 = lease(&s, &w2).await;
    assert_eq!(a2.attempt, 2);

    let hb = s.heartbeat(&w1, "idem", 1, &a1.job_id, 1, None).unwrap();
    assert!(hb.cancel, "the superseded attempt is told to stop");
    let late = s.complete(&w1, "idem", 1, &a1.job_id, 1, result(1.0)).await.unwrap();
    assert!(!late.accepted && late.message.contains("superseded"), "{late:?}");

    let ok = s.complete(&w2, "idem", 1, &a2.job_id, 2, result(2.0)).await.unwrap();
    assert!(ok.accepted && !ok.duplicate);
    let again = s.complete(&w2, "idem", 1, &a2.job_id, 2, result(2.0)).await.unwrap();
    assert!(again.accepted && again.duplicate, "answered as a duplicate even before its rows are written");
    s.flush_tables().await;
    let st = s.status("idem").unwrap();
    assert_eq!((st.jobs_succeeded, st.state.as_str()), (1, "succeeded"));
    let runs = table_jobs(&dir.path().join("results/idem/v1/runs"));
    assert_eq!(runs, [a2.job_id.clone()], "one row, from the accepted attempt");
}

#[tokio::test(start_paused = true)]
async fn failures_release_retry_and_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path()).await;
    s.submit(new_study(&study_toml("fail", &[1], 2, 16), "a"), false).await.unwrap();
    let w = worker(&s, "w").await;
    let a = lease(&s, &w).await;
    let r = s.fail(&w, "fail", 1, &a.job_id, 1, Ending::Released, "shutting down").unwrap();
    assert!(r.requeued);
    let a = lease(&s, &w).await;
    let r = s.fail(&w, "fail", 1, &a.job_id, 2, Ending::Retryable, "out of memory").unwrap();
    assert!(r.requeued, "a release does not count towards max_attempts");
    advance(Duration::from_secs(1)).await;
    let a = lease(&s, &w).await;
    let r = s.fail(&w, "fail", 1, &a.job_id, 3, Ending::Fatal, "diverged").unwrap();
    assert!(!r.requeued);
    let stale = s.fail(&w, "fail", 1, &a.job_id, 3, Ending::Retryable, "again").unwrap();
    assert!(!stale.requeued && stale.message.contains("not current"));
    assert_eq!(s.status("fail").unwrap().jobs_failed, 1);
}

#[tokio::test(start_paused = true)]
async fn unknown_workers_and_jobs_are_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path()).await;
    s.submit(new_study(&study_toml("nf", &[1], 2, 16), "a"), false).await.unwrap();
    let e = s.lease("w-0000000000000000", Duration::ZERO).await.unwrap_err();
    assert!(matches!(e, SchedError::NotFound(ref m) if m.contains("unknown worker")), "{e}");
    let w = worker(&s, "w").await;
    let e = s.heartbeat(&w, "nf", 1, &"0".repeat(64), 1, None).unwrap_err();
    assert!(matches!(e, SchedError::NotFound(ref m) if m.contains("has no job")), "{e}");
    let e = s.heartbeat(&w, "other", 1, &"0".repeat(64), 1, None).unwrap_err();
    assert!(matches!(e, SchedError::NotFound(ref m) if m.contains("no study `other`")), "{e}");
}

#[tokio::test(start_paused = true)]
async fn a_resubmission_counts_the_jobs_already_queued_or_running() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path()).await;
    let v1 = s.submit(new_study(&study_toml("ip", &[1, 2, 3], 3, 16), "a"), false).await.unwrap();
    assert_eq!((v1.jobs_queued, v1.jobs_in_progress), (3, 0));
    let w = worker(&s, "w").await;
    let _running = lease(&s, &w).await;
    // One job leased, two still queued: none is new, none done.
    let again = s.submit(new_study(&study_toml("ip", &[1, 2, 3], 3, 16), "a"), false).await.unwrap();
    assert_eq!((again.jobs_queued, again.jobs_in_progress, again.jobs_already_done), (0, 3, 0));
}

#[tokio::test(start_paused = true)]
async fn resubmission_resumes_refuses_edits_and_new_versions_reuse_results() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path()).await;
    let v1 = s.submit(new_study(&study_toml("re", &[1, 2], 3, 16), "a"), false).await.unwrap();
    assert_eq!((v1.version, v1.jobs_total, v1.jobs_queued, v1.resumed), (1, 2, 2, false));
    let w = worker(&s, "w").await;
    for _ in 0..2 {
        let a = lease(&s, &w).await;
        assert!(s.complete(&w, "re", 1, &a.job_id, a.attempt, result(5.0)).await.unwrap().accepted);
    }
    let again = s.submit(new_study(&study_toml("re", &[1, 2], 3, 16), "a"), false).await.unwrap();
    assert_eq!((again.version, again.jobs_queued, again.jobs_already_done, again.resumed), (1, 0, 2, true));
    assert!(s.lease(&w, Duration::ZERO).await.unwrap().is_none(), "a finished study runs nothing");

    let edited = study_toml("re", &[1, 2, 3], 3, 16);
    let e = s.submit(new_study(&edited, "a"), false).await.unwrap_err();
    let SchedError::FailedPrecondition(msg) = e else { panic!("{e}") };
    assert!(msg.contains("seeds: [1, 2] -> [1, 2, 3]") && msg.contains("--new-version"), "{msg}");

    let v2 = s.submit(new_study(&edited, "a"), true).await.unwrap();
    assert_eq!((v2.version, v2.jobs_total, v2.jobs_already_done, v2.jobs_queued), (2, 3, 2, 1));
    let a = lease(&s, &w).await;
    assert_eq!((a.study.as_str(), a.study_version), ("re", 2));
    assert!(s.lease(&w, Duration::ZERO).await.unwrap().is_none());

    let other_data = s.submit(new_study(&edited, "b"), false).await.unwrap_err();
    assert!(other_data.to_string().contains("data set: aaaaaaaaaaaa -> bbbbbbbbbbbb"), "{other_data}");
}

#[tokio::test(start_paused = true)]
async fn cancel_drops_queued_jobs_and_stops_running_ones() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path()).await;
    s.submit(new_study(&study_toml("cx", &[1, 2, 3], 3, 16), "a"), false).await.unwrap();
    let w = worker(&s, "w").await;
    let a = lease(&s, &w).await;
    let c = s.cancel("cx").await.unwrap();
    assert_eq!((c.dropped_queued, c.stopping_running), (2, 1));
    let hb = s.heartbeat(&w, "cx", 1, &a.job_id, a.attempt, None).unwrap();
    assert!(hb.cancel && hb.reason.contains("cancelled"));
    s.fail(&w, "cx", 1, &a.job_id, a.attempt, Ending::Released, "cancelled").unwrap();
    let st = s.status("cx").unwrap();
    assert_eq!((st.jobs_cancelled, st.state.as_str()), (3, "cancelled"));
    // Resubmitting resumes a cancelled study.
    let r = s.submit(new_study(&study_toml("cx", &[1, 2, 3], 3, 16), "a"), false).await.unwrap();
    assert_eq!((r.resumed, r.jobs_queued), (true, 3));
}

#[tokio::test(start_paused = true)]
async fn a_restart_keeps_results_adopts_leases_and_burns_attempt_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let (done, running, w, exited) = {
        let s = open(dir.path()).await;
        s.submit(new_study(&study_toml("rs", &[1, 2, 3], 3, 16), "a"), false).await.unwrap();
        let w = worker(&s, "w").await;
        let done = lease(&s, &w).await;
        s.complete(&w, "rs", 1, &done.job_id, 1, result(7.0)).await.unwrap();
        let running = lease(&s, &w).await;
        s.heartbeat(&w, "rs", 1, &running.job_id, 1, None).unwrap();
        // Let the writer commit what was sent without waiting.
        s.writer().commit(vec![]).await.unwrap();
        s.flush_tables().await;
        (done, running, w, s.writer().exit_watch())
    };
    assert!(exited.wait(Duration::from_secs(30)), "the old writer thread ends and closes the ledger");
    std::fs::remove_dir_all(dir.path().join("results/rs/v1/runs")).unwrap();

    let s = open(dir.path()).await;
    let st = s.status("rs").unwrap();
    assert_eq!((st.jobs_succeeded, st.jobs_running, st.jobs_queued), (1, 1, 1));
    let runs = table_jobs(&dir.path().join("results/rs/v1/runs"));
    assert_eq!(runs, [done.job_id.clone()], "missing result tables are rewritten from the ledger");
    // The surviving worker carries on with its attempt.
    let hb = s.heartbeat(&w, "rs", 1, &running.job_id, 1, None).unwrap();
    assert!(!hb.cancel, "{}", hb.reason);
    // The queued job's next attempt skips a number the crash may have lost.
    let next = lease(&s, &w).await;
    assert_eq!(next.attempt, 2);
    assert!(s.complete(&w, "rs", 1, &running.job_id, 1, result(1.0)).await.unwrap().accepted);
    let dup = s.complete(&w, "rs", 1, &done.job_id, 1, result(7.0)).await.unwrap();
    assert!(dup.duplicate, "a result resent after the restart is acknowledged, not recorded twice");
}

#[tokio::test(start_paused = true)]
async fn a_restart_rewrites_what_a_crash_left_unwritten_and_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, exited) = {
        let s = open(dir.path()).await;
        s.submit(new_study(&study_toml("bt", &[1, 2, 3], 3, 16), "a"), false).await.unwrap();
        let w = worker(&s, "w").await;
        let mut done = Vec::new();
        for bleu in [1.0, 2.0] {
            let x = lease(&s, &w).await;
            assert!(s.complete(&w, "bt", 1, &x.job_id, x.attempt, result(bleu)).await.unwrap().accepted);
            // One batch per job: the writer has nothing else queued.
            s.flush_tables().await;
            done.push(x.job_id);
        }
        (done[0].clone(), done[1].clone(), s.writer().exit_watch())
    };
    assert!(exited.wait(Duration::from_secs(30)), "the old writer thread ends and closes the ledger");
    let results = dir.path().join("results/bt/v1");
    let ledger = rusqlite::Connection::open(dir.path().join("ledger.sqlite")).unwrap();
    let batch_of = |job: &str| -> Option<i64> {
        ledger.query_row("SELECT table_batch FROM results WHERE job_id = ?1", [job], |r| r.get(0)).unwrap()
    };
    assert_eq!((batch_of(&a), batch_of(&b)), (Some(1), Some(2)));
    // A crash while batch 1 was being written: its runs file is there, the
    // others are not.
    for t in ["examples", "curves"] {
        std::fs::remove_file(results.join(t).join("batch-00000001.parquet")).unwrap();
    }
    // A crash before batch 2 was recorded: the ledger has b's result but no
    // batch number, and no file has its rows.
    ledger.execute("UPDATE results SET table_batch = NULL WHERE job_id = ?1", [&b]).unwrap();
    for t in ["runs", "examples", "curves"] {
        std::fs::remove_file(results.join(t).join("batch-00000002.parquet")).unwrap();
    }
    drop(ledger);

    let s = open(dir.path()).await;
    let mut both = vec![a.clone(), b.clone()];
    both.sort();
    assert_eq!(table_jobs(&results.join("runs")), both, "every job's run once");
    let mut examples = vec![a.clone(), a.clone(), b.clone(), b.clone()];
    examples.sort();
    assert_eq!(table_jobs(&results.join("examples")), examples, "every job's examples once");
    assert!(results.join("examples/batch-00000001.parquet").exists(), "a recorded batch keeps its name");
    assert!(results.join(format!("runs/{b}.parquet")).exists(), "a result with no batch gets per-job files");

    // Later batches are numbered past every recorded one.
    let w = worker(&s, "w2").await;
    let c = lease(&s, &w).await;
    s.complete(&w, "bt", 1, &c.job_id, c.attempt, result(3.0)).await.unwrap();
    s.flush_tables().await;
    assert_eq!(s.status("bt").unwrap().jobs_succeeded, 3);
    assert_eq!(table_jobs(&results.join("runs")).len(), 3);
    assert!(results.join("runs/batch-00000002.parquet").exists());
}

#[tokio::test(start_paused = true)]
async fn fleet_failures_use_no_attempt_and_retry_requeues_failed_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path()).await;
    s.submit(new_study(&study_toml("fl", &[1], 1, 16), "a"), false).await.unwrap();
    let w = worker(&s, "w").await;
    // max_attempts = 1: a data transfer failure must not fail the job.
    let a = lease(&s, &w).await;
    let r = s.fail(&w, "fl", 1, &a.job_id, a.attempt, Ending::Unavailable, "data set transfer failed").unwrap();
    assert!(r.requeued, "{r:?}");
    advance(Duration::from_secs(1)).await;
    let a = lease(&s, &w).await;
    s.fail(&w, "fl", 1, &a.job_id, a.attempt, Ending::Retryable, "crashed").unwrap();
    let jobs = s.jobs("fl").unwrap().jobs;
    assert_eq!((jobs[0].state.as_str(), jobs[0].attempts, jobs[0].failures), ("failed", 2, 1));
    assert!(jobs[0].last_reason.contains("crashed"), "{:?}", jobs[0]);
    assert!(s.lease(&w, Duration::ZERO).await.unwrap().is_none());

    let r = s.retry("fl").await.unwrap();
    assert_eq!(r.jobs_queued, 1);
    let a = lease(&s, &w).await;
    assert_eq!(a.attempt, 3, "attempt numbers are never reused");
    assert!(s.complete(&w, "fl", 1, &a.job_id, 3, result(4.0)).await.unwrap().accepted);
    let e = s.retry("fl@7").await.unwrap_err();
    assert!(e.to_string().contains("no study `fl@7` (versions: fl@1)"), "{e}");
}

#[tokio::test(start_paused = true)]
async fn a_worker_whose_lease_the_crash_lost_keeps_its_job_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (w, job, exited) = {
        let s = open(dir.path()).await;
        s.submit(new_study(&study_toml("lost", &[1], 3, 16), "a"), false).await.unwrap();
        let w = worker(&s, "w").await;
        let a = lease(&s, &w).await;
        s.writer().commit(vec![]).await.unwrap();
        (w, a.job_id, s.writer().exit_watch())
    };
    assert!(exited.wait(Duration::from_secs(30)), "the old writer thread ends and closes the ledger");
    // As if the crash came before the lease reached the ledger.
    let ledger = rusqlite::Connection::open(dir.path().join("ledger.sqlite")).unwrap();
    ledger.execute("DELETE FROM attempts", []).unwrap();
    ledger.execute("UPDATE jobs SET state = 'queued', attempts_issued = 0", []).unwrap();
    drop(ledger);

    let s = open(dir.path()).await;
    assert_eq!(s.status("lost").unwrap().jobs_queued, 1);
    // Recovery burnt attempt 1; the worker still trains it and says so.
    let hb = s.heartbeat(&w, "lost", 1, &job, 1, None).unwrap();
    assert!(!hb.cancel, "{}", hb.reason);
    assert_eq!(s.status("lost").unwrap().jobs_running, 1);
    assert!(s.lease(&w, Duration::ZERO).await.unwrap().is_none(), "the adopted job is not handed out again");
    assert!(s.complete(&w, "lost", 1, &job, 1, result(2.0)).await.unwrap().accepted);
    assert_eq!(s.jobs("lost").unwrap().jobs[0].failures, 0);
}

#[tokio::test]
async fn one_scheduler_at_a_time_per_state_folder() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path()).await;
    let Err(e) = Scheduler::open(dir.path(), opts()).await else { panic!("a second scheduler opened the folder") };
    assert!(e.to_string().contains("in use by another coordinator"), "{e}");
    assert!(e.to_string().contains(&format!("pid {}", std::process::id())), "{e}");
    drop(s);
}
