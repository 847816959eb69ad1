//! The canonical data set file: what the coordinator hashes and serves to
//! workers. Parquet with the columns id, docstring, code, repo, path,
//! func_name, partition, in that order.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use intervene_proto::files::{sha256_file, write_atomic};
use polars::prelude::*;

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

/// Writes `pairs` atomically ([`write_atomic`]: temporary file in the same
/// folder, fsync, rename, fsync of the folder), so a reader never sees half
/// a file. Identical pairs give byte-identical files: one row group, no
/// timestamps, fixed compression.
pub fn write_dataset(pairs: &[Pair], path: &Path) -> Result<DatasetInfo> {
    let mut df = to_frame(pairs).map_err(|e| Error::file(path, format!("building the table: {e}")))?;
    write_atomic(path, |tmp| {
        let mut file = File::create(tmp)?;
        ParquetWriter::new(&mut file)
            .with_compression(ParquetCompression::Zstd(None))
            .with_row_group_size(Some(pairs.len().max(1)))
            .set_parallel(false)
            .finish(&mut df)
            .map_err(|e| std::io::Error::other(format!("writing Parquet: {e}")))?;
        file.flush()
    })
    .map_err(|e| Error::io(path, e))?;
    let hash = sha256_file(path).map_err(|e| Error::io(path, e))?;
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
}
