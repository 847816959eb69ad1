//! The knob registry: every hyperparameter a study can set or vary, with its
//! section, type, accepted range and the architectures (or decoding
//! strategies) that have it. Control arms, intra-model grids and inter-model
//! overrides are all checked and resolved through this one table, so a knob
//! means the same thing wherever it appears.

use std::collections::BTreeMap;
use std::fmt;

use intervene_proto::job::Arch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Data,
    Model,
    Train,
    Decode,
}

impl Section {
    pub fn name(self) -> &'static str {
        match self {
            Section::Data => "data",
            Section::Model => "model",
            Section::Train => "train",
            Section::Decode => "decode",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Int,
    Float,
    Bool,
    Str,
}

/// Which configurations have the knob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Everywhere,
    Recurrent,
    Archs(&'static [Arch]),
    /// Decoding strategies that use it.
    Strategies(&'static [&'static str]),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
}

impl Value {
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::Int(i) => Some(i as f64),
            Value::Float(f) => Some(f),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::Int(i) => Some(i),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// From a TOML value in a `vary` list, checked against the knob's type.
    pub fn from_toml(v: &toml::Value, ty: Ty) -> Result<Value, String> {
        match (ty, v) {
            (Ty::Int, toml::Value::Integer(i)) => Ok(Value::Int(*i)),
            (Ty::Float, toml::Value::Integer(i)) => Ok(Value::Float(*i as f64)),
            (Ty::Float, toml::Value::Float(f)) => Ok(Value::Float(*f)),
            (Ty::Bool, toml::Value::Boolean(b)) => Ok(Value::Bool(*b)),
            (Ty::Str, toml::Value::String(s)) => Ok(Value::Str(s.clone())),
            _ => Err(format!(
                "wrong type: found {} {v}, expected {}",
                v.type_str(),
                match ty {
                    Ty::Int => "an integer",
                    Ty::Float => "a number",
                    Ty::Bool => "true or false",
                    Ty::Str => "a string",
                }
            )),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Str(s) => write!(f, "{s}"),
        }
    }
}

/// What a knob accepts.
#[derive(Debug, Clone, Copy)]
pub enum Range {
    /// Inclusive integer range.
    Int(i64, i64),
    /// A number in [lo, hi) or [lo, hi] or (lo, hi] per the flags.
    Float {
        lo: f64,
        hi: f64,
        lo_open: bool,
        hi_open: bool,
    },
    Bool,
    OneOf(&'static [&'static str]),
}

pub struct Knob {
    pub name: &'static str,
    pub section: Section,
    pub ty: Ty,
    pub scope: Scope,
    pub range: Range,
    pub doc: &'static str,
}

const RECURRENT: Scope = Scope::Recurrent;
const TRANSFORMER: Scope = Scope::Archs(&[Arch::Transformer]);
const DIM: Range = Range::Int(1, 65_536);
const LAYERS: Range = Range::Int(1, 64);

const fn float(lo: f64, hi: f64, lo_open: bool, hi_open: bool) -> Range {
    Range::Float { lo, hi, lo_open, hi_open }
}

pub const STRATEGIES: &[&str] = &["greedy", "beam", "top-p"];
pub const SCHEDULES: &[&str] = &["none", "linear", "inverse-sigmoid"];
pub const TOKENIZERS: &[&str] = &["code-whitespace", "python-lexer", "bpe"];
pub const BATCHINGS: &[&str] = &["random", "bucketed"];

