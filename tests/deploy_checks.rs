//! The deployment files checked without a cluster: the Kubernetes manifests
//! against the API schemas (PyPI's kubernetes-validate, pinned in
//! deploy/requirements.txt and installed by scripts/test.sh into
//! .venv-tools, strict: an unknown field fails), the flags their
//! containers pass against the binary's own, and every shell script of the
//! repository through shellcheck.
//!
//! A missing tool is reported as NOT RUN, or fails the test when
//! INTERVENE_REQUIRE_TOOLS is set (as .ci/run does).

mod tools_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use tools_support::not_run;

const BIN: &str = env!("CARGO_BIN_EXE_intervene");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `program` when it can be run, else None (after saying so), or a failure
/// when tools are required.
fn tool(program: PathBuf, install: &str) -> Option<PathBuf> {
    let found = Command::new(&program).arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        not_run(&format!("{} cannot be run ({install})", program.display()));
        return None;
    }
    Some(program)
}

fn manifests() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(root().join("deploy/k8s"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    out.sort();
    assert!(out.len() >= 2, "{out:?}");
    out
}

fn python() -> Option<PathBuf> {
    tool(root().join(".venv-tools/bin/python"), "scripts/test.sh creates .venv-tools")
}

#[test]
fn the_kubernetes_manifests_validate_strictly_against_the_api_schemas() {
    let Some(validate) = tool(root().join(".venv-tools/bin/kubernetes-validate"), "scripts/test.sh installs it") else {
        return;
    };
    for file in manifests() {
        let out = Command::new(&validate).arg("--strict").arg(&file).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && !text.contains("ERROR"), "{}:\n{text}", file.display());
        assert!(text.contains("passed"), "{}: nothing validated:\n{text}", file.display());
    }
}

/// (file, container, args) of every container in the manifests.
fn container_args(python: &Path) -> Vec<(String, String, Vec<String>)> {
    let script = r#"
import json, sys, yaml
out = []
for path in sys.argv[1:]:
    for doc in yaml.safe_load_all(open(path)):
        spec = (doc or {}).get("spec", {}).get("template", {}).get("spec", {})
        for c in spec.get("containers", []):
            out.append([path, c["name"], c.get("args", [])])
print(json.dumps(out))
"#;
    let out = Command::new(python).arg("-c").arg(script).args(manifests()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn every_container_passes_flags_the_binary_accepts() {
    let Some(python) = python() else { return };
    let containers = container_args(&python);
    assert!(containers.len() >= 2, "{containers:?}");
    for (file, name, args) in containers {
        // Kubernetes expands $(VAR) from the container's env; any value parses.
        let args: Vec<String> = args.iter().map(|a| a.replace("$(POD_NAME)", "pod-0")).collect();
        // clap parses every flag before it answers --help: an unknown or
        // misspelt one fails here.
        let out = Command::new(BIN).args(&args).arg("--help").output().unwrap();
        assert!(out.status.success(), "{file}: container {name}: {args:?}:\n{}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn every_shell_script_is_clean_under_shellcheck() {
    let Some(shellcheck) =
        tool(PathBuf::from("shellcheck"), "apt-get install shellcheck; scripts/test.sh does as root")
    else {
        return;
    };
    let mut scripts = vec![root().join(".ci/run"), root().join("deploy/slurm/intervene.sbatch")];
    for dir in ["scripts", "bench", "deploy/slurm", "deploy/image"] {
        for e in std::fs::read_dir(root().join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|e| e == "sh") {
                scripts.push(p);
            }
        }
    }
    scripts.sort();
    scripts.dedup();
    assert!(scripts.len() >= 6, "{scripts:?}");
    let out = Command::new(shellcheck).arg("--external-sources").args(&scripts).current_dir(root()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
}
