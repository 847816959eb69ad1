//! The python-env source: several Python trees mined as one data set, for
//! real data at the reference study's size on any machine with Python and
//! no download: the interpreter's standard library plus its site-packages
//! (a venv's, or the system's), or a list of folders.
//!
//! Each tree is mined and cached on its own by content hash (the standard
//! library under the same key as the python-stdlib source, so the two share
//! the cache); the trees are then merged in order, and a function already
//! seen in an earlier tree, exactly or nearly (the miner's own duplicate
//! rules), is left out. Every pair records its package in `repo`: the top
//! folder or module of its file in its tree (`json/decoder.py` -> `json`,
//! `six.py` -> `six`, `numpy/core/x.py` -> `numpy`), which
//! `split = "by-package"` keeps in one split. Ids are prefixed with the
//! tree (`stdlib/`, `site-packages/`, or the folder as listed) so that two
//! trees' `__init__.py` never clash.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::mine::cache::{Mined, STDLIB_EXCLUDE, mine_cached, python_command};
use crate::mine::extract::near_key;
use crate::mine::{MineOptions, Progress};
use crate::pair::Pair;

/// One tree to mine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree {
    pub root: PathBuf,
    /// Prefix of the ids of its pairs: `stdlib`, `site-packages`, or the
    /// folder as listed in the study file.
    pub label: String,
    /// The `repo` the miner is run with: it keys the cache entry.
    repo: String,
    exclude: &'static [&'static str],
}

/// The trees of an interpreter, and who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Env {
    /// What was run, e.g. `python3` or `.venv/bin/python`.
    pub python: String,
    /// e.g. "3.11.7"; empty for a list of folders.
    pub version: String,
    pub trees: Vec<Tree>,
}

/// What the merge did, per tree, for `intervene data env`.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeReport {
    pub label: String,
    pub root: PathBuf,
    /// Pairs the tree yields on its own.
    pub mined: usize,
    /// Of those, already in an earlier tree.
    pub duplicates: usize,
    /// Whether they came from the cache.
    pub cached: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EnvReport {
    pub env: Env,
    pub trees: Vec<TreeReport>,
    pub pairs: usize,
    pub packages: usize,
    pub elapsed: Duration,
}

const NO_EXCLUDE: &[&str] = &[];

/// The python to run for `python`: a path (relative to `base_dir`) that
/// exists, or one with a `/`, is a file or a virtual environment folder
/// (then its `bin/python`); anything else is a command on the PATH; none is
/// `$INTERVENE_PYTHON` or `python3`.
fn interpreter(python: Option<&str>, base_dir: &Path) -> String {
    let Some(python) = python else { return python_command() };
    let path = if Path::new(python).is_absolute() { PathBuf::from(python) } else { base_dir.join(python) };
    if !path.exists() && !python.contains('/') {
        return python.to_string();
    }
    if path.is_dir() { path.join("bin").join("python").display().to_string() } else { path.display().to_string() }
}

