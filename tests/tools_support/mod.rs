//! The rule for tests that need a tool from outside the project (a Slurm,
//! shellcheck, kubernetes-validate, buildah): without it they say NOT RUN
//! and pass, unless INTERVENE_REQUIRE_TOOLS is set (as .ci/run does), where
//! a missing tool fails the test.

/// Reports why a test does not run, or fails it when tools are required.
pub fn not_run(why: &str) {
    assert!(std::env::var_os("INTERVENE_REQUIRE_TOOLS").is_none(), "INTERVENE_REQUIRE_TOOLS is set, but {why}");
    eprintln!("NOT RUN: {why}");
}
