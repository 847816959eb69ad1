//! The rows each table gets from finished jobs: one builder per table,
//! columns in the order `intervene_proto::tables` documents.
//!
//! Each builder takes every job of a batch and builds each column once, for
//! all of them: building a frame per job and stacking them cost the
//! coordinator's table writer about 130 µs a job in allocations (issue 7's
//! profile), more than the rest of a Lease and Complete together.

use std::sync::LazyLock;

use intervene_proto::job::{DecodeSpec, JobSpec, ModelSpec};
use intervene_proto::pb;
use polars::prelude::*;

use super::{ArmRef, JobRecord};

/// The row space of a table over a batch: for each job, for each of its
/// arms, `per_job(job)` rows.
struct Rows<'r, 'a> {
    recs: &'r [JobRecord<'a>],
    per_job: fn(&JobRecord) -> usize,
}

impl<'r, 'a> Rows<'r, 'a> {
    fn height(&self) -> usize {
        self.recs.iter().map(|r| r.arms.len() * (self.per_job)(r)).sum()
    }

    /// (job index, job, arm, row within the job) for every row, in order.
    fn iter(&self) -> impl Iterator<Item = (usize, &'r JobRecord<'a>, &'r ArmRef, usize)> + '_ {
        self.recs.iter().enumerate().flat_map(move |(j, r)| {
            let n = (self.per_job)(r);
            r.arms.iter().flat_map(move |a| (0..n).map(move |i| (j, r, a, i)))
        })
    }

    /// A column from one value per row.
    fn col<T, P: ?Sized>(&self, name: &str, f: impl Fn(usize, &'r JobRecord<'a>, &'r ArmRef, usize) -> T) -> Column
    where
        Series: NamedFrom<Vec<T>, P>,
    {
        let mut v = Vec::with_capacity(self.height());
        v.extend(self.iter().map(|(j, r, a, i)| f(j, r, a, i)));
        Column::new(name.into(), v)
    }

    /// The row-identity columns: study, study_version, arm, job_id, seed.
    fn identity(&self) -> Vec<Column> {
        vec![
            self.col("study", |_, r, _, _| r.study),
            self.col("study_version", |_, r, _, _| r.study_version as i64),
            self.col("arm", |_, _, a, _| a.arm.as_str()),
            self.col("job_id", |_, r, _, _| r.job_id),
            self.col("seed", |_, r, _, _| r.spec.seed as i64),
        ]
    }
}

static NO_METRICS: LazyLock<pb::RunMetrics> = LazyLock::new(pb::RunMetrics::default);
static NOWHERE: LazyLock<pb::Capabilities> = LazyLock::new(pb::Capabilities::default);

fn metrics<'r>(r: &'r JobRecord) -> &'r pb::RunMetrics {
    r.result.metrics.as_ref().unwrap_or(&NO_METRICS)
}

fn ran_on<'r>(r: &'r JobRecord) -> &'r pb::Capabilities {
    r.result.ran_on.as_ref().unwrap_or(&NOWHERE)
}

