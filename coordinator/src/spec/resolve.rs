//! From an architecture and a set of knobs to the fully resolved model,
//! training, decoding and data specifications of a job. Defaults are filled
//! in here and only here, so a job's specification is explicit about
//! everything and the plan can show it.

use intervene_proto::job::{
    Arch, AttentionSpec, Batching, DataSpec, DecodeSpec, ModelSpec, Overlong, RecurrentSpec, ScheduledSampling,
    SourceSpec, SplitMode, TokenizerKind, TrainSpec, TransformerSpec,
};

use super::knobs::{Knobs, Section, Value, knob};

/// The parts of `[data]` that are not knobs: where the pairs come from and
/// how they are split.
#[derive(Debug, Clone, PartialEq)]
pub struct DataBase {
    pub source: SourceSpec,
    pub train: u32,
    pub valid: u32,
    pub test: u32,
    pub split: SplitMode,
    pub split_seed: u64,
    pub overlong: Overlong,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub model: ModelSpec,
    pub train: TrainSpec,
    pub decode: DecodeSpec,
    pub data: DataSpec,
}

/// A problem with one knob (or with the configuration as a whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnobIssue {
    pub knob: Option<&'static str>,
    pub message: String,
    /// The knob is required and was not set: the caller says where to set it.
    pub missing: Option<Section>,
}

impl KnobIssue {
    fn on(knob: &'static str, message: impl Into<String>) -> Self {
        KnobIssue { knob: Some(knob), message: message.into(), missing: None }
    }

    fn missing(knob: &'static str, section: Section, message: impl Into<String>) -> Self {
        KnobIssue { knob: Some(knob), message: message.into(), missing: Some(section) }
    }
}

/// Defaults of optional knobs, documented in the README's study reference.
pub mod defaults {
    pub const LAYERS: i64 = 1;
    pub const RECURRENT_DROPOUT: f64 = 0.0;
    pub const TRANSFORMER_DROPOUT: f64 = 0.1;
    pub const WEIGHT_DECAY: f64 = 0.0;
    pub const WARMUP_STEPS: i64 = 0;
    pub const GRADIENT_CLIP: f64 = 1.0;
    pub const TEACHER_FORCING: f64 = 1.0;
    pub const TEACHER_FORCING_MIN: f64 = 0.0;
    pub const SAMPLING_K: f64 = 1000.0;
    pub const PATIENCE: i64 = 0;
    /// As the reference trains.
    pub const BATCHING: &str = "random";
    pub const STRATEGY: &str = "greedy";
    pub const BEAM_SIZE: i64 = 5;
    pub const LENGTH_PENALTY: f64 = 1.0;
    pub const TOP_P: f64 = 0.95;
    pub const TEMPERATURE: f64 = 1.0;
}

/// Resolve `knobs` for `arch`. Every knob must apply to `arch` (and to the
/// decoding strategy) and be in range; every required knob must be set.
pub fn resolve(arch: Arch, knobs: &Knobs, base: &DataBase) -> Result<Resolved, Vec<KnobIssue>> {
    let mut r = Reader { knobs, issues: Vec::new() };
    let strategy = r.str_or("strategy", defaults::STRATEGY);
    for (&name, value) in knobs {
        let Some(k) = knob(name) else {
            r.issues.push(KnobIssue { knob: None, message: format!("`{name}` is not a knob"), missing: None });
            continue;
        };
        if !k.applies(arch, &strategy) {
            r.issues.push(KnobIssue::on(k.name, not_applicable(k.name, arch, &strategy)));
        } else if let Err(msg) = k.check(value) {
            r.issues.push(KnobIssue::on(k.name, msg));
        }
    }
    if !r.issues.is_empty() {
        return Err(r.issues);
    }

    let model = r.model(arch);
    let train = r.train(arch);
    let data = r.data(base);
    let decode = r.decode(&strategy, data.as_ref().map_or(1, |d| d.max_target_len));
    match (model, train, decode, data) {
        (Some(model), Some(train), Some(decode), Some(data)) if r.issues.is_empty() => {
            Ok(Resolved { model, train, decode, data })
        }
        _ => Err(r.issues),
    }
}

