//! The container image, built and run: deploy/image/build.sh builds
//! deploy/image/Containerfile around this build's binary (buildah, on a
//! Debian base made with mmdebstrap), and deploy/image/check.sh runs a
//! coordinator and a worker from it over loopback, training a tiny study.
//!
//! The scripts install buildah, podman and mmdebstrap when missing (root).
//! Without them and without root the test says NOT RUN, or fails when
//! INTERVENE_REQUIRE_TOOLS is set (as .ci/run does).

mod tools_support;

use std::path::PathBuf;
use std::process::Command;
use tools_support::not_run;

const BIN: &str = env!("CARGO_BIN_EXE_intervene");

fn can_build() -> bool {
    let have = ["buildah", "podman", "mmdebstrap"].iter().all(|t| {
        Command::new("sh").arg("-c").arg(format!("command -v {t}")).output().is_ok_and(|o| o.status.success())
    });
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    if !(have || root) {
        not_run("buildah, podman and mmdebstrap are missing and installing them needs root");
    }
    have || root
}

#[test]
fn the_image_builds_and_a_tiny_study_trains_from_it() {
    if !can_build() {
        return;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let tag = "localhost/intervene:test";
    let run = |script: &str, args: &[&str]| {
        let out = Command::new(root.join(script)).args(args).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{script} {args:?}:\n{text}");
        text
    };
    let built = run("deploy/image/build.sh", &["--bin", BIN, "--tag", tag]);
    assert!(built.contains(&format!("built {tag}")), "{built}");
    let checked = run("deploy/image/check.sh", &[tag]);
    assert!(checked.contains("image check: a study trained and recorded"), "{checked}");
    assert!(checked.contains("succeeded (1 of 1 jobs done"), "{checked}");
    // The test image is 600 MB; the base image stays for the next build.
    let _ = Command::new("buildah").args(["rmi", "--force", tag]).output();
}
