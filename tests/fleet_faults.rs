//! Faults, with the real binary on loopback: a worker killed with -9 in
//! the middle of a job, a worker stopped with SIGTERM, and the coordinator
//! killed with -9 in the middle of a study and restarted on the same state.

mod fleet_support;

use fleet_support::*;

/// Leases expire 2 s after the last heartbeat; heartbeats every 250 ms.
const FAST: &[&str] = &["--lease-ttl-ms", "2000", "--heartbeat-ms", "250"];

fn worker_id(state: &std::path::Path, name: &str) -> String {
    Ledger::open(state).unwrap().strings(&format!("SELECT worker_id FROM workers WHERE name = '{name}'")).remove(0)
}

fn in_flight_of(state: &std::path::Path, worker: &str) -> Vec<String> {
    Ledger::open(state)
        .map(|l| l.strings(&format!("SELECT job_id FROM attempts WHERE worker_id = '{worker}' AND outcome IS NULL")))
        .unwrap_or_default()
}

#[test]
fn a_worker_killed_mid_job_loses_its_lease_and_the_job_finishes_elsewhere() {
    let deadline = Deadline::after(180);
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let (_coordinator, url) = coordinator(&state, "127.0.0.1:0", FAST, deadline);
    let mut doomed = worker(&url, "doomed", &tmp.path().join("cache1"), 4.0, &[]);
    deadline.wait_for("the first worker to register", || {
        Ledger::open(&state).is_some_and(|l| l.count("SELECT COUNT(*) FROM workers") == 1)
    });
    let file = study(tmp.path(), "kill9", 2, 32);
    let out = run_cli(intervene(&["submit", file.to_str().unwrap(), "--coordinator", &url]), 120);
    assert!(out.status.success(), "{}", text(&out).1);
    let id = worker_id(&state, "doomed");
    deadline.wait_for("the doomed worker to start a job", || !in_flight_of(&state, &id).is_empty());
    let victim = in_flight_of(&state, &id).remove(0);
    // Killed mid-job: once its first heartbeat has marked the job running.
    deadline.wait_for("the doomed worker's first heartbeat", || {
        Ledger::open(&state).is_some_and(|l| {
            l.count(&format!("SELECT COUNT(*) FROM jobs WHERE job_id = '{victim}' AND state = 'running'")) == 1
        })
    });
    doomed.kill9();

    let _survivor = worker(&url, "survivor", &tmp.path().join("cache2"), 0.5, &[]);
    deadline.wait_for("the study to finish", || succeeded(&state, "kill9", 1) == 4);
    assert_complete_and_unique(&state, "kill9", 1, 4, 1);
    let l = Ledger::open(&state).unwrap();
    let attempts = l.rows(&format!(
        "SELECT outcome, attempt, worker_id, reason FROM attempts WHERE job_id = '{victim}' ORDER BY attempt"
    ));
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert_eq!((attempts[0].0.as_str(), attempts[0].1, attempts[0].2.as_str()), ("expired", 1, id.as_str()));
    assert!(attempts[0].3.as_deref().unwrap_or("").contains("lease expired"), "{attempts:?}");
    assert_eq!((attempts[1].0.as_str(), attempts[1].1), ("succeeded", 2), "re-leased as attempt 2: {attempts:?}");
}

/// One coordinator (FAST leases) and one fake-training worker named `name`
/// (`seconds` per job), a 2-job study `study_name` submitted, and its first job
/// in flight on that worker.
fn one_job_in_flight(
    dir: &std::path::Path,
    name: &str,
    seconds: f64,
    study_name: &str,
    deadline: Deadline,
) -> (Proc, String, Proc) {
    let state = dir.join("state");
    let (coordinator, url) = coordinator(&state, "127.0.0.1:0", FAST, deadline);
    let w = worker(&url, name, &dir.join("cache1"), seconds, &[]);
    deadline.wait_for("the worker to register", || {
        Ledger::open(&state).is_some_and(|l| l.count("SELECT COUNT(*) FROM workers") == 1)
    });
    let file = study(dir, study_name, 1, 32);
    let out = run_cli(intervene(&["submit", file.to_str().unwrap(), "--coordinator", &url]), 120);
    assert!(out.status.success(), "{}", text(&out).1);
    let id = worker_id(&state, name);
    deadline.wait_for("a job to start", || !in_flight_of(&state, &id).is_empty());
    (coordinator, url, w)
}

