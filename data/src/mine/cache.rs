//! Mined trees are cached by the content hash of the tree (every .py file's
//! relative path and bytes, plus the miner's version), so a second study on
//! the same folder reads a Parquet file instead of parsing again, and an
//! edited folder is mined afresh.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use super::{MineOptions, MineReport, mine_tree, python_files};
use crate::dataset::{read_dataset, write_dataset};
use crate::error::{Error, Result, read_bytes};
use crate::pair::Pair;

/// Bump when mining rules or output change: old cache entries then miss.
const MINER_VERSION: &str = "intervene-miner-v1";

/// Folders of the stdlib that hold installed third-party packages, not the
/// standard library.
pub const STDLIB_EXCLUDE: [&str; 2] = ["site-packages", "dist-packages"];

/// Hex SHA-256 over the miner version, the options that shape the output
/// and each file's relative path and bytes.
pub fn tree_hash(root: &Path, files: &[PathBuf], options: &MineOptions<'_>) -> Result<String> {
    let mut h = Sha256::new();
    h.update(MINER_VERSION.as_bytes());
    h.update([0u8]);
    h.update(options.repo.unwrap_or("").as_bytes());
    h.update([0u8]);
    for file in files {
        h.update(super::relative(root, file).as_bytes());
        h.update([0u8]);
        h.update(Sha256::digest(read_bytes(file)?));
    }
    Ok(hex::encode(h.finalize()))
}

/// What [`mine_cached`] returns.
pub struct Mined {
    pub pairs: Vec<Pair>,
    /// `None` when the pairs came from the cache.
    pub report: Option<MineReport>,
    /// The cached Parquet file.
    pub cache_file: PathBuf,
}

pub fn mine_cached(root: &Path, cache_dir: &Path, options: MineOptions<'_>) -> Result<Mined> {
    let files = python_files(root, options.exclude_dirs)?;
    let hash = tree_hash(root, &files, &options)?;
    let cache_file = cache_dir.join("mined").join(format!("{hash}.parquet"));
    if cache_file.exists() {
        match read_dataset(&cache_file) {
            Ok(pairs) => return Ok(Mined { pairs, report: None, cache_file }),
            Err(e) => tracing::warn!("ignoring a damaged cache entry and mining again: {e}"),
        }
    }
    let (pairs, report) = mine_tree(root, options)?;
    write_dataset(&pairs, &cache_file)?;
    Ok(Mined { pairs, report: Some(report), cache_file })
}

/// Where mined trees are cached unless told otherwise:
/// `$INTERVENE_CACHE_DIR`, else `$XDG_CACHE_HOME/intervene/data`, else
/// `~/.cache/intervene/data`, else `.intervene/cache` in the current folder.
pub fn default_cache_dir() -> PathBuf {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = env("INTERVENE_CACHE_DIR") {
        return dir;
    }
    if let Some(xdg) = env("XDG_CACHE_HOME") {
        return xdg.join("intervene").join("data");
    }
    match env("HOME") {
        Some(home) => home.join(".cache").join("intervene").join("data"),
        None => PathBuf::from(".intervene").join("cache"),
    }
}

/// Where the machine's python3 keeps its standard library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stdlib {
    pub path: PathBuf,
    /// e.g. "3.11.7".
    pub version: String,
    pub python: String,
}

/// The interpreter asked: `$INTERVENE_PYTHON`, else `python3`.
pub fn python_command() -> String {
    std::env::var("INTERVENE_PYTHON").ok().filter(|s| !s.trim().is_empty()).unwrap_or_else(|| "python3".into())
}

pub fn locate_stdlib() -> Result<Stdlib> {
    let python = python_command();
    let script = "import sys, sysconfig; print(sysconfig.get_paths()['stdlib']); print(sys.version.split()[0])";
    let out = Command::new(&python).args(["-c", script]).output().map_err(|e| {
        Error::Python(format!("could not run `{python}` ({e}); install Python 3 or set INTERVENE_PYTHON"))
    })?;
    if !out.status.success() {
        return Err(Error::Python(format!(
            "`{python}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let (Some(path), Some(version)) = (lines.next(), lines.next()) else {
        return Err(Error::Python(format!("`{python}` printed {text:?}, expected the stdlib path and the version")));
    };
    let path = PathBuf::from(path.trim());
    if !path.is_dir() {
        return Err(Error::Python(format!("`{python}` says its stdlib is {}, which is not a folder", path.display())));
    }
    Ok(Stdlib { path, version: version.trim().to_string(), python })
}

/// The standard library of the machine's python3 (without site-packages),
/// mined on first use and cached by content hash.
pub fn mine_stdlib(cache_dir: &Path, progress: Option<super::Progress<'_>>) -> Result<(Stdlib, Mined)> {
    let stdlib = locate_stdlib()?;
    let repo = format!("python-{}-stdlib", stdlib.version);
    let options = MineOptions { threads: 0, exclude_dirs: &STDLIB_EXCLUDE, repo: Some(&repo), progress };
    let mined = mine_cached(&stdlib.path, cache_dir, options)?;
    Ok((stdlib, mined))
}
