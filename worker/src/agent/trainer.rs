//! What the agent runs for a job: anything that turns a resolved job and
//! its data set into a `JobResult`, blocking, on the thread it is called on.
//!
//! The real trainer trains and evaluates with libtorch; the fleet runs it in
//! a process per job ([`crate::isolate`]). [`FakeTrainer`] (feature
//! `fake-train`, test scaffolding that a user's build does not have) is
//! for testing the fleet (faults, load, recovery) without training: it
//! sleeps for a fixed time while reporting progress, honours cancellation,
//! and returns a deterministic result derived from the job id, so tests can
//! check that every job's result arrived exactly once and unaltered.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use intervene_proto::JobSpec;
use intervene_proto::pb;

/// How a job ended without a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Worth another attempt (out of memory, lost data, a crash).
    Retryable,
    /// Another attempt would fail the same way (diverged, bad specification).
    Fatal,
    /// Stopped because the agent was asked to stop (cancel or shutdown).
    Cancelled,
    /// The fleet failed, not the job (a data transfer, a lost connection):
    /// retried after a pause without using one of the job's attempts.
    Unavailable,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TrainError {
    pub kind: FailureKind,
    pub message: String,
}

impl TrainError {
    pub fn retryable(message: impl Into<String>) -> Self {
        TrainError { kind: FailureKind::Retryable, message: message.into() }
    }
    pub fn fatal(message: impl Into<String>) -> Self {
        TrainError { kind: FailureKind::Fatal, message: message.into() }
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        TrainError { kind: FailureKind::Unavailable, message: message.into() }
    }
    pub fn cancelled() -> Self {
        TrainError { kind: FailureKind::Cancelled, message: "stopped on request".into() }
    }
}

/// Runs one job to completion on the calling thread (never the reactor).
pub trait Trainer: Send + Sync + 'static {
    /// `dataset` is the verified canonical data set file; `device` the
    /// agent's device ("cpu" or "cuda:N"). Call `progress` as work advances;
    /// stop soon after `cancel` becomes true.
    fn train(
        &self,
        spec: &JobSpec,
        device: &str,
        dataset: &Path,
        progress: &mut dyn FnMut(pb::Progress),
        cancel: &AtomicBool,
    ) -> Result<pb::JobResult, TrainError>;
}

/// A stand-in for training, for fleet tests: `duration` of sleeping in
/// slices while reporting progress. The result's metrics are a function of
/// the job id (see [`fake_bleu`]).
#[cfg(feature = "fake-train")]
#[derive(Debug, Clone)]
pub struct FakeTrainer {
    pub duration: std::time::Duration,
}

#[cfg(feature = "fake-train")]
/// The BLEU a fake trainer reports for a job: the first 8 hex digits of its
/// id scaled into [0, 100).
pub fn fake_bleu(job_id: &str) -> f64 {
    let n = u32::from_str_radix(&job_id[..job_id.len().min(8)], 16).unwrap_or(0);
    (n as f64 / u32::MAX as f64) * 100.0
}

#[cfg(feature = "fake-train")]
impl Trainer for FakeTrainer {
    fn train(
        &self,
        spec: &JobSpec,
        _device: &str,
        dataset: &Path,
        progress: &mut dyn FnMut(pb::Progress),
        cancel: &AtomicBool,
    ) -> Result<pb::JobResult, TrainError> {
        use std::sync::atomic::Ordering;
        use std::time::{Duration, Instant};
        if !dataset.is_file() {
            return Err(TrainError::retryable(format!("the data set {} is missing", dataset.display())));
        }
        let epochs = spec.train.epochs.max(1);
        let start = Instant::now();
        let slice = Duration::from_millis(50);
        let mut step = 0u64;
        while start.elapsed() < self.duration {
            if cancel.load(Ordering::Relaxed) {
                return Err(TrainError::cancelled());
            }
            let fraction = start.elapsed().as_secs_f64() / self.duration.as_secs_f64().max(1e-9);
            step += 1;
            progress(pb::Progress {
                phase: pb::Phase::Training as i32,
                epoch: ((fraction * epochs as f64) as u32 + 1).min(epochs),
                epochs,
                step,
                steps_per_epoch: 0,
                train_loss: 5.0 * (1.0 - fraction) + 0.5,
                valid_loss: f64::NAN,
                epoch_end: false,
            });
            std::thread::sleep(slice.min(self.duration.saturating_sub(start.elapsed())));
        }
        let id = spec.id();
        let bleu = fake_bleu(&id);
        let seconds = start.elapsed().as_secs_f64();
        Ok(pb::JobResult {
            metrics: Some(pb::RunMetrics {
                bleu,
                codexglue_bleu: bleu,
                token_accuracy: bleu / 2.0,
                exact_match: 0.0,
                syntax_valid: None,
                epochs_run: epochs,
                best_epoch: epochs,
                train_seconds: seconds,
                ..Default::default()
            }),
            examples: vec![pb::ExampleRow {
                example_id: format!("fake-{}", &id[..12]),
                length_bin: "0-10".into(),
                sentence_bleu: bleu,
                error_category: "other".into(),
                ..Default::default()
            }],
            curves: (1..=epochs)
                .map(|e| pb::CurvePoint { epoch: e, train_loss: 5.0 / e as f64, ..Default::default() })
                .collect(),
            ..Default::default()
        })
    }
}

#[cfg(all(test, feature = "fake-train"))]
mod tests {
    use super::*;

    #[test]
    fn fake_bleu_is_a_function_of_the_id() {
        assert_eq!(fake_bleu("00000000aaaa"), 0.0);
        assert!((fake_bleu("ffffffff0000") - 100.0).abs() < 1e-9);
        assert_eq!(fake_bleu("12345678"), fake_bleu("12345678ffff"));
    }
}