/// Asks the interpreter where its standard library and site-packages are.
pub fn locate_env(python: Option<&str>, base_dir: &Path) -> Result<Env> {
    let python = interpreter(python, base_dir);
    let script = "import sys, sysconfig\np = sysconfig.get_paths()\nprint(sys.version.split()[0])\n\
                  print(p['stdlib'])\nprint(p['purelib'])\nprint(p['platlib'])";
    let out = Command::new(&python).args(["-c", script]).output().map_err(|e| {
        Error::Python(format!("could not run `{python}` ({e}); install Python 3, set INTERVENE_PYTHON or `python`"))
    })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(Error::Python(format!("`{python}` failed ({}): {}", out.status, stderr.trim())));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let [version, stdlib, purelib, platlib] = lines[..] else {
        return Err(Error::Python(format!(
            "`{python}` printed {text:?}, expected its version and stdlib, purelib and platlib paths"
        )));
    };
    let stdlib = PathBuf::from(stdlib);
    if !stdlib.is_dir() {
        return Err(Error::Python(format!(
            "`{python}` says its stdlib is {}, which is not a folder",
            stdlib.display()
        )));
    }
    let mut trees = vec![Tree {
        root: stdlib,
        label: "stdlib".into(),
        repo: format!("python-{version}-stdlib"),
        exclude: &STDLIB_EXCLUDE,
    }];
    for site in [purelib, platlib].map(PathBuf::from) {
        // purelib and platlib are one folder on most systems; a missing
        // one (a bare interpreter) simply adds nothing.
        if site.is_dir() && !trees.iter().any(|t| t.root == site) {
            trees.push(Tree {
                label: "site-packages".into(),
                repo: format!("python-{version}-site-packages"),
                root: site,
                exclude: NO_EXCLUDE,
            });
        }
    }
    Ok(Env { python, version: version.to_string(), trees })
}

/// Folders listed in the study file, relative to `base_dir`.
pub fn listed_trees(paths: &[String], base_dir: &Path) -> Env {
    let trees = paths
        .iter()
        .map(|p| {
            let root = if Path::new(p).is_absolute() { PathBuf::from(p) } else { base_dir.join(p) };
            Tree { root, label: p.trim_end_matches('/').to_string(), repo: p.clone(), exclude: NO_EXCLUDE }
        })
        .collect();
    Env { python: String::new(), version: String::new(), trees }
}

/// The package of a mined pair: the top folder or module of its path.
fn package(path: &str) -> &str {
    let top = path.split('/').next().unwrap_or(path);
    top.strip_suffix(".py").unwrap_or(top)
}

/// Mines every tree (or reads it from the cache) and merges them.
pub fn mine_env(env: Env, cache_dir: &Path, progress: Option<Progress<'_>>) -> Result<(Vec<Pair>, EnvReport)> {
    let started = Instant::now();
    let mut exact: HashSet<[u8; 32]> = HashSet::new();
    let mut near: HashSet<u64> = HashSet::new();
    let mut pairs = Vec::new();
    let mut reports = Vec::new();
    for tree in &env.trees {
        let options = MineOptions { threads: 0, exclude_dirs: tree.exclude, repo: Some(&tree.repo), progress };
        let Mined { pairs: mined, report, .. } = mine_cached(&tree.root, cache_dir, options)?;
        let mut r = TreeReport {
            label: tree.label.clone(),
            root: tree.root.clone(),
            mined: mined.len(),
            duplicates: 0,
            cached: report.is_none(),
        };
        for mut pair in mined {
            let first_exact = exact.insert(Sha256::digest(pair.code.as_bytes()).into());
            let first_near = near.insert(near_key(&pair.code));
            // Within a tree the miner already kept only first copies.
            if !(first_exact && first_near) {
                r.duplicates += 1;
                continue;
            }
            let path = pair.path.clone().unwrap_or_default();
            pair.repo = Some(package(&path).to_string());
            pair.id = format!("{}/{}", tree.label, pair.id);
            pairs.push(pair);
        }
        reports.push(r);
    }
    if pairs.is_empty() {
        let roots: Vec<String> = env.trees.iter().map(|t| t.root.display().to_string()).collect();
        return Err(Error::file(
            roots.first().map(PathBuf::from).unwrap_or_default(),
            format!("python-env: no functions with docstrings in {}", roots.join(", ")),
        ));
    }
    let packages = pairs.iter().filter_map(|p| p.repo.as_deref()).collect::<HashSet<_>>().len();
    let report = EnvReport { env, trees: reports, pairs: pairs.len(), packages, elapsed: started.elapsed() };
    Ok((pairs, report))
}

