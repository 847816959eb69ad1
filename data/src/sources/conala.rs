//! CoNaLa: a JSON array of {intent, rewritten_intent, snippet, question_id}
//! (conala-train.json, conala-test.json), or the mined corpus as jsonl (one
//! such object per line). The docstring is the rewritten intent where the
//! annotators wrote one, else the raw intent.

use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result, read_utf8};
use crate::pair::{Pair, content_id};
use crate::sources::codesearchnet::{for_each_line, json_message};

const ACCEPTED: &str = "CoNaLa entries need string fields intent and snippet; rewritten_intent (string or null) and question_id are read when present";

#[derive(Deserialize)]
struct Entry {
    intent: Option<String>,
    rewritten_intent: Option<String>,
    snippet: Option<String>,
    question_id: Option<serde_json::Value>,
}

pub(crate) fn read_file(path: &Path, out: &mut Vec<Pair>) -> Result<()> {
    let jsonl = path.to_string_lossy().ends_with(".jsonl") || path.to_string_lossy().ends_with(".jsonl.gz");
    if jsonl {
        return for_each_line(path, |line_no, text| {
            let text = text.trim_end_matches(['\n', '\r']);
            let mut de = serde_json::Deserializer::from_str(text);
            let entry: Entry = serde_path_to_error::deserialize(&mut de).map_err(|e| {
                let field = e.path().to_string();
                let inner = e.into_inner();
                if inner.is_syntax() || inner.is_eof() || field == "." {
                    Error::line(path, line_no, format!("malformed JSON: {} ({ACCEPTED})", json_message(&inner)))
                } else {
                    Error::line(path, line_no, format!("field \"{field}\": {} ({ACCEPTED})", json_message(&inner)))
                }
            })?;
            let pair = to_pair(entry).map_err(|m| Error::line(path, line_no, m))?;
            out.push(pair);
            Ok(())
        });
    }
    let text = read_utf8(path)?;
    let mut de = serde_json::Deserializer::from_str(&text);
    let entries: Vec<Entry> = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let at = e.path().to_string();
        let inner = e.into_inner();
        // serde_json knows the line for syntax and type errors alike.
        let line = inner.line();
        let element = at.trim_start_matches('[').split(']').next().and_then(|n| n.parse::<usize>().ok());
        let message = match element {
            Some(i) => {
                format!(
                    "element {i}, field \"{}\": {} ({ACCEPTED})",
                    at.split('.').nth(1).unwrap_or("?"),
                    json_message(&inner)
                )
            }
            None => format!("expected a JSON array of CoNaLa entries: {} ({ACCEPTED})", json_message(&inner)),
        };
        Error::line(path, line, message)
    })?;
    for (i, entry) in entries.into_iter().enumerate() {
        let pair = to_pair(entry).map_err(|m| Error::row(path, i, m))?;
        out.push(pair);
    }
    Ok(())
}

fn to_pair(entry: Entry) -> std::result::Result<Pair, String> {
    let intent = entry.intent.ok_or_else(|| format!("missing field \"intent\" ({ACCEPTED})"))?;
    let snippet = entry.snippet.ok_or_else(|| format!("missing field \"snippet\" ({ACCEPTED})"))?;
    let docstring = match entry.rewritten_intent {
        Some(r) if !r.trim().is_empty() => r,
        _ => intent,
    };
    let mut pair = Pair::new(String::new(), docstring, snippet);
    pair.func_name = entry.question_id.map(|q| match q {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    });
    pair.id = content_id("conala", &pair);
    Ok(pair)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(name: &str, content: &str) -> Result<Vec<Pair>> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(name);
        std::fs::write(&p, content).unwrap();
        let mut out = Vec::new();
        read_file(&p, &mut out).map(|_| out)
    }

    #[test]
    fn prefers_the_rewritten_intent() {
        let pairs = read(
            "c.json",
            r#"[{"intent": "How to sort a list?", "rewritten_intent": "sort list `x`", "snippet": "x.sort()", "question_id": 7},
                {"intent": "reverse a string", "rewritten_intent": null, "snippet": "s[::-1]", "question_id": 8}]"#,
        )
        .unwrap();
        assert_eq!(pairs[0].docstring, "sort list `x`");
        assert_eq!(pairs[1].docstring, "reverse a string");
        assert_eq!(pairs[1].func_name.as_deref(), Some("8"));
        let mined = read("m.jsonl", "{\"intent\": \"add\", \"snippet\": \"a + b\", \"prob\": 0.5}\n").unwrap();
        assert_eq!(mined[0].code, "a + b");
    }

    #[test]
    fn bad_entries_name_where() {
        let e =
            read("c.json", "[{\"intent\": \"a\", \"snippet\": \"b\"},\n {\"intent\": \"a\"}]").unwrap_err().to_string();
        assert!(e.contains("c.json: row 1: missing field \"snippet\""), "{e}");
        let e = read("c.json", "[{\"intent\": \"a\", \"snippet\": \"b\"},\n {\"intent\": 5, \"snippet\": \"b\"}]")
            .unwrap_err()
            .to_string();
        assert!(e.contains("c.json:2: element 1, field \"intent\": invalid type: integer `5`"), "{e}");
        let e = read("c.json", "{\"intent\": \"a\"}").unwrap_err().to_string();
        assert!(e.contains("c.json:1: expected a JSON array"), "{e}");
        let e = read("c.json", "[{\"intent\": \"a\", ").unwrap_err().to_string();
        assert!(e.contains("c.json:1:"), "{e}");
    }
}
