//! The rows each table gets from one finished job: one builder per table,
//! columns in the order `intervene_proto::tables` documents.

use intervene_proto::job::{DecodeSpec, JobSpec, ModelSpec};
use intervene_proto::pb;
use polars::prelude::*;

use super::{ArmRef, JobRecord};

/// One column per row-identity field, repeated for `rows` rows per arm.
fn identity(rec: &JobRecord, rows: usize) -> Vec<Column> {
    let per_arm = |f: &dyn Fn(&ArmRef) -> Option<String>| -> Vec<Option<String>> {
        rec.arms.iter().flat_map(|a| std::iter::repeat_n(f(a), rows)).collect()
    };
    let n = rec.arms.len() * rows;
    vec![
        Column::new("study".into(), vec![rec.study.to_string(); n]),
        Column::new("study_version".into(), vec![rec.study_version as i64; n]),
        Column::new("arm".into(), per_arm(&|a| Some(a.arm.clone()))),
        Column::new("job_id".into(), vec![rec.job_id.to_string(); n]),
        Column::new("seed".into(), vec![rec.spec.seed as i64; n]),
    ]
}

/// Repeat a per-row column for every arm.
fn repeat<T: Clone>(values: Vec<T>, arms: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(values.len() * arms);
    for _ in 0..arms {
        out.extend(values.iter().cloned());
    }
    out
}

pub(super) fn runs_frame(rec: &JobRecord) -> PolarsResult<DataFrame> {
    let n = rec.arms.len();
    let m = rec.result.metrics.clone().unwrap_or_default();
    let ran = rec.result.ran_on.clone().unwrap_or_default();
    let arm = |f: &dyn Fn(&ArmRef) -> Option<String>| rec.arms.iter().map(f).collect::<Vec<_>>();
    let mut cols = identity(rec, 1);
    // Identity columns in the documented order: study, study_version, arm,
    // then the arm's description, then the job.
    cols.insert(3, Column::new("intervention".into(), arm(&|a| a.intervention.clone())));
    cols.insert(4, Column::new("kind".into(), arm(&|a| Some(a.kind.clone()))));
    cols.insert(5, Column::new("compare_to".into(), arm(&|a| a.compare_to.clone())));
    cols.insert(6, Column::new("bucket".into(), arm(&|a| a.bucket.clone())));
    let text = |v: &str| vec![v.to_string(); n];
    let int = |v: i64| vec![v; n];
    let float = |v: f64| vec![v; n];
    cols.extend([
        Column::new("attempt".into(), int(rec.attempt as i64)),
        Column::new("worker".into(), text(rec.worker)),
        Column::new("device".into(), text(&ran.device)),
        Column::new("gpu_name".into(), text(&ran.gpu_name)),
        Column::new("torch_version".into(), text(&ran.torch_version)),
        Column::new("arch".into(), text(rec.spec.model.arch().name())),
        Column::new("params".into(), int(m.trainable_params as i64)),
        Column::new("finished_at_ms".into(), int(rec.finished_at_ms)),
    ]);
    for (name, value) in factors(rec.spec) {
        cols.push(match value {
            Factor::Int(v) => Column::new(name.into(), vec![v; n]),
            Factor::Float(v) => Column::new(name.into(), vec![v; n]),
            Factor::Bool(v) => Column::new(name.into(), vec![v; n]),
            Factor::Str(v) => Column::new(name.into(), vec![v; n]),
        });
    }
    cols.extend([
        Column::new("bleu".into(), float(m.bleu)),
        Column::new("codexglue_bleu".into(), float(m.codexglue_bleu)),
        Column::new("token_accuracy".into(), float(m.token_accuracy)),
        Column::new("exact_match".into(), float(m.exact_match)),
        Column::new("syntax_valid".into(), vec![m.syntax_valid; n]),
        Column::new("test_loss".into(), float(m.test_loss)),
        Column::new("best_valid_loss".into(), float(m.best_valid_loss)),
        Column::new("best_epoch".into(), int(m.best_epoch as i64)),
        Column::new("epochs_run".into(), int(m.epochs_run as i64)),
        Column::new("early_stopped".into(), vec![m.early_stopped; n]),
        Column::new("trainable_params".into(), int(m.trainable_params as i64)),
        Column::new("source_vocab".into(), int(m.source_vocab as i64)),
        Column::new("target_vocab".into(), int(m.target_vocab as i64)),
        Column::new("train_examples".into(), int(m.train_examples as i64)),
        Column::new("valid_examples".into(), int(m.valid_examples as i64)),
        Column::new("test_examples".into(), int(m.test_examples as i64)),
        Column::new("train_seconds".into(), float(m.train_seconds)),
        Column::new("eval_seconds".into(), float(m.eval_seconds)),
        Column::new("train_tokens_per_second".into(), float(m.train_tokens_per_second)),
        Column::new(
            "mutation_counts".into(),
            text(
                &serde_json::to_string(
                    &rec.result.mutation_counts.iter().collect::<std::collections::BTreeMap<_, _>>(),
                )
                .unwrap_or_default(),
            ),
        ),
    ]);
    DataFrame::new(n, cols)
}