#[test]
fn a_worker_stopped_with_sigterm_gives_its_lease_back() {
    let deadline = Deadline::after(180);
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let (_coordinator, url, mut leaving) = one_job_in_flight(tmp.path(), "leaving", 30.0, "term", deadline);
    let status = leaving.terminate(30).expect("the worker stops within 30 s of SIGTERM");
    assert!(status.success(), "clean exit after SIGTERM: {status:?}");
    let l = Ledger::open(&state).unwrap();
    assert_eq!(l.count("SELECT COUNT(*) FROM attempts WHERE outcome = 'released'"), 1);
    assert_eq!(l.count("SELECT SUM(failures) FROM jobs"), 0, "a released lease is not a failure");

    let _next = worker(&url, "next", &tmp.path().join("cache2"), 0.2, &[]);
    deadline.wait_for("the study to finish", || succeeded(&state, "term", 1) == 2);
    assert_complete_and_unique(&state, "term", 1, 2, 1);
}

#[test]
fn a_coordinator_stopped_together_with_its_worker_waits_for_the_lease_to_come_back() {
    let deadline = Deadline::after(180);
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let (mut coordinator, _url, mut w) = one_job_in_flight(tmp.path(), "w", 60.0, "together", deadline);
    // What `scancel` or a Kubernetes rollout does: every process signalled
    // at once, the coordinator first.
    let pids = [coordinator.pid().to_string(), w.pid().to_string()];
    assert!(std::process::Command::new("kill").arg("-TERM").args(&pids).status().unwrap().success());
    let worker_status = w.wait_exit(30).expect("the worker stops within 30 s");
    let coordinator_status = coordinator.wait_exit(30).expect("the coordinator stops once the lease is back");
    assert!(worker_status.success() && coordinator_status.success(), "{worker_status:?} {coordinator_status:?}");
    let l = Ledger::open(&state).unwrap();
    assert_eq!(l.count("SELECT COUNT(*) FROM attempts WHERE outcome = 'released'"), 1, "the lease was given back");
    assert_eq!(l.count("SELECT COUNT(*) FROM attempts WHERE outcome IS NULL"), 0, "no attempt left open");
    assert_eq!(l.count("SELECT SUM(failures) FROM jobs"), 0);
    let log = std::fs::read_to_string(state.with_extension("coordinator.log")).unwrap();
    assert!(log.contains("every lease was given back"), "{log}");
}

#[test]
fn a_coordinator_killed_mid_study_resumes_on_the_same_state() {
    let deadline = Deadline::after(240);
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let (mut first, url) = coordinator(&state, "127.0.0.1:0", FAST, deadline);
    let listen = url.trim_start_matches("http://").to_string();
    let _w1 = worker(&url, "w1", &tmp.path().join("cache1"), 1.5, &[]);
    let _w2 = worker(&url, "w2", &tmp.path().join("cache2"), 1.5, &[]);
    let file = study(tmp.path(), "crash", 5, 32);
    let out = run_cli(intervene(&["submit", file.to_str().unwrap(), "--coordinator", &url]), 120);
    assert!(out.status.success(), "{}", text(&out).1);

    // Kill it once some results are in and some jobs are in flight.
    deadline.wait_for("results and jobs in flight", || {
        let s = job_states(&state, "crash", 1);
        s["succeeded"] >= 2 && s["running"] + s["leased"] >= 1
    });
    let unreachable = |name: &str, cache: &str| log_lines(&tmp.path().join(cache), name, "coordinator unreachable");
    let seen = (unreachable("w1", "cache1"), unreachable("w2", "cache2"));
    first.kill9();
    let before: Vec<(String, i64, String, Option<String>)> = Ledger::open(&state)
        .unwrap()
        .rows("SELECT job_id, attempt, worker_id, CAST(finished_at_ms AS TEXT) FROM results ORDER BY job_id");
    assert!(before.len() >= 2);

    // Away until both workers have found it gone; they keep training and retry.
    deadline.wait_for("both workers to find the coordinator gone", || {
        unreachable("w1", "cache1") > seen.0 && unreachable("w2", "cache2") > seen.1
    });
    let (_second, url2) = coordinator(&state, &listen, FAST, deadline);
    assert_eq!(url2, url, "restarted on the same address");
    deadline.wait_for("the study to finish after the restart", || succeeded(&state, "crash", 1) == 10);
    assert_complete_and_unique(&state, "crash", 1, 10, 1);

    let after = Ledger::open(&state)
        .unwrap()
        .rows("SELECT job_id, attempt, worker_id, CAST(finished_at_ms AS TEXT) FROM results ORDER BY job_id");
    for row in &before {
        assert!(after.contains(row), "result recorded before the crash was kept unchanged: {row:?}");
    }
}

/// Lines of a worker's log (written next to its cache folder) that contain `what`.
fn log_lines(cache: &std::path::Path, name: &str, what: &str) -> usize {
    std::fs::read_to_string(cache.with_extension(format!("{name}.log")))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(what))
        .count()
}

