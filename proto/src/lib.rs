//! The contract between the coordinator, its workers and the user CLI.
//!
//! - [`pb`]: the gRPC types and service stubs generated from
//!   `intervene.proto`.
//! - [`job`]: the fully resolved job specification and its stable id.
//! - [`params`]: closed-form trainable-parameter counts per architecture.
//! - [`tables`]: the column names of the result tables.

pub mod job;
pub mod params;
pub mod tables;

/// Generated from `intervene.proto`.
pub mod pb {
    tonic::include_proto!("intervene.v1");
}

pub use job::JobSpec;