pub(super) fn examples_frame(rec: &JobRecord) -> PolarsResult<DataFrame> {
    let ex = &rec.result.examples;
    let arms = rec.arms.len();
    let col = |f: &dyn Fn(&pb::ExampleRow) -> String| repeat(ex.iter().map(f).collect::<Vec<_>>(), arms);
    let mut cols = identity(rec, ex.len());
    cols.extend([
        Column::new("example_id".into(), col(&|e| e.example_id.clone())),
        Column::new("source_len".into(), repeat(ex.iter().map(|e| e.source_len as i64).collect(), arms)),
        Column::new("target_len".into(), repeat(ex.iter().map(|e| e.target_len as i64).collect(), arms)),
        Column::new("length_bin".into(), col(&|e| e.length_bin.clone())),
        Column::new("sentence_bleu".into(), repeat(ex.iter().map(|e| e.sentence_bleu).collect(), arms)),
        Column::new("token_accuracy".into(), repeat(ex.iter().map(|e| e.token_accuracy).collect(), arms)),
        Column::new("exact_match".into(), repeat(ex.iter().map(|e| e.exact_match).collect(), arms)),
        Column::new(
            "syntax_valid".into(),
            repeat(ex.iter().map(|e| e.syntax_valid).collect::<Vec<Option<bool>>>(), arms),
        ),
        Column::new("error_category".into(), col(&|e| e.error_category.clone())),
        Column::new("source".into(), col(&|e| e.source.clone())),
        Column::new("reference".into(), col(&|e| e.reference.clone())),
        Column::new("prediction".into(), col(&|e| e.prediction.clone())),
    ]);
    DataFrame::new(ex.len() * arms, cols)
}

pub(super) fn curves_frame(rec: &JobRecord) -> PolarsResult<DataFrame> {
    let c = &rec.result.curves;
    let arms = rec.arms.len();
    let f64s = |f: &dyn Fn(&pb::CurvePoint) -> f64| repeat(c.iter().map(f).collect::<Vec<_>>(), arms);
    let mut cols = identity(rec, c.len());
    cols.extend([
        Column::new("epoch".into(), repeat(c.iter().map(|p| p.epoch as i64).collect(), arms)),
        Column::new("step".into(), repeat(c.iter().map(|p| p.step as i64).collect(), arms)),
        Column::new("train_loss".into(), f64s(&|p| p.train_loss)),
        Column::new("valid_loss".into(), f64s(&|p| p.valid_loss)),
        Column::new("learning_rate".into(), f64s(&|p| p.learning_rate)),
        Column::new("teacher_forcing".into(), f64s(&|p| p.teacher_forcing)),
        Column::new("seconds".into(), f64s(&|p| p.seconds)),
    ]);
    DataFrame::new(c.len() * arms, cols)
}

pub(super) fn attention_frame(rec: &JobRecord) -> PolarsResult<DataFrame> {
    let a = &rec.result.attention;
    let arms = rec.arms.len();
    let list = |f: &dyn Fn(&pb::AttentionMap) -> Series| repeat(a.iter().map(f).collect::<Vec<_>>(), arms);
    let mut cols = identity(rec, a.len());
    cols.extend([
        Column::new("example_id".into(), repeat(a.iter().map(|m| m.example_id.clone()).collect::<Vec<_>>(), arms)),
        Column::new("source_tokens".into(), list(&|m| Series::new("".into(), m.source_tokens.clone()))),
        Column::new("target_tokens".into(), list(&|m| Series::new("".into(), m.target_tokens.clone()))),
        Column::new("weights".into(), list(&|m| Series::new("".into(), m.weights.clone()))),
    ]);
    DataFrame::new(a.len() * arms, cols)
}

/// A factor value; columns keep one type across every job of every study.
enum Factor {
    Int(Option<i64>),
    Float(Option<f64>),
    Bool(Option<bool>),
    Str(Option<String>),
}

/// The name a unit enum has in study files (its serde name).
fn name_of<T: serde::Serialize>(v: T) -> Option<String> {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(str::to_string))
}

