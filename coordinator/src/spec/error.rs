//! Study-file errors: each names the file, line and column, the key path,
//! the bad value and what would be accepted, and shows the offending line.

use std::fmt;

use super::locate::SpanIndex;

/// One problem in a study file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// Key path, e.g. `model.dropout` or `intra[0].vary.hidden_dim[1]`;
    /// empty for problems with the whole file.
    pub key: String,
    pub message: String,
    /// The source line and a caret under the column.
    pub snippet: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Line 0: the file as a whole (it cannot be read, or is not UTF-8);
        // there is no position to point at.
        if self.line == 0 {
            write!(f, "{}: ", self.file)?;
        } else {
            write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        }
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.message)?;
        if !self.snippet.is_empty() {
            write!(f, "\n{}", self.snippet)?;
        }
        Ok(())
    }
}

/// Every problem found in a study file (never empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecErrors(pub Vec<SpecError>);

impl fmt::Display for SpecErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "error: {e}")?;
        }
        if self.0.len() > 1 {
            write!(f, "\n{} errors", self.0.len())?;
        }
        Ok(())
    }
}

impl std::error::Error for SpecErrors {}

/// What a valid study file probably gets wrong (it runs, but a schedule
/// cannot play out); possibly empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpecWarnings(pub Vec<SpecError>);

impl SpecWarnings {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for SpecWarnings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "warning: {e}")?;
        }
        Ok(())
    }
}

/// An error about a key path, before it is located in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub key: String,
    pub message: String,
    /// Point at the key rather than its value (unknown keys).
    pub at_key: bool,
}

impl Issue {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Issue { key: key.into(), message: message.into(), at_key: false }
    }

    pub fn at_key(key: impl Into<String>, message: impl Into<String>) -> Self {
        Issue { key: key.into(), message: message.into(), at_key: true }
    }
}

/// Turns issues into located errors for one file.
pub struct Locator<'a> {
    pub file: &'a str,
    pub text: &'a str,
    pub index: &'a SpanIndex,
}

impl Locator<'_> {
    pub fn locate(&self, issue: Issue) -> SpecError {
        let span = if issue.at_key { self.index.key_span_of(&issue.key) } else { self.index.span_of(&issue.key) };
        let (start, len) = span.map_or((0, 1), |s| (s.start, s.len().max(1)));
        self.at_offset(start, len, issue.key, issue.message)
    }

    pub fn at_offset(&self, offset: usize, len: usize, key: String, message: String) -> SpecError {
        let pos = self.index.position(offset, self.text);
        let line_text = self.index.line_text(pos.line, self.text);
        let width = line_text.chars().count().saturating_sub(pos.column - 1).max(1);
        let carets = "^".repeat(len.clamp(1, width));
        let gutter = pos.line.to_string().len();
        let snippet = format!(
            "{pad} |\n{line} | {line_text}\n{pad} | {indent}{carets}",
            pad = " ".repeat(gutter),
            line = pos.line,
            indent = " ".repeat(pos.column - 1),
        );
        SpecError { file: self.file.to_string(), line: pos.line, column: pos.column, key, message, snippet }
    }
}

/// The candidate closest to `name`, if it is close enough to be a likely
/// misspelling.
pub fn nearest<'c>(name: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(name, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// "unknown X `name`; did you mean `y`? accepted: a, b, c"
pub fn unknown(what: &str, name: &str, accepted: &[&str]) -> String {
    let accepted_list = accepted.join(", ");
    match nearest(name, accepted.iter().copied()) {
        Some(n) => format!("unknown {what} `{name}`; did you mean `{n}`? accepted: {accepted_list}"),
        None => format!("unknown {what} `{name}`; accepted: {accepted_list}"),
    }
}

