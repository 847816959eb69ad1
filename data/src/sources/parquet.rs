//! Parquet pairs: the canonical data set files and the Hugging Face export
//! of CodeSearchNet (same columns plus `summary`, `code_tokens`...; only the
//! columns named here are read). Files without an `id` column are taken
//! to be CodeSearchNet exports, whose `code` keeps the docstring: it is
//! removed, as for jsonl.

use std::fs::File;
use std::path::Path;

use polars::prelude::*;

use crate::error::{Error, Result};
use crate::mine::extract::strip_function_docstring;
use crate::pair::{Pair, content_id, dedupe_ids};

const REQUIRED: [&str; 2] = ["docstring", "code"];
const OPTIONAL: [&str; 5] = ["id", "repo", "path", "func_name", "partition"];
const ACCEPTED: &str = "Parquet pairs need string columns docstring and code; id, repo, path, func_name and partition are read when present";

/// Reads every row of a Parquet file as a pair. With `require_id` (the
/// canonical data set) the `id` column must exist; otherwise a content id is
/// made for files without one.
pub(crate) fn read_parquet_pairs(path: &Path, require_id: bool) -> Result<Vec<Pair>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut reader = ParquetReader::new(file);
    let schema = reader.schema().map_err(|e| Error::file(path, format!("not a readable Parquet file: {e}")))?;
    let mut wanted: Vec<&str> = Vec::new();
    let required: &[&str] = if require_id { &["id", "docstring", "code"] } else { &REQUIRED };
    for name in required {
        if !schema.contains(name) {
            return Err(Error::file(path, format!("missing column \"{name}\" ({ACCEPTED})")));
        }
    }
    for name in ["id", "docstring", "code"].iter().chain(OPTIONAL.iter().skip(1)) {
        if schema.contains(name) {
            wanted.push(name);
        }
    }
    let df = reader
        .with_columns(Some(wanted.iter().map(|s| s.to_string()).collect()))
        .finish()
        .map_err(|e| Error::file(path, format!("not a readable Parquet file: {e}")))?;

    let column = |name: &str| -> Result<Option<Vec<Option<&str>>>> {
        let Ok(col) = df.column(name) else { return Ok(None) };
        let ca = col.str().map_err(|_| {
            Error::file(path, format!("column \"{name}\" has type {}, expected string ({ACCEPTED})", col.dtype()))
        })?;
        Ok(Some(ca.iter().collect()))
    };
    let ids = column("id")?;
    let docstrings = column("docstring")?.unwrap_or_default();
    let codes = column("code")?.unwrap_or_default();
    let repos = column("repo")?;
    let paths = column("path")?;
    let names = column("func_name")?;
    let partitions = column("partition")?;

    let opt = |col: &Option<Vec<Option<&str>>>, i: usize| col.as_ref().and_then(|c| c[i].map(str::to_owned));
    let mut pairs = Vec::with_capacity(df.height());
    for i in 0..df.height() {
        let need = |col: &[Option<&str>], name: &str| -> Result<String> {
            col[i].map(str::to_owned).ok_or_else(|| Error::row(path, i, format!("{name} is null ({ACCEPTED})")))
        };
        let mut code = need(&codes, "code")?;
        if ids.is_none() {
            // The CodeSearchNet export keeps docstrings in `code`; a canonical
            // data set (with ids) is taken as it is.
            code = strip_function_docstring(&code).unwrap_or(code);
        }
        let mut pair = Pair::new(String::new(), need(&docstrings, "docstring")?, code);
        pair.repo = opt(&repos, i);
        pair.path = opt(&paths, i);
        pair.func_name = opt(&names, i);
        pair.partition = opt(&partitions, i);
        pair.id = match &ids {
            Some(ids) => need(ids, "id")?,
            None => content_id("pq", &pair),
        };
        pairs.push(pair);
    }
    if ids.is_none() {
        dedupe_ids(&mut pairs);
    } else {
        let mut seen = std::collections::HashSet::with_capacity(pairs.len());
        for (row, p) in pairs.iter().enumerate() {
            if !seen.insert(p.id.as_str()) {
                return Err(Error::row(path, row, format!("duplicate id \"{}\" (ids must be unique)", p.id)));
            }
        }
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, columns: Vec<Column>) {
        let height = columns.first().map(|c| c.len()).unwrap_or(0);
        let mut df = DataFrame::new(height, columns).unwrap();
        let mut f = File::create(path).unwrap();
        ParquetWriter::new(&mut f).finish(&mut df).unwrap();
    }

    #[test]
    fn reads_the_hugging_face_export_shape() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("hf.parquet");
        write(
            &p,
            vec![
                Column::new("repo".into(), ["a/b", "c/d"]),
                Column::new("path".into(), ["x.py", "y.py"]),
                Column::new("func_name".into(), ["f", "g"]),
                Column::new(
                    "code".into(),
                    ["def f():\n    \"\"\"Return one.\"\"\"\n    return 1", "def g():\n    return 2"],
                ),
                Column::new("docstring".into(), ["Return one.", "Return two."]),
                Column::new("partition".into(), ["train", "test"]),
                Column::new("summary".into(), ["one", "two"]),
            ],
        );
        let pairs = read_parquet_pairs(&p, false).unwrap();
        assert_eq!(pairs.len(), 2);
        assert_eq!(pairs[1].func_name.as_deref(), Some("g"));
        assert_eq!(pairs[1].partition.as_deref(), Some("test"));
        assert_eq!(pairs[0].code, "def f():\n    return 1");
        assert!(pairs[0].id.starts_with("pq-"));
        // The canonical reader insists on ids.
        let err = read_parquet_pairs(&p, true).unwrap_err().to_string();
        assert!(err.contains("hf.parquet") && err.contains("missing column \"id\""), "{err}");
    }

    #[test]
    fn names_bad_columns_rows_and_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.parquet");
        write(&p, vec![Column::new("docstring".into(), ["a"]), Column::new("code".into(), [3i64])]);
        let err = read_parquet_pairs(&p, false).unwrap_err().to_string();
        assert!(err.contains("column \"code\" has type i64, expected string"), "{err}");

        write(&p, vec![Column::new("docstring".into(), [Some("a"), None]), Column::new("code".into(), ["x", "y"])]);
        let err = read_parquet_pairs(&p, false).unwrap_err().to_string();
        assert!(err.contains("bad.parquet: row 1: docstring is null"), "{err}");

        std::fs::write(&p, b"this is not parquet").unwrap();
        let err = read_parquet_pairs(&p, false).unwrap_err().to_string();
        assert!(err.contains("bad.parquet: not a readable Parquet file"), "{err}");
    }
}
