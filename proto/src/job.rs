//! The fully resolved specification of one job: every hyperparameter
//! explicit, nothing left to defaults on the worker. Its canonical JSON is
//! hashed into the job id, so the same cell reached by two arms, or by a
//! resubmitted study, is the same job.
//!
//! Serialisation is part of the contract: field order is declaration order,
//! floats print as the shortest round-trip decimal (serde_json uses ryu), and
//! no map with unspecified order appears. Changing a field changes every job
//! id; the golden test in `tests` pins them.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Domain separator of the job-id hash; bump it when the meaning of a field
/// changes without its JSON changing.
const JOB_ID_DOMAIN: &str = "intervene-job-v1\n";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    pub data: DataSpec,
    /// The data intervention of a mutation arm; `None` for every other arm.
    pub mutation: Option<MutationSpec>,
    pub model: ModelSpec,
    pub train: TrainSpec,
    pub decode: DecodeSpec,
    /// Seeds torch, data order, dropout, sampling and the mutation.
    pub seed: u64,
}

impl JobSpec {
    /// Canonical JSON: the bytes the id is computed from and what is sent to
    /// workers.
    pub fn canonical_json(&self) -> String {
        serde_json::to_string(self).expect("JobSpec serialises: it holds no maps with non-string keys")
    }

    /// Hex SHA-256 of the canonical JSON.
    pub fn id(&self) -> String {
        let mut h = Sha256::new();
        h.update(JOB_ID_DOMAIN.as_bytes());
        h.update(self.canonical_json().as_bytes());
        hex::encode(h.finalize())
    }

    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// The first 12 hex digits of a job id, as shown in tables.
pub fn short_id(id: &str) -> &str {
    &id[..id.len().min(12)]
}

// ------------------------------------------------------------------ data

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    pub source: SourceSpec,
    pub train: u32,
    pub valid: u32,
    pub test: u32,
    pub split: SplitMode,
    pub split_seed: u64,
    pub tokenizer: TokenizerKind,
    pub source_vocab_size: u32,
    pub target_vocab_size: u32,
    pub max_source_len: u32,
    pub max_target_len: u32,
    pub overlong: Overlong,
}

/// Where the pairs come from. Paths are kept as written in the study file
/// (relative to it), so job ids do not depend on where a study is checked out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum SourceSpec {
    /// CodeSearchNet jsonl or jsonl.gz: a file, a directory or a glob.
    Codesearchnet { path: String },
    /// Parquet with the CodeSearchNet columns (the Hugging Face export).
    Parquet { path: String },
    /// CoNaLa JSON (intent, rewritten_intent, snippet).
    Conala { path: String },
    /// Functions with docstrings mined from a folder of .py files.
    PythonTree { path: String },
    /// The standard library of the machine's python3, mined on first use.
    PythonStdlib,
    /// Several trees mined as one data set, deduplicated across trees, each
    /// pair's `repo` its package. An empty `paths` means the interpreter's
    /// standard library plus its site-packages (`python3`, or
    /// `$INTERVENE_PYTHON`, or the venv at `python`).
    PythonEnv {
        /// A python executable or a virtual environment folder; `None`:
        /// `$INTERVENE_PYTHON`, else `python3` on the PATH.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        python: Option<String>,
        /// Folders mined instead of the interpreter's (relative to the
        /// study file); each top-level module or folder is a package.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        paths: Vec<String>,
    },
    /// A seeded generator of docstring -> code tasks with known answers.
    Synthetic { task: SyntheticTask, size: u32, seed: u64 },
}

