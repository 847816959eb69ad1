//! A trained model on disk, complete enough to decode exactly as the job
//! did:
//!
//! ```text
//! <dir>/model.safetensors     weights (the best epoch's)
//! <dir>/job.json              the job specification (canonical JSON)
//! <dir>/tokenizer/            the tokenizer (BPE merges when trained)
//! <dir>/source_vocab.json     vocabularies
//! <dir>/target_vocab.json
//! <dir>/checkpoint.json       format version and facts about the run
//! ```

use crate::decode;
use crate::error::{JobError, Result};
use crate::model::Model;
use crate::train::{Corpus, length_sorted_batches, make_batch};
use intervene_data::{Tokenizer, Vocab};
use intervene_proto::files::write_atomic;
use intervene_proto::job::{DecodeSpec, JobSpec};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tch::{Device, nn};

const WEIGHTS: &str = "model.safetensors";
const SPEC: &str = "job.json";
const TOKENIZER: &str = "tokenizer";
const SOURCE_VOCAB: &str = "source_vocab.json";
const TARGET_VOCAB: &str = "target_vocab.json";
const META: &str = "checkpoint.json";
const FORMAT: u32 = 1;

/// Facts stored beside the weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    pub format: u32,
    pub job_id: String,
    pub arch: String,
    pub trainable_params: u64,
    pub best_epoch: u32,
    pub best_valid_loss: f64,
}

/// Positions a transformer's table covers for a job: the longest source
/// (plus EOS), target (plus SOS) or decoded sequence.
pub fn max_positions(spec: &JobSpec) -> i64 {
    let d = &spec.data;
    (d.max_source_len as i64 + 1).max(d.max_target_len as i64 + 2).max(spec.decode.max_len() as i64 + 1)
}

pub struct Checkpoint {
    pub spec: JobSpec,
    pub meta: Meta,
    pub vs: nn::VarStore,
    pub model: Model,
    pub tokenizer: Tokenizer,
    pub source_vocab: Vocab,
    pub target_vocab: Vocab,
}

fn data_err(path: &Path) -> impl Fn(intervene_data::Error) -> JobError + '_ {
    move |e| JobError::checkpoint(path, e.to_string())
}

/// Writes a checkpoint into `dir` (created if missing). Every file is
/// written with [`write_atomic`] (temporary file, fsync, rename, fsync of
/// the folder), so no file is ever half written; `checkpoint.json` comes
/// last.
pub fn save(
    dir: &Path,
    spec: &JobSpec,
    meta: &Meta,
    vs: &nn::VarStore,
    tokenizer: &Tokenizer,
    source_vocab: &Vocab,
    target_vocab: &Vocab,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| JobError::io(dir, e))?;
    // Safetensors whatever the temporary file's name (`vs.save` picks the
    // format from the extension).
    let weights: Vec<(String, tch::Tensor)> = vs.variables().into_iter().collect();
    let weights_path = dir.join(WEIGHTS);
    write_atomic(&weights_path, |tmp| tch::Tensor::write_safetensors(&weights, tmp).map_err(std::io::Error::other))
        .map_err(|e| JobError::io(&weights_path, e))?;
    write(&dir.join(SPEC), &spec.canonical_json())?;
    tokenizer.save(&dir.join(TOKENIZER)).map_err(data_err(dir))?;
    source_vocab.save(&dir.join(SOURCE_VOCAB)).map_err(data_err(dir))?;
    target_vocab.save(&dir.join(TARGET_VOCAB)).map_err(data_err(dir))?;
    let meta_json = serde_json::to_string_pretty(meta).map_err(|e| JobError::checkpoint(dir, e.to_string()))?;
    write(&dir.join(META), &meta_json)
}

fn write(path: &Path, text: &str) -> Result<()> {
    write_atomic(path, |tmp| std::fs::write(tmp, text)).map_err(|e| JobError::io(path, e))
}

fn read(path: PathBuf) -> Result<String> {
    std::fs::read_to_string(&path).map_err(|e| JobError::io(path, e))
}

impl Checkpoint {
    /// Loads a checkpoint written by [`save`] onto `device`.
    pub fn load(dir: &Path, device: Device) -> Result<Checkpoint> {
        if !dir.is_dir() {
            return Err(JobError::checkpoint(
                dir,
                "not a directory (expected a checkpoint written by `intervene train`)",
            ));
        }
        let spec_path = dir.join(SPEC);
        let spec = JobSpec::from_json(&read(spec_path.clone())?)
            .map_err(|e| JobError::checkpoint(&spec_path, format!("line {}: {e}", e.line())))?;
        let meta_path = dir.join(META);
        let meta: Meta = serde_json::from_str(&read(meta_path.clone())?)
            .map_err(|e| JobError::checkpoint(&meta_path, format!("line {}: {e}", e.line())))?;
        if meta.format != FORMAT {
            return Err(JobError::checkpoint(
                &meta_path,
                format!("format {} is not the supported {FORMAT}", meta.format),
            ));
        }
        let tokenizer = Tokenizer::load(&dir.join(TOKENIZER)).map_err(data_err(dir))?;
        let source_vocab = Vocab::load(&dir.join(SOURCE_VOCAB)).map_err(data_err(dir))?;
        let target_vocab = Vocab::load(&dir.join(TARGET_VOCAB)).map_err(data_err(dir))?;
        let mut vs = nn::VarStore::new(device);
        let d = &spec.data;
        let model = Model::new(&spec.model, vs.root(), d.source_vocab_size, d.target_vocab_size, max_positions(&spec))?;
        let weights = dir.join(WEIGHTS);
        if !weights.is_file() {
            return Err(JobError::checkpoint(&weights, "missing"));
        }
        vs.load(&weights).map_err(|e| JobError::checkpoint(&weights, e.to_string()))?;
        Ok(Checkpoint { spec, meta, vs, model, tokenizer, source_vocab, target_vocab })
    }

    /// Source ids of a docstring as training saw them: tokenized, cut to
    /// `max_source_len`, encoded.
    pub fn source_ids(&self, docstring: &str) -> Vec<i64> {
        let mut tokens = self.tokenizer.source_tokens(docstring);
        tokens.truncate(self.spec.data.max_source_len as usize);
        self.source_vocab.encode(&tokens)
    }

    /// Generates code for each docstring with `strategy` (sampling seeded
    /// with `seed`).
    pub fn generate(&self, docstrings: &[&str], strategy: &DecodeSpec, seed: u64) -> Result<Vec<String>> {
        decode::validate(strategy)?;
        let corpus = Corpus {
            sources: docstrings.iter().map(|d| self.source_ids(d)).collect(),
            targets: vec![Vec::new(); docstrings.len()],
        };
        let ids = decode_corpus(&self.model, &corpus, strategy, seed, 64, self.vs.device());
        Ok(ids.iter().map(|ids| self.tokenizer.detokenize_target(&self.target_vocab.decode(ids))).collect())
    }
}

/// Decodes every source of `corpus` in length-sorted batches; results in
/// corpus order.
pub fn decode_corpus(
    model: &Model,
    corpus: &Corpus,
    strategy: &DecodeSpec,
    seed: u64,
    batch_size: usize,
    device: Device,
) -> Vec<Vec<i64>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6465_636f_6465);
    let mut out = vec![Vec::new(); corpus.len()];
    for idx in length_sorted_batches(corpus, batch_size) {
        let b = make_batch(corpus, &idx, device);
        let rows = decode::decode(model, &b.src, &b.lengths, strategy, &mut rng);
        for (row, i) in rows.into_iter().zip(&b.order) {
            out[*i] = row;
        }
    }
    out
}