#[rustfmt::skip]
pub static KNOBS: &[Knob] = &[
    // model
    Knob { name: "embedding_dim", section: Section::Model, ty: Ty::Int, scope: RECURRENT, range: DIM, doc: "token embedding width" },
    Knob { name: "hidden_dim", section: Section::Model, ty: Ty::Int, scope: RECURRENT, range: DIM, doc: "recurrent state width" },
    Knob { name: "layers", section: Section::Model, ty: Ty::Int, scope: RECURRENT, range: LAYERS, doc: "stacked recurrent layers (encoder and decoder)" },
    Knob { name: "dropout", section: Section::Model, ty: Ty::Float, scope: Scope::Everywhere, range: float(0.0, 1.0, false, true), doc: "dropout probability" },
    Knob { name: "bidirectional", section: Section::Model, ty: Ty::Bool, scope: RECURRENT, range: Range::Bool, doc: "bidirectional encoder" },
    Knob { name: "feed_context", section: Section::Model, ty: Ty::Bool, scope: Scope::Archs(&[Arch::Rnn, Arch::Gru, Arch::Lstm]), range: Range::Bool, doc: "the encoder's final state also fed to the decoder at every step (Cho et al. 2014)" },
    Knob { name: "attention_dim", section: Section::Model, ty: Ty::Int, scope: Scope::Archs(&[Arch::LstmAttention]), range: DIM, doc: "additive attention width (default: hidden_dim)" },
    Knob { name: "d_model", section: Section::Model, ty: Ty::Int, scope: TRANSFORMER, range: DIM, doc: "transformer width" },
    Knob { name: "heads", section: Section::Model, ty: Ty::Int, scope: TRANSFORMER, range: Range::Int(1, 1024), doc: "attention heads (must divide d_model)" },
    Knob { name: "ff_dim", section: Section::Model, ty: Ty::Int, scope: TRANSFORMER, range: Range::Int(1, 262_144), doc: "feed-forward width" },
    Knob { name: "encoder_layers", section: Section::Model, ty: Ty::Int, scope: TRANSFORMER, range: LAYERS, doc: "transformer encoder layers" },
    Knob { name: "decoder_layers", section: Section::Model, ty: Ty::Int, scope: TRANSFORMER, range: LAYERS, doc: "transformer decoder layers" },
    // train
    Knob { name: "batch_size", section: Section::Train, ty: Ty::Int, scope: Scope::Everywhere, range: Range::Int(1, 65_536), doc: "pairs per batch" },
    Knob { name: "epochs", section: Section::Train, ty: Ty::Int, scope: Scope::Everywhere, range: Range::Int(1, 100_000), doc: "maximum epochs" },
    Knob { name: "learning_rate", section: Section::Train, ty: Ty::Float, scope: Scope::Everywhere, range: float(0.0, 10.0, true, false), doc: "Adam learning rate" },
    Knob { name: "weight_decay", section: Section::Train, ty: Ty::Float, scope: Scope::Everywhere, range: float(0.0, 1.0, false, false), doc: "Adam L2 weight decay" },
    Knob { name: "warmup_steps", section: Section::Train, ty: Ty::Int, scope: Scope::Everywhere, range: Range::Int(0, 1_000_000_000), doc: "linear learning-rate warm-up steps" },
    Knob { name: "gradient_clip", section: Section::Train, ty: Ty::Float, scope: Scope::Everywhere, range: float(0.0, 1e6, true, false), doc: "maximum global L2 norm of the gradients" },
    Knob { name: "teacher_forcing", section: Section::Train, ty: Ty::Float, scope: RECURRENT, range: float(0.0, 1.0, false, false), doc: "ground-truth input probability at the start" },
    Knob { name: "scheduled_sampling", section: Section::Train, ty: Ty::Str, scope: RECURRENT, range: Range::OneOf(SCHEDULES), doc: "teacher-forcing schedule" },
    Knob { name: "teacher_forcing_min", section: Section::Train, ty: Ty::Float, scope: RECURRENT, range: float(0.0, 1.0, false, false), doc: "where the schedule decays to" },
    Knob { name: "sampling_k", section: Section::Train, ty: Ty::Float, scope: RECURRENT, range: float(1.0, 1e9, false, false), doc: "inverse-sigmoid steepness in steps" },
    Knob { name: "early_stopping_patience", section: Section::Train, ty: Ty::Int, scope: Scope::Everywhere, range: Range::Int(0, 100_000), doc: "epochs without improvement before stopping (0: never)" },
    Knob { name: "batching", section: Section::Train, ty: Ty::Str, scope: Scope::Everywhere, range: Range::OneOf(BATCHINGS), doc: "training batches: random, or bucketed by length" },
    // decode
    Knob { name: "strategy", section: Section::Decode, ty: Ty::Str, scope: Scope::Everywhere, range: Range::OneOf(STRATEGIES), doc: "decoding strategy" },
    Knob { name: "beam_size", section: Section::Decode, ty: Ty::Int, scope: Scope::Strategies(&["beam"]), range: Range::Int(1, 64), doc: "hypotheses kept by beam search" },
    Knob { name: "length_penalty", section: Section::Decode, ty: Ty::Float, scope: Scope::Strategies(&["beam"]), range: float(0.0, 10.0, false, false), doc: "score = log p / length^length_penalty" },
    Knob { name: "top_p", section: Section::Decode, ty: Ty::Float, scope: Scope::Strategies(&["top-p"]), range: float(0.0, 1.0, true, false), doc: "nucleus probability mass" },
    Knob { name: "temperature", section: Section::Decode, ty: Ty::Float, scope: Scope::Strategies(&["top-p"]), range: float(0.0, 100.0, true, false), doc: "sampling temperature" },
    Knob { name: "max_len", section: Section::Decode, ty: Ty::Int, scope: Scope::Everywhere, range: Range::Int(1, 100_000), doc: "longest generated sequence (default: max_target_len)" },
    // data
    Knob { name: "tokenizer", section: Section::Data, ty: Ty::Str, scope: Scope::Everywhere, range: Range::OneOf(TOKENIZERS), doc: "tokenizer of both sides" },
    Knob { name: "vocab_size", section: Section::Data, ty: Ty::Int, scope: Scope::Everywhere, range: Range::Int(16, 10_000_000), doc: "source and target vocabulary size" },
    Knob { name: "source_vocab_size", section: Section::Data, ty: Ty::Int, scope: Scope::Everywhere, range: Range::Int(16, 10_000_000), doc: "source vocabulary size" },
    Knob { name: "target_vocab_size", section: Section::Data, ty: Ty::Int, scope: Scope::Everywhere, range: Range::Int(16, 10_000_000), doc: "target vocabulary size" },
    Knob { name: "max_source_len", section: Section::Data, ty: Ty::Int, scope: Scope::Everywhere, range: Range::Int(1, 100_000), doc: "source tokens kept" },
    Knob { name: "max_target_len", section: Section::Data, ty: Ty::Int, scope: Scope::Everywhere, range: Range::Int(1, 100_000), doc: "target tokens kept" },
];

