//! A job's result depends only on its id: each job trains in a process of
//! its own, so `intervene run --workers 1`, `--workers 2` and `--workers 1`
//! again give bit-identical runs and predictions; a job process that dies
//! fails only its attempt; `status --jobs`, `--json` and `retry` on the
//! state folder `intervene run` leaves.

mod fleet_support;

use std::path::Path;

use fleet_support::*;
use polars::prelude::*;

/// Every Parquet file of a result table, concatenated and sorted by `by`.
fn table(state: &Path, study: &str, name: &str, columns: &[&str], by: &[&str]) -> DataFrame {
    let dir = state.join(format!("results/{study}/v1/{name}"));
    let mut frames = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("parquet") {
            continue;
        }
        let df = ParquetReader::new(std::fs::File::open(&path).unwrap()).finish().unwrap();
        frames.push(df.select(columns.iter().copied()).unwrap());
    }
    let mut all = frames.remove(0);
    for f in frames {
        all.vstack_mut(&f).unwrap();
    }
    all.sort(by.iter().copied().collect::<Vec<_>>(), SortMultipleOptions::default()).unwrap()
}

fn run_study(file: &Path, state: &Path, extra: &[&str]) -> (String, String) {
    let mut args = vec!["run", file.to_str().unwrap(), "--state", state.to_str().unwrap()];
    args.extend_from_slice(extra);
    let mut cmd = intervene(&args);
    cmd.env_remove("INTERVENE_TOKEN");
    let out = run_cli(cmd, 600);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    (stdout, stderr)
}

const RUN_COLUMNS: &[&str] =
    &["job_id", "arm", "seed", "bleu", "token_accuracy", "exact_match", "test_loss", "best_valid_loss", "cpu_threads"];

#[test]
fn a_job_gives_the_same_result_whatever_runs_beside_it() {
    let tmp = tempfile::tempdir().unwrap();
    let file = study(tmp.path(), "same", 2, 32);
    let mut runs = Vec::new();
    let mut predictions = Vec::new();
    for (i, workers) in ["1", "2", "1"].into_iter().enumerate() {
        let state = tmp.path().join(format!("state{i}"));
        let (_, stderr) = run_study(&file, &state, &["--workers", workers]);
        assert!(stderr.contains("1 torch thread(s) per job, each job in its own process"), "{stderr}");
        assert_recorded_once(&state, "same", 1, 4, 1);
        runs.push(table(&state, "same", "runs", RUN_COLUMNS, &["job_id"]));
        predictions.push(table(
            &state,
            "same",
            "examples",
            &["job_id", "example_id", "prediction"],
            &["job_id", "example_id"],
        ));
        let det = table(&state, "same", "runs", &["job_id", "determinism"], &["job_id"]);
        let det = det.column("determinism").unwrap().str().unwrap().get(0).unwrap().to_string();
        assert!(det.starts_with("cpu: seeded, own process, 1 thread(s)"), "{det}");
    }
    // The jobs learnt something different from each other: a comparison of
    // identical constants would prove nothing.
    let bleu = runs[0].column("test_loss").unwrap().f64().unwrap().clone();
    assert!(bleu.get(0) != bleu.get(1), "{:?}", runs[0]);
    assert!(runs[0].equals_missing(&runs[1]), "--workers 1 vs 2:\n{}\n{}", runs[0], runs[1]);
    assert!(runs[0].equals_missing(&runs[2]), "--workers 1 twice:\n{}\n{}", runs[0], runs[2]);
    assert!(predictions[0].equals_missing(&predictions[1]), "predictions differ between --workers 1 and 2");
    assert!(predictions[0].equals_missing(&predictions[2]), "predictions differ between two --workers 1 runs");
}

/// The tiny study with one attempt per job: a failure is final.
fn one_attempt_study(dir: &Path, name: &str) -> std::path::PathBuf {
    let file = study(dir, name, 1, 32);
    let text = std::fs::read_to_string(&file).unwrap().replace("max_attempts = 3", "max_attempts = 1");
    std::fs::write(&file, text).unwrap();
    file
}

