//! Where each key and value of a study file is: a span index by key path
//! (`model.dropout`, `intra[1].vary.hidden_dim[0]`), built once from toml's
//! spanned document, so that every error can name file, line and column.

use std::collections::HashMap;
use std::ops::Range;

use toml::de::{DeTable, DeValue};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Default)]
pub struct SpanIndex {
    /// Span of the key itself (absent for array elements).
    keys: HashMap<String, Range<usize>>,
    /// Span of the value.
    values: HashMap<String, Range<usize>>,
    /// Byte offset of the start of each line.
    line_starts: Vec<usize>,
}

impl SpanIndex {
    /// Index `text`, which must already have parsed as TOML.
    pub fn new(text: &str) -> Self {
        let mut index = SpanIndex {
            line_starts: std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect(),
            ..Default::default()
        };
        if let Ok(root) = DeTable::parse(text) {
            index.walk_table("", root.get_ref());
        }
        index
    }

    fn walk_table(&mut self, prefix: &str, table: &DeTable<'_>) {
        for (key, value) in table.iter() {
            let path =
                if prefix.is_empty() { key.get_ref().to_string() } else { format!("{prefix}.{}", key.get_ref()) };
            self.keys.insert(path.clone(), key.span());
            self.values.insert(path.clone(), value.span());
            self.walk_value(&path, value.get_ref());
        }
    }

    fn walk_value(&mut self, path: &str, value: &DeValue<'_>) {
        match value {
            DeValue::Table(t) => self.walk_table(path, t),
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let p = format!("{path}[{i}]");
                    self.values.insert(p.clone(), item.span());
                    self.walk_value(&p, item.get_ref());
                }
            }
            _ => {}
        }
    }

    /// The best span for an error about `path`: the value if known, else the
    /// key, else the nearest enclosing path that is known.
    pub fn span_of(&self, path: &str) -> Option<Range<usize>> {
        let mut p = path;
        loop {
            if let Some(s) = self.values.get(p).or_else(|| self.keys.get(p)) {
                return Some(s.clone());
            }
            p = parent(p)?;
        }
    }

    /// The span of the key of `path` (for "unknown key" errors), falling back
    /// to `span_of`.
    pub fn key_span_of(&self, path: &str) -> Option<Range<usize>> {
        self.keys.get(path).cloned().or_else(|| self.span_of(path))
    }

    pub fn position(&self, offset: usize, text: &str) -> Position {
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.line_starts[line];
        let column = text.get(start..offset.min(text.len())).map_or(1, |s| s.chars().count() + 1);
        Position { line: line + 1, column }
    }

    /// The text of 1-based `line`, without its newline.
    pub fn line_text<'t>(&self, line: usize, text: &'t str) -> &'t str {
        let Some(&start) = self.line_starts.get(line - 1) else { return "" };
        let end = self.line_starts.get(line).map_or(text.len(), |&e| e.saturating_sub(1));
        text.get(start..end).unwrap_or("").trim_end_matches('\r')
    }
}

/// `a.b[2].c` -> `a.b[2]` -> `a.b` -> `a` -> None.
fn parent(path: &str) -> Option<&str> {
    let cut = path.rfind(['.', '['])?;
    Some(&path[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "version = 1\n[model]\narch = \"rnn\"\ndropout = 1.5\n\n[[intra]]\nname = \"a\"\nvary = { hidden_dim = [1, 2] }\n";

    #[test]
    fn finds_values_keys_and_array_elements() {
        let idx = SpanIndex::new(DOC);
        let pos = |p: &str| idx.position(idx.span_of(p).unwrap().start, DOC);
        assert_eq!(pos("model.dropout"), Position { line: 4, column: 11 });
        assert_eq!(idx.position(idx.key_span_of("model.dropout").unwrap().start, DOC), Position { line: 4, column: 1 });
        assert_eq!(pos("intra[0].vary.hidden_dim[1]"), Position { line: 8, column: 27 });
    }

    #[test]
    fn unknown_paths_fall_back_to_the_parent() {
        let idx = SpanIndex::new(DOC);
        let span = idx.span_of("model.nonexistent").unwrap();
        assert_eq!(span, idx.span_of("model").unwrap());
    }

    #[test]
    fn line_text_strips_newline() {
        let idx = SpanIndex::new(DOC);
        assert_eq!(idx.line_text(4, DOC), "dropout = 1.5");
        assert_eq!(idx.line_text(99, DOC), "");
    }
}
