//! Load: 200 simulated workers (the real agent with a fake trainer that
//! returns at once, each on its own gRPC connection) against the real
//! coordinator binary, 10,000 jobs. Nothing lost, nothing run twice.
//! Throughput is measured by the benchmark, not asserted here.

mod fleet_support;

use std::sync::Arc;
use std::time::Duration;

use fleet_support::*;
use intervene_worker::agent::{self, AgentConfig, Connection, FakeTrainer};

const WORKERS: usize = 200;
const SEEDS: usize = 5_000; // x 2 arms = 10,000 jobs

#[test]
fn two_hundred_workers_ten_thousand_jobs_nothing_lost_nothing_duplicated() {
    let deadline = Deadline::after(900);
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let (_coordinator, url) = coordinator(&state, "127.0.0.1:0", &[], deadline);
    let file = study(tmp.path(), "load", SEEDS, 32);
    let out = run_cli(intervene(&["submit", file.to_str().unwrap(), "--coordinator", &url]), 300);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("10000 jobs (10000 new"), "{stdout}");

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let summaries = rt.block_on(async {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let trainer = Arc::new(FakeTrainer { duration: Duration::ZERO });
        let mut tasks = Vec::new();
        for i in 0..WORKERS {
            let cfg = AgentConfig {
                connection: Connection { url: url.clone(), token: TOKEN.into(), tls_ca: None, tls_domain: None },
                name: format!("sim-{i:03}"),
                device: "cpu".into(),
                cache_dir: tmp.path().join("cache"),
                pending_dir: tmp.path().join(format!("pending/{i}")),
                lease_wait: Duration::from_millis(500),
                max_backoff: Duration::from_secs(2),
                share: None,
            };
            tasks.push(tokio::spawn(agent::run(cfg, trainer.clone(), stop_rx.clone())));
        }
        let watcher = {
            let state = state.clone();
            tokio::task::spawn_blocking(move || {
                deadline.wait_for("all 10,000 jobs to finish", || succeeded(&state, "load", 1) == 10_000);
            })
        };
        let waited = watcher.await;
        let _ = stop_tx.send(true);
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.expect("agent task").expect("agent"));
        }
        waited.expect("watcher");
        out
    });

    let completed: u32 = summaries.iter().map(|s| s.completed).sum();
    assert_eq!(completed, 10_000, "every result acknowledged once, none twice");
    assert!(summaries.iter().all(|s| s.failed == 0), "no job failed");
    let busy = summaries.iter().filter(|s| s.completed > 0).count();
    assert!(busy > WORKERS / 2, "work spread over the fleet: {busy} of {WORKERS} workers had jobs");
    assert_complete_and_unique(&state, "load", 1, 10_000, 1);
    let l = Ledger::open(&state).unwrap();
    assert_eq!(l.count("SELECT COUNT(*) FROM attempts"), 10_000, "no job ran twice");
    assert_eq!(l.count("SELECT COUNT(*) FROM workers"), WORKERS as i64);
}