#[test]
fn a_job_process_that_aborts_fails_its_attempt_and_retry_runs_it_again() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let file = one_attempt_study(tmp.path(), "crashy");
    let marker = tmp.path().join("abort-once");
    let mut cmd = intervene(&[
        "run",
        file.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
        "--workers",
        "1",
        "--fake-train",
        "0.2",
    ]);
    cmd.env_remove("INTERVENE_TOKEN").env("INTERVENE_TEST_ABORT_ONCE", &marker);
    let out = run_cli(cmd, 180);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "a study with a failed job exits non-zero\n{stdout}\n{stderr}");
    assert!(stdout.contains("(1 of 2 jobs succeeded, 1 failed, 0 cancelled)"), "{stdout}");

    // The failed job, as the local state folder has it.
    let out = run_cli(intervene(&["status", "crashy", "--jobs", "--state", state.to_str().unwrap()]), 60);
    let (table, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(table.contains("study crashy v1: 2 jobs"), "{table}");
    let failed = table.lines().find(|l| l.contains(" failed ")).unwrap_or_else(|| panic!("no failed row:\n{table}"));
    assert!(failed.contains("signal 6 (SIGABRT)"), "{failed}");
    let out = run_cli(intervene(&["status", "crashy", "--jobs", "--json", "--state", state.to_str().unwrap()]), 60);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status --json prints JSON");
    let jobs = json["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 2);
    let bad: Vec<_> = jobs.iter().filter(|j| j["state"] == "failed").collect();
    assert_eq!(bad.len(), 1, "{json}");
    assert_eq!((bad[0]["attempts"].as_u64(), bad[0]["failures"].as_u64()), (Some(1), Some(1)), "{json}");
    assert!(bad[0]["last_reason"].as_str().unwrap().contains("SIGABRT"), "{json}");
    assert_eq!(bad[0]["arms"][0], "control", "{json}");
    // Without a study, the local state folder's studies.
    let out = run_cli(intervene(&["status", "--state", state.to_str().unwrap()]), 60);
    assert!(text(&out).0.contains("crashy"), "{}", text(&out).0);

    let out = run_cli(intervene(&["retry", "crashy", "--state", state.to_str().unwrap()]), 60);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("1 failed job(s) queued again"), "{stdout}");
    let out = run_cli(intervene(&["status", "crashy", "--jobs", "--json", "--state", state.to_str().unwrap()]), 60);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let states: Vec<&str> = json["jobs"].as_array().unwrap().iter().map(|j| j["state"].as_str().unwrap()).collect();
    assert!(states.contains(&"queued") && states.contains(&"succeeded"), "{json}");
    // The marker exists now: the job's next process does not abort.
    let mut cmd =
        intervene(&["run", file.to_str().unwrap(), "--state", state.to_str().unwrap(), "--fake-train", "0.2"]);
    cmd.env_remove("INTERVENE_TOKEN").env("INTERVENE_TEST_ABORT_ONCE", &marker);
    let out = run_cli(cmd, 180);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_complete_and_unique(&state, "crashy", 1, 2, 1);
    let l = Ledger::open(&state).unwrap();
    assert_eq!(l.count("SELECT COUNT(*) FROM attempts WHERE outcome = 'failed' AND reason LIKE '%SIGABRT%'"), 1);
}

#[test]
fn a_study_that_does_not_exist_is_named_with_the_versions_that_do() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let file = study(tmp.path(), "known", 1, 32);
    run_study(&file, &state, &["--fake-train", "0"]);
    let out = run_cli(intervene(&["status", "known@9", "--state", state.to_str().unwrap()]), 60);
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("no study `known@9` (versions: known@1)"), "{stderr}");
    let out = run_cli(intervene(&["status", "--state", tmp.path().join("empty").to_str().unwrap()]), 60);
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("no ledger here"), "{stderr}");
}
