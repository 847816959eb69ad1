//! Raw study-file sections -> validated [`Study`], collecting every issue.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use intervene_proto::job::{
    Arch, MutationOp, MutationSpec, Overlong, Side, SourceSpec, Split, SplitMode, SyntheticTask,
};
use intervene_proto::tables::RUN_OUTCOMES;
use serde::de::DeserializeOwned;

use super::error::{self, Issue, Locator, SpecErrors, unknown};
use super::knobs::{self, Knobs, Section, Ty, Value, knob};
use super::locate::SpanIndex;
use super::raw::*;
use super::resolve::{DataBase, KnobIssue, resolve};
use super::{ArmConfig, Bucket, Intervention, SourceText, Study, VERSION};

const ARCH_NAMES: &[&str] = &["rnn", "gru", "lstm", "lstm-attention", "transformer"];
const SOURCE_KINDS: &[&str] =
    &["codesearchnet", "parquet", "conala", "python-tree", "python-stdlib", "python-env", "synthetic"];
const SYNTHETIC_TASKS: &[&str] = &["mixed", "list", "string", "arithmetic"];
const SPLIT_MODES: &[&str] = &["random", "published", "by-package"];
const OVERLONG: &[&str] = &["truncate", "drop"];
const MUTATION_OPS: &[&str] =
    &["token-dropout", "local-shuffle", "truncate", "rename-identifiers", "label-noise", "subsample", "strip-comments"];
const SIDES: &[&str] = &["source", "target", "both"];
const SPLITS: &[&str] = &["train", "valid", "test"];
/// More arms than this in one intervention is almost certainly a mistake.
const MAX_GRID: usize = 10_000;

pub(super) fn validate(source: SourceText) -> Result<Study, SpecErrors> {
    let table: toml::Table = match toml::from_str(&source.text) {
        Ok(t) => t,
        Err(e) => return Err(syntax_error(&source, &e)),
    };
    let mut v = Validator { issues: Vec::new(), base_dir: &source.base_dir };
    let study = v.study(&table);
    match study {
        Some(s) if v.issues.is_empty() => Ok(Study { source, ..s }),
        _ => {
            let index = SpanIndex::new(&source.text);
            let locator = Locator { file: &source.file, text: &source.text, index: &index };
            Err(SpecErrors(v.issues.into_iter().map(|i| locator.locate(i)).collect()))
        }
    }
}

fn syntax_error(source: &SourceText, e: &toml::de::Error) -> SpecErrors {
    let index = SpanIndex::new(&source.text);
    let locator = Locator { file: &source.file, text: &source.text, index: &index };
    let span = e.span().unwrap_or(0..1);
    let message = format!("not valid TOML: {}", e.message().trim_end());
    SpecErrors(vec![locator.at_offset(span.start, span.len(), String::new(), message)])
}

struct Validator<'a> {
    issues: Vec<Issue>,
    base_dir: &'a Path,
}