pub(super) fn runs_frame(recs: &[JobRecord]) -> PolarsResult<DataFrame> {
    let rows = Rows { recs, per_job: |_| 1 };
    let mut cols = rows.identity();
    // Identity columns in the documented order: study, study_version, arm,
    // then the arm's description, then the job.
    cols.insert(3, rows.col("intervention", |_, _, a, _| a.intervention.as_deref()));
    cols.insert(4, rows.col("kind", |_, _, a, _| a.kind.as_str()));
    cols.insert(5, rows.col("compare_to", |_, _, a, _| a.compare_to.as_deref()));
    cols.insert(6, rows.col("bucket", |_, _, a, _| a.bucket.as_deref()));
    cols.extend([
        rows.col("attempt", |_, r, _, _| r.attempt as i64),
        rows.col("worker", |_, r, _, _| r.worker),
        rows.col("device", |_, r, _, _| ran_on(r).device.as_str()),
        rows.col("gpu_name", |_, r, _, _| ran_on(r).gpu_name.as_str()),
        rows.col("torch_version", |_, r, _, _| ran_on(r).torch_version.as_str()),
        rows.col("cpu_threads", |_, r, _, _| ran_on(r).cpu_threads as i64),
        rows.col("determinism", |_, r, _, _| ran_on(r).determinism.as_str()),
        rows.col("arch", |_, r, _, _| r.spec.model.arch().name()),
        rows.col("params", |_, r, _, _| metrics(r).trainable_params as i64),
        rows.col("finished_at_ms", |_, r, _, _| r.finished_at_ms),
    ]);
    let factors: Vec<Vec<(&'static str, Factor)>> = recs.iter().map(|r| factors(r.spec)).collect();
    for (k, (name, first)) in factors.first().map(|f| f.as_slice()).unwrap_or_default().iter().enumerate() {
        // Every job has the same factors, in the same order and types.
        let at = |j: usize| &factors[j][k].1;
        cols.push(match first {
            Factor::Int(_) => rows.col(name, |j, _, _, _| if let Factor::Int(v) = at(j) { *v } else { None }),
            Factor::Float(_) => rows.col(name, |j, _, _, _| if let Factor::Float(v) = at(j) { *v } else { None }),
            Factor::Bool(_) => rows.col(name, |j, _, _, _| if let Factor::Bool(v) = at(j) { *v } else { None }),
            Factor::Str(_) => rows.col(name, |j, _, _, _| if let Factor::Str(v) = at(j) { v.as_deref() } else { None }),
        });
    }
    let counts: Vec<String> = recs
        .iter()
        .map(|r| {
            serde_json::to_string(&r.result.mutation_counts.iter().collect::<std::collections::BTreeMap<_, _>>())
                .unwrap_or_default()
        })
        .collect();
    cols.extend([
        rows.col("bleu", |_, r, _, _| metrics(r).bleu),
        rows.col("codexglue_bleu", |_, r, _, _| metrics(r).codexglue_bleu),
        rows.col("token_accuracy", |_, r, _, _| metrics(r).token_accuracy),
        rows.col("exact_match", |_, r, _, _| metrics(r).exact_match),
        rows.col("syntax_valid", |_, r, _, _| metrics(r).syntax_valid),
        rows.col("bleu_vocab", |_, r, _, _| metrics(r).bleu_vocab),
        rows.col("test_loss", |_, r, _, _| metrics(r).test_loss),
        rows.col("best_valid_loss", |_, r, _, _| metrics(r).best_valid_loss),
        rows.col("best_epoch", |_, r, _, _| metrics(r).best_epoch as i64),
        rows.col("epochs_run", |_, r, _, _| metrics(r).epochs_run as i64),
        rows.col("early_stopped", |_, r, _, _| metrics(r).early_stopped),
        rows.col("trainable_params", |_, r, _, _| metrics(r).trainable_params as i64),
        rows.col("source_vocab", |_, r, _, _| metrics(r).source_vocab as i64),
        rows.col("target_vocab", |_, r, _, _| metrics(r).target_vocab as i64),
        rows.col("train_examples", |_, r, _, _| metrics(r).train_examples as i64),
        rows.col("valid_examples", |_, r, _, _| metrics(r).valid_examples as i64),
        rows.col("test_examples", |_, r, _, _| metrics(r).test_examples as i64),
        rows.col("train_seconds", |_, r, _, _| metrics(r).train_seconds),
        rows.col("eval_seconds", |_, r, _, _| metrics(r).eval_seconds),
        rows.col("train_tokens_per_second", |_, r, _, _| metrics(r).train_tokens_per_second),
        rows.col("mutation_counts", |j, _, _, _| counts[j].as_str()),
    ]);
    DataFrame::new(rows.height(), cols)
}

pub(super) fn examples_frame(recs: &[JobRecord]) -> PolarsResult<DataFrame> {
    let rows = Rows { recs, per_job: |r| r.result.examples.len() };
    fn e<'a>(r: &JobRecord<'a>, i: usize) -> &'a pb::ExampleRow {
        &r.result.examples[i]
    }
    let mut cols = rows.identity();
    cols.extend([
        rows.col("example_id", |_, r, _, i| e(r, i).example_id.as_str()),
        rows.col("source_len", |_, r, _, i| e(r, i).source_len as i64),
        rows.col("target_len", |_, r, _, i| e(r, i).target_len as i64),
        rows.col("length_bin", |_, r, _, i| e(r, i).length_bin.as_str()),
        rows.col("sentence_bleu", |_, r, _, i| e(r, i).sentence_bleu),
        rows.col("token_accuracy", |_, r, _, i| e(r, i).token_accuracy),
        rows.col("exact_match", |_, r, _, i| e(r, i).exact_match),
        rows.col("syntax_valid", |_, r, _, i| e(r, i).syntax_valid),
        rows.col("error_category", |_, r, _, i| e(r, i).error_category.as_str()),
        rows.col("source", |_, r, _, i| e(r, i).source.as_str()),
        rows.col("reference", |_, r, _, i| e(r, i).reference.as_str()),
        rows.col("prediction", |_, r, _, i| e(r, i).prediction.as_str()),
    ]);
    DataFrame::new(rows.height(), cols)
}

