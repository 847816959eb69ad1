use super::cache::{mine_cached, tree_hash};
use super::*;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pytree")
}

/// The fixture tree copied, plus a `__pycache__` folder (which git ignores).
fn fixture_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in walkdir::WalkDir::new(fixture()) {
        let entry = entry.unwrap();
        let rel = entry.path().strip_prefix(fixture()).unwrap();
        let to = dir.path().join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&to).unwrap();
        } else {
            std::fs::copy(entry.path(), &to).unwrap();
        }
    }
    std::fs::create_dir_all(dir.path().join("pkg/__pycache__")).unwrap();
    std::fs::write(
        dir.path().join("pkg/__pycache__/x.py"),
        "def cached(a):\n    \"\"\"Never mined at all.\"\"\"\n    b = a\n    return b\n",
    )
    .unwrap();
    dir
}

#[test]
fn mines_the_fixture_with_every_rule() {
    let tree = fixture_copy();
    let (pairs, report) = mine_tree(tree.path(), MineOptions::default()).unwrap();
    assert_eq!(report.files_read, 5);
    assert_eq!(report.files_not_utf8, 1);
    assert_eq!(report.files_unparsed, 1);
    assert_eq!(report.skipped_examples, ["broken.py", "latin1.py"]);
    assert_eq!(report.functions_found, 14);
    assert_eq!(report.kept, 8);
    for (rule, n) in [
        (Rule::NameContainsTest, 1),
        (Rule::Dunder, 1),
        (Rule::ShortDocstring, 1),
        (Rule::ShortFunction, 1),
        (Rule::DoesNotParse, 0),
        (Rule::DuplicateExact, 1),
        (Rule::DuplicateNear, 1),
    ] {
        assert_eq!(report.dropped_by(rule), n, "{}", rule.describe());
    }
    let names: Vec<_> = pairs.iter().map(|p| p.func_name.as_deref().unwrap()).collect();
    assert_eq!(
        names,
        ["circle_area", "Rect.area", "Rect.Corner.flip", "clamp", "nested_outer", "shout", "words", "fetch"]
    );
    let first = &pairs[0];
    assert_eq!(first.id, "pkg/geometry.py:circle_area:8");
    assert_eq!(first.docstring, "Return the area of a circle with the given radius.");
    assert!(first.code.starts_with("def circle_area(radius):\n    if radius < 0:"));
    assert_eq!(first.path.as_deref(), Some("pkg/geometry.py"));
    let flip = &pairs[2];
    assert!(flip.code.starts_with("def flip(self):\n    x, y"), "dedented: {}", flip.code);
    assert!(pairs.iter().all(|p| crate::python::python_parses(&p.code)));
}

#[test]
fn mining_is_the_same_with_any_number_of_threads() {
    let tree = fixture_copy();
    let one = mine_tree(tree.path(), MineOptions { threads: 1, ..MineOptions::default() }).unwrap();
    let four = mine_tree(tree.path(), MineOptions { threads: 4, ..MineOptions::default() }).unwrap();
    assert_eq!(one.0, four.0);
}

#[test]
fn the_cache_is_keyed_by_content() {
    let tree = fixture_copy();
    let cache = tempfile::tempdir().unwrap();
    let first = mine_cached(tree.path(), cache.path(), MineOptions::default()).unwrap();
    assert!(first.report.is_some());
    let second = mine_cached(tree.path(), cache.path(), MineOptions::default()).unwrap();
    assert!(second.report.is_none(), "served from the cache");
    assert_eq!(first.pairs, second.pairs);
    assert_eq!(first.cache_file, second.cache_file);
    // Editing a file changes the hash and mines again.
    let f = tree.path().join("pkg/strings.py");
    let mut text = std::fs::read_to_string(&f).unwrap();
    text.push_str("\n\ndef added(a, b):\n    \"\"\"Return the sum of a and b.\"\"\"\n    c = a + b\n    return c\n");
    std::fs::write(&f, text).unwrap();
    let third = mine_cached(tree.path(), cache.path(), MineOptions::default()).unwrap();
    assert!(third.report.is_some());
    assert_eq!(third.pairs.len(), first.pairs.len() + 1);
    let files = python_files(tree.path(), &[]).unwrap();
    assert_eq!(
        tree_hash(tree.path(), &files, &MineOptions::default()).unwrap(),
        third.cache_file.file_stem().unwrap().to_string_lossy()
    );
}

#[test]
fn a_file_is_not_a_folder() {
    let e = mine_tree(&fixture().join("broken.py"), MineOptions::default()).unwrap_err().to_string();
    assert!(e.contains("broken.py: not a folder"), "{e}");
    let e = mine_tree(&fixture().join("nope"), MineOptions::default()).unwrap_err().to_string();
    assert!(e.contains("nope"), "{e}");
}
