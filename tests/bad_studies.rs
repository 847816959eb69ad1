//! Every study file under tests/bad_studies/ is invalid in a known way: its
//! trailing `# expect: LINE:COL: KEY: MESSAGE` lines say where and what.
//! `intervene validate` must exit non-zero, print each expected error with
//! the file's path in front, and never panic.

use std::path::Path;
use std::process::Command;

#[test]
fn each_bad_study_is_refused_with_its_location_and_message() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad_studies");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 25, "the corpus has {} files", files.len());
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let expects: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("# expect: ")).collect();
        assert!(!expects.is_empty(), "{} has no `# expect:` line", file.display());
        let out =
            Command::new(env!("CARGO_BIN_EXE_intervene")).arg("validate").arg(file).current_dir(&dir).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            failures.push(format!("{}: accepted", file.display()));
            continue;
        }
        if stderr.contains("panicked") {
            failures.push(format!("{}: panicked:\n{stderr}", file.display()));
        }
        for e in &expects {
            let (position, message) = match e.split_once(": ") {
                Some((pos, rest)) if pos.contains(':') => (Some(pos), rest),
                _ => (None, *e),
            };
            let wanted = match position {
                Some(pos) => format!("{}:{pos}: {message}", file.display()),
                None => message.to_string(),
            };
            if !stderr.contains(&wanted) {
                failures.push(format!("{}:\n  expected: {wanted}\n  stderr:   {stderr}", file.display()));
            }
        }
    }
    assert!(failures.is_empty(), "{} of {} files failed:\n{}", failures.len(), files.len(), failures.join("\n"));
}

#[test]
fn errors_show_the_offending_line_with_a_caret() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad_studies/dropout-above-one.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_intervene")).arg("validate").arg(&file).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("22 | dropout = 1.5\n   |           ^^^"), "{stderr}");
}

#[test]
fn an_unreadable_study_file_is_one_error_without_a_made_up_position() {
    let tmp = tempfile::tempdir().unwrap();
    for command in ["validate", "plan", "run"] {
        let out = Command::new(env!("CARGO_BIN_EXE_intervene"))
            .arg(command)
            .arg("missing.toml")
            .current_dir(tmp.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{command}");
        assert!(stderr.starts_with("error: missing.toml: cannot read the study file:"), "{command}: {stderr}");
        assert_eq!(stderr.matches("error:").count(), 1, "{command}: {stderr}");
        assert!(!stderr.contains(":0:0"), "{command}: {stderr}");
    }
}
