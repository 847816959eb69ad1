//! The coordinator: study files, planning, the job scheduler, the durable
//! ledger and the gRPC service. No libtorch here, so a coordinator runs on
//! any machine.
//!
//! - [`spec`]: study files (TOML) -> validated `Study`, with located errors.
//! - [`plan`]: `Study` -> arms -> jobs with stable ids; complexity buckets.
//! - [`scheduler`]: the job state machine, leases, retries, recovery.
//! - [`store`]: the SQLite ledger and its group-committing writer.
//! - [`datasets`]: content-addressed data sets served to workers.
//! - [`service`]: the tonic service, authentication, TLS and limits.
//! - [`results`]: the result tables, one atomic Parquet file per job.
//! - [`summary`]: per-arm outcome summaries from the ledger.

pub mod datasets;
pub mod plan;
pub mod results;
pub mod scheduler;
pub mod service;
pub mod spec;
pub mod store;
pub mod summary;
