//! Every study file under tests/bad_studies/ is invalid in a known way: its
//! trailing `# expect: LINE:COL: KEY: MESSAGE` lines say where and what.
//! `intervene validate` must exit non-zero, print each expected error with
//! the file's path in front, exactly one error per expected line, and never
//! panic. The `iv-` files repeat the single-mistake files inside a study
//! with an [[intra]], an [[inter]] and a [[mutation]]: the control's mistake
//! must still be reported once, not once per arm.

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
    let with_interventions = files
        .iter()
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            ["[[intra]]", "[[inter]]", "[[mutation]]"].iter().any(|s| text.lines().any(|l| l == *s))
        })
        .count();
    assert!(with_interventions >= 40, "{with_interventions} files with interventions");
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
        // Exactly one error per mistake: no repeats (one per arm) and no
        // errors that follow from another ("missing" knobs of a section
        // that failed to parse).
        let errors = stderr.lines().filter(|l| l.starts_with("error: ")).count();
        if errors != expects.len() {
            failures.push(format!("{}: {errors} errors for {} expected:\n{stderr}", file.display(), expects.len()));
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

#[test]
fn a_latin1_study_file_is_one_error_at_its_first_bad_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let good =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/quickstart.toml")).unwrap();
    // "Caf\xe9" in Latin-1 on the `description` line.
    let line = good.lines().position(|l| l.starts_with("description")).unwrap() + 1;
    let mut bytes = Vec::new();
    for (i, l) in good.lines().enumerate() {
        if i + 1 == line {
            bytes.extend_from_slice(b"description = \"Caf\xe9\"");
        } else {
            bytes.extend_from_slice(l.as_bytes());
        }
        bytes.push(b'\n');
    }
    let file = tmp.path().join("latin1.toml");
    std::fs::write(&file, bytes).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_intervene")).arg("validate").arg(&file).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    let wanted = format!("{}:{line}:19: the study file is not UTF-8 text: byte 0xe9", file.display());
    assert!(stderr.contains(&wanted), "expected {wanted}\n{stderr}");
    assert_eq!(stderr.matches("error:").count(), 1, "{stderr}");
}

/// `validate` opens the data source: a source that yields nothing is one
/// error at `data.source`, not a failure of every job later; `--no-data`
/// skips the check for files that exist only where the jobs run.
#[test]
fn validate_refuses_a_data_source_that_yields_no_pairs() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("empty")).unwrap();
    std::fs::write(tmp.path().join("empty.jsonl"), "").unwrap();
    std::fs::write(tmp.path().join("noise.parquet"), b"\x13\x37 not a parquet file at all \x00\xff").unwrap();
    let template =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad_studies/zero-epochs.toml"))
            .unwrap();
    let template = template.split("# expect").next().unwrap().replace("epochs = 0\n", "epochs = 2\n");
    let synthetic = "source = { kind = \"synthetic\", task = \"mixed\", size = 500 }";
    assert!(template.contains(synthetic));
    let cases = [
        ("python-tree", "{ kind = \"python-tree\", path = \"empty\" }", "the source yields no pairs"),
        ("codesearchnet", "{ kind = \"codesearchnet\", path = \"empty.jsonl\" }", "the source yields no pairs"),
        ("parquet", "{ kind = \"parquet\", path = \"noise.parquet\" }", "cannot load the data: "),
    ];
    let line = template.lines().position(|l| l == synthetic).unwrap() + 1;
    for (name, source, message) in cases {
        let file = tmp.path().join(format!("{name}.toml"));
        std::fs::write(&file, template.replace(synthetic, &format!("source = {source}"))).unwrap();
        let run = |extra: &[&str]| {
            Command::new(env!("CARGO_BIN_EXE_intervene"))
                .arg("validate")
                .args(extra)
                .arg(&file)
                .env("INTERVENE_CACHE_DIR", tmp.path().join("cache"))
                .output()
                .unwrap()
        };
        let out = run(&[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name}: accepted\n{stderr}");
        let wanted = format!("{}:{line}:10: data.source: {message}", file.display());
        assert!(stderr.contains(&wanted), "{name}: expected {wanted}\n{stderr}");
        assert_eq!(stderr.matches("error:").count(), 1, "{name}: {stderr}");
        let out = run(&["--no-data"]);
        assert!(out.status.success(), "{name} --no-data: {}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).contains("data not opened (--no-data)"));
    }
    // The valid synthetic study: its pairs are counted.
    let file = tmp.path().join("synthetic.toml");
    std::fs::write(&file, &template).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_intervene")).arg("validate").arg(&file).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("the data source yields 500 pairs"));
}
