//! [data]: sizes, split, overlong policy and the source, whose paths must
//! exist.

use super::*;

const SOURCE_KINDS: &[&str] =
    &["codesearchnet", "parquet", "conala", "python-tree", "python-stdlib", "python-env", "synthetic"];
const SYNTHETIC_TASKS: &[&str] = &["mixed", "list", "string", "arithmetic"];
const SPLIT_MODES: &[&str] = &["random", "published", "by-package"];
const OVERLONG: &[&str] = &["truncate", "drop"];

impl Validator<'_> {
    pub(super) fn data(&mut self, d: &RawData) -> (Option<DataBase>, Knobs) {
        let mut knobs = Knobs::new();
        knobs.insert("tokenizer", Value::Str(d.tokenizer.clone()));
        let ints = [
            ("vocab_size", d.vocab_size),
            ("source_vocab_size", d.source_vocab_size),
            ("target_vocab_size", d.target_vocab_size),
            ("max_source_len", Some(d.max_source_len)),
            ("max_target_len", Some(d.max_target_len)),
        ];
        for (name, v) in ints {
            if let Some(v) = v {
                knobs.insert(name, Value::Int(v));
            }
        }
        let source = self.source(&d.source);
        let mut size = |name: &str, v: i64| -> u32 {
            if (1..=100_000_000).contains(&v) {
                v as u32
            } else {
                self.issues.push(Issue::new(
                    format!("data.{name}"),
                    format!("{name} = {v} is out of range; accepted: an integer from 1 to 100000000"),
                ));
                0
            }
        };
        let (train, valid, test) = (size("train", d.train), size("valid", d.valid), size("test", d.test));
        let split = match d.split.as_deref() {
            None | Some("random") => SplitMode::Random,
            Some("published") => SplitMode::Published,
            Some("by-package") => SplitMode::ByPackage,
            Some(other) => {
                self.issue("data.split", unknown("split", other, SPLIT_MODES));
                SplitMode::Random
            }
        };
        if split == SplitMode::Published
            && !matches!(source, Some(SourceSpec::Codesearchnet { .. } | SourceSpec::Parquet { .. }))
        {
            self.issue(
                "data.split",
                "split = \"published\" needs a source with a `partition` column; accepted with source kind codesearchnet or parquet, otherwise use \"random\"",
            );
        }
        if split == SplitMode::ByPackage
            && !matches!(
                source,
                None | Some(
                    SourceSpec::PythonEnv { .. } | SourceSpec::Codesearchnet { .. } | SourceSpec::Parquet { .. }
                )
            )
        {
            self.issue(
                "data.split",
                "split = \"by-package\" needs a source whose pairs name their package; accepted with source kind python-env (the package), codesearchnet or parquet (the repo column), otherwise use \"random\"",
            );
        }
        let split_seed = match d.split_seed {
            None => 0,
            Some(s) if s >= 0 => s as u64,
            Some(s) => {
                self.issue("data.split_seed", format!("split_seed = {s} is negative; accepted: an integer >= 0"));
                0
            }
        };
        let overlong = match d.overlong.as_deref() {
            None | Some("truncate") => Overlong::Truncate,
            Some("drop") => Overlong::Drop,
            Some(other) => {
                self.issue("data.overlong", unknown("overlong policy", other, OVERLONG));
                Overlong::Truncate
            }
        };
        if let Some(SourceSpec::Synthetic { size, .. }) = &source {
            let needed = train as u64 + valid as u64 + test as u64;
            if (*size as u64) < needed {
                self.issue(
                    "data.source.size",
                    format!("size = {size} is smaller than train + valid + test = {needed}; accepted: an integer >= {needed}"),
                );
            }
        }
        let base = source.map(|source| DataBase { source, train, valid, test, split, split_seed, overlong });
        (base, knobs)
    }

    fn source(&mut self, s: &RawSource) -> Option<SourceSpec> {
        let key = "data.source";
        let Some(kind) = SOURCE_KINDS.iter().find(|k| **k == s.kind) else {
            self.issue(format!("{key}.kind"), unknown("source kind", &s.kind, SOURCE_KINDS));
            return None;
        };
        let file_kind = matches!(*kind, "codesearchnet" | "parquet" | "conala" | "python-tree");
        let not_a_key = |this: &mut Self, present: bool, name: &str| {
            if present {
                this.issues.push(Issue::at_key(
                    format!("{key}.{name}"),
                    format!("`{name}` is not a key of source kind {kind}"),
                ));
            }
        };
        if !file_kind {
            not_a_key(self, s.path.is_some(), "path");
        }
        if *kind != "python-env" {
            not_a_key(self, s.python.is_some(), "python");
            not_a_key(self, s.paths.is_some(), "paths");
        }
        if *kind != "synthetic" {
            not_a_key(self, s.task.is_some(), "task");
            not_a_key(self, s.size.is_some(), "size");
            not_a_key(self, s.seed.is_some(), "seed");
        }
        if file_kind {
            let Some(path) = &s.path else {
                self.issue(key, format!("source kind {kind} needs `path`"));
                return None;
            };
            self.check_path("data.source.path", path, *kind == "python-tree");
            let path = path.clone();
            return Some(match *kind {
                "codesearchnet" => SourceSpec::Codesearchnet { path },
                "parquet" => SourceSpec::Parquet { path },
                "conala" => SourceSpec::Conala { path },
                _ => SourceSpec::PythonTree { path },
            });
        }
        if *kind == "python-stdlib" {
            return Some(SourceSpec::PythonStdlib);
        }
        if *kind == "python-env" {
            return self.python_env(s);
        }
        let task = match s.task.as_deref() {
            None | Some("mixed") => SyntheticTask::Mixed,
            Some("list") => SyntheticTask::List,
            Some("string") => SyntheticTask::String,
            Some("arithmetic") => SyntheticTask::Arithmetic,
            Some(other) => {
                self.issue(format!("{key}.task"), unknown("synthetic task", other, SYNTHETIC_TASKS));
                return None;
            }
        };
        let size = match s.size {
            None => {
                self.issue(key, "source kind synthetic needs `size` (the number of pairs to generate)");
                return None;
            }
            Some(n) if (1..=10_000_000).contains(&n) => n as u32,
            Some(n) => {
                self.issue(
                    format!("{key}.size"),
                    format!("size = {n} is out of range; accepted: an integer from 1 to 10000000"),
                );
                return None;
            }
        };
        let seed = match s.seed {
            None => 0,
            Some(n) if n >= 0 => n as u64,
            Some(n) => {
                self.issue(format!("{key}.seed"), format!("seed = {n} is negative; accepted: an integer >= 0"));
                return None;
            }
        };
        Some(SourceSpec::Synthetic { task, size, seed })
    }

    /// python-env: an interpreter (a command, or a path to one or to a
    /// virtual environment) and optional folders to mine instead.
    fn python_env(&mut self, s: &RawSource) -> Option<SourceSpec> {
        let before = self.issues.len();
        if let Some(python) = &s.python {
            if python.trim().is_empty() {
                self.issue(
                    "data.source.python",
                    "python = \"\" is empty; accepted: a command (python3), a python executable or a virtual environment folder",
                );
            } else if python.contains('/') || self.base_dir.join(python).exists() {
                // A path (an executable or a venv folder); a bare name is a
                // command, looked up on the PATH when the data is loaded.
                self.check_path("data.source.python", python, false);
            }
        }
        let paths = s.paths.clone().unwrap_or_default();
        if s.paths.is_some() && paths.is_empty() {
            self.issue(
                "data.source.paths",
                "paths is empty; accepted: a non-empty list of folders, or no `paths` for the interpreter's stdlib and site-packages",
            );
        }
        if s.python.is_some() && !paths.is_empty() {
            self.issues.push(Issue::at_key(
                "data.source.paths",
                "`paths` and `python` exclude each other: `paths` mines the listed folders, `python` an interpreter's own",
            ));
        }
        let mut seen = BTreeSet::new();
        for (i, p) in paths.iter().enumerate() {
            let key = format!("data.source.paths[{i}]");
            if !seen.insert(p.as_str()) {
                self.issue(key, format!("{p:?} is listed twice"));
            } else {
                self.check_path(&key, p, true);
            }
        }
        (self.issues.len() == before).then(|| SourceSpec::PythonEnv { python: s.python.clone(), paths })
    }

    /// A data path must exist (a glob must match something), relative to the
    /// study file's directory.
    fn check_path(&mut self, key: &str, path: &str, want_dir: bool) {
        let full = self.base_dir.join(path);
        if path.contains(['*', '?', '[']) {
            let matches = glob::glob(&full.to_string_lossy()).map(|g| g.filter_map(Result::ok).count()).unwrap_or(0);
            if matches == 0 {
                self.issue(key, format!("no file matches {path:?} (looked in {})", self.base_dir.display()));
            }
        } else if !full.exists() {
            self.issue(key, format!("data path {path:?} does not exist (looked for {})", full.display()));
        } else if want_dir && !full.is_dir() {
            self.issue(key, format!("{path:?} is not a directory; python sources mine folders of .py files"));
        }
    }
}