impl SourceSpec {
    pub fn kind(&self) -> &'static str {
        match self {
            SourceSpec::Codesearchnet { .. } => "codesearchnet",
            SourceSpec::Parquet { .. } => "parquet",
            SourceSpec::Conala { .. } => "conala",
            SourceSpec::PythonTree { .. } => "python-tree",
            SourceSpec::PythonStdlib => "python-stdlib",
            SourceSpec::PythonEnv { .. } => "python-env",
            SourceSpec::Synthetic { .. } => "synthetic",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SyntheticTask {
    /// All template families mixed.
    Mixed,
    List,
    String,
    Arithmetic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SplitMode {
    /// Shuffle with `split_seed`, then take train, valid, test in order.
    Random,
    /// Use the source's published `partition` column (CodeSearchNet).
    Published,
    /// Whole packages (the `repo` column: a python-env package, a
    /// CodeSearchNet repository) go to one split, so no split sees another's
    /// package: packages shuffled with `split_seed`, test and valid filled
    /// first from packages that fit, the rest to train.
    ByPackage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TokenizerKind {
    /// Lowercase, spaces around `()[]{}:,.=+-*/`, split on whitespace.
    CodeWhitespace,
    /// Python's lexical tokens, string literals as characters.
    PythonLexer,
    /// Byte-pair encoding trained on the train split.
    Bpe,
}

impl TokenizerKind {
    /// Whether target tokens detokenize back to source code, so that syntax
    /// validity can be measured.
    pub fn detokenizes_to_code(self) -> bool {
        !matches!(self, TokenizerKind::CodeWhitespace)
    }
}

/// What happens to a pair longer than `max_source_len` / `max_target_len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Overlong {
    Truncate,
    /// Dropped before the split sizes are taken.
    Drop,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MutationSpec {
    pub op: MutationOp,
    pub side: Side,
    pub splits: Vec<Split>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "kebab-case", deny_unknown_fields)]
pub enum MutationOp {
    /// Drop each token with probability `p`.
    TokenDropout { p: f64 },
    /// Shuffle tokens inside non-overlapping windows of `window` tokens.
    LocalShuffle { window: u32 },
    /// Keep the first `max_tokens` tokens.
    Truncate { max_tokens: u32 },
    /// Consistently rename local names (parameters, assigned names) in code;
    /// each distinct name is renamed with probability `p`.
    RenameIdentifiers { p: f64 },
    /// Swap the docstrings of a `fraction` of pairs among themselves.
    LabelNoise { fraction: f64 },
    /// Keep a `fraction` of the train split.
    Subsample { fraction: f64 },
    /// Remove `#` comments from code.
    StripComments,
}

impl MutationOp {
    pub fn name(&self) -> &'static str {
        match self {
            MutationOp::TokenDropout { .. } => "token-dropout",
            MutationOp::LocalShuffle { .. } => "local-shuffle",
            MutationOp::Truncate { .. } => "truncate",
            MutationOp::RenameIdentifiers { .. } => "rename-identifiers",
            MutationOp::LabelNoise { .. } => "label-noise",
            MutationOp::Subsample { .. } => "subsample",
            MutationOp::StripComments => "strip-comments",
        }
    }

    /// The op's level as (parameter, value), `None` for ops without one.
    pub fn level(&self) -> Option<(&'static str, f64)> {
        match *self {
            MutationOp::TokenDropout { p } => Some(("p", p)),
            MutationOp::LocalShuffle { window } => Some(("window", window as f64)),
            MutationOp::Truncate { max_tokens } => Some(("max_tokens", max_tokens as f64)),
            MutationOp::RenameIdentifiers { p } => Some(("p", p)),
            MutationOp::LabelNoise { fraction } => Some(("fraction", fraction)),
            MutationOp::Subsample { fraction } => Some(("fraction", fraction)),
            MutationOp::StripComments => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Side {
    Source,
    Target,
    Both,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Split {
    Train,
    Valid,
    Test,
}

// ----------------------------------------------------------------- model

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Arch {
    Rnn,
    Gru,
    Lstm,
    LstmAttention,
    Transformer,
}

impl Arch {
    pub const ALL: [Arch; 5] = [Arch::Rnn, Arch::Gru, Arch::Lstm, Arch::LstmAttention, Arch::Transformer];

    pub fn name(self) -> &'static str {
        match self {
            Arch::Rnn => "rnn",
            Arch::Gru => "gru",
            Arch::Lstm => "lstm",
            Arch::LstmAttention => "lstm-attention",
            Arch::Transformer => "transformer",
        }
    }

    pub fn from_name(name: &str) -> Option<Arch> {
        Arch::ALL.into_iter().find(|a| a.name() == name)
    }

    pub fn is_recurrent(self) -> bool {
        self != Arch::Transformer
    }
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Model configuration: `arch` plus exactly the knobs that architecture has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "arch", rename_all = "kebab-case")]
pub enum ModelSpec {
    Rnn(RecurrentSpec),
    Gru(RecurrentSpec),
    Lstm(RecurrentSpec),
    LstmAttention(AttentionSpec),
    Transformer(TransformerSpec),
}

impl ModelSpec {
    pub fn arch(&self) -> Arch {
        match self {
            ModelSpec::Rnn(_) => Arch::Rnn,
            ModelSpec::Gru(_) => Arch::Gru,
            ModelSpec::Lstm(_) => Arch::Lstm,
            ModelSpec::LstmAttention(_) => Arch::LstmAttention,
            ModelSpec::Transformer(_) => Arch::Transformer,
        }
    }

    pub fn dropout(&self) -> f64 {
        match self {
            ModelSpec::Rnn(r) | ModelSpec::Gru(r) | ModelSpec::Lstm(r) => r.dropout,
            ModelSpec::LstmAttention(a) => a.dropout,
            ModelSpec::Transformer(t) => t.dropout,
        }
    }
}

/// Encoder-decoder of stacked recurrent layers (rnn: Elman/tanh, gru, lstm).
///
/// Shape, which the closed-form parameter count in `params` follows:
/// source embedding -> dropout -> `layers`-layer encoder (bidirectional if
/// asked) whose final state per layer is bridged (`tanh(Linear(2H -> H))` for
/// a bidirectional encoder; for lstm the cell state has its own bridge) into
/// the initial state of a `layers`-layer unidirectional decoder of width H;
/// target embedding -> dropout -> decoder -> dropout -> Linear(H -> V_tgt).
/// With `feed_context`, the decoder's first layer also reads the context at
/// every step, `[embedding; c]` with c the top layer of that initial state
/// (Cho et al. 2014's RNN encoder-decoder), so its input is E + H wide.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecurrentSpec {
    pub embedding_dim: u32,
    pub hidden_dim: u32,
    pub layers: u32,
    pub dropout: f64,
    pub bidirectional: bool,
    /// Left out of the canonical JSON when false, so the ids of jobs
    /// planned before the knob existed do not change.
    #[serde(default, skip_serializing_if = "is_false")]
    pub feed_context: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// LSTM encoder-decoder with Bahdanau (additive) attention: as
/// `RecurrentSpec` with arch lstm, plus
/// `score(s, h_j) = v^T tanh(W [s; h_j] + b)` with W: (H + D*H) -> A, v: A -> 1
/// (no bias), s the top decoder layer's previous hidden state and h_j the
/// encoder outputs (width D*H, D = 2 if bidirectional). The decoder's input is
/// `[embedding; context]`, width E + D*H.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttentionSpec {
    pub embedding_dim: u32,
    pub hidden_dim: u32,
    pub layers: u32,
    pub dropout: f64,
    pub bidirectional: bool,
    pub attention_dim: u32,
}

/// Encoder-decoder Transformer ("Attention is all you need", post-norm, as
/// torch.nn.Transformer): token embeddings scaled by sqrt(d_model) plus
/// sinusoidal positions (no parameters); encoder layers of self-attention and
/// feed-forward, decoder layers of causal self-attention, cross-attention and
/// feed-forward, each sublayer followed by LayerNorm; a final LayerNorm on the
/// encoder and on the decoder output; Linear(d_model -> V_tgt).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformerSpec {
    pub d_model: u32,
    pub heads: u32,
    pub ff_dim: u32,
    pub encoder_layers: u32,
    pub decoder_layers: u32,
    pub dropout: f64,
}

// ----------------------------------------------------------------- train

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSpec {
    pub batch_size: u32,
    pub epochs: u32,
    pub learning_rate: f64,
    /// Adam's L2 weight decay; 0 for none.
    pub weight_decay: f64,
    /// Linear warm-up from 0 to `learning_rate` over this many steps.
    pub warmup_steps: u32,
    /// Maximum L2 norm of all gradients together.
    pub gradient_clip: f64,
    /// Probability of feeding the ground-truth token at the start of training
    /// (recurrent decoders; a transformer always trains with 1.0).
    pub teacher_forcing: f64,
    pub scheduled_sampling: ScheduledSampling,
    /// The ratio the schedule decays towards.
    pub teacher_forcing_min: f64,
    /// Steepness of the inverse-sigmoid schedule (steps); unused otherwise.
    pub sampling_k: f64,
    /// Epochs without a better validation loss before stopping; 0 disables.
    pub early_stopping_patience: u32,
    /// How an epoch's examples are cut into batches. Left out of the JSON
    /// when random (as the reference trains), so the ids of jobs from before
    /// the knob existed do not change.
    #[serde(default, skip_serializing_if = "Batching::is_random")]
    pub batching: Batching,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Batching {
    /// The epoch's examples shuffled and cut into consecutive batches.
    #[default]
    Random,
    /// Shuffled, then sorted by length within pools of a few dozen batches
    /// before being cut, and the batches shuffled: rows of a batch have
    /// similar lengths, so it pads less (`worker::train::batch`).
    Bucketed,
}

impl Batching {
    pub fn is_random(&self) -> bool {
        *self == Batching::Random
    }

    pub fn name(self) -> &'static str {
        match self {
            Batching::Random => "random",
            Batching::Bucketed => "bucketed",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScheduledSampling {
    /// Constant `teacher_forcing`.
    None,
    /// From `teacher_forcing` to `teacher_forcing_min` linearly over all
    /// training steps.
    Linear,
    /// `min + (start - min) * k / (k + exp(step / k))`.
    InverseSigmoid,
}

// ---------------------------------------------------------------- decode

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "strategy", rename_all = "kebab-case", deny_unknown_fields)]
pub enum DecodeSpec {
    Greedy {
        max_len: u32,
    },
    Beam {
        beam_size: u32,
        /// Hypothesis score is log-probability / length^length_penalty.
        length_penalty: f64,
        max_len: u32,
    },
    TopP {
        top_p: f64,
        temperature: f64,
        max_len: u32,
    },
}

impl DecodeSpec {
    pub fn strategy(&self) -> &'static str {
        match self {
            DecodeSpec::Greedy { .. } => "greedy",
            DecodeSpec::Beam { .. } => "beam",
            DecodeSpec::TopP { .. } => "top-p",
        }
    }

    pub fn max_len(&self) -> u32 {
        match *self {
            DecodeSpec::Greedy { max_len } | DecodeSpec::Beam { max_len, .. } | DecodeSpec::TopP { max_len, .. } => {
                max_len
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A job spec as written before `batching` existed.
    const BEFORE_BATCHING: &str = r#"{"data":{"source":{"kind":"synthetic","task":"mixed","size":1000,"seed":0},"train":800,"valid":100,"test":100,"split":"random","split_seed":0,"tokenizer":"python-lexer","source_vocab_size":500,"target_vocab_size":500,"max_source_len":20,"max_target_len":40,"overlong":"truncate"},"mutation":null,"model":{"arch":"lstm","embedding_dim":32,"hidden_dim":64,"layers":1,"dropout":0.1,"bidirectional":false},"train":{"batch_size":32,"epochs":2,"learning_rate":0.003,"weight_decay":0.0,"warmup_steps":0,"gradient_clip":1.0,"teacher_forcing":1.0,"scheduled_sampling":"none","teacher_forcing_min":1.0,"sampling_k":1000.0,"early_stopping_patience":0},"decode":{"strategy":"greedy","max_len":40},"seed":1}"#;

    #[test]
    fn random_batching_keeps_the_json_and_the_id_of_older_jobs() {
        let spec = JobSpec::from_json(BEFORE_BATCHING).unwrap();
        assert_eq!(spec.train.batching, Batching::Random);
        assert_eq!(spec.canonical_json(), BEFORE_BATCHING);
        let mut bucketed = spec.clone();
        bucketed.train.batching = Batching::Bucketed;
        assert!(bucketed.canonical_json().contains(r#""early_stopping_patience":0,"batching":"bucketed"}"#));
        assert_ne!(bucketed.id(), spec.id());
        assert_eq!(JobSpec::from_json(&bucketed.canonical_json()).unwrap(), bucketed);
    }
}