impl Validator<'_> {
    fn issue(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.issues.push(Issue::new(key, message));
    }

    /// Deserialise `value` (at key path `key`) into a raw section struct.
    fn section<T: DeserializeOwned>(&mut self, key: &str, value: &toml::Value) -> Option<T> {
        match serde_path_to_error::deserialize(value.clone()) {
            Ok(v) => Some(v),
            Err(e) => {
                self.issues.push(error::from_serde(key, e));
                None
            }
        }
    }

    fn required<T: DeserializeOwned>(&mut self, table: &toml::Table, name: &str) -> Option<T> {
        match table.get(name) {
            Some(v) => self.section(name, v),
            None => {
                self.issue("", format!("missing section [{name}]"));
                None
            }
        }
    }

    /// Each element of an array of tables (`[[intra]]`), deserialised alone.
    fn array<T: DeserializeOwned>(&mut self, table: &toml::Table, name: &str) -> Vec<Option<T>> {
        match table.get(name) {
            None => Vec::new(),
            Some(toml::Value::Array(items)) => {
                items.iter().enumerate().map(|(i, item)| self.section(&format!("{name}[{i}]"), item)).collect()
            }
            Some(other) => {
                self.issue(name, format!("expected [[{name}]] tables, found {}", other.type_str()));
                Vec::new()
            }
        }
    }

    fn study(&mut self, table: &toml::Table) -> Option<Study> {
        for key in table.keys() {
            if !TOP_LEVEL_KEYS.contains(&key.as_str()) {
                self.issues.push(Issue::at_key(key.clone(), unknown("key", key, TOP_LEVEL_KEYS)));
            }
        }
        match table.get("version") {
            None => self.issue("", format!("missing `version = {VERSION}` at the top of the file")),
            Some(toml::Value::Integer(VERSION)) => {}
            Some(other) => self.issue("version", format!("version = {other} is not supported; accepted: {VERSION}")),
        }
        let raw_study: Option<RawStudy> = self.required(table, "study");
        let raw_data: Option<RawData> = self.required(table, "data");
        let raw_model: Option<RawModel> = self.required(table, "model");
        let raw_train: Option<RawTrain> = self.required(table, "train");
        let raw_decode: Option<RawDecode> = match table.get("decode") {
            Some(v) => self.section("decode", v),
            None => Some(RawDecode::default()),
        };
        let intra: Vec<Option<RawIntra>> = self.array(table, "intra");
        let inter: Vec<Option<RawInter>> = self.array(table, "inter");
        let mutation: Vec<Option<RawMutation>> = self.array(table, "mutation");

        let (data, data_knobs) = match &raw_data {
            Some(d) => self.data(d),
            None => (None, Knobs::new()),
        };
        let arch = raw_model.as_ref().and_then(|m| self.arch_of(m, "model"));
        let mut knobs = data_knobs;
        if let Some(m) = &raw_model {
            knobs.extend(model_knobs(m));
        }
        if let Some(t) = &raw_train {
            knobs.extend(train_knobs(t));
        }
        if let Some(d) = &raw_decode {
            knobs.extend(decode_knobs(d));
        }
        self.check_values(&knobs, |name| format!("{}.{name}", section_of(name)));

        let (Some(arch), Some(data)) = (arch, data) else {
            // Nothing below can be checked without the control arm.
            self.study_meta(raw_study.as_ref(), None);
            return None;
        };
        let control = ArmConfig { arch, knobs };
        if self.issues.is_empty() {
            let issues = resolve(arch, &control.knobs, &data).err().unwrap_or_default();
            self.knob_issues(
                issues,
                |knob| knob.map(|k| format!("{}.{k}", section_of(k))),
                |s| format!("[{}]", s.name()),
            );
        }
        let tokenizer = control.knobs.get("tokenizer").and_then(Value::as_str).map(str::to_string);
        let meta = self.study_meta(raw_study.as_ref(), tokenizer.as_deref());

        let mut names: BTreeMap<String, String> = BTreeMap::new();
        let mut interventions = Vec::new();
        for (i, raw) in intra.iter().enumerate() {
            let Some(raw) = raw else { continue };
            let key = format!("intra[{i}]");
            self.intervention_name(&raw.name, &key, &mut names);
            if let Some(iv) = self.intra(i, raw, &control, &data) {
                interventions.push(iv);
            }
        }
        for (i, raw) in inter.iter().enumerate() {
            let Some(raw) = raw else { continue };
            let key = format!("inter[{i}]");
            self.intervention_name(&raw.name, &key, &mut names);
            if let Some(iv) = self.inter(i, raw, &control, &data) {
                interventions.push(iv);
            }
        }
        for (i, raw) in mutation.iter().enumerate() {
            let Some(raw) = raw else { continue };
            let key = format!("mutation[{i}]");
            self.intervention_name(&raw.name, &key, &mut names);
            if let Some(iv) = self.mutation(i, raw) {
                interventions.push(iv);
            }
        }
        let (name, description, seeds, outcomes, max_attempts) = meta?;
        let minimum_effect = raw_study.as_ref().and_then(|raw| self.minimum_effect(raw));
        Some(Study {
            name,
            description,
            seeds,
            outcomes,
            max_attempts,
            minimum_effect,
            data,
            control,
            interventions,
            source: SourceText { file: String::new(), text: String::new(), base_dir: self.base_dir.to_path_buf() },
        })
    }

    #[allow(clippy::type_complexity)]
    fn study_meta(
        &mut self,
        raw: Option<&RawStudy>,
        tokenizer: Option<&str>,
    ) -> Option<(String, Option<String>, Vec<u64>, Vec<String>, u32)> {
        let raw = raw?;
        self.check_name(&raw.name, "study.name");
        if raw.seeds.is_empty() {
            self.issue("study.seeds", "the seed list is empty; accepted: one or more seeds, e.g. seeds = [1, 2, 3]");
        }
        let mut seen = BTreeSet::new();
        let mut seeds = Vec::new();
        for (i, &s) in raw.seeds.iter().enumerate() {
            if s < 0 {
                self.issue(format!("study.seeds[{i}]"), format!("seed {s} is negative; accepted: an integer >= 0"));
            } else if !seen.insert(s) {
                self.issue(
                    format!("study.seeds[{i}]"),
                    format!("seed {s} appears twice; every seed is run once per arm"),
                );
            } else {
                seeds.push(s as u64);
            }
        }
        let detokenizes = !matches!(tokenizer, Some("code-whitespace"));
        let outcomes = match &raw.outcomes {
            None => {
                let mut o: Vec<String> = ["bleu", "token_accuracy", "exact_match"].map(String::from).to_vec();
                if detokenizes {
                    o.push("syntax_valid".into());
                }
                o
            }
            Some(list) => {
                if list.is_empty() {
                    self.issue("study.outcomes", format!("no outcomes; accepted: any of {}", RUN_OUTCOMES.join(", ")));
                }
                let mut seen = BTreeSet::new();
                for (i, o) in list.iter().enumerate() {
                    let key = format!("study.outcomes[{i}]");
                    if !RUN_OUTCOMES.contains(&o.as_str()) {
                        self.issue(key, unknown("outcome", o, RUN_OUTCOMES));
                    } else if !seen.insert(o) {
                        self.issue(key, format!("outcome `{o}` is listed twice"));
                    } else if o == "syntax_valid" && !detokenizes {
                        self.issue(
                            key,
                            "syntax_valid needs a tokenizer whose output detokenizes to code; accepted with tokenizer = \"python-lexer\" or \"bpe\", not \"code-whitespace\"",
                        );
                    }
                }
                list.clone()
            }
        };
        let max_attempts = match raw.max_attempts {
            None => 3,
            Some(n) if (1..=100).contains(&n) => n as u32,
            Some(n) => {
                self.issue(
                    "study.max_attempts",
                    format!("max_attempts = {n} is out of range; accepted: an integer from 1 to 100"),
                );
                3
            }
        };
        Some((raw.name.clone(), raw.description.clone(), seeds, outcomes, max_attempts))
    }

    fn minimum_effect(&mut self, raw: &RawStudy) -> Option<(f64, f64)> {
        let m = raw.minimum_effect?;
        let mut ok = true;
        for (key, value) in [("effect", m.effect), ("sd", m.sd)] {
            if !(value.is_finite() && value > 0.0) {
                self.issue(
                    format!("study.minimum_effect.{key}"),
                    format!("{key} = {value}; accepted: a positive number of outcome points, e.g. minimum_effect = {{ effect = 1.0, sd = 1.5 }}"),
                );
                ok = false;
            }
        }
        ok.then_some((m.effect, m.sd))
    }

    /// Names end up in arm names, paths and tables: keep them plain.
    fn check_name(&mut self, name: &str, key: &str) {
        let ok = !name.is_empty()
            && name.len() <= 64
            && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !ok {
            self.issue(
                key,
                format!("name {name:?} is not accepted; accepted: 1 to 64 letters, digits, '-', '_' or '.', starting with a letter or digit"),
            );
        }
    }

    fn intervention_name(&mut self, name: &str, key: &str, names: &mut BTreeMap<String, String>) {
        let key = format!("{key}.name");
        self.check_name(name, &key);
        if name == intervene_proto::tables::CONTROL_ARM {
            self.issue(key, "`control` names the control arm; choose another name");
        } else if let Some(first) = names.get(name) {
            self.issue(key, format!("intervention name `{name}` is already used by {first}; names must be unique"));
        } else {
            names.insert(name.to_string(), key.trim_end_matches(".name").to_string());
        }
    }

    fn arch_of(&mut self, m: &RawModel, key: &str) -> Option<Arch> {
        match &m.arch {
            None => {
                self.issue(key, format!("missing required key `arch` in [{key}]; accepted: {}", ARCH_NAMES.join(", ")));
                None
            }
            Some(name) => Arch::from_name(name).or_else(|| {
                self.issue(format!("{key}.arch"), unknown("arch", name, ARCH_NAMES));
                None
            }),
        }
    }

    /// Range-check every knob value; `path` gives each knob's key path.
    fn check_values(&mut self, knobs: &Knobs, path: impl Fn(&str) -> String) {
        for (name, value) in knobs {
            if let Some(k) = knob(name) {
                if let Err(msg) = k.check(value) {
                    self.issue(path(name), msg);
                }
            }
        }
    }

    /// Turn resolution issues into located issues: `path` maps a knob to its
    /// key path, `where_to_set` says where a missing knob belongs.
    fn knob_issues(
        &mut self,
        issues: Vec<KnobIssue>,
        path: impl Fn(Option<&str>) -> Option<String>,
        where_to_set: impl Fn(Section) -> String,
    ) {
        for i in issues {
            match i.missing {
                Some(section) => {
                    let key = path(None).unwrap_or_else(|| section.name().to_string());
                    self.issue(key, format!("{}: set it in {}", i.message, where_to_set(section)));
                }
                None => {
                    let key = path(i.knob).or_else(|| path(None)).unwrap_or_default();
                    self.issue(key, i.message);
                }
            }
        }
    }

    fn data(&mut self, d: &RawData) -> (Option<DataBase>, Knobs) {
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

    fn intra(&mut self, i: usize, raw: &RawIntra, control: &ArmConfig, data: &DataBase) -> Option<Intervention> {
        let key = format!("intra[{i}]");
        if raw.vary.is_empty() {
            self.issue(
                format!("{key}.vary"),
                "vary is empty; accepted: knob = [values], e.g. vary = { hidden_dim = [128, 512] }",
            );
            return None;
        }
        let before = self.issues.len();
        let mut axes: Vec<(&'static str, Vec<Value>)> = Vec::new();
        for (name, values) in &raw.vary {
            let vkey = format!("{key}.vary.{name}");
            let Some(k) = knob(name) else {
                self.issues.push(Issue::at_key(vkey, unknown("knob", name, &knobs::all_names())));
                continue;
            };
            if values.is_empty() {
                self.issue(vkey, format!("no values for `{name}`; accepted: a non-empty list"));
                continue;
            }
            let mut parsed = Vec::new();
            for (j, v) in values.iter().enumerate() {
                let vkey = format!("{vkey}[{j}]");
                match Value::from_toml(v, k.ty).and_then(|val| k.check(&val).map(|()| val)) {
                    Ok(val) if parsed.contains(&val) => self.issue(vkey, format!("{name} = {val} is listed twice")),
                    Ok(val) => parsed.push(val),
                    Err(msg) => self.issue(vkey, msg),
                }
            }
            axes.push((k.name, parsed));
        }
        if self.issues.len() > before {
            return None;
        }
        let points: usize = axes.iter().map(|(_, v)| v.len()).product();
        if points > MAX_GRID {
            self.issue(format!("{key}.vary"), format!("the grid has {points} points; accepted: at most {MAX_GRID}"));
            return None;
        }
        let grid = cartesian(&axes);
        for point in &grid {
            let knobs = apply(&control.knobs, point);
            if let Err(issues) = resolve(control.arch, &knobs, data) {
                let varied: Vec<&str> = point.iter().map(|(k, _)| *k).collect();
                let at = |k: Option<&str>| match k {
                    Some(k) if varied.contains(&k) => Some(format!("{key}.vary.{k}")),
                    _ => Some(format!("{key}.vary")),
                };
                // With several varied knobs, say which combination failed.
                let desc = (point.len() > 1).then(|| describe(point));
                let issues = issues.into_iter().map(|mut i| {
                    if let Some(desc) = &desc {
                        i.message = format!("with {desc}: {}", i.message);
                    }
                    i
                });
                self.knob_issues(issues.collect(), at, |s| format!("[{}]", s.name()));
                return None;
            }
        }
        Some(Intervention::Intra { name: raw.name.clone(), description: raw.description.clone(), index: i, grid })
    }

    fn inter(&mut self, i: usize, raw: &RawInter, control: &ArmConfig, data: &DataBase) -> Option<Intervention> {
        let key = format!("inter[{i}]");
        let before = self.issues.len();
        let mut archs = Vec::new();
        for (j, name) in raw.archs.iter().enumerate() {
            match Arch::from_name(name) {
                None => self.issue(format!("{key}.archs[{j}]"), unknown("arch", name, ARCH_NAMES)),
                Some(a) if archs.contains(&a) => {
                    self.issue(format!("{key}.archs[{j}]"), format!("arch {a} is listed twice"))
                }
                Some(a) => archs.push(a),
            }
        }
        if raw.archs.len() < 2 {
            self.issue(format!("{key}.archs"), "an inter-model intervention compares at least 2 architectures");
        }
        let reference = match &raw.reference {
            None => archs.first().copied(),
            Some(name) => match Arch::from_name(name) {
                Some(a) if archs.contains(&a) => Some(a),
                _ => {
                    let listed: Vec<&str> = raw.archs.iter().map(String::as_str).collect();
                    self.issue(format!("{key}.reference"), unknown("reference arch", name, &listed));
                    None
                }
            },
        };

        let sizing = match (&raw.size_by, &raw.buckets) {
            (Some(size_by), Some(buckets)) => {
                let size_by = self.size_by(&key, size_by, &archs, &raw.archs);
                let buckets = self.buckets(&key, buckets);
                Some(super::Sizing { size_by, buckets })
            }
            (None, None) => None,
            (Some(_), None) => {
                self.issues.push(Issue::at_key(
                    format!("{key}.size_by"),
                    "size_by needs `buckets` to size into; add buckets = { name = [low, high] }, or remove size_by to compare the archs at the same hyperparameters",
                ));
                None
            }
            (None, Some(_)) => {
                self.issue(
                    key.clone(),
                    "buckets need `size_by`, the knob solved so each arch lands in each bucket, e.g. size_by = \"hidden_dim\"",
                );
                None
            }
        };

        // Each arch's configuration: the control's knobs that the arch has,
        // then its overrides.
        for name in raw.overrides.keys() {
            if !raw.archs.contains(name) {
                let listed: Vec<&str> = raw.archs.iter().map(String::as_str).collect();
                self.issues.push(Issue::at_key(
                    format!("{key}.overrides.{name}"),
                    unknown("arch in overrides", name, &listed),
                ));
            }
        }
        let mut configs = Vec::new();
        for &arch in &archs {
            let okey = format!("{key}.overrides.{}", arch.name());
            let overrides = raw.overrides.get(arch.name()).cloned().unwrap_or_default();
            if overrides.arch.is_some() {
                self.issues.push(Issue::at_key(
                    format!("{okey}.arch"),
                    "the arch of an override is its table name; remove `arch`",
                ));
                continue;
            }
            let over = model_knobs(&overrides);
            let before_vals = self.issues.len();
            self.check_values(&over, |n| format!("{okey}.{n}"));
            if self.issues.len() > before_vals {
                continue;
            }
            // Model and train knobs the arch lacks (a transformer has no
            // hidden_dim and always trains with full teacher forcing) are
            // left out; data and decoding are shared by every arch.
            let mut knobs: Knobs = control
                .knobs
                .iter()
                .filter(|(n, _)| {
                    knob(n).is_some_and(|k| matches!(k.section, Section::Data | Section::Decode) || k.applies(arch, ""))
                })
                .map(|(n, v)| (*n, v.clone()))
                .collect();
            knobs.extend(over);
            // The sized knob gets a provisional value so that resolution
            // checks everything else now; planning solves it.
            let sized = sizing.as_ref().and_then(|s| s.size_by.iter().find(|(a, _)| *a == arch));
            if let Some((_, k)) = sized {
                knobs.entry(k).or_insert(Value::Int(64));
                if arch == Arch::Transformer && *k == "d_model" {
                    let heads = knobs.get("heads").and_then(Value::as_i64).unwrap_or(1).max(1);
                    knobs.insert("d_model", Value::Int(heads * 8));
                }
            }
            if let Err(issues) = resolve(arch, &knobs, data) {
                self.knob_issues(
                    issues,
                    |k| {
                        Some(match k {
                            Some(k) if overrides_has(&overrides, k) => format!("{okey}.{k}"),
                            _ => key.clone(),
                        })
                    },
                    |_| format!("[{okey}] (or [model] if the control's arch has it)"),
                );
                continue;
            }
            configs.push(ArmConfig { arch, knobs });
        }
        if self.issues.len() > before {
            return None;
        }
        Some(Intervention::Inter {
            name: raw.name.clone(),
            description: raw.description.clone(),
            index: i,
            archs,
            reference: reference?,
            sizing,
            configs,
        })
    }

    /// Which knob is solved for each arch.
    fn size_by(&mut self, key: &str, raw: &RawSizeBy, archs: &[Arch], listed: &[String]) -> Vec<(Arch, &'static str)> {
        let mut size_by = Vec::new();
        for &arch in archs {
            let (knob_name, kkey) = match raw {
                RawSizeBy::All(k) => (Some(k.as_str()), format!("{key}.size_by")),
                RawSizeBy::PerArch(m) => {
                    (m.get(arch.name()).map(String::as_str), format!("{key}.size_by.{}", arch.name()))
                }
            };
            let Some(knob_name) = knob_name else {
                self.issue(format!("{key}.size_by"), format!("size_by has no knob for arch {arch}"));
                continue;
            };
            let sizable: Vec<&str> = knobs::KNOBS
                .iter()
                .filter(|k| k.section == Section::Model && k.ty == Ty::Int && k.applies(arch, ""))
                .map(|k| k.name)
                .collect();
            match sizable.iter().find(|k| **k == knob_name) {
                Some(k) => size_by.push((arch, *k)),
                None => self.issue(
                    kkey,
                    format!(
                        "size_by = {knob_name:?} is not a size knob of arch {arch}; accepted for {arch}: {} (use a table to size each arch by its own knob, e.g. size_by = {{ rnn = \"hidden_dim\", transformer = \"d_model\" }})",
                        sizable.join(", ")
                    ),
                ),
            }
        }
        if let RawSizeBy::PerArch(m) = raw {
            for name in m.keys() {
                if !listed.contains(name) {
                    let listed: Vec<&str> = listed.iter().map(String::as_str).collect();
                    self.issues.push(Issue::at_key(
                        format!("{key}.size_by.{name}"),
                        unknown("arch in size_by", name, &listed),
                    ));
                }
            }
        }
        size_by
    }

    fn buckets(&mut self, key: &str, raw: &BTreeMap<String, Vec<f64>>) -> Vec<Bucket> {
        if raw.is_empty() {
            self.issue(
                format!("{key}.buckets"),
                "no buckets; accepted: name = [low, high] in trainable parameters, e.g. buckets = { low = [5e5, 2e6] }",
            );
        }
        let mut buckets = Vec::new();
        for (name, range) in raw {
            let bkey = format!("{key}.buckets.{name}");
            self.check_name(name, &bkey);
            let &[low, high] = range.as_slice() else {
                self.issue(bkey, format!("a bucket is [low, high]; found {} numbers", range.len()));
                continue;
            };
            if !(low.is_finite() && high.is_finite()) || low < 1.0 {
                self.issue(bkey, format!("bucket [{low}, {high}] is out of range; accepted: 1 <= low < high, finite"));
            } else if low >= high {
                self.issue(bkey, format!("bucket [{low}, {high}] is empty; accepted: low < high"));
            } else {
                buckets.push(Bucket { name: name.clone(), low, high });
            }
        }
        buckets.sort_by(|a, b| a.low.total_cmp(&b.low));
        for w in buckets.windows(2) {
            if w[1].low < w[0].high {
                self.issue(
                    format!("{key}.buckets.{}", w[1].name),
                    format!(
                        "bucket {} [{}, {}] overlaps bucket {} [{}, {}]; buckets are [low, high) and must not overlap",
                        w[1].name, w[1].low, w[1].high, w[0].name, w[0].low, w[0].high
                    ),
                );
            }
        }
        buckets
    }

    fn mutation(&mut self, i: usize, raw: &RawMutation) -> Option<Intervention> {
        let key = format!("mutation[{i}]");
        let Some(op) = MUTATION_OPS.iter().find(|o| **o == raw.op) else {
            self.issue(format!("{key}.op"), unknown("mutation op", &raw.op, MUTATION_OPS));
            return None;
        };
        let before = self.issues.len();
        let side = match (*op, raw.side.as_deref()) {
            ("label-noise" | "subsample", Some(_)) => {
                self.issues.push(Issue::at_key(
                    format!("{key}.side"),
                    format!("{op} acts on whole pairs and has no side; remove `side`"),
                ));
                Side::Both
            }
            ("label-noise" | "subsample", None) => Side::Both,
            ("rename-identifiers" | "strip-comments", None | Some("target")) => Side::Target,
            ("rename-identifiers" | "strip-comments", Some(other)) => {
                self.issue(
                    format!("{key}.side"),
                    format!(
                        "{op} changes code, the target side; side = {other:?} is not accepted; accepted: \"target\""
                    ),
                );
                Side::Target
            }
            (_, None | Some("source")) => Side::Source,
            (_, Some("target")) => Side::Target,
            (_, Some("both")) => Side::Both,
            (_, Some(other)) => {
                self.issue(format!("{key}.side"), unknown("side", other, SIDES));
                Side::Source
            }
        };
        let mut splits = Vec::new();
        match &raw.splits {
            None => splits.push(Split::Train),
            Some(list) if list.is_empty() => {
                self.issue(format!("{key}.splits"), "no splits; accepted: any of train, valid, test")
            }
            Some(list) => {
                for (j, s) in list.iter().enumerate() {
                    let skey = format!("{key}.splits[{j}]");
                    let split = match s.as_str() {
                        "train" => Split::Train,
                        "valid" => Split::Valid,
                        "test" => Split::Test,
                        other => {
                            self.issue(skey, unknown("split", other, SPLITS));
                            continue;
                        }
                    };
                    if splits.contains(&split) {
                        self.issue(skey, format!("split {s} is listed twice"));
                    } else if *op == "subsample" && split != Split::Train {
                        self.issue(skey, "subsample keeps a fraction of the train split only; accepted: [\"train\"]");
                    } else {
                        splits.push(split);
                    }
                }
            }
        }
        splits.sort();

        // (parameter, integer?, check) of each op.
        type Check = fn(f64) -> bool;
        let param: Option<(&str, bool, Check, &str)> = match *op {
            "token-dropout" | "rename-identifiers" => Some(("p", false, |x| x > 0.0 && x <= 1.0, "a number in (0, 1]")),
            "label-noise" => Some(("fraction", false, |x| x > 0.0 && x <= 1.0, "a number in (0, 1]")),
            "subsample" => Some(("fraction", false, |x| x > 0.0 && x < 1.0, "a number in (0, 1)")),
            "local-shuffle" => {
                Some(("window", true, |x| (2.0..=100_000.0).contains(&x), "an integer from 2 to 100000"))
            }
            "truncate" => Some(("max_tokens", true, |x| (1.0..=100_000.0).contains(&x), "an integer from 1 to 100000")),
            _ => None,
        };
        let mut levels = Vec::new();
        match (param, &raw.levels) {
            (None, Some(_)) => {
                self.issues
                    .push(Issue::at_key(format!("{key}.levels"), format!("{op} has no levels; remove `levels`")));
            }
            (None, None) => levels.push(MutationOp::StripComments),
            (Some(("p", _, _, _)), None) if *op == "rename-identifiers" => {
                levels.push(MutationOp::RenameIdentifiers { p: 1.0 })
            }
            (Some((pname, ..)), None) => {
                self.issue(key.clone(), format!("{op} needs `levels = {{ {pname} = [...] }}`"));
            }
            (Some((pname, integer, check, accepted)), Some(map)) => {
                for name in map.keys() {
                    if name != pname {
                        self.issues.push(Issue::at_key(
                            format!("{key}.levels.{name}"),
                            unknown(&format!("parameter of {op}"), name, &[pname]),
                        ));
                    }
                }
                match map.get(pname) {
                    None => self.issue(format!("{key}.levels"), format!("{op} needs levels of `{pname}`")),
                    Some(values) if values.is_empty() => self.issue(
                        format!("{key}.levels.{pname}"),
                        format!("no levels; accepted: a non-empty list of {accepted}"),
                    ),
                    Some(values) => {
                        for (j, &x) in values.iter().enumerate() {
                            let lkey = format!("{key}.levels.{pname}[{j}]");
                            if !check(x) || (integer && x.fract() != 0.0) {
                                self.issue(lkey, format!("{pname} = {x} is out of range; accepted: {accepted}"));
                                continue;
                            }
                            let level = match *op {
                                "token-dropout" => MutationOp::TokenDropout { p: x },
                                "rename-identifiers" => MutationOp::RenameIdentifiers { p: x },
                                "label-noise" => MutationOp::LabelNoise { fraction: x },
                                "subsample" => MutationOp::Subsample { fraction: x },
                                "local-shuffle" => MutationOp::LocalShuffle { window: x as u32 },
                                _ => MutationOp::Truncate { max_tokens: x as u32 },
                            };
                            if levels.contains(&level) {
                                self.issue(lkey, format!("{pname} = {x} is listed twice"));
                            } else {
                                levels.push(level);
                            }
                        }
                    }
                }
            }
        }
        if self.issues.len() > before {
            return None;
        }
        let levels = levels.into_iter().map(|op| MutationSpec { op, side, splits: splits.clone() }).collect();
        Some(Intervention::Mutation { name: raw.name.clone(), description: raw.description.clone(), index: i, levels })
    }
}

fn overrides_has(m: &RawModel, knob: &str) -> bool {
    model_knobs(m).contains_key(knob)
}

fn section_of(knob_name: &str) -> &'static str {
    knob(knob_name).map_or("model", |k| k.section.name())
}

