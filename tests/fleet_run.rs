//! `intervene run`: the embedded coordinator and local workers over
//! loopback, progress, a summary at the end; running it again resumes and
//! runs nothing.

mod fleet_support;

use fleet_support::*;

#[test]
fn run_executes_a_study_locally_and_resumes_without_rerunning() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let file = study(tmp.path(), "local", 3, 32);
    let run = || {
        let mut cmd = intervene(&[
            "run",
            file.to_str().unwrap(),
            "--workers",
            "2",
            "--state",
            state.to_str().unwrap(),
            "--fake-train",
            "0.2",
        ]);
        cmd.env_remove("INTERVENE_TOKEN");
        run_cli(cmd, 180)
    };
    let out = run();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("submitted study local version 1: 6 jobs (6 new"), "{stderr}");
    assert!(stdout.contains("study local v1: succeeded (6 of 6 jobs succeeded, 0 failed, 0 cancelled)"), "{stdout}");
    // The summary: one line per arm with n and mean ± sd of each outcome.
    assert!(stdout.contains("ARM") && stdout.contains("BLEU"), "{stdout}");
    let control = stdout.lines().find(|l| l.starts_with("control")).expect("a control row");
    assert!(control.contains("3/3") && control.contains('±'), "{control}");
    assert!(stdout.contains("wider/hidden_dim=64"), "{stdout}");
    assert_complete_and_unique(&state, "local", 1, 6, 1);

    let out = run();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "resumed study local version 1: 6 jobs (0 queued again, 0 already queued or running, 6 already done)"
        ),
        "{stderr}"
    );
    assert!(stdout.contains("succeeded (6 of 6"), "{stdout}");
    assert_eq!(Ledger::open(&state).unwrap().count("SELECT COUNT(*) FROM attempts"), 6, "nothing ran again");

    // A version that does not exist: the error lists the ones that do.
    let out = run_cli(intervene(&["status", "local@9", "--state", state.to_str().unwrap()]), 30);
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("local@9") && stderr.contains("local@1"), "{stderr}");

    // A GPU that is not there is one clear error naming the flag, for
    // --device and for --gpus; --gpus with --workers is refused by name.
    let state_arg = state.to_str().unwrap();
    let out = run_cli(intervene(&["run", file.to_str().unwrap(), "--device", "cuda:64", "--state", state_arg]), 60);
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("--device cuda:64") && stderr.contains("CUDA device"), "{stderr}");
    let out = run_cli(intervene(&["run", file.to_str().unwrap(), "--gpus", "64", "--state", state_arg]), 60);
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("--gpus: GPU 64 asked for, but torch sees"), "{stderr}");
    let out = run_cli(intervene(&["run", file.to_str().unwrap(), "--gpus", "all", "--workers", "2"]), 60);
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stderr.contains("--gpus") && stderr.contains("--workers") && stderr.contains("cannot be used with"),
        "{stderr}"
    );
    // --jobs-per-gpu shares GPUs: on the CPU it is refused, pointing to
    // --workers, and 0 is refused as such.
    let out = run_cli(intervene(&["run", file.to_str().unwrap(), "--jobs-per-gpu", "2", "--state", state_arg]), 60);
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stderr.contains("error: --jobs-per-gpu 2: `cpu` is not a GPU; it applies to --gpus or --device cuda:N"),
        "{stderr}"
    );
    let out = run_cli(intervene(&["run", file.to_str().unwrap(), "--jobs-per-gpu", "0", "--state", state_arg]), 60);
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("--jobs-per-gpu 0: at least one job per GPU is needed"), "{stderr}");
    let out = run_cli(
        intervene(&["worker", "--coordinator", "http://127.0.0.1:9", "--jobs-per-gpu", "3", "--device", "cpu"]),
        60,
    );
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("error: --jobs-per-gpu 3: `cpu` is not a GPU"), "{stderr}");
    assert_eq!(stderr.matches("error:").count(), 1, "one error: {stderr}");
}

#[test]
fn run_leaves_another_unfinished_study_in_the_state_folder_alone_and_says_so() {
    let deadline = Deadline::after(300);
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    // Study `other` submitted to a coordinator on the same state folder, no
    // worker ever ran it.
    let other = study(tmp.path(), "other", 2, 32);
    {
        let (mut coordinator, url) = coordinator(&state, "127.0.0.1:0", &[], deadline);
        let out = run_cli(intervene(&["submit", other.to_str().unwrap(), "--coordinator", &url]), 120);
        assert!(out.status.success(), "{}", text(&out).1);
        coordinator.terminate(30);
    }
    let file = study(tmp.path(), "mine", 2, 32);
    let mut cmd = intervene(&["run", file.to_str().unwrap(), "--state", state.to_str().unwrap(), "--fake-train", "0"]);
    cmd.env_remove("INTERVENE_TOKEN");
    let out = run_cli(cmd, 180);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("study mine v1: succeeded (4 of 4"), "{stdout}");
    assert!(stderr.contains("also holds study `other` v1 with 4 unfinished jobs"), "{stderr}");
    let l = Ledger::open(&state).unwrap();
    assert_eq!(l.count("SELECT COUNT(*) FROM attempts WHERE study = 'other'"), 0, "the other study did not run");
    assert_eq!(l.count("SELECT COUNT(*) FROM jobs WHERE study = 'other' AND state = 'queued'"), 4);
}
