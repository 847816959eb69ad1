//! The contract between the coordinator, its workers and the user CLI.
//!
//! - [`pb`]: the gRPC types and service stubs generated from
//!   `intervene.proto`.
//! - [`job`]: the fully resolved job specification and its stable id.
//! - [`params`]: closed-form trainable-parameter counts per architecture.
//! - [`tables`]: the column names of the result tables.
//!
//! And the small helpers every crate shares, each defined only here
//! (docs/architecture.md lists where each shared concept lives):
//!
//! - [`device`]: device names (`cpu`, `cuda`, `cuda:N`), parsed.
//! - [`files`]: atomic writes with fsync, and file hashes.
//! - [`stats`]: mean and sample standard deviation.

pub mod device;
pub mod files;
pub mod job;
pub mod params;
pub mod stats;
pub mod tables;

/// Generated from `intervene.proto`.
pub mod pb {
    tonic::include_proto!("intervene.v1");
}

pub use job::JobSpec;