/// "`heads` is not a knob of arch lstm (its knobs: ...)".
pub fn not_applicable(name: &str, arch: Arch, strategy: &str) -> String {
    let k = knob(name).expect("caller passes registered knobs");
    match k.scope {
        super::knobs::Scope::Strategies(s) => {
            format!("`{name}` is a knob of the {} strategy, and strategy is {strategy}", s.join("/"))
        }
        _ if name == "teacher_forcing"
            || name == "scheduled_sampling"
            || name.starts_with("teacher_forcing_")
            || name == "sampling_k" =>
        {
            format!("`{name}` is not a knob of arch {arch}: a transformer always trains with full teacher forcing")
        }
        _ => format!(
            "`{name}` is not a knob of arch {arch}; {arch} has: {}",
            super::knobs::Knob::model_knobs_of(arch).join(", ")
        ),
    }
}

struct Reader<'k> {
    knobs: &'k Knobs,
    issues: Vec<KnobIssue>,
}

impl Reader<'_> {
    fn get(&self, name: &str) -> Option<&Value> {
        self.knobs.get(name)
    }

    fn int_or(&self, name: &str, default: i64) -> i64 {
        self.get(name).and_then(Value::as_i64).unwrap_or(default)
    }

    fn float_or(&self, name: &str, default: f64) -> f64 {
        self.get(name).and_then(Value::as_f64).unwrap_or(default)
    }

    fn str_or(&self, name: &str, default: &str) -> String {
        self.get(name).and_then(Value::as_str).unwrap_or(default).to_string()
    }

    fn required_int(&mut self, name: &'static str, what: &str, section: Section) -> Option<u32> {
        match self.get(name).and_then(Value::as_i64) {
            Some(v) => Some(v as u32),
            None => {
                self.issues.push(KnobIssue::missing(name, section, format!("{what} needs `{name}`")));
                None
            }
        }
    }

    fn model(&mut self, arch: Arch) -> Option<ModelSpec> {
        let what = format!("arch {arch}");
        if arch == Arch::Transformer {
            let d_model = self.required_int("d_model", &what, Section::Model);
            let heads = self.required_int("heads", &what, Section::Model);
            let ff_dim = self.required_int("ff_dim", &what, Section::Model);
            let encoder_layers = self.required_int("encoder_layers", &what, Section::Model);
            let decoder_layers = self.required_int("decoder_layers", &what, Section::Model);
            let (d_model, heads) = (d_model?, heads?);
            if d_model % heads != 0 {
                self.issues.push(KnobIssue::on(
                    "heads",
                    format!("heads = {heads} does not divide d_model = {d_model}; accepted: a divisor of d_model"),
                ));
                return None;
            }
            return Some(ModelSpec::Transformer(TransformerSpec {
                d_model,
                heads,
                ff_dim: ff_dim?,
                encoder_layers: encoder_layers?,
                decoder_layers: decoder_layers?,
                dropout: self.float_or("dropout", defaults::TRANSFORMER_DROPOUT),
            }));
        }
        let embedding_dim = self.required_int("embedding_dim", &what, Section::Model);
        let hidden_dim = self.required_int("hidden_dim", &what, Section::Model);
        let (embedding_dim, hidden_dim) = (embedding_dim?, hidden_dim?);
        let layers = self.int_or("layers", defaults::LAYERS) as u32;
        let dropout = self.float_or("dropout", defaults::RECURRENT_DROPOUT);
        let bidirectional = matches!(self.get("bidirectional"), Some(Value::Bool(true)));
        let feed_context = matches!(self.get("feed_context"), Some(Value::Bool(true)));
        let rec = RecurrentSpec { embedding_dim, hidden_dim, layers, dropout, bidirectional, feed_context };
        Some(match arch {
            Arch::Rnn => ModelSpec::Rnn(rec),
            Arch::Gru => ModelSpec::Gru(rec),
            Arch::Lstm => ModelSpec::Lstm(rec),
            Arch::LstmAttention => ModelSpec::LstmAttention(AttentionSpec {
                embedding_dim,
                hidden_dim,
                layers,
                dropout,
                bidirectional,
                // Follows hidden_dim unless set, also when hidden_dim is varied.
                attention_dim: self.int_or("attention_dim", hidden_dim as i64) as u32,
            }),
            Arch::Transformer => unreachable!("handled above"),
        })
    }

    fn train(&mut self, arch: Arch) -> Option<TrainSpec> {
        let batch_size = self.required_int("batch_size", "training", Section::Train);
        let epochs = self.required_int("epochs", "training", Section::Train);
        let learning_rate = self.get("learning_rate").and_then(Value::as_f64);
        if learning_rate.is_none() {
            self.issues.push(KnobIssue::missing("learning_rate", Section::Train, "training needs `learning_rate`"));
        }
        let recurrent = arch.is_recurrent();
        let teacher_forcing = if recurrent { self.float_or("teacher_forcing", defaults::TEACHER_FORCING) } else { 1.0 };
        let teacher_forcing_min =
            if recurrent { self.float_or("teacher_forcing_min", defaults::TEACHER_FORCING_MIN) } else { 1.0 };
        let scheduled_sampling = match self.str_or("scheduled_sampling", "none").as_str() {
            "linear" if recurrent => ScheduledSampling::Linear,
            "inverse-sigmoid" if recurrent => ScheduledSampling::InverseSigmoid,
            _ => ScheduledSampling::None,
        };
        if scheduled_sampling != ScheduledSampling::None && teacher_forcing_min > teacher_forcing {
            self.issues.push(KnobIssue::on(
                "teacher_forcing_min",
                format!(
                    "teacher_forcing_min = {teacher_forcing_min} is above teacher_forcing = {teacher_forcing}; accepted: a number in [0, teacher_forcing]"
                ),
            ));
        }
        Some(TrainSpec {
            batch_size: batch_size?,
            epochs: epochs?,
            learning_rate: learning_rate?,
            weight_decay: self.float_or("weight_decay", defaults::WEIGHT_DECAY),
            warmup_steps: self.int_or("warmup_steps", defaults::WARMUP_STEPS) as u32,
            gradient_clip: self.float_or("gradient_clip", defaults::GRADIENT_CLIP),
            teacher_forcing,
            scheduled_sampling,
            teacher_forcing_min: if scheduled_sampling == ScheduledSampling::None {
                teacher_forcing
            } else {
                teacher_forcing_min
            },
            // Unused knobs are normalised so that they do not change job ids.
            sampling_k: if scheduled_sampling == ScheduledSampling::InverseSigmoid {
                self.float_or("sampling_k", defaults::SAMPLING_K)
            } else {
                defaults::SAMPLING_K
            },
            early_stopping_patience: self.int_or("early_stopping_patience", defaults::PATIENCE) as u32,
            batching: match self.str_or("batching", defaults::BATCHING).as_str() {
                "bucketed" => Batching::Bucketed,
                _ => Batching::Random,
            },
        })
    }

    fn decode(&mut self, strategy: &str, max_target_len: u32) -> Option<DecodeSpec> {
        let max_len = self.int_or("max_len", max_target_len as i64) as u32;
        Some(match strategy {
            "beam" => DecodeSpec::Beam {
                beam_size: self.int_or("beam_size", defaults::BEAM_SIZE) as u32,
                length_penalty: self.float_or("length_penalty", defaults::LENGTH_PENALTY),
                max_len,
            },
            "top-p" => DecodeSpec::TopP {
                top_p: self.float_or("top_p", defaults::TOP_P),
                temperature: self.float_or("temperature", defaults::TEMPERATURE),
                max_len,
            },
            _ => DecodeSpec::Greedy { max_len },
        })
    }

    fn data(&mut self, base: &DataBase) -> Option<DataSpec> {
        let tokenizer = match self.str_or("tokenizer", "").as_str() {
            "code-whitespace" => TokenizerKind::CodeWhitespace,
            "python-lexer" => TokenizerKind::PythonLexer,
            "bpe" => TokenizerKind::Bpe,
            _ => {
                self.issues.push(KnobIssue::missing("tokenizer", Section::Data, "data needs `tokenizer`"));
                return None;
            }
        };
        let both = self.get("vocab_size").and_then(Value::as_i64);
        let source = self.get("source_vocab_size").and_then(Value::as_i64).or(both);
        let target = self.get("target_vocab_size").and_then(Value::as_i64).or(both);
        let (Some(source_vocab_size), Some(target_vocab_size)) = (source, target) else {
            self.issues.push(KnobIssue::missing(
                "vocab_size",
                Section::Data,
                "data needs `vocab_size` (or both `source_vocab_size` and `target_vocab_size`)",
            ));
            return None;
        };
        let max_source_len = self.required_int("max_source_len", "data", Section::Data);
        let max_target_len = self.required_int("max_target_len", "data", Section::Data);
        Some(DataSpec {
            source: base.source.clone(),
            train: base.train,
            valid: base.valid,
            test: base.test,
            split: base.split,
            split_seed: base.split_seed,
            tokenizer,
            source_vocab_size: source_vocab_size as u32,
            target_vocab_size: target_vocab_size as u32,
            max_source_len: max_source_len?,
            max_target_len: max_target_len?,
            overlong: base.overlong,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> DataBase {
        DataBase {
            source: SourceSpec::PythonStdlib,
            train: 10,
            valid: 2,
            test: 2,
            split: SplitMode::Random,
            split_seed: 1,
            overlong: Overlong::Truncate,
        }
    }

    fn knobs(pairs: &[(&'static str, Value)]) -> Knobs {
        let mut k: Knobs = [
            ("batch_size", Value::Int(8)),
            ("epochs", Value::Int(1)),
            ("learning_rate", Value::Float(1e-3)),
            ("tokenizer", Value::Str("code-whitespace".into())),
            ("vocab_size", Value::Int(100)),
            ("max_source_len", Value::Int(20)),
            ("max_target_len", Value::Int(30)),
        ]
        .into_iter()
        .collect();
        k.extend(pairs.iter().cloned());
        k
    }

    #[test]
    fn fills_defaults_and_follows_hidden_dim() {
        let r = resolve(
            Arch::LstmAttention,
            &knobs(&[("embedding_dim", Value::Int(16)), ("hidden_dim", Value::Int(32))]),
            &base(),
        )
        .unwrap();
        let ModelSpec::LstmAttention(a) = r.model else { panic!("wrong arch") };
        assert_eq!((a.layers, a.attention_dim, a.bidirectional), (1, 32, false));
        assert_eq!(r.decode, DecodeSpec::Greedy { max_len: 30 });
        assert_eq!(r.train.teacher_forcing, 1.0);
    }

    #[test]
    fn rejects_knobs_the_arch_does_not_have() {
        let err = resolve(
            Arch::Lstm,
            &knobs(&[("embedding_dim", Value::Int(16)), ("hidden_dim", Value::Int(32)), ("heads", Value::Int(4))]),
            &base(),
        )
        .unwrap_err();
        assert_eq!(err[0].knob, Some("heads"));
        assert!(err[0].message.contains("not a knob of arch lstm"), "{}", err[0].message);
    }

    #[test]
    fn transformer_needs_heads_dividing_d_model() {
        let err = resolve(
            Arch::Transformer,
            &knobs(&[
                ("d_model", Value::Int(30)),
                ("heads", Value::Int(4)),
                ("ff_dim", Value::Int(64)),
                ("encoder_layers", Value::Int(1)),
                ("decoder_layers", Value::Int(1)),
            ]),
            &base(),
        )
        .unwrap_err();
        assert!(err[0].message.contains("does not divide d_model = 30"));
    }

    #[test]
    fn missing_required_knobs_are_named() {
        let err = resolve(Arch::Gru, &knobs(&[("embedding_dim", Value::Int(16))]), &base()).unwrap_err();
        assert!(err.iter().any(|e| e.message.contains("needs `hidden_dim`")));
    }
}
