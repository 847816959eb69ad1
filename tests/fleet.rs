//! A coordinator and two workers on loopback run a study: every job exactly
//! once, every result present; resubmitting runs nothing; an edited study is
//! refused with what changed, and accepted as version 2 with --new-version;
//! status and cancel from the CLI. One test trains for real: two workers
//! with the libtorch trainer on a tiny synthetic study (seconds per job).

mod fleet_support;

use fleet_support::*;

#[test]
fn two_workers_run_every_job_exactly_once_and_resubmission_runs_nothing() {
    let deadline = Deadline::after(180);
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let (_coordinator, url) = coordinator(&state, "127.0.0.1:0", &[], deadline);
    let _w1 = worker(&url, "w1", &tmp.path().join("cache1"), 0.3, &[]);
    let _w2 = worker(&url, "w2", &tmp.path().join("cache2"), 0.3, &[]);
    deadline.wait_for("both workers to register", || {
        Ledger::open(&state).is_some_and(|l| l.count("SELECT COUNT(*) FROM workers") == 2)
    });

    let file = study(tmp.path(), "pair", 5, 32);
    let out = run_cli(intervene(&["submit", file.to_str().unwrap(), "--coordinator", &url]), 120);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout
            .contains("submitted study pair version 1: 10 jobs (10 new, 0 already queued or running, 0 already done)"),
        "{stdout}"
    );

    deadline.wait_for("the study to finish", || succeeded(&state, "pair", 1) == 10);
    assert_complete_and_unique(&state, "pair", 1, 10, 1);
    let l = Ledger::open(&state).unwrap();
    assert_eq!(l.count("SELECT COUNT(DISTINCT worker_id) FROM attempts"), 2, "both workers took jobs");
    assert_eq!(l.count("SELECT COUNT(*) FROM attempts"), 10, "no job ran twice");

    // Status from the CLI.
    let out = run_cli(intervene(&["status", "pair", "--coordinator", &url]), 30);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("study pair v1: succeeded (10 of 10 jobs done"), "{stdout}");
    assert!(stdout.contains("control") && stdout.contains("wider/hidden_dim=64"), "{stdout}");
    let out = run_cli(intervene(&["status", "--coordinator", &url]), 30);
    assert!(text(&out).0.contains("pair"), "{}", text(&out).0);

    // Resubmitting the finished study runs nothing.
    let out = run_cli(intervene(&["submit", file.to_str().unwrap(), "--coordinator", &url]), 120);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains(
            "resumed study pair version 1: 10 jobs (0 queued again, 0 already queued or running, 10 already done)"
        ),
        "{stdout}"
    );
    // Nothing was queued, so nothing can be leased: the ledger says so now,
    // with no wait.
    let out = run_cli(intervene(&["status", "pair", "--coordinator", &url]), 30);
    assert!(text(&out).0.contains("study pair v1: succeeded (10 of 10 jobs done"), "{}", text(&out).0);
    let l = Ledger::open(&state).unwrap();
    assert_eq!(l.count("SELECT COUNT(*) FROM jobs WHERE state != 'succeeded'"), 0, "nothing queued again");
    assert_eq!(l.count("SELECT COUNT(*) FROM attempts"), 10, "nothing ran again");

    // An edited study under the same name is refused with the diff...
    let edited = study(tmp.path(), "pair", 6, 32);
    let out = run_cli(intervene(&["submit", edited.to_str().unwrap(), "--coordinator", &url]), 120);
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("study `pair` version 1 was submitted with a different specification"), "{stderr}");
    assert!(stderr.contains("seeds: [1, 2, 3, 4, 5] -> [1, 2, 3, 4, 5, 6]"), "{stderr}");
    assert!(stderr.contains("--new-version"), "{stderr}");

    // ...and accepted as version 2 with --new-version, reusing what did not change.
    let out = run_cli(intervene(&["submit", edited.to_str().unwrap(), "--coordinator", &url, "--new-version"]), 120);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout
            .contains("submitted study pair version 2: 12 jobs (2 new, 0 already queued or running, 10 already done)"),
        "{stdout}"
    );
    deadline.wait_for("version 2 to finish", || succeeded(&state, "pair", 2) == 12);
    assert_complete_and_unique(&state, "pair", 2, 12, 1);
    assert_eq!(Ledger::open(&state).unwrap().count("SELECT COUNT(*) FROM attempts"), 12, "only the two new jobs ran");
}

