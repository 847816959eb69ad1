//! End-to-end tests of `intervene data ...`, running the real binary on the
//! fixtures under data/tests/fixtures.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/tests/fixtures")
}

fn intervene(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_intervene")).args(args).output().expect("the intervene binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn fixture(rel: &str) -> String {
    fixtures().join(rel).to_string_lossy().into_owned()
}

#[test]
fn mine_writes_parquet_and_a_per_rule_summary() {
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("mined.parquet");
    let o = intervene(&["data", "mine", &fixture("pytree"), "-o", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    for line in [
        "files read                                         5",
        "files not UTF-8 (skipped)                          1",
        "files that did not parse (skipped)                 1",
        "e.g. broken.py, latin1.py",
        "functions and methods with a docstring            14",
        "kept                                               8",
        "name contains \"test\"                             1",
        "dunder method                                    1",
        "docstring under 3 tokens                         1",
        "function under 3 lines                           1",
        "code does not parse                              0",
        "duplicate (exact)                                1",
        "duplicate (near: same normalised tokens)         1",
        "wrote 8 pairs to",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    assert!(text.starts_with("mined ") && text.contains(" s ("), "{text}");

    // The written file reads back, and mining again gives the same bytes.
    let o = intervene(&["data", "show", out.to_str().unwrap(), "--head", "1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("mined.parquet: 8 pairs (parquet)"), "{text}");
    assert!(text.contains("[1] id pkg/geometry.py:circle_area:8"), "{text}");
    assert!(text.contains("def circle_area(radius):") && !text.contains("[2]"), "{text}");
    let again = out_dir.path().join("again.parquet");
    assert!(
        intervene(&["data", "mine", &fixture("pytree"), "-o", again.to_str().unwrap(), "--threads", "1"])
            .status
            .success()
    );
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&again).unwrap());
}

#[test]
fn show_reads_every_format() {
    for (file, format, count) in [
        ("codesearchnet/python_small.jsonl", "codesearchnet", 4),
        ("codesearchnet/python_small.jsonl.gz", "codesearchnet", 4),
        ("conala/conala_small.json", "conala", 3),
    ] {
        let o = intervene(&["data", "show", &fixture(file), "--head", "2"]);
        assert!(o.status.success(), "{file}: {}", stderr(&o));
        let text = stdout(&o);
        assert!(text.contains(&format!(": {count} pairs ({format})")), "{text}");
        assert!(text.contains("[2]") && !text.contains("[3]"), "{text}");
    }
    let o = intervene(&["data", "show", &fixture("codesearchnet/python_small.jsonl"), "--head", "1"]);
    let text = stdout(&o);
    assert!(text.contains("repo acme/mathlib  path mathlib/ops.py  func add  partition train"), "{text}");
    assert!(!text.contains("\"\"\"Add two numbers"), "the docstring is not left in the code:\n{text}");
    // An explicit format wins over the extension.
    let o = intervene(&["data", "show", &fixture("conala/conala_small.json"), "--format", "codesearchnet"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("conala_small.json:1: malformed JSON: expected an object"), "{}", stderr(&o));
}

#[test]
fn bad_input_names_file_line_and_rule() {
    for (file, wants) in [
        ("bad/malformed.jsonl", &["malformed.jsonl:3: malformed JSON", "(column "][..]),
        ("bad/missing_field.jsonl", &["missing_field.jsonl:2: missing field \"code\" (CodeSearchNet lines need"][..]),
        ("bad/not_utf8.jsonl", &["not_utf8.jsonl: not UTF-8 at byte 599 (line 2)"][..]),
        ("bad/not_parquet.parquet", &["not_parquet.parquet: not a readable Parquet file"][..]),
        ("bad/conala_missing_snippet.json", &["conala_missing_snippet.json: row 1: missing field \"snippet\""][..]),
    ] {
        let o = intervene(&["data", "show", &fixture(file)]);
        assert_eq!(o.status.code(), Some(1), "{file}");
        let err = stderr(&o);
        for want in wants {
            assert!(err.contains(want), "{file}: missing {want:?} in {err}");
        }
        assert!(!err.contains("panicked"), "{err}");
    }
    let o = intervene(&["data", "show", &fixture("pytree/pkg/strings.py")]);
    assert!(stderr(&o).contains("cannot tell the format from the extension"), "{}", stderr(&o));
    let o = intervene(&["data", "show", "/nonexistent/x.jsonl"]);
    assert!(stderr(&o).contains("/nonexistent/x.jsonl: No such file"), "{}", stderr(&o));
    let o = intervene(&["data", "mine", "/nonexistent/dir", "-o", "/tmp/never.parquet"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("/nonexistent/dir: No such file"), "{}", stderr(&o));
    let o = intervene(&["data", "mine", &fixture("pytree/broken.py"), "-o", "/tmp/never.parquet"]);
    assert!(stderr(&o).contains("broken.py: not a folder"), "{}", stderr(&o));
}

#[test]
fn stdlib_is_mined_into_the_cache_once() {
    let cache = tempfile::tempdir().unwrap();
    let dir = cache.path().to_str().unwrap();
    let first = intervene(&["data", "stdlib", "--cache-dir", dir]);
    assert!(first.status.success(), "{}", stderr(&first));
    let text = stdout(&first);
    assert!(text.contains("standard library at") && text.contains("functions and methods with a docstring"), "{text}");
    let second = intervene(&["data", "stdlib", "--cache-dir", dir]);
    let text2 = stdout(&second);
    assert!(text2.contains("read from the cache"), "{text2}");
    let count = |t: &str| t.lines().last().unwrap().split_whitespace().next().unwrap().to_string();
    assert_eq!(count(&text), count(&text2));
}

/// `from` copied to `to`, folders included.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), &dest).unwrap();
        }
    }
}

#[test]
fn env_merges_listed_trees_without_duplicates_and_caches_them() {
    // The fixture tree and a copy of it: the copy adds nothing, every pair
    // of it is a duplicate of one in the first tree.
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let copy = dir.path().join("copy");
    copy_tree(&fixtures().join("pytree"), &copy);
    let (tree, copy) = (fixture("pytree"), copy.to_string_lossy().into_owned());
    let args = ["data", "env", "--path", &tree, "--path", &copy, "--cache-dir", cache.to_str().unwrap()];
    let o = intervene(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    // The fixture's pairs are all in its `pkg` folder: one package.
    assert!(text.contains("8 pairs from 1 packages, deduplicated across trees"), "{text}");
    let row = |text: &str, root: &str| -> Vec<String> {
        let line = text.lines().find(|l| l.trim_end().ends_with(root)).unwrap_or_else(|| panic!("{root} in {text}"));
        line.split_whitespace().skip(1).take(3).map(String::from).collect()
    };
    assert_eq!(row(&text, &tree), ["8", "0", "no"], "{text}");
    assert_eq!(row(&text, &copy), ["8", "8", "no"], "{text}");
    // Again: both trees come from the cache, with the same result.
    let again = stdout(&intervene(&args));
    assert!(again.contains("8 pairs from 1 packages"), "{again}");
    assert_eq!(row(&again, &tree), ["8", "0", "yes"], "{again}");
    assert_eq!(row(&again, &copy), ["8", "8", "yes"], "{again}");
}

#[test]
fn a_missing_file_or_folder_is_one_error_that_says_the_os_error_once() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing.parquet");
    let o = intervene(&["data", "show", missing.to_str().unwrap()]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("missing.parquet") && err.starts_with("error: "), "{err}");
    assert_eq!(err.matches("(os error 2)").count(), 1, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");

    let out = tmp.path().join("out.parquet");
    let o = intervene(&["data", "mine", tmp.path().join("nodir").to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("nodir"), "{err}");
    assert_eq!(err.matches("(os error 2)").count(), 1, "{err}");
}

#[test]
fn mining_a_folder_without_functions_is_an_error_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = tmp.path().join("mined.parquet");
    let o = intervene(&["data", "mine", empty.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert!(!o.status.success(), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(err.starts_with("error: ") && err.contains("empty") && err.contains("no pairs"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!out.exists(), "a 0-pair file was written");
}
