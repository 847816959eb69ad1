//! The crate's error type. Every variant names what was wrong and where, so
//! the CLI can print it as is.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no results for study `{study}` under {dir}{}", available_hint(.available))]
    StudyNotFound { study: String, dir: PathBuf, available: Vec<String> },

    #[error("study `{study}` has no version {version} under {dir} (versions present: {})", list_or_none(.available))]
    VersionNotFound { study: String, version: u32, dir: PathBuf, available: Vec<String> },

    #[error("{path}: missing table `{table}` (expected {expected})")]
    MissingTable { table: String, path: PathBuf, expected: String },

    #[error("table `{table}` ({location}): missing column `{column}`; columns present: {}", .present.join(", "))]
    MissingColumn { table: String, location: String, column: String, present: Vec<String> },

    #[error("table `{table}` ({location}): column `{column}` has type {found}, expected {expected}")]
    ColumnType { table: String, location: String, column: String, found: String, expected: String },

    /// A value in a table that the analysis cannot use (a duplicate key, an
    /// arm that points at an arm that does not exist, ...).
    #[error("table `{table}` ({location}): {message}")]
    BadData { table: String, location: String, message: String },

    /// A flag or argument value that is not accepted.
    #[error("{flag} `{value}`: {message}")]
    BadArgument { flag: String, value: String, message: String },

    #[error("SQL: {message}")]
    Sql { message: String },

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{context}: {source}")]
    Polars {
        context: String,
        #[source]
        source: polars::error::PolarsError,
    },

    #[error("plot `{plot}`: {message}")]
    Plot { plot: String, message: String },
}

fn available_hint(available: &[String]) -> String {
    if available.is_empty() {
        " (no studies there yet: `intervene run` writes them)".into()
    } else {
        format!(" (studies present: {})", available.join(", "))
    }
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() { "none".into() } else { items.join(", ") }
}

/// Attach a context string to Polars errors.
pub trait PolarsContext<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> PolarsContext<T> for polars::error::PolarsResult<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Polars { context: context(), source })
    }
}

pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { path, source }
}