#[test]
fn two_workers_sharing_a_cache_folder_fetch_the_data_set_once_and_use_no_attempt() {
    let deadline = Deadline::after(180);
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let cache = tmp.path().join("cache");
    let (_coordinator, url) = coordinator(&state, "127.0.0.1:0", FAST, deadline);
    // Both idle in Lease before the study exists, so both get a job, and
    // both need the data set, at the same moment.
    let _a = worker(&url, "a", &cache, 0.5, &[]);
    let _b = worker(&url, "b", &cache, 0.5, &[]);
    deadline.wait_for("both workers to register", || {
        Ledger::open(&state).is_some_and(|l| l.count("SELECT COUNT(*) FROM workers") == 2)
    });
    let file = study(tmp.path(), "shared", 2, 32);
    let out = run_cli(intervene(&["submit", file.to_str().unwrap(), "--coordinator", &url]), 120);
    assert!(out.status.success(), "{}", text(&out).1);
    deadline.wait_for("the study to finish", || succeeded(&state, "shared", 1) == 4);
    assert_complete_and_unique(&state, "shared", 1, 4, 1);
    let l = Ledger::open(&state).unwrap();
    assert_eq!(l.count("SELECT COUNT(*) FROM attempts WHERE outcome != 'succeeded'"), 0, "no attempt failed");
    assert_eq!(l.count("SELECT COUNT(DISTINCT worker_id) FROM attempts"), 2, "both workers ran jobs");
    let fetched = log_lines(&cache, "a", "data set cached") + log_lines(&cache, "b", "data set cached");
    assert_eq!(fetched, 1, "one download for the two workers");
    let files: Vec<String> = std::fs::read_dir(cache.join("datasets"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".lock"))
        .collect();
    assert_eq!(files.len(), 1, "one cached file and no partial download left: {files:?}");
}

#[test]
fn a_worker_and_then_the_coordinator_killed_in_a_study_of_real_jobs_lose_nothing() {
    let deadline = Deadline::after(540);
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    // Real training loads both cores: a lease long enough that a busy
    // machine's late heartbeat does not pass for a dead worker.
    let ttl: &[&str] = &["--lease-ttl-ms", "5000", "--heartbeat-ms", "500"];
    let (mut first, url) = coordinator(&state, "127.0.0.1:0", ttl, deadline);
    let listen = url.trim_start_matches("http://").to_string();
    let cache = tmp.path().join("cache");
    let mut doomed = real_worker(&url, "doomed", &cache, &[]);
    let _steady = real_worker(&url, "steady", &cache, &[]);
    // 3 seeds x 2 arms = 6 real training jobs.
    let file = study(tmp.path(), "real", 3, 32);
    let out = run_cli(intervene(&["submit", file.to_str().unwrap(), "--coordinator", &url]), 120);
    assert!(out.status.success(), "{}", text(&out).1);
    deadline.wait_for("both workers to register", || {
        Ledger::open(&state).is_some_and(|l| l.count("SELECT COUNT(*) FROM workers") == 2)
    });
    let doomed_id = worker_id(&state, "doomed");
    deadline.wait_for("the doomed worker to start a job", || !in_flight_of(&state, &doomed_id).is_empty());
    doomed.kill9();
    let _third = real_worker(&url, "third", &cache, &[]);

    deadline.wait_for("a result, and jobs in flight", || {
        let s = job_states(&state, "real", 1);
        s["succeeded"] >= 1 && s["succeeded"] < 6 && s["running"] + s["leased"] >= 1
    });
    let seen = log_lines(&cache, "steady", "coordinator unreachable");
    first.kill9();
    // Away until the surviving worker has found it gone.
    deadline.wait_for("the steady worker to find the coordinator gone", || {
        log_lines(&cache, "steady", "coordinator unreachable") > seen
    });
    let (_second, url2) = coordinator(&state, &listen, ttl, deadline);
    assert_eq!(url2, url, "restarted on the same address");
    deadline.wait_for("every job to succeed", || succeeded(&state, "real", 1) == 6);
    assert_recorded_once(&state, "real", 1, 6, 1);

    let l = Ledger::open(&state).unwrap();
    // The only attempt that counts is the one the killed worker held.
    let expired = l.rows(
        "SELECT outcome, attempt, worker_id, reason FROM attempts WHERE outcome IS NOT NULL AND outcome != 'succeeded'",
    );
    for (outcome, _, worker, reason) in &expired {
        assert_eq!((outcome.as_str(), worker.as_str()), ("expired", doomed_id.as_str()), "{reason:?}");
    }
    assert_eq!(l.count("SELECT SUM(failures) FROM jobs WHERE study = 'real'"), expired.len() as i64);
    assert!(expired.len() <= 1, "{expired:?}");
}
