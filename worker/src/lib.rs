//! The worker: trains and evaluates seq2seq code generators on libtorch.
//!
//! - [`model`]: rnn, gru, lstm, lstm-attention and transformer
//!   encoder-decoders built from a `ModelSpec`.
//! - [`train`]: batching, the optimiser and schedules, the training loop
//!   with early stopping.
//! - [`decode`]: greedy, beam search and nucleus sampling, batched.
//! - [`eval`]: BLEU (sacrebleu and CodeXGLUE), token accuracy, exact match,
//!   error categories, per-example rows.
//! - [`checkpoint`]: the best weights with the spec, tokenizer and
//!   vocabularies, reloadable for `intervene generate`.
//! - [`job`]: [`run_job`], one job from pairs to a `JobResult`.
//! - [`error`]: [`JobError`], what ends a job and whether to retry it.
//!
//! - [`agent`]: the gRPC pull loop; it runs each job on a dedicated thread.
//! - [`isolate`]: one OS process per job, so torch's global state is the
//!   job's alone.

pub mod agent;
pub mod checkpoint;
pub mod decode;
pub mod device;
pub mod error;
pub mod eval;
pub mod isolate;
pub mod job;
pub mod model;
pub mod train;

pub use error::{JobError, Result};
pub use job::{RunOptions, run_job};

/// Special token ids of the data crate's vocabularies.
pub const PAD: i64 = intervene_data::Vocab::PAD;
pub const SOS: i64 = intervene_data::Vocab::SOS;
pub const EOS: i64 = intervene_data::Vocab::EOS;
pub const UNK: i64 = intervene_data::Vocab::UNK;

#[cfg(test)]
pub(crate) mod test_support {
    use std::sync::{Mutex, MutexGuard};

    static TORCH: Mutex<()> = Mutex::new(());

    /// Tests that seed torch's global generator hold this, since the test
    /// harness runs them on parallel threads. It also pins torch to one
    /// intra-op thread: the test models are tiny, and on a busy 2-core
    /// machine a 2-thread pool made them many times slower.
    pub fn torch_lock() -> MutexGuard<'static, ()> {
        let guard = TORCH.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        tch::set_num_threads(1);
        guard
    }
}
