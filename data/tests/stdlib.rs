//! Tests against the machine's real Python standard library: the
//! python-lexer tokenizer must round-trip it, and mining it must work.
//! They need `python3` (as the python-stdlib source itself does).

use std::path::{Path, PathBuf};
use std::process::Command;

use intervene_data::mine::cache::{STDLIB_EXCLUDE, locate_stdlib};
use intervene_data::mine::{MineOptions, mine_tree, python_files};
use intervene_data::python_parses;
use intervene_data::tokenize::pylex;

fn stdlib_files() -> (PathBuf, Vec<PathBuf>) {
    let stdlib =
        locate_stdlib().expect("python3 must be installed for these tests (the python-stdlib source needs it)");
    let files = python_files(&stdlib.path, &STDLIB_EXCLUDE).unwrap();
    assert!(files.len() > 500, "only {} files in {}", files.len(), stdlib.path.display());
    (stdlib.path, files)
}

/// Every stdlib file that parses still parses after tokenize -> detokenize,
/// and tokenizing the output gives the same tokens.
#[test]
fn python_lexer_round_trips_the_standard_library() {
    let (_, files) = stdlib_files();
    let (mut checked, mut skipped) = (0, 0);
    let mut failures = Vec::new();
    for file in &files {
        let Ok(source) = std::fs::read_to_string(file) else {
            skipped += 1;
            continue;
        };
        if !python_parses(&source) {
            skipped += 1;
            continue;
        }
        let tokens = pylex::tokenize(&source);
        let back = pylex::detokenize(&tokens);
        if !python_parses(&back) || pylex::tokenize(&back) != tokens {
            failures.push(file.display().to_string());
        }
        checked += 1;
    }
    eprintln!("python-lexer round trip: {checked} stdlib files checked, {skipped} skipped (not UTF-8 or not parsed)");
    assert!(checked > 500);
    assert!(
        failures.is_empty(),
        "{} files failed the round trip, e.g. {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
}

/// The same round trip judged by CPython itself on a sample: detokenized
/// files are written out and compiled by `python3`, for every sampled file
/// whose original CPython compiles (rustpython accepts a few files CPython
/// rejects, such as the stdlib's own `badsyntax_*` tests).
#[test]
fn cpython_compiles_detokenized_stdlib_files() {
    let (root, files) = stdlib_files();
    let out = tempfile::tempdir().unwrap();
    let mut list = String::new();
    for (i, file) in files.iter().enumerate().filter(|(i, _)| i % 5 == 0) {
        let Ok(source) = std::fs::read_to_string(file) else { continue };
        if !python_parses(&source) {
            continue;
        }
        let back = pylex::detokenize(&pylex::tokenize(&source));
        let detok = out.path().join(format!("f{i}.py"));
        std::fs::write(&detok, back).unwrap();
        list.push_str(&format!("{}\t{}\n", file.display(), detok.display()));
    }
    let list_file = out.path().join("list.tsv");
    std::fs::write(&list_file, list).unwrap();
    let script = r#"
import sys
checked, bad = 0, []
for line in open(sys.argv[1], encoding="utf-8"):
    orig, detok = line.rstrip("\n").split("\t")
    try:
        compile(open(orig, encoding="utf-8").read(), orig, "exec")
    except SyntaxError:
        continue
    checked += 1
    try:
        compile(open(detok, encoding="utf-8").read(), detok, "exec")
    except SyntaxError as e:
        bad.append(f"{orig}: {e}")
print(checked)
print(len(bad))
print("\n".join(bad[:5]))
"#;
    let result = Command::new(intervene_data::mine::cache::python_command())
        .args(["-c", script])
        .arg(&list_file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&result.stdout);
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    let mut lines = text.lines();
    let checked: usize = lines.next().unwrap().parse().unwrap();
    eprintln!("CPython compiled {checked} detokenized files from {}", root.display());
    assert!(checked > 200);
    assert_eq!(lines.next(), Some("0"), "CPython rejected some:\n{text}");
}

#[test]
fn mining_the_standard_library_keeps_thousands_of_pairs() {
    let (root, _) = stdlib_files();
    let options = MineOptions { exclude_dirs: &STDLIB_EXCLUDE, ..MineOptions::default() };
    let (pairs, report) = mine_tree(Path::new(&root), options).unwrap();
    eprintln!("{report:?}");
    assert!(report.kept > 3000, "{report:?}");
    assert_eq!(report.kept, pairs.len());
    let dropped: usize = report.dropped.iter().map(|(_, n)| n).sum();
    assert_eq!(report.functions_found, report.kept + dropped);
    assert!(pairs.iter().all(|p| python_parses(&p.code)));
    let mut ids: Vec<_> = pairs.iter().map(|p| &p.id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), pairs.len(), "ids are unique");
}
