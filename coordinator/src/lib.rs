//! The coordinator: study files, planning, and (in later modules) the job
//! scheduler, the durable ledger and the gRPC service. No libtorch here, so a
//! coordinator runs on any machine.
//!
//! - [`spec`]: study files (TOML) -> validated `Study`, with located errors.
//! - [`plan`]: `Study` -> arms -> jobs with stable ids; complexity buckets.
//! - [`results`]: the result tables, one atomic Parquet file per job.

pub mod plan;
pub mod results;
pub mod scheduler;
pub mod spec;
pub mod store;
