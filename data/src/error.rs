//! The crate's error type. Every variant names where the problem is (file,
//! line or row, field) and what would have been accepted, because these
//! messages reach users who brought their own data files.

use std::path::{Path, PathBuf};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or folder could not be read or written.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },

    /// A problem on one line of a line-oriented file (jsonl).
    #[error("{}:{line}: {message}", path.display())]
    Line { path: PathBuf, line: usize, message: String },

    /// A problem in one row of a table (Parquet) or one element of a JSON array.
    #[error("{}: row {row}: {message}", path.display())]
    Row { path: PathBuf, row: usize, message: String },

    /// A file whose whole shape is wrong (not Parquet, not a JSON array, a
    /// missing column...).
    #[error("{}: {message}", path.display())]
    File { path: PathBuf, message: String },

    /// A text file with bytes that are not UTF-8.
    #[error("{}: not UTF-8 at byte {offset}{}", path.display(), line.map(|l| format!(" (line {l})")).unwrap_or_default())]
    NotUtf8 { path: PathBuf, offset: u64, line: Option<usize> },

    /// A path, folder or glob that matched no data file.
    #[error("{what}: no data files found (accepted: {accepted})")]
    NoFiles { what: String, accepted: &'static str },

    /// Split sizes the data cannot satisfy.
    #[error("split: {0}")]
    Split(String),

    /// A data spec or mutation spec whose values cannot be honoured.
    #[error("{field}: {message}")]
    Spec { field: String, message: String },

    /// Training, saving or loading a tokenizer or vocabulary failed.
    #[error("tokenizer: {0}")]
    Tokenizer(String),

    /// Running the machine's python3 to locate its standard library failed.
    #[error("python3: {0}")]
    Python(String),
}

impl Error {
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io { path: path.as_ref().to_path_buf(), source }
    }

    pub fn line(path: impl AsRef<Path>, line: usize, message: impl Into<String>) -> Self {
        Error::Line { path: path.as_ref().to_path_buf(), line, message: message.into() }
    }

    pub fn row(path: impl AsRef<Path>, row: usize, message: impl Into<String>) -> Self {
        Error::Row { path: path.as_ref().to_path_buf(), row, message: message.into() }
    }

    pub fn file(path: impl AsRef<Path>, message: impl Into<String>) -> Self {
        Error::File { path: path.as_ref().to_path_buf(), message: message.into() }
    }

    pub fn spec(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Spec { field: field.into(), message: message.into() }
    }
}

/// Reads a whole file, naming it in the error.
pub(crate) fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

/// Reads a whole file as UTF-8, naming the first bad byte and its line.
pub(crate) fn read_utf8(path: &Path) -> Result<String> {
    let bytes = read_bytes(path)?;
    utf8(path, bytes)
}

pub(crate) fn utf8(path: &Path, bytes: Vec<u8>) -> Result<String> {
    String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..offset].iter().filter(|&&b| b == b'\n').count() + 1;
        Error::NotUtf8 { path: path.to_path_buf(), offset: offset as u64, line: Some(line) }
    })
}
