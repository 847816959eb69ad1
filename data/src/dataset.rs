//! The canonical data set file: what the coordinator hashes and serves to
//! workers. Parquet with the columns id, docstring, code, repo, path,
//! func_name, partition, in that order.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use polars::prelude::*;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::pair::Pair;
use crate::sources::parquet::read_parquet_pairs;

/// What was written: the content hash the coordinator serves it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetInfo {
    /// Hex SHA-256 of the file bytes.
    pub hash: String,
    pub bytes: u64,
    pub pairs: usize,
}

pub const COLUMNS: [&str; 7] = ["id", "docstring", "code", "repo", "path", "func_name", "partition"];

/// Writes `pairs` atomically (temporary file in the same folder, fsync,
/// rename), so a reader never sees half a file. Identical pairs give
/// byte-identical files: one row group, no timestamps, fixed compression.
pub fn write_dataset(pairs: &[Pair], path: &Path) -> Result<DatasetInfo> {
    let mut df = to_frame(pairs).map_err(|e| Error::file(path, format!("building the table: {e}")))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "dataset".into());
    let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        ParquetWriter::new(&mut file)
            .with_compression(ParquetCompression::Zstd(None))
            .with_row_group_size(Some(pairs.len().max(1)))
            .set_parallel(false)
            .finish(&mut df)
            .map_err(|e| Error::file(&tmp, format!("writing Parquet: {e}")))?;
        file.flush().map_err(|e| Error::io(&tmp, e))?;
        file.sync_all().map_err(|e| Error::io(&tmp, e))?;
        drop(file);
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    // Make the rename itself durable.
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    let hash = file_sha256(path)?;
    let bytes = std::fs::metadata(path).map_err(|e| Error::io(path, e))?.len();
    Ok(DatasetInfo { hash, bytes, pairs: pairs.len() })
}

fn to_frame(pairs: &[Pair]) -> PolarsResult<DataFrame> {
    let text = |f: fn(&Pair) -> &str| pairs.iter().map(f).collect::<Vec<_>>();
    let opt = |f: fn(&Pair) -> Option<&str>| pairs.iter().map(f).collect::<Vec<_>>();
    let columns = vec![
        Column::new("id".into(), text(|p| &p.id)),
        Column::new("docstring".into(), text(|p| &p.docstring)),
        Column::new("code".into(), text(|p| &p.code)),
        Column::new("repo".into(), opt(|p| p.repo.as_deref())),
        Column::new("path".into(), opt(|p| p.path.as_deref())),
        Column::new("func_name".into(), opt(|p| p.func_name.as_deref())),
        Column::new("partition".into(), opt(|p| p.partition.as_deref())),
    ];
    DataFrame::new(pairs.len(), columns)
}

/// Reads a canonical data set file (written by [`write_dataset`]).
pub fn read_dataset(path: &Path) -> Result<Vec<Pair>> {
    read_parquet_pairs(path, true)
}

/// Hex SHA-256 of a file's bytes, streamed.
pub fn file_sha256(path: &Path) -> Result<String> {
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Pair> {
        let mut a = Pair::new("a", "Add two numbers.", "def add(a, b):\n    return a + b\n");
        a.repo = Some("me/repo".into());
        a.partition = Some("train".into());
        let b = Pair::new("b", "Ünïcode docstring ✓", "def f():\n    return 'é'\n");
        vec![a, b]
    }

    #[test]
    fn round_trips_and_is_byte_identical() {
        let dir = tempfile::tempdir().unwrap();
        let p1 = dir.path().join("one.parquet");
        let p2 = dir.path().join("sub/two.parquet");
        let i1 = write_dataset(&sample(), &p1).unwrap();
        let i2 = write_dataset(&sample(), &p2).unwrap();
        assert_eq!(i1.hash, i2.hash);
        assert_eq!(i1.pairs, 2);
        assert_eq!(std::fs::read(&p1).unwrap(), std::fs::read(&p2).unwrap());
        assert_eq!(read_dataset(&p1).unwrap(), sample());
        let mut other = sample();
        other[1].code.push('\n');
        let i3 = write_dataset(&other, &p2).unwrap();
        assert_ne!(i1.hash, i3.hash);
        // No temporary file is left behind.
        let names: Vec<_> =
            std::fs::read_dir(dir.path().join("sub")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn empty_data_set_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("empty.parquet");
        let info = write_dataset(&[], &p).unwrap();
        assert_eq!(info.pairs, 0);
        assert!(read_dataset(&p).unwrap().is_empty());
    }

    #[test]
    fn sha256_of_known_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x");
        std::fs::write(&p, b"abc").unwrap();
        assert_eq!(file_sha256(&p).unwrap(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
