//! Raw study-file sections -> validated [`Study`], collecting every issue.
//!
//! One file per part of a study file: [`study`] (the [study] table, names),
//! [`data`] ([data] and its source), [`intra`], [`inter`] and [`mutation`]
//! (the interventions), [`sections`] (the knobs each section sets, and grid
//! points applied to them). This file holds the entry point, the
//! [`Validator`] that collects issues, and the walk over the whole file.

mod data;
mod inter;
mod intra;
mod mutation;
mod sections;
mod study;
mod syntax;

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

pub use sections::apply;
use sections::{decode_knobs, model_knobs, section_of, train_knobs};

const ARCH_NAMES: &[&str] = &["rnn", "gru", "lstm", "lstm-attention", "transformer"];

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
    let (key, message) = syntax::explain(&source.text, span.start, e.message().trim_end());
    SpecErrors(vec![locator.at_offset(span.start, span.len(), key, message)])
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
        self.version(table);
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
        // An intervention's arms start from the control: while the control
        // itself has a mistake, resolving them would report that one mistake
        // again for every arm (or, with a section that failed to parse, as
        // knobs that are "missing"). They are then checked only for what
        // they change.
        let control_ok = self.issues.is_empty();
        let tokenizer = control.knobs.get("tokenizer").and_then(Value::as_str).map(str::to_string);
        let meta = self.study_meta(raw_study.as_ref(), tokenizer.as_deref());

        let interventions = self.interventions(&intra, &inter, &mutation, &control, &data, control_ok);
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

    fn version(&mut self, table: &toml::Table) {
        match table.get("version") {
            None => self.issue("", format!("missing `version = {VERSION}` at the top of the file")),
            Some(toml::Value::Integer(VERSION)) => {}
            Some(toml::Value::Integer(other)) => {
                self.issue("version", format!("version = {other} is not supported; accepted: {VERSION}"))
            }
            Some(other) => self.issue(
                "version",
                format!("version = {other} is a {}, not an integer; accepted: version = {VERSION}", other.type_str()),
            ),
        }
    }

    /// Every intervention, each checked for what it changes (and, with a
    /// sound control, resolved arm by arm); names unique across kinds.
    fn interventions(
        &mut self,
        intra: &[Option<RawIntra>],
        inter: &[Option<RawInter>],
        mutation: &[Option<RawMutation>],
        control: &ArmConfig,
        data: &DataBase,
        control_ok: bool,
    ) -> Vec<Intervention> {
        let mut names: BTreeMap<String, String> = BTreeMap::new();
        let mut interventions = Vec::new();
        for (i, raw) in intra.iter().enumerate() {
            let Some(raw) = raw else { continue };
            let key = format!("intra[{i}]");
            self.intervention_name(&raw.name, &key, &mut names);
            if let Some(iv) = self.intra(i, raw, control, data, control_ok) {
                interventions.push(iv);
            }
        }
        for (i, raw) in inter.iter().enumerate() {
            let Some(raw) = raw else { continue };
            let key = format!("inter[{i}]");
            self.intervention_name(&raw.name, &key, &mut names);
            if let Some(iv) = self.inter(i, raw, control, data, control_ok) {
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
        interventions
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
}
