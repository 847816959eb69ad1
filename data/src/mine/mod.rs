//! Mining a folder of .py files into docstring -> code pairs (the
//! python-tree and python-stdlib sources, `intervene data mine`).
//!
//! Files are parsed on all cores; results are put back in sorted file order
//! before duplicates are removed, so the output does not depend on thread
//! timing. Files that are not UTF-8 or do not parse are skipped, counted and
//! named in the report.

pub mod cache;
pub mod extract;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::pair::Pair;
use crate::python::parse_module;
use extract::{Found, Rule};

/// What a mining run did, for the summary users read.
#[derive(Debug, Clone, PartialEq)]
pub struct MineReport {
    pub root: PathBuf,
    /// .py files found (and read).
    pub files_read: usize,
    /// Files whose bytes are not UTF-8.
    pub files_not_utf8: usize,
    /// UTF-8 files that do not parse.
    pub files_unparsed: usize,
    /// Up to [`MineReport::EXAMPLES`] of the skipped files, relative to the root.
    pub skipped_examples: Vec<String>,
    /// Functions and methods with a docstring.
    pub functions_found: usize,
    pub kept: usize,
    /// Functions dropped, per rule, in rule order.
    pub dropped: Vec<(Rule, usize)>,
    pub elapsed: Duration,
}

impl MineReport {
    pub const EXAMPLES: usize = 5;

    pub fn dropped_by(&self, rule: Rule) -> usize {
        self.dropped.iter().find(|(r, _)| *r == rule).map_or(0, |(_, n)| *n)
    }
}

/// Callback with (files done, files total).
pub type Progress<'a> = &'a (dyn Fn(usize, usize) + Sync);

#[derive(Clone, Copy, Default)]
pub struct MineOptions<'a> {
    /// Worker threads; 0 means one per core.
    pub threads: usize,
    /// Folder names not descended into (besides hidden folders and
    /// `__pycache__`, which never are).
    pub exclude_dirs: &'a [&'a str],
    /// Value of the `repo` column of every pair.
    pub repo: Option<&'a str>,
    pub progress: Option<Progress<'a>>,
}

/// The .py files under `root`, sorted by relative path.
pub fn python_files(root: &Path, exclude_dirs: &[&str]) -> Result<Vec<PathBuf>> {
    let meta = std::fs::metadata(root).map_err(|e| Error::io(root, e))?;
    if !meta.is_dir() {
        return Err(Error::file(root, "not a folder (python-tree mining needs a folder of .py files)"));
    }
    let mut files = Vec::new();
    let walker = walkdir::WalkDir::new(root).follow_links(false).sort_by_file_name().into_iter();
    let walker = walker.filter_entry(|e| {
        if e.depth() == 0 || !e.file_type().is_dir() {
            return true;
        }
        let name = e.file_name().to_string_lossy();
        !(name.starts_with('.') || name == "__pycache__" || exclude_dirs.contains(&name.as_ref()))
    });
    for entry in walker {
        let entry = entry.map_err(|e| {
            let path = e.path().map(Path::to_path_buf).unwrap_or_else(|| root.to_path_buf());
            Error::file(path, format!("walking the folder: {e}"))
        })?;
        if entry.file_type().is_file() && entry.path().extension().is_some_and(|x| x == "py") {
            files.push(entry.into_path());
        }
    }
    Ok(files)
}

enum FileOutcome {
    NotUtf8,
    Unparsed,
    Parsed(Vec<Found>),
}

fn mine_file(path: &Path) -> Result<FileOutcome> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let Ok(source) = String::from_utf8(bytes) else { return Ok(FileOutcome::NotUtf8) };
    let Some(module) = parse_module(&source, &path.to_string_lossy()) else { return Ok(FileOutcome::Unparsed) };
    Ok(FileOutcome::Parsed(extract::functions(&source, &module)))
}

pub(crate) fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

/// Mines `root`: every function and method with a docstring, filtered by
/// the rules of [`Rule`], exact and near duplicates removed (the first in
/// file order is kept).
pub fn mine_tree(root: &Path, options: MineOptions<'_>) -> Result<(Vec<Pair>, MineReport)> {
    let started = Instant::now();
    let files = python_files(root, options.exclude_dirs)?;
    let threads = match options.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
    .min(files.len().max(1));

    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<FileOutcome>>>> = Mutex::new((0..files.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= files.len() {
                        break;
                    }
                    let outcome = mine_file(&files[i]);
                    if let Ok(mut r) = results.lock() {
                        r[i] = Some(outcome);
                    }
                    let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                    if let Some(progress) = options.progress {
                        progress(n, files.len());
                    }
                }
            });
        }
    });
    let results = results.into_inner().map_err(|_| Error::file(root, "a mining thread panicked"))?;

    let mut report = MineReport {
        root: root.to_path_buf(),
        files_read: files.len(),
        files_not_utf8: 0,
        files_unparsed: 0,
        skipped_examples: Vec::new(),
        functions_found: 0,
        kept: 0,
        dropped: Rule::ALL.iter().map(|r| (*r, 0)).collect(),
        elapsed: Duration::ZERO,
    };
    let drop = |report: &mut MineReport, rule: Rule| {
        if let Some(slot) = report.dropped.iter_mut().find(|(r, _)| *r == rule) {
            slot.1 += 1;
        }
    };
    let mut exact: HashSet<[u8; 32]> = HashSet::new();
    let mut near: HashSet<u64> = HashSet::new();
    let mut pairs = Vec::new();
    for (path, outcome) in files.iter().zip(results) {
        let rel = relative(root, path);
        let outcome = outcome.ok_or_else(|| Error::file(path, "was not mined (a mining thread stopped early)"))??;
        let found = match outcome {
            FileOutcome::NotUtf8 | FileOutcome::Unparsed => {
                if matches!(outcome, FileOutcome::NotUtf8) {
                    report.files_not_utf8 += 1;
                } else {
                    report.files_unparsed += 1;
                }
                if report.skipped_examples.len() < MineReport::EXAMPLES {
                    report.skipped_examples.push(rel);
                }
                continue;
            }
            FileOutcome::Parsed(found) => found,
        };
        for f in found {
            report.functions_found += 1;
            if let Err(rule) = f.verdict {
                drop(&mut report, rule);
                continue;
            }
            if !exact.insert(Sha256::digest(f.code.as_bytes()).into()) {
                drop(&mut report, Rule::DuplicateExact);
                continue;
            }
            if !near.insert(f.near_key) {
                drop(&mut report, Rule::DuplicateNear);
                continue;
            }
            let mut pair = Pair::new(format!("{rel}:{}:{}", f.qualname, f.line), f.docstring, f.code);
            pair.repo = options.repo.map(str::to_owned);
            pair.path = Some(rel.clone());
            pair.func_name = Some(f.qualname);
            pairs.push(pair);
        }
    }
    report.kept = pairs.len();
    report.elapsed = started.elapsed();
    Ok((pairs, report))
}

#[cfg(test)]
mod tests;