/// The knobs set in a `[model]`-shaped table (without `arch`).
pub(crate) fn model_knobs(m: &RawModel) -> Knobs {
    let mut k = Knobs::new();
    let ints = [
        ("embedding_dim", m.embedding_dim),
        ("hidden_dim", m.hidden_dim),
        ("layers", m.layers),
        ("attention_dim", m.attention_dim),
        ("d_model", m.d_model),
        ("heads", m.heads),
        ("ff_dim", m.ff_dim),
        ("encoder_layers", m.encoder_layers),
        ("decoder_layers", m.decoder_layers),
    ];
    for (name, v) in ints {
        if let Some(v) = v {
            k.insert(name, Value::Int(v));
        }
    }
    if let Some(d) = m.dropout {
        k.insert("dropout", Value::Float(d));
    }
    if let Some(b) = m.bidirectional {
        k.insert("bidirectional", Value::Bool(b));
    }
    k
}

fn train_knobs(t: &RawTrain) -> Knobs {
    let mut k = Knobs::new();
    for (name, v) in [
        ("batch_size", t.batch_size),
        ("epochs", t.epochs),
        ("warmup_steps", t.warmup_steps),
        ("early_stopping_patience", t.early_stopping_patience),
    ] {
        if let Some(v) = v {
            k.insert(name, Value::Int(v));
        }
    }
    for (name, v) in [
        ("learning_rate", t.learning_rate),
        ("weight_decay", t.weight_decay),
        ("gradient_clip", t.gradient_clip),
        ("teacher_forcing", t.teacher_forcing),
        ("teacher_forcing_min", t.teacher_forcing_min),
        ("sampling_k", t.sampling_k),
    ] {
        if let Some(v) = v {
            k.insert(name, Value::Float(v));
        }
    }
    if let Some(s) = &t.scheduled_sampling {
        k.insert("scheduled_sampling", Value::Str(s.clone()));
    }
    if let Some(s) = &t.batching {
        k.insert("batching", Value::Str(s.clone()));
    }
    k
}

