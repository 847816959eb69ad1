//! One job end to end: prepare the data, build and train the model, decode
//! and score the test split, and return the `JobResult` the coordinator
//! records. Blocking; the fleet worker calls it from a dedicated thread.

use crate::checkpoint::{self, Meta};
use crate::decode;
use crate::device::device_name;
use crate::error::{JobError, Result};
use crate::eval::report::score_split;
use crate::model::Model;
use crate::train::{self, Corpus, Hooks};
use intervene_data::{Example, Pair};
use intervene_proto::job::JobSpec;
use intervene_proto::pb;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Instant;
use tch::{Device, Tensor, nn};

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub device: Device,
    /// Where to write the best checkpoint; none when `None`.
    pub checkpoint_dir: Option<PathBuf>,
    /// Test examples (the first ones) whose attention is returned, for
    /// models with attention.
    pub attention_examples: usize,
    /// Torch intra-op threads; torch's default when `None`.
    pub threads: Option<usize>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions { device: Device::Cpu, checkpoint_dir: None, attention_examples: 3, threads: None }
    }
}

fn corpus(examples: &[Example]) -> Corpus {
    Corpus {
        sources: examples.iter().map(|e| e.source_ids.clone()).collect(),
        targets: examples.iter().map(|e| e.target_ids.clone()).collect(),
    }
}

fn phase(progress: &mut dyn FnMut(pb::Progress), phase: pb::Phase, epochs: u32) {
    progress(pb::Progress { phase: phase as i32, epochs, valid_loss: f64::NAN, ..Default::default() });
}

/// The job's tokenized (and mutated) splits, none of them empty.
fn prepare_splits(spec: &JobSpec, pairs: &[Pair]) -> Result<intervene_data::Prepared> {
    let prepared = intervene_data::prepare(pairs, &spec.data, spec.mutation.as_ref(), spec.seed)
        .map_err(|e| JobError::Data(e.to_string()))?;
    for (name, split) in [("train", &prepared.train), ("valid", &prepared.valid), ("test", &prepared.test)] {
        if split.is_empty() {
            return Err(JobError::InvalidSpec(format!(
                "the {name} split is empty ({} pairs in the data set); raise data.{name} or use more data",
                pairs.len()
            )));
        }
    }
    Ok(prepared)
}

/// Runs `spec` on `pairs` (the study's canonical data set).
pub fn run_job(
    spec: &JobSpec,
    pairs: &[Pair],
    opts: &RunOptions,
    progress: &mut dyn FnMut(pb::Progress),
    cancel: &AtomicBool,
) -> Result<pb::JobResult> {
    train::schedule::validate(&spec.train)?;
    decode::validate(&spec.decode)?;
    if let Some(n) = opts.threads {
        tch::set_num_threads(n.max(1) as i32);
    }
    let epochs = spec.train.epochs;
    phase(progress, pb::Phase::Preparing, epochs);
    let prepared = prepare_splits(spec, pairs)?;

    // Seeds torch's generators (weights, dropout); data order, teacher
    // forcing and sampling have seeded streams of their own.
    tch::manual_seed(spec.seed as i64);
    let vs = nn::VarStore::new(opts.device);
    let d = &spec.data;
    let model =
        Model::new(&spec.model, vs.root(), d.source_vocab_size, d.target_vocab_size, checkpoint::max_positions(spec))?;
    let trainable_params: u64 = vs.trainable_variables().iter().map(|t| t.numel() as u64).sum();
    let (train_c, valid_c, test_c) = (corpus(&prepared.train), corpus(&prepared.valid), corpus(&prepared.test));
    let outcome = train::fit(
        &model,
        &vs,
        &spec.train,
        &train_c,
        &valid_c,
        spec.seed,
        opts.device,
        Hooks::new(&mut *progress, cancel),
    )?;

    phase(progress, pb::Phase::Evaluating, epochs);
    let eval_started = Instant::now();
    let batch = spec.train.batch_size as usize;
    let test_loss = train::corpus_loss(&model, &test_c, batch, opts.device);
    let ids = checkpoint::decode_corpus(&model, &test_c, &spec.decode, spec.seed, batch, opts.device);
    let predictions: Vec<Vec<String>> = ids.iter().map(|p| prepared.target_vocab.decode(p)).collect();
    let (examples, outcomes) = score_split(&prepared.test, &predictions, &prepared.tokenizer, &prepared.target_vocab);
    let attention = attention_maps(&model, &prepared.test, &ids, &predictions, opts);
    let eval_seconds = eval_started.elapsed().as_secs_f64();

    if let Some(dir) = &opts.checkpoint_dir {
        let meta = Meta {
            format: 1,
            job_id: spec.id(),
            arch: spec.model.arch().name().to_string(),
            trainable_params,
            best_epoch: outcome.best_epoch,
            best_valid_loss: outcome.best_valid_loss,
        };
        checkpoint::save(dir, spec, &meta, &vs, &prepared.tokenizer, &prepared.source_vocab, &prepared.target_vocab)?;
    }

    let metrics = pb::RunMetrics {
        bleu: outcomes.bleu,
        codexglue_bleu: outcomes.codexglue_bleu,
        token_accuracy: outcomes.token_accuracy,
        exact_match: outcomes.exact_match,
        syntax_valid: outcomes.syntax_valid,
        test_loss,
        best_valid_loss: outcome.best_valid_loss,
        best_epoch: outcome.best_epoch,
        epochs_run: outcome.epochs_run,
        early_stopped: outcome.early_stopped,
        trainable_params,
        source_vocab: prepared.source_vocab.len() as u32,
        target_vocab: prepared.target_vocab.len() as u32,
        train_examples: prepared.train.len() as u32,
        valid_examples: prepared.valid.len() as u32,
        test_examples: prepared.test.len() as u32,
        train_seconds: outcome.train_seconds,
        eval_seconds,
        train_tokens_per_second: outcome.tokens_per_second,
        bleu_vocab: Some(outcomes.bleu_vocab),
    };
    Ok(pb::JobResult {
        metrics: Some(metrics),
        examples,
        curves: outcome.curves,
        attention,
        mutation_counts: prepared.mutation_counts.into_iter().collect(),
        ran_on: Some(pb::Capabilities {
            device: device_name(opts.device),
            cpu_threads: tch::get_num_threads().max(0) as u32,
            intervene_version: env!("CARGO_PKG_VERSION").to_string(),
            ..Default::default()
        }),
    })
}

fn attention_maps(
    model: &Model,
    test: &[Example],
    ids: &[Vec<i64>],
    predictions: &[Vec<String>],
    opts: &RunOptions,
) -> Vec<pb::AttentionMap> {
    if !model.has_attention() {
        return Vec::new();
    }
    let mut maps = Vec::new();
    for ((ex, ids), pred) in test.iter().zip(ids).zip(predictions).take(opts.attention_examples) {
        let mut src = ex.source_ids.clone();
        src.push(crate::EOS);
        let len = src.len() as i64;
        let src_t = Tensor::from_slice(&src).view([1, len]).to_device(opts.device);
        let weights = decode::attention_map(model, &src_t, &Tensor::from_slice(&[len]), ids)
            .map(|w| Vec::<f32>::try_from(w.to_device(Device::Cpu).view([-1])).unwrap_or_default())
            .unwrap_or_default();
        let mut source_tokens = ex.source_tokens.clone();
        source_tokens.push("<EOS>".to_string());
        maps.push(pb::AttentionMap { example_id: ex.id.clone(), source_tokens, target_tokens: pred.clone(), weights });
    }
    maps
}