/// Rephrase a serde error from deserializing the section at `section` into
/// an issue with the full key path.
pub fn from_serde(section: &str, err: serde_path_to_error::Error<toml::de::Error>) -> Issue {
    let inner = err.inner().message().to_string();
    let rel = err.path().to_string();
    let base = join(section, if rel == "." { "" } else { &rel });
    if let Some((field, expected)) = parse_unknown_field(&inner) {
        // serde_path_to_error's path already ends at the unknown field.
        let key = if rel.rsplit('.').next() == Some(field.as_str()) { base.clone() } else { join(&base, &field) };
        let accepted: Vec<&str> = expected.iter().map(String::as_str).collect();
        return Issue::at_key(key, unknown("key", &field, &accepted));
    }
    if let Some(field) = inner.strip_prefix("missing field `").and_then(|s| s.strip_suffix('`')) {
        let section_name = if base.is_empty() { "the file".to_string() } else { format!("[{base}]") };
        return Issue::new(base.clone(), format!("missing required key `{field}` in {section_name}"));
    }
    if inner.contains("did not match any variant of untagged enum RawSizeBy") {
        return Issue::new(
            base,
            "expected a knob name, or a table of arch = knob (e.g. { rnn = \"hidden_dim\", transformer = \"d_model\" })",
        );
    }
    Issue::new(base, rephrase_type_error(&inner))
}

/// `a` + `b` -> `a.b`, leaving out empty parts; `[i]` suffixes join without a dot.
pub fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ if b.starts_with('[') => format!("{a}{b}"),
        _ => format!("{a}.{b}"),
    }
}

/// serde: "unknown field `x`, expected one of `a`, `b`" (or "expected `a`").
fn parse_unknown_field(msg: &str) -> Option<(String, Vec<String>)> {
    let rest = msg.strip_prefix("unknown field `")?;
    let (field, rest) = rest.split_once('`')?;
    let expected = rest.split('`').skip(1).step_by(2).map(str::to_string).collect();
    Some((field.to_string(), expected))
}

/// serde: "invalid type: string \"abc\", expected i64" -> readable words.
fn rephrase_type_error(msg: &str) -> String {
    let Some(rest) = msg.strip_prefix("invalid type: ") else { return msg.to_string() };
    let Some((found, expected)) = rest.rsplit_once(", expected ") else { return msg.to_string() };
    let expected = match expected {
        "i64" | "u64" | "u32" => "an integer".to_string(),
        "f64" => "a number".to_string(),
        "a boolean" | "bool" => "true or false".to_string(),
        "a string" => "a string".to_string(),
        e if e.starts_with("a sequence") => "an array".to_string(),
        e => e.to_string(),
    };
    format!("wrong type: found {found}, expected {expected}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_serde_unknown_field_messages() {
        let (f, exp) = parse_unknown_field("unknown field `hiden_dim`, expected one of `arch`, `hidden_dim`").unwrap();
        assert_eq!(f, "hiden_dim");
        assert_eq!(exp, vec!["arch", "hidden_dim"]);
        let (f, exp) = parse_unknown_field("unknown field `nme`, expected `name`").unwrap();
        assert_eq!(f, "nme");
        assert_eq!(exp, vec!["name"]);
    }

    #[test]
    fn suggests_only_close_names() {
        assert_eq!(nearest("hiden_dim", ["hidden_dim", "layers"]), Some("hidden_dim"));
        assert_eq!(nearest("zzz", ["hidden_dim", "layers"]), None);
        assert!(unknown("arch", "lstn", &["rnn", "lstm"]).contains("did you mean `lstm`?"));
    }

    #[test]
    fn rephrases_type_errors() {
        assert_eq!(
            rephrase_type_error("invalid type: string \"x\", expected i64"),
            "wrong type: found string \"x\", expected an integer"
        );
    }

    #[test]
    fn joins_paths() {
        assert_eq!(join("", "model"), "model");
        assert_eq!(join("intra", "[0]"), "intra[0]");
        assert_eq!(join("intra[0]", "vary"), "intra[0].vary");
    }
}