/// The pairs of `{ kind = "python-env", python, paths }`.
pub fn load(python: Option<&str>, paths: &[String], base_dir: &Path, cache_dir: &Path) -> Result<Vec<Pair>> {
    let env = if paths.is_empty() { locate_env(python, base_dir)? } else { listed_trees(paths, base_dir) };
    Ok(mine_env(env, cache_dir, None)?.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pytree")
    }

    /// Two trees, the second holding a copy of one of the first's modules
    /// (reformatted) and a module of its own.
    fn two_trees(dir: &Path) -> Vec<String> {
        let a = dir.join("a");
        let b = dir.join("b/extra");
        std::fs::create_dir_all(&b).unwrap();
        let copy = |from: &Path, to: &Path| {
            for entry in walkdir::WalkDir::new(from) {
                let entry = entry.unwrap();
                let rel = entry.path().strip_prefix(from).unwrap();
                let dest = to.join(rel);
                if entry.file_type().is_dir() {
                    std::fs::create_dir_all(&dest).unwrap();
                } else {
                    std::fs::copy(entry.path(), &dest).unwrap();
                }
            }
        };
        copy(&fixture(), &a);
        let geometry = std::fs::read_to_string(a.join("pkg/geometry.py")).unwrap();
        std::fs::write(b.join("copied.py"), geometry.replace("\n\n", "\n\n\n")).unwrap();
        std::fs::write(
            b.join("own.py"),
            "def twice(values):\n    \"\"\"Every value twice.\"\"\"\n    out = []\n    for v in values:\n        out.extend([v, v])\n    return out\n",
        )
        .unwrap();
        vec![a.display().to_string(), dir.join("b").display().to_string()]
    }

    #[test]
    fn listed_trees_merge_without_duplicates_and_name_packages() {
        let dir = tempfile::tempdir().unwrap();
        let paths = two_trees(dir.path());
        let cache = dir.path().join("cache");
        let (pairs, report) = mine_env(listed_trees(&paths, dir.path()), &cache, None).unwrap();
        let (first, second) = (&report.trees[0], &report.trees[1]);
        assert!(first.mined > 3, "{report:?}");
        assert_eq!(first.duplicates, 0);
        // The copied module is left out, the new function kept.
        assert_eq!(second.mined, second.duplicates + 1, "{report:?}");
        assert_eq!(pairs.len(), first.mined + 1);
        let own = pairs.iter().find(|p| p.func_name.as_deref() == Some("twice")).unwrap();
        assert_eq!(own.repo.as_deref(), Some("extra"));
        assert!(own.id.starts_with(&format!("{}/", paths[1])), "{}", own.id);
        let ids: HashSet<&str> = pairs.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids.len(), pairs.len(), "ids are unique");
        assert!(pairs.iter().all(|p| p.repo.is_some()));
        // A second run reads both trees from the cache, with the same pairs.
        let (again, report) = mine_env(listed_trees(&paths, dir.path()), &cache, None).unwrap();
        assert!(report.trees.iter().all(|t| t.cached));
        assert_eq!(again, pairs);
    }

    #[test]
    fn packages_are_top_folders_or_modules() {
        assert_eq!(package("json/decoder.py"), "json");
        assert_eq!(package("six.py"), "six");
        assert_eq!(package("numpy/core/_methods.py"), "numpy");
    }

    #[test]
    fn a_venv_folder_means_its_python() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("venv/bin")).unwrap();
        assert_eq!(interpreter(Some("./venv"), dir.path()), dir.path().join("./venv/bin/python").display().to_string());
        assert_eq!(interpreter(Some("venv"), dir.path()), dir.path().join("venv/bin/python").display().to_string());
        assert_eq!(interpreter(Some("python3.11"), dir.path()), "python3.11");
    }

    #[test]
    fn a_missing_interpreter_is_an_error_not_a_panic() {
        let e = locate_env(Some("/nonexistent/python"), Path::new(".")).unwrap_err().to_string();
        assert!(e.contains("could not run `/nonexistent/python`"), "{e}");
    }
}
