//! CodeSearchNet jsonl / jsonl.gz: one JSON object per line with the
//! published fields (repo, path, func_name, original_string, language, code,
//! code_tokens, docstring, docstring_tokens, sha, partition, url).
//!
//! The published `code` keeps the function's docstring; it is removed here
//! (when the code parses) so that the target does not contain the source.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::mine::extract::strip_function_docstring;
use crate::pair::{Pair, content_id};

pub(crate) const ACCEPTED_FILES: &str = "a CodeSearchNet .jsonl or .jsonl.gz file, a folder of them or a glob";

pub(crate) const ACCEPTED: &str = "CodeSearchNet lines need string fields code and docstring; repo, path, func_name and partition are read when present";

/// The fields we read; the others (code_tokens, url...) are ignored.
#[derive(Deserialize)]
struct Line {
    code: Option<String>,
    docstring: Option<String>,
    repo: Option<String>,
    path: Option<String>,
    func_name: Option<String>,
    partition: Option<String>,
}

/// Opens a file, transparently gunzipping it when it starts with the gzip
/// magic bytes (whatever its extension).
pub(crate) fn open_maybe_gz(path: &Path) -> Result<Box<dyn BufRead>> {
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut magic = [0u8; 2];
    let n = read_up_to(&mut file, &mut magic).map_err(|e| Error::io(path, e))?;
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    if n == 2 && magic == [0x1f, 0x8b] {
        Ok(Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(file))))
    } else {
        Ok(Box::new(BufReader::new(file)))
    }
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Calls `each(line_number, text)` for every non-blank line, checking UTF-8
/// with the byte offset of the first bad byte (of the decompressed stream
/// for .gz files).
pub(crate) fn for_each_line(path: &Path, mut each: impl FnMut(usize, &str) -> Result<()>) -> Result<()> {
    let mut reader = open_maybe_gz(path)?;
    let mut buf = Vec::new();
    let mut offset: u64 = 0;
    let mut line_no = 0usize;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| Error::file(path, format!("reading line {}: {e}", line_no + 1)))?;
        if n == 0 {
            return Ok(());
        }
        line_no += 1;
        let text = std::str::from_utf8(&buf).map_err(|e| Error::NotUtf8 {
            path: path.to_path_buf(),
            offset: offset + e.valid_up_to() as u64,
            line: Some(line_no),
        })?;
        offset += n as u64;
        if !text.trim().is_empty() {
            each(line_no, text)?;
        }
    }
}

/// Reads one jsonl(.gz) file, appending its pairs.
/// serde_json's message without its " at line 1 column N" (the line is
/// already in the error's location), with the column kept.
pub(crate) fn json_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let head = text.rfind(" at line ").map_or(text.as_str(), |i| &text[..i]);
    if e.column() > 0 { format!("{head} (column {})", e.column()) } else { head.to_string() }
}

pub(crate) fn read_file(path: &Path, out: &mut Vec<Pair>) -> Result<()> {
    for_each_line(path, |line_no, text| {
        let text = text.trim_end_matches(['\n', '\r']);
        if !text.trim_start().starts_with('{') {
            return Err(Error::line(path, line_no, format!("malformed JSON: expected an object {{...}} ({ACCEPTED})")));
        }
        let mut de = serde_json::Deserializer::from_str(text);
        let line: Line = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let field = e.path().to_string();
            let inner = e.into_inner();
            if inner.is_syntax() || inner.is_eof() || field == "." || field.is_empty() {
                Error::line(path, line_no, format!("malformed JSON: {} ({ACCEPTED})", json_message(&inner)))
            } else {
                Error::line(path, line_no, format!("field \"{field}\": {} ({ACCEPTED})", json_message(&inner)))
            }
        })?;
        let code =
            line.code.ok_or_else(|| Error::line(path, line_no, format!("missing field \"code\" ({ACCEPTED})")))?;
        let docstring = line
            .docstring
            .ok_or_else(|| Error::line(path, line_no, format!("missing field \"docstring\" ({ACCEPTED})")))?;
        let code = strip_function_docstring(&code).unwrap_or(code);
        let mut pair = Pair::new(String::new(), docstring, code);
        pair.repo = line.repo;
        pair.path = line.path;
        pair.func_name = line.func_name;
        pair.partition = line.partition;
        pair.id = content_id("csn", &pair);
        out.push(pair);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    const GOOD: &str = concat!(
        r#"{"repo":"a/b","path":"m.py","func_name":"add","code":"def add(a, b):\n    \"\"\"Add.\"\"\"\n    return a + b","docstring":"Add.","partition":"train","code_tokens":["def"],"url":"u"}"#,
        "\n\n",
        r#"{"code":"def f():\n    pass","docstring":"Nothing."}"#,
        "\n"
    );

    #[test]
    fn reads_plain_and_gzipped_lines() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("a.jsonl");
        let zipped = dir.path().join("a.jsonl.gz");
        std::fs::write(&plain, GOOD).unwrap();
        std::fs::write(&zipped, gz(GOOD.as_bytes())).unwrap();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        read_file(&plain, &mut a).unwrap();
        read_file(&zipped, &mut b).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].repo.as_deref(), Some("a/b"));
        assert_eq!(a[0].code, "def add(a, b):\n    return a + b", "the docstring left the code");
        assert_eq!(a[0].partition.as_deref(), Some("train"));
        assert_eq!(a[1].repo, None);
    }

    fn err_of(content: &[u8]) -> String {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.jsonl");
        std::fs::write(&p, content).unwrap();
        read_file(&p, &mut Vec::new()).unwrap_err().to_string()
    }

    #[test]
    fn bad_lines_name_file_line_and_rule() {
        let e = err_of(b"{\"code\":\"x\",\"docstring\":\"y\"}\n{\"code\": \"x\", \"docstring\": 3}\n");
        assert!(
            e.contains("x.jsonl:2: field \"docstring\": invalid type: integer `3`, expected a string (column 28)"),
            "{e}"
        );
        let e = err_of(b"{\"code\":\"x\",\"docstring\":\"y\"}\n\n{\"docstring\":\"y\"}\n");
        assert!(e.contains("x.jsonl:3: missing field \"code\" (CodeSearchNet lines need"), "{e}");
        let e = err_of(b"{\"code\": \"x\", \"docstring\": \"y\"\n");
        assert!(e.contains("x.jsonl:1: malformed JSON"), "{e}");
        let e = err_of(b"{\"code\":\"x\",\"docstring\":\"y\"}\n{\"code\":\"\xff\"}\n");
        assert!(e.contains("x.jsonl: not UTF-8 at byte 38 (line 2)"), "{e}");
        let e = err_of(b"[1, 2]\n");
        assert!(e.contains("x.jsonl:1: malformed JSON: expected an object"), "{e}");
    }

    #[test]
    fn truncated_gzip_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.jsonl.gz");
        let full = gz(GOOD.as_bytes());
        std::fs::write(&p, &full[..full.len() / 2]).unwrap();
        let e = read_file(&p, &mut Vec::new()).unwrap_err().to_string();
        assert!(e.contains("t.jsonl.gz"), "{e}");
    }
}