/// Every `tables::FACTOR_COLUMNS` column of a job, in that order.
fn factors(spec: &JobSpec) -> Vec<(&'static str, Factor)> {
    use Factor::*;
    let i = |v: u32| Int(Some(v as i64));
    let (mut emb, mut hid, mut lay, mut bi, mut att) = (None, None, None, None, None);
    let (mut dm, mut heads, mut ff, mut el, mut dl) = (None, None, None, None, None);
    match &spec.model {
        ModelSpec::Rnn(r) | ModelSpec::Gru(r) | ModelSpec::Lstm(r) => {
            (emb, hid, lay, bi) = (Some(r.embedding_dim), Some(r.hidden_dim), Some(r.layers), Some(r.bidirectional))
        }
        ModelSpec::LstmAttention(a) => {
            (emb, hid, lay, bi, att) = (
                Some(a.embedding_dim),
                Some(a.hidden_dim),
                Some(a.layers),
                Some(a.bidirectional),
                Some(a.attention_dim),
            )
        }
        ModelSpec::Transformer(t) => {
            (dm, heads, ff, el, dl) =
                (Some(t.d_model), Some(t.heads), Some(t.ff_dim), Some(t.encoder_layers), Some(t.decoder_layers))
        }
    }
    let oi = |v: Option<u32>| Int(v.map(|v| v as i64));
    let t = &spec.train;
    let (strategy, beam, lp, top_p, temp, max_len) = match spec.decode {
        DecodeSpec::Greedy { max_len } => ("greedy", None, None, None, None, max_len),
        DecodeSpec::Beam { beam_size, length_penalty, max_len } => {
            ("beam", Some(beam_size), Some(length_penalty), None, None, max_len)
        }
        DecodeSpec::TopP { top_p, temperature, max_len } => {
            ("top-p", None, None, Some(top_p), Some(temperature), max_len)
        }
    };
    let d = &spec.data;
    let mutation = spec.mutation.as_ref();
    let level = mutation.and_then(|m| m.op.level());
    let text = |s: &str| Str(Some(s.to_string()));
    vec![
        ("embedding_dim", oi(emb)),
        ("hidden_dim", oi(hid)),
        ("layers", oi(lay)),
        ("dropout", Float(Some(spec.model.dropout()))),
        ("bidirectional", Bool(bi)),
        ("attention_dim", oi(att)),
        ("d_model", oi(dm)),
        ("heads", oi(heads)),
        ("ff_dim", oi(ff)),
        ("encoder_layers", oi(el)),
        ("decoder_layers", oi(dl)),
        ("batch_size", i(t.batch_size)),
        ("epochs", i(t.epochs)),
        ("learning_rate", Float(Some(t.learning_rate))),
        ("weight_decay", Float(Some(t.weight_decay))),
        ("warmup_steps", i(t.warmup_steps)),
        ("gradient_clip", Float(Some(t.gradient_clip))),
        ("teacher_forcing", Float(Some(t.teacher_forcing))),
        ("scheduled_sampling", Str(name_of(t.scheduled_sampling))),
        ("teacher_forcing_min", Float(Some(t.teacher_forcing_min))),
        ("sampling_k", Float(Some(t.sampling_k))),
        ("early_stopping_patience", i(t.early_stopping_patience)),
        ("strategy", text(strategy)),
        ("beam_size", oi(beam)),
        ("length_penalty", Float(lp)),
        ("top_p", Float(top_p)),
        ("temperature", Float(temp)),
        ("max_len", i(max_len)),
        ("source_kind", text(d.source.kind())),
        ("train_size", i(d.train)),
        ("valid_size", i(d.valid)),
        ("test_size", i(d.test)),
        ("split", Str(name_of(d.split))),
        ("split_seed", Int(Some(d.split_seed as i64))),
        ("tokenizer", Str(name_of(d.tokenizer))),
        ("source_vocab_size", i(d.source_vocab_size)),
        ("target_vocab_size", i(d.target_vocab_size)),
        ("max_source_len", i(d.max_source_len)),
        ("max_target_len", i(d.max_target_len)),
        ("overlong", Str(name_of(d.overlong))),
        ("mutation_op", Str(mutation.map(|m| m.op.name().to_string()))),
        ("mutation_side", Str(mutation.and_then(|m| name_of(m.side)))),
        (
            "mutation_splits",
            Str(mutation.map(|m| m.splits.iter().filter_map(|s| name_of(*s)).collect::<Vec<_>>().join("+"))),
        ),
        ("mutation_param", Str(level.map(|(p, _)| p.to_string()))),
        ("mutation_level", Float(level.map(|(_, v)| v))),
    ]
}
