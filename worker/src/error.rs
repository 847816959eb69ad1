//! The worker's error type: what can end a job, and whether another attempt
//! could end differently.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The training loss became NaN or infinite. Final: the same seed
    /// diverges again.
    #[error("training diverged at step {step}: loss {loss}")]
    Diverged { step: u64, loss: f64 },
    /// The job was asked to stop.
    #[error("job cancelled")]
    Cancelled,
    /// The specification cannot be run (zero sizes, heads not dividing
    /// d_model, ...). Final.
    #[error("invalid job specification: {0}")]
    InvalidSpec(String),
    /// Loading, tokenizing or splitting the data failed.
    #[error("data: {0}")]
    Data(String),
    #[error("torch: {0}")]
    Torch(#[from] tch::TchError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A checkpoint directory that is missing a file or holds something
    /// unreadable.
    #[error("checkpoint {}: {message}", path.display())]
    Checkpoint { path: PathBuf, message: String },
}

impl JobError {
    /// Whether another attempt of the same job could succeed. Divergence and
    /// a bad specification repeat deterministically; cancellation is the
    /// caller's decision, not a failure to retry.
    pub fn retryable(&self) -> bool {
        match self {
            JobError::Diverged { .. } | JobError::InvalidSpec(_) | JobError::Cancelled => false,
            JobError::Data(_) | JobError::Torch(_) | JobError::Io { .. } | JobError::Checkpoint { .. } => true,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> JobError {
        JobError::Io { path: path.into(), source }
    }

    pub(crate) fn checkpoint(path: impl Into<PathBuf>, message: impl Into<String>) -> JobError {
        JobError::Checkpoint { path: path.into(), message: message.into() }
    }
}

pub type Result<T> = std::result::Result<T, JobError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn divergence_and_bad_specs_are_final() {
        assert!(!JobError::Diverged { step: 3, loss: f64::NAN }.retryable());
        assert!(!JobError::InvalidSpec("heads".into()).retryable());
        assert!(JobError::io("/x", std::io::Error::other("disk")).retryable());
        assert!(JobError::Torch(tch::TchError::Kind("cuda oom".into())).retryable());
    }
}
