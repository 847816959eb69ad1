//! Files that are not valid TOML. The parser's own message names neither the
//! key nor, for a duplicate, the first definition; both are recovered here
//! from the text around the error's position, since no parsed document
//! exists to ask.

/// What the error at byte `offset` is about: the key path (`train.epochs`)
/// and a message for the parser's `message`.
pub(super) fn explain(text: &str, offset: usize, message: &str) -> (String, String) {
    let lines: Vec<&str> = text.lines().collect();
    let at_line = text[..offset.min(text.len())].matches('\n').count();
    let table = table_at(&lines, at_line);
    let line = lines.get(at_line).copied().unwrap_or("").trim();
    if message.starts_with("duplicate key") {
        if let Some(header) = header_name(line) {
            let first = lines[..at_line].iter().position(|l| header_name(l.trim()) == Some(header));
            let first = first.map_or(String::new(), |i| format!(": first defined at line {}", i + 1));
            return (header.to_string(), format!("table [{header}] is defined twice{first}; merge the two"));
        }
        let key = key_of(line).unwrap_or("");
        let start = table.as_ref().map_or(0, |t| t.line + 1);
        let first = (start..at_line).find(|&i| key_of(lines[i].trim()) == Some(key));
        let first = first.map_or(String::new(), |i| format!(", first set at line {}", i + 1));
        let path = join(table.as_ref().map(|t| t.path.as_str()), key);
        let section = table.as_ref().map_or("the top level".to_string(), |t| format!("[{}]", t.header));
        return (path, format!("duplicate key `{key}` in {section}{first}; a key is set once per table"));
    }
    let key = key_of(line).map(|k| join(table.as_ref().map(|t| t.path.as_str()), k)).unwrap_or_default();
    if let Some(rest) = message.strip_prefix("invalid type: integer `") {
        let number = rest.split('`').next().unwrap_or("");
        return (
            key,
            format!(
                "integer {number} is too large for TOML (64-bit integers, {} to {}); accepted: a smaller value",
                i64::MIN,
                i64::MAX
            ),
        );
    }
    (key, format!("not valid TOML: {message}"))
}

struct Table {
    /// The header as written: `train`, `intra`.
    header: String,
    /// The key path: `train`, `intra[1]`.
    path: String,
    line: usize,
}

/// The table that line `at` belongs to (None at the top level).
fn table_at(lines: &[&str], at: usize) -> Option<Table> {
    let header_line =
        (0..=at.min(lines.len().saturating_sub(1))).rev().find(|&i| header_name(lines[i].trim()).is_some());
    let i = header_line?;
    let header = header_name(lines[i].trim())?.to_string();
    let path = if lines[i].trim().starts_with("[[") {
        let index = lines[..i]
            .iter()
            .filter(|l| header_name(l.trim()) == Some(header.as_str()) && l.trim().starts_with("[["))
            .count();
        format!("{header}[{index}]")
    } else {
        header.clone()
    };
    Some(Table { header, path, line: i })
}

/// `[train]` -> `train`, `[[intra]]` -> `intra`.
fn header_name(line: &str) -> Option<&str> {
    let inner = line.strip_prefix('[')?;
    let inner = inner.strip_prefix('[').unwrap_or(inner);
    let end = inner.find(']')?;
    Some(inner[..end].trim())
}

/// `epochs = 3` -> `epochs`.
fn key_of(line: &str) -> Option<&str> {
    if line.starts_with('[') || line.starts_with('#') {
        return None;
    }
    let (key, _) = line.split_once('=')?;
    let key = key.trim().trim_matches('"');
    (!key.is_empty()).then_some(key)
}

fn join(table: Option<&str>, key: &str) -> String {
    match table {
        Some(t) if !key.is_empty() => format!("{t}.{key}"),
        Some(t) => t.to_string(),
        None => key.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "version = 1\n[train]\nepochs = 2\nbatch_size = 4\nepochs = 3\n[[intra]]\nname = \"a\"\n[[intra]]\nx = 99999999999999999999\n[train]\n";

    fn offset_of_line(n: usize) -> usize {
        TEXT.lines().take(n - 1).map(|l| l.len() + 1).sum()
    }

    #[test]
    fn a_duplicate_key_names_the_key_and_its_first_line() {
        let (key, msg) = explain(TEXT, offset_of_line(5), "duplicate key");
        assert_eq!(key, "train.epochs");
        assert_eq!(msg, "duplicate key `epochs` in [train], first set at line 3; a key is set once per table");
    }

    #[test]
    fn a_duplicate_table_names_its_first_header() {
        let (key, msg) = explain(TEXT, offset_of_line(10) + 1, "duplicate key");
        assert_eq!(key, "train");
        assert_eq!(msg, "table [train] is defined twice: first defined at line 2; merge the two");
    }

    #[test]
    fn a_huge_integer_names_its_key_inside_an_array_of_tables() {
        let (key, msg) = explain(
            TEXT,
            offset_of_line(9) + 4,
            "invalid type: integer `99999999999999999999` as i128, expected any valid TOML value",
        );
        assert_eq!(key, "intra[1].x");
        assert!(msg.starts_with("integer 99999999999999999999 is too large for TOML (64-bit integers"), "{msg}");
    }

    #[test]
    fn other_errors_keep_the_parser_message() {
        let (key, msg) = explain("a = \n", 4, "expected a value");
        assert_eq!(key, "a");
        assert_eq!(msg, "not valid TOML: expected a value");
    }
}
