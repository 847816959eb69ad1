//! The study file as written: serde structs with `deny_unknown_fields`, one
//! per section. Names of architectures, tokenizers, strategies and mutation
//! ops stay strings here so that validation can answer a misspelling with
//! the accepted values and the nearest one; every range check happens in
//! `validate`.

use std::collections::BTreeMap;

use serde::Deserialize;

/// Top-level keys, in the order a study file usually has them.
pub const TOP_LEVEL_KEYS: &[&str] =
    &["version", "study", "data", "model", "train", "decode", "intra", "inter", "mutation"];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStudy {
    pub name: String,
    pub description: Option<String>,
    pub seeds: Vec<i64>,
    pub outcomes: Option<Vec<String>>,
    pub max_attempts: Option<i64>,
    /// The smallest seed-level effect the study should detect (`intervene plan` warns when its seeds cannot).
    pub minimum_effect: Option<RawMinimumEffect>,
}

/// `minimum_effect = { effect = 1.0, sd = 1.5 }`: an effect in outcome points,
/// and the standard deviation of the per-seed paired differences.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMinimumEffect {
    pub effect: f64,
    pub sd: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawData {
    pub source: RawSource,
    pub train: i64,
    pub valid: i64,
    pub test: i64,
    pub split: Option<String>,
    pub split_seed: Option<i64>,
    pub tokenizer: String,
    pub vocab_size: Option<i64>,
    pub source_vocab_size: Option<i64>,
    pub target_vocab_size: Option<i64>,
    pub max_source_len: i64,
    pub max_target_len: i64,
    pub overlong: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSource {
    pub kind: String,
    pub path: Option<String>,
    /// python-env: the interpreter or virtual environment.
    pub python: Option<String>,
    /// python-env: folders to mine instead of the interpreter's.
    pub paths: Option<Vec<String>>,
    pub task: Option<String>,
    pub size: Option<i64>,
    pub seed: Option<i64>,
}

/// `[model]`, and the per-architecture overrides of an `[[inter]]`: every
/// knob of every architecture; validation rejects the ones the chosen
/// architecture does not have.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
    pub arch: Option<String>,
    pub embedding_dim: Option<i64>,
    pub hidden_dim: Option<i64>,
    pub layers: Option<i64>,
    pub dropout: Option<f64>,
    pub bidirectional: Option<bool>,
    pub feed_context: Option<bool>,
    pub attention_dim: Option<i64>,
    pub d_model: Option<i64>,
    pub heads: Option<i64>,
    pub ff_dim: Option<i64>,
    pub encoder_layers: Option<i64>,
    pub decoder_layers: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTrain {
    pub batch_size: Option<i64>,
    pub epochs: Option<i64>,
    pub learning_rate: Option<f64>,
    pub weight_decay: Option<f64>,
    pub warmup_steps: Option<i64>,
    pub gradient_clip: Option<f64>,
    pub teacher_forcing: Option<f64>,
    pub scheduled_sampling: Option<String>,
    pub teacher_forcing_min: Option<f64>,
    pub sampling_k: Option<f64>,
    pub early_stopping_patience: Option<i64>,
    pub batching: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDecode {
    pub strategy: Option<String>,
    pub beam_size: Option<i64>,
    pub length_penalty: Option<f64>,
    pub top_p: Option<f64>,
    pub temperature: Option<f64>,
    pub max_len: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIntra {
    pub name: String,
    pub description: Option<String>,
    /// knob -> values; several knobs make a grid.
    pub vary: BTreeMap<String, Vec<toml::Value>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInter {
    pub name: String,
    pub description: Option<String>,
    pub archs: Vec<String>,
    /// The knob solved so each arch lands in each bucket; with `buckets`.
    pub size_by: Option<RawSizeBy>,
    /// bucket name -> [low, high) in trainable parameters. Without buckets
    /// the architectures are compared at the same hyperparameters.
    pub buckets: Option<BTreeMap<String, Vec<f64>>>,
    /// The architecture the others are compared with (default: the first).
    pub reference: Option<String>,
    /// arch -> knobs that arch needs beyond what it shares with `[model]`.
    #[serde(default)]
    pub overrides: BTreeMap<String, RawModel>,
}

/// One knob for every architecture, or a knob per architecture.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawSizeBy {
    All(String),
    PerArch(BTreeMap<String, String>),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMutation {
    pub name: String,
    pub description: Option<String>,
    pub op: String,
    pub side: Option<String>,
    pub splits: Option<Vec<String>>,
    /// parameter -> levels, one arm per level.
    pub levels: Option<BTreeMap<String, Vec<f64>>>,
}
