//! Every source yields pairs: user files (CodeSearchNet jsonl, Parquet,
//! CoNaLa), mined Python trees (a folder, the machine's stdlib, an
//! interpreter's stdlib and site-packages) and the synthetic generator.

pub mod codesearchnet;
pub mod conala;
pub mod parquet;
pub mod python_env;
pub mod synthetic;

use std::path::{Path, PathBuf};

use intervene_proto::job::SourceSpec;

use crate::error::{Error, Result};
use crate::mine::MineOptions;
use crate::mine::cache::{mine_cached, mine_stdlib};
use crate::pair::{Pair, dedupe_ids};

/// Load every pair of a source. Relative paths resolve against `base_dir`
/// (the study file's folder); mined trees are cached under `cache_dir` by
/// the content hash of the tree.
///
/// Pairs from user files whose docstring or code is empty are left out
/// with a warning (the seed study's filter: both must exist and be
/// non-empty).
pub fn load_source(source: &SourceSpec, base_dir: &Path, cache_dir: &Path) -> Result<Vec<Pair>> {
    let mut pairs = Vec::new();
    match source {
        SourceSpec::Codesearchnet { path } => {
            for file in resolve_files(base_dir, path, &[".jsonl", ".jsonl.gz"], codesearchnet::ACCEPTED_FILES)? {
                codesearchnet::read_file(&file, &mut pairs)?;
            }
        }
        SourceSpec::Parquet { path } => {
            for file in resolve_files(base_dir, path, &[".parquet"], "a .parquet file, a folder of them or a glob")? {
                pairs.extend(parquet::read_parquet_pairs(&file, false)?);
            }
        }
        SourceSpec::Conala { path } => {
            let accepted = "a CoNaLa .json file (or mined .jsonl), a folder of them or a glob";
            for file in resolve_files(base_dir, path, &[".json", ".jsonl", ".jsonl.gz"], accepted)? {
                conala::read_file(&file, &mut pairs)?;
            }
        }
        SourceSpec::PythonTree { path } => {
            let root = resolve(base_dir, path);
            let repo = root.file_name().map(|n| n.to_string_lossy().into_owned());
            let options = MineOptions { repo: repo.as_deref(), ..MineOptions::default() };
            return Ok(mine_cached(&root, cache_dir, options)?.pairs);
        }
        SourceSpec::PythonStdlib => return Ok(mine_stdlib(cache_dir, None)?.1.pairs),
        SourceSpec::PythonEnv { python, paths } => {
            return python_env::load(python.as_deref(), paths, base_dir, cache_dir);
        }
        SourceSpec::Synthetic { task, size, seed } => return synthetic::generate(*task, *size, *seed),
    }
    let before = pairs.len();
    pairs.retain(|p| !p.docstring.trim().is_empty() && !p.code.trim().is_empty());
    if pairs.len() < before {
        tracing::warn!(
            "{} source: left out {} of {before} pairs with an empty docstring or empty code",
            source.kind(),
            before - pairs.len()
        );
    }
    dedupe_ids(&mut pairs);
    Ok(pairs)
}

fn resolve(base_dir: &Path, path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() { p.to_path_buf() } else { base_dir.join(p) }
}

/// A file, a folder (searched recursively for the extensions) or a glob;
/// sorted, so the pair order is the same on every machine.
pub(crate) fn resolve_files(
    base_dir: &Path,
    path: &str,
    extensions: &[&str],
    accepted: &'static str,
) -> Result<Vec<PathBuf>> {
    let full = resolve(base_dir, path);
    let has_ext = |p: &Path| {
        let name = p.to_string_lossy();
        extensions.iter().any(|e| name.ends_with(e))
    };
    let mut files = Vec::new();
    if path.contains(['*', '?', '[']) {
        let pattern = full.to_string_lossy().into_owned();
        let paths =
            glob::glob(&pattern).map_err(|e| Error::spec("data.source.path", format!("bad glob {path:?}: {e}")))?;
        for entry in paths {
            let p = entry.map_err(|e| {
                let path = e.path().to_path_buf();
                Error::io(path, e.into())
            })?;
            if p.is_file() {
                files.push(p);
            }
        }
    } else {
        let meta = std::fs::metadata(&full).map_err(|e| Error::io(&full, e))?;
        if meta.is_dir() {
            for entry in walkdir::WalkDir::new(&full).sort_by_file_name() {
                let entry = entry.map_err(|e| Error::file(&full, format!("walking the folder: {e}")))?;
                if entry.file_type().is_file() && has_ext(entry.path()) {
                    files.push(entry.into_path());
                }
            }
        } else {
            files.push(full.clone());
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(Error::NoFiles { what: full.display().to_string(), accepted });
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use intervene_proto::job::SyntheticTask;

    #[test]
    fn resolves_files_folders_and_globs() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        std::fs::create_dir_all(base.join("d/sub")).unwrap();
        for f in ["d/b.jsonl", "d/sub/a.jsonl.gz", "d/c.txt"] {
            std::fs::write(base.join(f), "").unwrap();
        }
        let exts = [".jsonl", ".jsonl.gz"];
        let in_dir = resolve_files(base, "d", &exts, "x").unwrap();
        assert_eq!(in_dir, [base.join("d/b.jsonl"), base.join("d/sub/a.jsonl.gz")]);
        let globbed = resolve_files(base, "d/*.jsonl", &exts, "x").unwrap();
        assert_eq!(globbed, [base.join("d/b.jsonl")]);
        let e = resolve_files(base, "d/*.parquet", &exts, "jsonl files").unwrap_err().to_string();
        assert!(e.contains("no data files found (accepted: jsonl files)"), "{e}");
        let e = resolve_files(base, "missing.jsonl", &exts, "x").unwrap_err().to_string();
        assert!(e.contains("missing.jsonl"), "{e}");
    }

    #[test]
    fn synthetic_source_loads() {
        let dir = tempfile::tempdir().unwrap();
        let spec = SourceSpec::Synthetic { task: SyntheticTask::Mixed, size: 50, seed: 1 };
        let pairs = load_source(&spec, dir.path(), dir.path()).unwrap();
        assert_eq!(pairs.len(), 50);
    }
}
