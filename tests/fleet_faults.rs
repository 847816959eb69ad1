//! Faults, with the real binary on loopback: a worker killed with -9 in
//! the middle of a job, a worker stopped with SIGTERM, and the coordinator
//! killed with -9 in the middle of a study and restarted on the same state.

mod fleet_support;

use std::time::Duration;

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
    std::thread::sleep(Duration::from_millis(500));
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

#[test]
fn a_worker_stopped_with_sigterm_gives_its_lease_back() {
    let deadline = Deadline::after(180);
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let (_coordinator, url) = coordinator(&state, "127.0.0.1:0", FAST, deadline);
    let mut leaving = worker(&url, "leaving", &tmp.path().join("cache1"), 30.0, &[]);
    deadline.wait_for("the worker to register", || {
        Ledger::open(&state).is_some_and(|l| l.count("SELECT COUNT(*) FROM workers") == 1)
    });
    let file = study(tmp.path(), "term", 1, 32);
    let out = run_cli(intervene(&["submit", file.to_str().unwrap(), "--coordinator", &url]), 120);
    assert!(out.status.success(), "{}", text(&out).1);
    let id = worker_id(&state, "leaving");
    deadline.wait_for("a job to start", || !in_flight_of(&state, &id).is_empty());
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
    first.kill9();
    let before: Vec<(String, i64, String, Option<String>)> = Ledger::open(&state)
        .unwrap()
        .rows("SELECT job_id, attempt, worker_id, CAST(finished_at_ms AS TEXT) FROM results ORDER BY job_id");
    assert!(before.len() >= 2);

    // Away for a moment: the workers keep training and retry.
    std::thread::sleep(Duration::from_millis(1500));
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