pub fn knob(name: &str) -> Option<&'static Knob> {
    KNOBS.iter().find(|k| k.name == name)
}

pub fn all_names() -> Vec<&'static str> {
    KNOBS.iter().map(|k| k.name).collect()
}

impl Knob {
    /// Whether a configuration of `arch` decoding with `strategy` has this knob.
    pub fn applies(&self, arch: Arch, strategy: &str) -> bool {
        match self.scope {
            Scope::Everywhere => true,
            Scope::Recurrent => arch.is_recurrent(),
            Scope::Archs(archs) => archs.contains(&arch),
            Scope::Strategies(s) => s.contains(&strategy),
        }
    }

    /// Names of the model knobs `arch` has, for error messages.
    pub fn model_knobs_of(arch: Arch) -> Vec<&'static str> {
        KNOBS.iter().filter(|k| k.section == Section::Model && k.applies(arch, "")).map(|k| k.name).collect()
    }

    /// Check `value` against the accepted range; the error says what is accepted.
    pub fn check(&self, value: &Value) -> Result<(), String> {
        let bad = |accepted: String| Err(format!("{} = {value} is out of range; accepted: {accepted}", self.name));
        match (self.range, value) {
            (Range::Int(lo, hi), Value::Int(v)) if *v < lo || *v > hi => {
                if hi >= 1_000_000 {
                    bad(format!("an integer >= {lo}"))
                } else {
                    bad(format!("an integer from {lo} to {hi}"))
                }
            }
            (Range::Float { lo, hi, lo_open, hi_open }, v) => {
                let x = v.as_f64().unwrap_or(f64::NAN);
                let below = if lo_open { x <= lo } else { x < lo };
                let above = if hi_open { x >= hi } else { x > hi };
                if !x.is_finite() || below || above {
                    bad(format!(
                        "a number in {}{lo}, {hi}{}",
                        if lo_open { "(" } else { "[" },
                        if hi_open { ")" } else { "]" }
                    ))
                } else {
                    Ok(())
                }
            }
            (Range::OneOf(names), Value::Str(s)) if !names.contains(&s.as_str()) => {
                Err(super::error::unknown(self.name, s, names))
            }
            _ => Ok(()),
        }
    }
}

/// A configuration: knob name -> value, as set by the study (defaults are
/// filled in by `resolve`).
pub type Knobs = BTreeMap<&'static str, Value>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let mut names = all_names();
        names.sort();
        let n = names.len();
        names.dedup();
        assert_eq!(n, names.len());
    }

    #[test]
    fn ranges_name_the_value_and_what_is_accepted() {
        let dropout = knob("dropout").unwrap();
        assert!(dropout.check(&Value::Float(0.3)).is_ok());
        assert_eq!(
            dropout.check(&Value::Float(1.0)).unwrap_err(),
            "dropout = 1 is out of range; accepted: a number in [0, 1)"
        );
        assert!(knob("epochs").unwrap().check(&Value::Int(0)).unwrap_err().contains("from 1 to 100000"));
        assert!(
            knob("strategy").unwrap().check(&Value::Str("bean".into())).unwrap_err().contains("did you mean `beam`")
        );
    }

    #[test]
    fn scopes() {
        assert!(knob("hidden_dim").unwrap().applies(Arch::Gru, "greedy"));
        assert!(!knob("hidden_dim").unwrap().applies(Arch::Transformer, "greedy"));
        assert!(knob("attention_dim").unwrap().applies(Arch::LstmAttention, "greedy"));
        assert!(!knob("attention_dim").unwrap().applies(Arch::Lstm, "greedy"));
        assert!(knob("beam_size").unwrap().applies(Arch::Rnn, "beam"));
        assert!(!knob("beam_size").unwrap().applies(Arch::Rnn, "greedy"));
    }

    #[test]
    fn toml_values_are_type_checked() {
        assert_eq!(Value::from_toml(&toml::Value::Integer(3), Ty::Float).unwrap(), Value::Float(3.0));
        assert!(Value::from_toml(&toml::Value::Float(3.5), Ty::Int).unwrap_err().contains("expected an integer"));
    }
}