#[test]
fn two_workers_train_a_tiny_study_for_real() {
    let deadline = Deadline::after(240);
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let (_coordinator, url) = coordinator(&state, "127.0.0.1:0", &[], deadline);
    let _w1 = real_worker(&url, "w1", &tmp.path().join("cache1"), &[]);
    let _w2 = real_worker(&url, "w2", &tmp.path().join("cache2"), &[]);
    deadline.wait_for("both workers to register", || {
        Ledger::open(&state).is_some_and(|l| l.count("SELECT COUNT(*) FROM workers") == 2)
    });

    let file = study(tmp.path(), "real", 2, 16);
    let out = run_cli(intervene(&["submit", file.to_str().unwrap(), "--coordinator", &url]), 120);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("submitted study real version 1: 4 jobs (4 new, 0 already queued or running, 0 already done)"),
        "{stdout}"
    );

    deadline.wait_for("the study to finish", || {
        let s = job_states(&state, "real", 1);
        s.get("succeeded").copied().unwrap_or(0) + s.get("failed").copied().unwrap_or(0) == 4
    });
    let l = Ledger::open(&state).unwrap();
    assert_eq!(l.count("SELECT COUNT(*) FROM attempts WHERE outcome != 'succeeded'"), 0, "no attempt failed");
    let rows = assert_recorded_once(&state, "real", 1, 4, 1);
    for (job, arm, bleu) in &rows {
        assert!(bleu.is_finite() && (0.0..=100.0).contains(bleu), "job {job} ({arm}): bleu {bleu}");
    }
    assert_eq!(l.count("SELECT COUNT(DISTINCT worker_id) FROM attempts"), 2, "both workers trained");

    let out = run_cli(intervene(&["status", "real", "--coordinator", &url]), 30);
    assert!(text(&out).0.contains("study real v1: succeeded (4 of 4 jobs done"), "{}", text(&out).0);
}

#[test]
fn cancel_drops_queued_jobs_and_a_resubmission_resumes() {
    let deadline = Deadline::after(180);
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let (_coordinator, url) =
        coordinator(&state, "127.0.0.1:0", &["--heartbeat-ms", "200", "--lease-ttl-ms", "2000"], deadline);
    let _w = worker(&url, "w1", &tmp.path().join("cache"), 2.0, &[]);
    let file = study(tmp.path(), "cx", 3, 32);
    let out = run_cli(intervene(&["submit", file.to_str().unwrap(), "--coordinator", &url]), 120);
    assert!(out.status.success(), "{}", text(&out).1);
    deadline.wait_for("a job to run", || job_states(&state, "cx", 1).get("running").copied().unwrap_or(0) == 1);

    let out = run_cli(intervene(&["cancel", "cx", "--coordinator", &url]), 30);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("cancelled cx: 5 queued jobs dropped, 1 running jobs asked to stop"), "{stdout}");
    deadline.wait_for("the running job to stop", || job_states(&state, "cx", 1).get("cancelled").copied() == Some(6));
    let l = Ledger::open(&state).unwrap();
    assert_eq!(
        l.count("SELECT COUNT(*) FROM attempts WHERE outcome = 'released'"),
        1,
        "the worker gave the lease back"
    );

    let out = run_cli(intervene(&["submit", file.to_str().unwrap(), "--coordinator", &url]), 120);
    let (stdout, _) = text(&out);
    assert!(
        stdout.contains(
            "resumed study cx version 1: 6 jobs (6 queued again, 0 already queued or running, 0 already done)"
        ),
        "{stdout}"
    );
}

#[test]
fn bad_requests_name_the_field() {
    let deadline = Deadline::after(60);
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let (_coordinator, url) = coordinator(&state, "127.0.0.1:0", &[], deadline);
    let out = run_cli(intervene(&["status", "no such study", "--coordinator", &url]), 30);
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("study: `no such study` is not a study name"), "{stderr}");
    let out = run_cli(intervene(&["status", "absent", "--coordinator", &url]), 30);
    assert!(text(&out).1.contains("no study `absent`"), "{}", text(&out).1);

    // --data-dir skips the local check: the coordinator's refusal is the
    // study file's own error lines, each said once.
    let bad = tmp.path().join("bad.toml");
    std::fs::write(&bad, "version = 1\n[study]\nname = \"x\"\nseedz = 3\n").unwrap();
    let data_dir = tmp.path().to_str().unwrap();
    let out = run_cli(intervene(&["submit", bad.to_str().unwrap(), "--coordinator", &url, "--data-dir", data_dir]), 30);
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.starts_with("error: ") && stderr.contains("bad.toml:4:1: study.seedz"), "{stderr}");
    assert_eq!(stderr.lines().filter(|l| l.contains("seedz`")).count(), 1, "{stderr}");
    assert!(!stderr.lines().next().unwrap_or("").contains("spec_toml"), "{stderr}");
}
