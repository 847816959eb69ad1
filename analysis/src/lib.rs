//! Analysis of a study's results: no libtorch, so it runs anywhere the
//! Parquet files can be read.
//!
//! - [`tables`]: find a study's results and read its tables lazily.
//! - [`query`]: SQL over the tables, and export.
//! - [`stats`]: numerical building blocks on plain slices (t intervals, OLS,
//!   bootstrap, permutation tests, Holm).
//! - [`effects`]: effects of every arm against the arm it is compared to, at
//!   seed and example level, adjusted, stratified, refuted.
//! - [`report`]: Markdown and HTML reports with PNG plots.
//! - [`simulate`]: synthetic studies with planted effects, for tests and benchmarks.
//! - [`output`]: terminal tables, CSV, JSON and Parquet writers.

pub mod error;
pub mod output;
pub mod query;
pub mod stats;
pub mod tables;

pub use error::{Error, Result};
/// Re-exported so the binary can pass frames around without its own polars dependency.
pub use polars::prelude::DataFrame;
pub use tables::{StudyResults, StudyTables, Table};
pub mod effects;
pub mod report;
pub mod simulate;