fn decode_knobs(d: &RawDecode) -> Knobs {
    let mut k = Knobs::new();
    if let Some(s) = &d.strategy {
        k.insert("strategy", Value::Str(s.clone()));
    }
    for (name, v) in [("beam_size", d.beam_size), ("max_len", d.max_len)] {
        if let Some(v) = v {
            k.insert(name, Value::Int(v));
        }
    }
    for (name, v) in [("length_penalty", d.length_penalty), ("top_p", d.top_p), ("temperature", d.temperature)] {
        if let Some(v) = v {
            k.insert(name, Value::Float(v));
        }
    }
    k
}

/// Every combination of the axes' values, first axis slowest.
fn cartesian(axes: &[(&'static str, Vec<Value>)]) -> Vec<Vec<(&'static str, Value)>> {
    axes.iter().fold(vec![Vec::new()], |acc, (name, values)| {
        acc.iter()
            .flat_map(|prefix| {
                values.iter().map(move |v| {
                    let mut p = prefix.clone();
                    p.push((*name, v.clone()));
                    p
                })
            })
            .collect()
    })
}

/// The control's knobs with a grid point applied. Setting `vocab_size`
/// replaces per-side sizes, and changing `strategy` drops the control's knobs
/// of the old strategy (a beam size means nothing to top-p sampling), so the
/// varied values are the ones that count.
pub fn apply(base: &Knobs, point: &[(&'static str, Value)]) -> Knobs {
    let mut knobs = base.clone();
    for (name, value) in point {
        match *name {
            "vocab_size" => {
                knobs.remove("source_vocab_size");
                knobs.remove("target_vocab_size");
            }
            "strategy" => {
                let strategy = value.as_str().unwrap_or_default();
                knobs.retain(|k, _| {
                    point.iter().any(|(p, _)| p == k)
                        || knob(k)
                            .is_none_or(|d| !matches!(d.scope, knobs::Scope::Strategies(s) if !s.contains(&strategy)))
                });
            }
            _ => {}
        }
        knobs.insert(name, value.clone());
    }
    knobs
}

/// "hidden_dim=128, layers=1"
pub fn describe(point: &[(&'static str, Value)]) -> String {
    point.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cartesian_orders_first_axis_slowest() {
        let g = cartesian(&[("a", vec![Value::Int(1), Value::Int(2)]), ("b", vec![Value::Int(3), Value::Int(4)])]);
        let d: Vec<String> = g.iter().map(|p| describe(p)).collect();
        assert_eq!(d, ["a=1, b=3", "a=1, b=4", "a=2, b=3", "a=2, b=4"]);
    }

    #[test]
    fn a_new_strategy_drops_the_old_strategy_knobs() {
        let base: Knobs =
            [("strategy", Value::Str("beam".into())), ("beam_size", Value::Int(3)), ("max_len", Value::Int(9))]
                .into_iter()
                .collect();
        let k = apply(&base, &[("strategy", Value::Str("top-p".into())), ("top_p", Value::Float(0.9))]);
        assert_eq!(k.keys().copied().collect::<Vec<_>>(), ["max_len", "strategy", "top_p"]);
    }

    #[test]
    fn vocab_size_replaces_per_side_sizes() {
        let base: Knobs =
            [("source_vocab_size", Value::Int(100)), ("target_vocab_size", Value::Int(200))].into_iter().collect();
        let k = apply(&base, &[("vocab_size", Value::Int(50))]);
        assert_eq!(k.len(), 1);
    }
}
