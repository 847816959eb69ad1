//! One OS process per job.
//!
//! torch keeps process-wide state: its random generator (`manual_seed`),
//! its thread pool (`set_num_threads`), the CUDA context. Two jobs training
//! in one process share all of it, so a job's result would depend on what
//! ran beside it. The worker therefore supervises a child process per
//! running job: the same `intervene` binary, started with a hidden
//! subcommand, that trains exactly one job and exits.
//!
//! ```text
//! agent thread (Trainer::train)            child: intervene job-process
//!   spawn, own process group  ---------->   read the Request frame
//!   forward Progress frames   <----------   Progress ... Progress
//!   cancel: Cancel frame      ---------->   stop at the next check
//!   (then SIGKILL after a grace)
//!   Result / Error frame      <----------   exit
//!   no frame + a signal: the attempt fails with the signal and stderr tail
//! ```
//!
//! - [`protocol`]: the frames on the child's stdin and stdout.
//! - [`supervisor`]: the parent side, [`ProcessTrainer`].
//! - [`child`]: the child side, [`child::serve`].
//! - [`determinism`]: seeding and the flags a job trains under, recorded
//!   with its result.

pub mod child;
pub mod determinism;
pub mod protocol;
pub mod supervisor;

pub use supervisor::ProcessTrainer;