pub(super) fn curves_frame(recs: &[JobRecord]) -> PolarsResult<DataFrame> {
    let rows = Rows { recs, per_job: |r| r.result.curves.len() };
    fn p<'a>(r: &JobRecord<'a>, i: usize) -> &'a pb::CurvePoint {
        &r.result.curves[i]
    }
    let mut cols = rows.identity();
    cols.extend([
        rows.col("epoch", |_, r, _, i| p(r, i).epoch as i64),
        rows.col("step", |_, r, _, i| p(r, i).step as i64),
        rows.col("train_loss", |_, r, _, i| p(r, i).train_loss),
        rows.col("valid_loss", |_, r, _, i| p(r, i).valid_loss),
        rows.col("learning_rate", |_, r, _, i| p(r, i).learning_rate),
        rows.col("teacher_forcing", |_, r, _, i| p(r, i).teacher_forcing),
        rows.col("seconds", |_, r, _, i| p(r, i).seconds),
        rows.col("step_seconds", |_, r, _, i| p(r, i).step_seconds),
        rows.col("step_cpu_seconds", |_, r, _, i| p(r, i).step_cpu_seconds),
        rows.col("target_tokens", |_, r, _, i| p(r, i).target_tokens as i64),
        rows.col("padded_target_tokens", |_, r, _, i| p(r, i).padded_target_tokens as i64),
        rows.col("source_tokens", |_, r, _, i| p(r, i).source_tokens as i64),
        rows.col("padded_source_tokens", |_, r, _, i| p(r, i).padded_source_tokens as i64),
    ]);
    DataFrame::new(rows.height(), cols)
}

pub(super) fn attention_frame(recs: &[JobRecord]) -> PolarsResult<DataFrame> {
    let rows = Rows { recs, per_job: |r| r.result.attention.len() };
    fn m<'a>(r: &JobRecord<'a>, i: usize) -> &'a pb::AttentionMap {
        &r.result.attention[i]
    }
    let mut cols = rows.identity();
    cols.extend([
        rows.col("example_id", |_, r, _, i| m(r, i).example_id.as_str()),
        rows.col("source_tokens", |_, r, _, i| Series::new("".into(), m(r, i).source_tokens.clone())),
        rows.col("target_tokens", |_, r, _, i| Series::new("".into(), m(r, i).target_tokens.clone())),
        rows.col("weights", |_, r, _, i| Series::new("".into(), m(r, i).weights.clone())),
    ]);
    DataFrame::new(rows.height(), cols)
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
        ("batching", text(t.batching.name())),
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
