//! `intervene plan` through the binary: every shipped study plans, `--json`
//! parses, and job ids are stable (golden file; regenerate with
//! INTERVENE_BLESS=1 after an intended change of the job contract).

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn intervene(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_intervene")).args(args).current_dir(root()).output().unwrap()
}

#[test]
fn every_experiment_plans_and_prints_the_table() {
    let mut files: Vec<_> = std::fs::read_dir(root().join("experiments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 6);
    for f in files {
        let f = f.to_string_lossy().to_string();
        let out = intervene(&["plan", &f]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{f}: {}", String::from_utf8_lossy(&out.stderr));
        for header in ["ARM", "INTERVENTION", "KIND", "CHANGED", "ARCH", "PARAMS", "STEPS", "BUCKET", "SEEDS", "JOBS"] {
            assert!(stdout.contains(header), "{f}: no {header} column in\n{stdout}");
        }
        assert!(stdout.contains("total: "), "{f}: no total line");
        let out = intervene(&["plan", "--json", &f]);
        let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(!plan["arms"].as_array().unwrap().is_empty());
        // Clean: no error and no warning (the data sources are opened by
        // the tests of `validate` itself), except the note on a mutated test
        // split where a file asks for one on purpose (data-mutations.toml's
        // renamed-locals and no-comments arms are scored on renamed /
        // comment-free code).
        let out = intervene(&["validate", "--no-data", &f]);
        assert!(out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        let warnings: Vec<&str> = stderr.lines().filter(|l| l.starts_with("warning: ")).collect();
        let on_purpose = |w: &&str| w.contains(": the test split is mutated too") && f.ends_with("data-mutations.toml");
        assert!(warnings.iter().all(on_purpose), "{f}: {stderr}");
        assert!(
            warnings.len() == stderr.lines().filter(|l| l.starts_with("warning: ") || l.starts_with("error")).count()
        );
    }
}

#[test]
fn changed_lists_only_what_differs_from_the_control() {
    let out = intervene(&["plan", "--json", "experiments/rnn-architectures.toml"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let changed = |arm: &str| -> String {
        let a = plan["arms"].as_array().unwrap().iter().find(|a| a["name"] == arm).unwrap_or_else(|| panic!("{arm}"));
        a["changed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|kv| format!("{}={}", kv[0].as_str().unwrap(), kv[1].as_str().unwrap()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    assert_eq!(changed("control"), "");
    assert_eq!(changed("architecture/lstm"), "arch=lstm");
    // The override is the change; the shared hidden_dim is not.
    assert_eq!(changed("architecture/rnn"), "arch=rnn, bidirectional=false");
    let table = String::from_utf8_lossy(&intervene(&["plan", "experiments/rnn-architectures.toml"]).stdout).to_string();
    let control = table.lines().find(|l| l.starts_with("control ")).unwrap();
    assert!(control.split_whitespace().nth(3) == Some("-"), "{control}");
}

#[test]
fn the_reference_study_learns_at_the_reference_size() {
    let f = "experiments/rnn-architectures.toml";
    let out = intervene(&["plan", f]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("data python-env 10000/1500/1500"), "{stdout}");
    // ceil(10000 / 64) x 20 = 3,140 steps per job: the 1,000 warm-up ends.
    let control = stdout.lines().find(|l| l.starts_with("control ")).unwrap();
    assert!(control.contains(" 3,140 "), "{control}");
    let plan: serde_json::Value = serde_json::from_slice(&intervene(&["plan", "--json", f]).stdout).unwrap();
    for job in plan["jobs"].as_array().unwrap() {
        let model = &job["spec"]["model"];
        // The reference's vanilla RNN encoder is unidirectional, its LSTMs not.
        assert_eq!(model["bidirectional"], serde_json::json!(model["arch"] != "rnn"), "{model}");
        assert!(job["spec"]["train"]["warmup_steps"].as_u64().unwrap() < 3140);
    }
}

#[test]
fn a_sampling_schedule_longer_than_the_run_is_a_warning_at_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let study = std::fs::read_to_string(root().join("tests/bad_studies/zero-epochs.toml")).unwrap();
    let study = study.split("# expect").next().unwrap().replace(
        "epochs = 0\nlearning_rate = 1e-3\n",
        "epochs = 2\nlearning_rate = 1e-3\nscheduled_sampling = \"inverse-sigmoid\"\nsampling_k = 100\n",
    );
    let file = dir.path().join("late.toml");
    std::fs::write(&file, &study).unwrap();
    let out = intervene(&["validate", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // ceil(300 / 16) x 2 = 38 steps; 100 ln 100 = 461.
    assert!(out.status.success(), "a warning does not refuse the study: {stderr}");
    assert!(
        stderr.contains("late.toml:29:14: train.sampling_k: inverse-sigmoid sampling with sampling_k = 100 is halfway")
            && stderr.contains("only at step 461 (k ln k), after the run's 38 optimisation steps"),
        "{stderr}"
    );
    assert!(stderr.starts_with("warning: "), "{stderr}");
    let out = intervene(&["plan", file.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning: "));
}

#[test]
fn job_ids_are_stable() {
    let out = intervene(&["plan", "--json", "tests/fixtures/golden-study.toml"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut lines = String::new();
    for arm in plan["arms"].as_array().unwrap() {
        for job in arm["jobs"].as_array().unwrap() {
            lines.push_str(&format!(
                "{} seed={} {} params={}\n",
                arm["name"].as_str().unwrap(),
                job[0],
                job[1].as_str().unwrap(),
                arm["params"]
            ));
        }
    }
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/golden-study.jobs");
    if std::env::var_os("INTERVENE_BLESS").is_some() {
        std::fs::write(&golden, &lines).unwrap();
    }
    let expected = std::fs::read_to_string(&golden).expect("golden file (INTERVENE_BLESS=1 writes it)");
    assert_eq!(lines, expected, "job ids changed; if intended, rerun with INTERVENE_BLESS=1");
}

#[test]
fn a_cell_reached_by_two_arms_is_one_job() {
    let out = intervene(&["plan", "--json", "tests/fixtures/golden-study.toml"]);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let arm_jobs = |name: &str| -> Vec<String> {
        let arm = plan["arms"].as_array().unwrap().iter().find(|a| a["name"] == name).unwrap();
        arm["jobs"].as_array().unwrap().iter().map(|j| j[1].as_str().unwrap().to_string()).collect()
    };
    // width/hidden_dim=64 is the control's own configuration.
    assert_eq!(arm_jobs("width/hidden_dim=64"), arm_jobs("control"));
    assert_ne!(arm_jobs("width/hidden_dim=32"), arm_jobs("control"));
    let shared = plan["jobs"].as_array().unwrap().iter().find(|j| j["id"] == arm_jobs("control")[0].as_str()).unwrap();
    assert_eq!(shared["arms"], serde_json::json!(["control", "width/hidden_dim=64"]));
}

#[test]
fn inter_arms_land_inside_their_buckets() {
    let out = intervene(&["plan", "--json", "tests/fixtures/golden-study.toml"]);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for arm in plan["arms"].as_array().unwrap().iter().filter(|a| a["kind"] == "inter") {
        let params = arm["params"].as_f64().unwrap();
        let (lo, hi) = match arm["bucket"].as_str().unwrap() {
            "small" => (1e5, 3e5),
            "large" => (3e5, 1e6),
            b => panic!("unexpected bucket {b}"),
        };
        assert!(params >= lo && params < hi, "{} has {params} params", arm["name"]);
    }
}

#[test]
fn plan_warns_when_the_seeds_cannot_detect_the_minimum_effect() {
    let dir = tempfile::tempdir().unwrap();
    let quickstart = std::fs::read_to_string(root().join("experiments/quickstart.toml")).unwrap();
    let with = |line: &str| {
        let path = dir.path().join("study.toml");
        // Two seeds whatever the quickstart uses: the numbers below are for k = 2.
        let study: String = quickstart
            .lines()
            .map(|l| match l {
                l if l.starts_with("seeds = ") => format!("seeds = [1, 2]\n{line}\n"),
                // The copy lives elsewhere: a source that needs no path.
                l if l.starts_with("source = ") => "source = { kind = \"python-stdlib\" }\n".to_string(),
                l => format!("{l}\n"),
            })
            .collect();
        assert!(study.contains(line), "the quickstart has no `seeds = ` line");
        std::fs::write(&path, study).unwrap();
        let out = intervene(&["plan", path.to_str().unwrap()]);
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    // 2 seeds, effect 1 point, per-seed differences with sd 1.5: TTestPower says 19.67, so 20 seeds.
    let (ok, stderr) = with("minimum_effect = { effect = 1.0, sd = 1.5 }");
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("warning: study.minimum_effect: 2 seed(s)") && stderr.contains("20 seeds are needed"),
        "{stderr}"
    );
    // An effect 100 standard deviations large: 2 seeds suffice, no warning.
    let (ok, stderr) = with("minimum_effect = { effect = 100.0, sd = 1.0 }");
    assert!(ok && !stderr.contains("warning"), "{stderr}");
    // Bad values name the key and what is accepted.
    let (ok, stderr) = with("minimum_effect = { effect = 1.0, sd = -2.0 }");
    assert!(
        !ok && stderr.contains("study.minimum_effect.sd") && stderr.contains("accepted: a positive number"),
        "{stderr}"
    );
    let (ok, stderr) = with("minimum_effect = { effect = 1.0, spread = 2.0 }");
    assert!(!ok && stderr.contains("spread"), "{stderr}");
}

/// zero-epochs.toml made valid (2 epochs), with `extra` appended.
fn valid_study_with(dir: &Path, name: &str, replace: Option<(&str, &str)>, extra: &str) -> PathBuf {
    let study = std::fs::read_to_string(root().join("tests/bad_studies/zero-epochs.toml")).unwrap();
    let study = study.split("# expect").next().unwrap().replace("epochs = 0\n", "epochs = 2\n");
    let study = match replace {
        Some((from, to)) => study.replace(from, to),
        None => study,
    } + extra;
    let file = dir.join(name);
    std::fs::write(&file, study).unwrap();
    file
}

#[test]
fn a_model_of_billions_of_parameters_is_a_warning_naming_the_count() {
    let dir = tempfile::tempdir().unwrap();
    let file = valid_study_with(dir.path(), "huge.toml", Some(("hidden_dim = 64", "hidden_dim = 65536")), "");
    let out = intervene(&["validate", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "a warning does not refuse the study: {stderr}");
    assert!(stderr.starts_with("warning: ") && stderr.contains(": model: arm control has "), "{stderr}");
    assert!(stderr.contains("GB of float32 weights"), "{stderr}");
    assert_eq!(stderr.matches("warning: ").count(), 1, "{stderr}");
    // The same study at its own size: no warning.
    let file = valid_study_with(dir.path(), "fine.toml", None, "");
    let out = intervene(&["validate", file.to_str().unwrap()]);
    assert!(out.status.success() && out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_mutation_of_the_test_split_is_a_warning_at_its_splits() {
    let dir = tempfile::tempdir().unwrap();
    let mutation = "\n[[mutation]]\nname = \"noisy\"\nop = \"token-dropout\"\nlevels = { p = [0.1] }\nsplits = [\"train\", \"test\"]\n";
    let file = valid_study_with(dir.path(), "mutated.toml", None, mutation);
    let out = intervene(&["validate", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains(": mutation[0].splits: the test split is mutated too"), "{stderr}");
    let file = valid_study_with(dir.path(), "train-only.toml", None, &mutation.replace(", \"test\"", ""));
    let out = intervene(&["validate", file.to_str().unwrap()]);
    assert!(out.status.success() && out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}
