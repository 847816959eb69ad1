//! Study files: TOML -> validated [`Study`].
//!
//! Parsing happens in one pass that collects every problem it can find
//! (each section is deserialised on its own, so an unknown key in `[model]`
//! does not hide a bad value in `[train]`), and every problem is located in
//! the file: line, column, key path, the bad value and what is accepted.
//!
//! - [`raw`]: the serde structs (`deny_unknown_fields`).
//! - [`knobs`]: the registry of hyperparameters, their ranges and scopes.
//! - [`resolve`]: knobs -> fully resolved model/train/decode/data specs.
//! - [`validate`]: raw sections -> [`Study`].
//! - [`locate`], [`error`]: spans, positions and error messages.

pub mod error;
pub mod knobs;
pub mod locate;
pub mod raw;
pub mod resolve;
mod validate;

use std::path::{Path, PathBuf};

use intervene_proto::job::{Arch, MutationSpec};

pub use error::{Issue, SpecError, SpecErrors, SpecWarnings};
use knobs::{Knobs, Value};
use locate::SpanIndex;
pub use resolve::{DataBase, Resolved};
pub use validate::apply as apply_point;

/// The only study-file version this build reads.
pub const VERSION: i64 = 1;

/// A validated study: the control configuration and its interventions, every
/// value checked. Planning (`crate::plan`) turns it into arms and jobs.
#[derive(Debug, Clone)]
pub struct Study {
    pub name: String,
    pub description: Option<String>,
    pub seeds: Vec<u64>,
    pub outcomes: Vec<String>,
    pub max_attempts: u32,
    /// `[study] minimum_effect`: (effect, sd of per-seed differences), both positive.
    pub minimum_effect: Option<(f64, f64)>,
    pub data: DataBase,
    pub control: ArmConfig,
    pub interventions: Vec<Intervention>,
    /// Where the study came from, for locating planning errors.
    pub source: SourceText,
}

/// The text of a study file and where it was read from.
#[derive(Debug, Clone)]
pub struct SourceText {
    /// The file name as given by the user.
    pub file: String,
    pub text: String,
    /// Relative data paths resolve against this directory.
    pub base_dir: PathBuf,
}

impl SourceText {
    /// Locate issues found after parsing (during planning).
    pub fn locate(&self, issues: Vec<Issue>) -> SpecErrors {
        let index = SpanIndex::new(&self.text);
        let locator = error::Locator { file: &self.file, text: &self.text, index: &index };
        SpecErrors(issues.into_iter().map(|i| locator.locate(i)).collect())
    }
}

/// An architecture plus the knobs set for it (defaults not yet filled in).
#[derive(Debug, Clone, PartialEq)]
pub struct ArmConfig {
    pub arch: Arch,
    pub knobs: Knobs,
}

#[derive(Debug, Clone)]
pub enum Intervention {
    /// Hyperparameter changes inside the control architecture: one arm per
    /// point of the grid over the varied knobs.
    Intra { name: String, description: Option<String>, index: usize, grid: Vec<Vec<(&'static str, Value)>> },
    /// Architectures compared inside complexity buckets, or at the same
    /// hyperparameters when there are no buckets.
    Inter {
        name: String,
        description: Option<String>,
        index: usize,
        archs: Vec<Arch>,
        reference: Arch,
        sizing: Option<Sizing>,
        /// Each arch's configuration (before sizing, when sized).
        configs: Vec<ArmConfig>,
    },
    /// Data mutations: one arm per level.
    Mutation { name: String, description: Option<String>, index: usize, levels: Vec<MutationSpec> },
}

impl Intervention {
    pub fn name(&self) -> &str {
        match self {
            Intervention::Intra { name, .. }
            | Intervention::Inter { name, .. }
            | Intervention::Mutation { name, .. } => name,
        }
    }

    /// The key path of the intervention in the study file, e.g. `inter[0]`.
    pub fn key(&self) -> String {
        match self {
            Intervention::Intra { index, .. } => format!("intra[{index}]"),
            Intervention::Inter { index, .. } => format!("inter[{index}]"),
            Intervention::Mutation { index, .. } => format!("mutation[{index}]"),
        }
    }
}

/// How architectures are placed in complexity buckets.
#[derive(Debug, Clone)]
pub struct Sizing {
    /// The knob solved per arch so the parameter count lands in a bucket.
    pub size_by: Vec<(Arch, &'static str)>,
    pub buckets: Vec<Bucket>,
}

/// A complexity bucket: trainable parameters in [low, high).
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    pub name: String,
    pub low: f64,
    pub high: f64,
}

/// Read and validate a study file.
pub fn load(path: &Path) -> Result<Study, SpecErrors> {
    let file = path.display().to_string();
    let whole_file = |message: String| {
        SpecErrors(vec![SpecError {
            file: file.clone(),
            line: 0,
            column: 0,
            key: String::new(),
            message,
            snippet: String::new(),
        }])
    };
    let bytes = std::fs::read(path).map_err(|e| whole_file(format!("cannot read the study file: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|e| not_utf8(&file, e))?;
    let base_dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    parse(&text, &file, &base_dir)
}

/// A study file that is not UTF-8 (often Latin-1 from an old editor): the
/// line and column of the first bad byte, with the line shown as far as it
/// can be.
fn not_utf8(file: &str, e: std::string::FromUtf8Error) -> SpecErrors {
    let at = e.utf8_error().valid_up_to();
    let bytes = e.as_bytes();
    let text = String::from_utf8_lossy(bytes);
    let index = SpanIndex::new(&text);
    let locator = error::Locator { file, text: &text, index: &index };
    // Offsets differ after the lossy replacement only past the bad byte.
    let message = format!(
        "the study file is not UTF-8 text: byte 0x{:02x} at offset {at}; accepted: UTF-8 (re-save the file as UTF-8, e.g. iconv -f latin1 -t utf-8)",
        bytes[at]
    );
    SpecErrors(vec![locator.at_offset(at, 1, String::new(), message)])
}

/// Validate study-file text. `file` names it in errors; relative data paths
/// resolve against `base_dir`.
pub fn parse(text: &str, file: &str, base_dir: &Path) -> Result<Study, SpecErrors> {
    validate::validate(SourceText { file: file.to_string(), text: text.to_string(), base_dir: base_dir.to_path_buf() })
}
