//! The real trainer: [`crate::run_job`] on the verified data set, on the
//! agent's device. The agent already calls it on a dedicated thread.
//!
//! The last data set read is kept in memory: a worker usually runs many
//! jobs of one study in a row, and re-reading the Parquet file for each
//! would cost more than a short job.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use intervene_data::Pair;
use intervene_proto::JobSpec;
use intervene_proto::pb;

use super::trainer::{TrainError, Trainer};
use crate::device::parse_device;
use crate::{JobError, RunOptions, run_job};

pub struct RealTrainer {
    threads: Option<usize>,
    last: Mutex<Option<(PathBuf, Arc<Vec<Pair>>)>>,
}

impl RealTrainer {
    pub fn new(threads: Option<usize>) -> Self {
        RealTrainer { threads, last: Mutex::new(None) }
    }

    fn pairs(&self, dataset: &Path) -> Result<Arc<Vec<Pair>>, TrainError> {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((path, pairs)) = last.as_ref()
            && path == dataset
        {
            return Ok(pairs.clone());
        }
        // Data sets are content-addressed: the same path is the same data.
        let pairs = intervene_data::read_dataset(dataset)
            .map_err(|e| TrainError::retryable(format!("reading the data set {}: {e}", dataset.display())))?;
        let pairs = Arc::new(pairs);
        *last = Some((dataset.to_path_buf(), pairs.clone()));
        Ok(pairs)
    }
}

/// Whether another attempt could end differently decides the failure kind.
fn classify(e: JobError) -> TrainError {
    match e {
        JobError::Cancelled => TrainError::cancelled(),
        e if e.retryable() => TrainError::retryable(e.to_string()),
        e => TrainError::fatal(e.to_string()),
    }
}

impl Trainer for RealTrainer {
    fn train(
        &self,
        spec: &JobSpec,
        device: &str,
        dataset: &Path,
        progress: &mut dyn FnMut(pb::Progress),
        cancel: &AtomicBool,
    ) -> Result<pb::JobResult, TrainError> {
        let device = parse_device(device).map_err(TrainError::fatal)?;
        let pairs = self.pairs(dataset)?;
        let opts = RunOptions { device, threads: self.threads, ..RunOptions::default() };
        run_job(spec, &pairs, &opts, progress, cancel).map_err(classify)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_keep_their_retry_class() {
        assert_eq!(classify(JobError::Cancelled).kind, super::super::FailureKind::Cancelled);
        assert_eq!(classify(JobError::InvalidSpec("x".into())).kind, super::super::FailureKind::Fatal);
        assert_eq!(classify(JobError::Diverged { step: 3, loss: f64::NAN }).kind, super::super::FailureKind::Fatal);
        assert_eq!(classify(JobError::Data("gone".into())).kind, super::super::FailureKind::Retryable);
    }

    #[test]
    fn a_missing_data_set_is_retryable() {
        let t = RealTrainer::new(Some(1));
        let e = t.pairs(Path::new("/nonexistent/x.parquet")).unwrap_err();
        assert_eq!(e.kind, super::super::FailureKind::Retryable);
        assert!(e.message.contains("/nonexistent/x.parquet"), "{}", e.message);
    }
}
