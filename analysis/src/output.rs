//! Writing result frames: aligned text for the terminal, CSV, JSON, Parquet.

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

use polars::prelude::*;

use crate::error::{Error, PolarsContext, Result, io_err};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
    Parquet,
}

impl Format {
    pub fn parse(flag: &str, value: &str, accepted: &[Format]) -> Result<Self> {
        let format = match value {
            "table" => Format::Table,
            "csv" => Format::Csv,
            "json" => Format::Json,
            "parquet" => Format::Parquet,
            _ => None.ok_or_else(|| bad_format(flag, value, accepted))?,
        };
        if accepted.contains(&format) { Ok(format) } else { Err(bad_format(flag, value, accepted)) }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Parquet => "parquet",
        }
    }
}

fn bad_format(flag: &str, value: &str, accepted: &[Format]) -> Error {
    Error::BadArgument {
        flag: flag.into(),
        value: value.into(),
        message: format!("expected one of {}", accepted.iter().map(|f| f.name()).collect::<Vec<_>>().join(", ")),
    }
}

/// Write `df` as CSV. List columns have no CSV form, so they are written as
/// `[a, b, c]` text.
pub fn write_csv(df: &DataFrame, out: &mut dyn Write) -> Result<()> {
    let mut flat = lists_to_text(df)?;
    CsvWriter::new(out).include_header(true).finish(&mut flat).ctx(|| "writing CSV".into())
}

/// Write `df` as one JSON array of row objects.
pub fn write_json(df: &DataFrame, out: &mut dyn Write) -> Result<()> {
    let mut df = df.clone();
    JsonWriter::new(out).with_json_format(JsonFormat::Json).finish(&mut df).ctx(|| "writing JSON".into())
}

pub fn write_parquet(df: &DataFrame, path: &Path) -> Result<()> {
    let file = std::fs::File::create(path).map_err(io_err(path))?;
    let mut df = df.clone();
    ParquetWriter::new(file).finish(&mut df).ctx(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Replace list columns by their text rendering, for CSV.
pub fn lists_to_text(df: &DataFrame) -> Result<DataFrame> {
    let mut columns = Vec::with_capacity(df.width());
    for column in df.columns() {
        if matches!(column.dtype(), DataType::List(_) | DataType::Array(..)) {
            let texts: Vec<Option<String>> =
                (0..column.len()).map(|i| column.get(i).ok().and_then(|v| value_text(&v))).collect();
            columns.push(Column::new(column.name().clone(), texts));
        } else {
            columns.push(column.clone());
        }
    }
    DataFrame::new(df.height(), columns).ctx(|| "rendering list columns".into())
}

/// A cell as text; None for null.
pub fn value_text(value: &AnyValue) -> Option<String> {
    match value {
        AnyValue::Null => None,
        AnyValue::String(s) => Some((*s).to_string()),
        AnyValue::StringOwned(s) => Some(s.to_string()),
        AnyValue::Boolean(b) => Some(b.to_string()),
        AnyValue::Float64(v) => Some(float_text(*v)),
        AnyValue::Float32(v) => Some(float_text(f64::from(*v))),
        AnyValue::List(s) => {
            let items: Vec<String> = (0..s.len())
                .map(|i| s.get(i).ok().and_then(|v| value_text(&v)).unwrap_or_else(|| "null".into()))
                .collect();
            Some(format!("[{}]", items.join(", ")))
        }
        other => Some(other.to_string().trim_matches('"').to_string()),
    }
}

/// Floats for people: six significant digits, no trailing zeros.
pub fn float_text(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v == 0.0 || v.is_infinite() {
        return v.to_string();
    }
    let magnitude = v.abs().log10().floor() as i32;
    if !(-4..9).contains(&magnitude) {
        return format!("{v:.4e}");
    }
    let decimals = (5 - magnitude).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
}

/// Column alignment in a [`TextTable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// The line under a [`TextTable`]'s headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rule {
    /// A run of dashes under each column (the result tables, `effects`).
    #[default]
    Columns,
    /// One unbroken line across the table (`plan`, `status`, `run`).
    Full,
}

/// The one aligned text table of the project, for the analysis output and
/// the CLI alike: columns two spaces apart, lines without trailing spaces.
#[derive(Debug, Clone, Default)]
pub struct TextTable {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// Right-aligned columns (numbers); the others are left-aligned.
    pub right: Vec<bool>,
    pub rule: Rule,
}

impl TextTable {
    /// A table with these headers and alignments, and a [`Rule::Full`] rule.
    pub fn new(columns: &[(&str, Align)]) -> Self {
        TextTable {
            headers: columns.iter().map(|(h, _)| h.to_string()).collect(),
            right: columns.iter().map(|(_, a)| *a == Align::Right).collect(),
            rows: Vec::new(),
            rule: Rule::Full,
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let width = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(width) {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let line = |cells: &[String], out: &mut String| {
            let mut text = String::new();
            for (i, cell) in cells.iter().enumerate().take(width) {
                if i > 0 {
                    text.push_str("  ");
                }
                let pad = widths[i].saturating_sub(cell.chars().count());
                if self.right.get(i).copied().unwrap_or(false) {
                    text.push_str(&" ".repeat(pad));
                    text.push_str(cell);
                } else {
                    text.push_str(cell);
                    text.push_str(&" ".repeat(pad));
                }
            }
            let _ = writeln!(out, "{}", text.trim_end());
        };
        line(&self.headers, &mut out);
        match self.rule {
            Rule::Columns => line(&widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>(), &mut out),
            Rule::Full => {
                let _ = writeln!(out, "{}", "-".repeat(widths.iter().sum::<usize>() + 2 * width.saturating_sub(1)));
            }
        }
        for row in &self.rows {
            line(row, &mut out);
        }
        out
    }
}

/// Render the first `max_rows` rows of `df`; text cells are cut at 60 characters.
pub fn frame_to_text(df: &DataFrame, max_rows: usize) -> String {
    let shown = df.height().min(max_rows);
    let mut table = TextTable {
        headers: df.get_column_names().iter().map(|n| n.to_string()).collect(),
        right: df.dtypes().iter().map(|d| d.is_primitive_numeric()).collect(),
        rows: Vec::with_capacity(shown),
        rule: Rule::Columns,
    };
    for i in 0..shown {
        let row = df
            .columns()
            .iter()
            .map(|c| {
                let text = c.get(i).ok().and_then(|v| value_text(&v)).unwrap_or_else(|| "null".into());
                let text = text.replace('\n', "\\n");
                if text.chars().count() > 60 {
                    format!("{}…", text.chars().take(59).collect::<String>())
                } else {
                    text
                }
            })
            .collect();
        table.rows.push(row);
    }
    let mut out = table.render();
    if shown < df.height() {
        let _ = writeln!(
            out,
            "… {} more rows ({} in all; --format csv or json prints every row)",
            df.height() - shown,
            df.height()
        );
    } else {
        let _ = writeln!(out, "({} rows)", df.height());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_are_short() {
        assert_eq!(float_text(1.0), "1");
        assert_eq!(float_text(0.123456789), "0.123457");
        assert_eq!(float_text(27.5), "27.5");
        assert_eq!(float_text(123456.7), "123457");
        assert_eq!(float_text(0.00001234), "1.2340e-5");
        assert_eq!(float_text(-2.25), "-2.25");
    }

    #[test]
    fn text_table_aligns() {
        let t = TextTable {
            headers: vec!["arm".into(), "ate".into()],
            rows: vec![vec!["a".into(), "1.5".into()], vec!["long-arm".into(), "-10".into()]],
            right: vec![false, true],
            ..Default::default()
        };
        assert_eq!(t.render(), "arm       ate\n--------  ---\na         1.5\nlong-arm  -10\n");
    }

    #[test]
    fn text_table_with_a_full_rule() {
        let mut t = TextTable::new(&[("NAME", Align::Left), ("N", Align::Right), ("NOTE", Align::Left)]);
        t.row(vec!["a".into(), "10".into(), String::new()]);
        t.row(vec!["long name".into(), "2".into(), "x".into()]);
        t.row(vec!["short".into()]);
        assert_eq!(t.render(), "NAME        N  NOTE\n-------------------\na          10\nlong name   2  x\nshort\n");
    }

    #[test]
    fn lists_become_text_for_csv() {
        let seeds = Series::new("seeds".into(), [Series::new("".into(), [1i64, 2]), Series::new("".into(), [3i64])]);
        let df = DataFrame::new_infer_height(vec![seeds.into()]).unwrap();
        let mut out = Vec::new();
        write_csv(&df, &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "seeds\n\"[1, 2]\"\n[3]\n");
    }

    #[test]
    fn formats_are_checked() {
        assert_eq!(Format::parse("--format", "csv", &[Format::Csv]).unwrap(), Format::Csv);
        let err = Format::parse("--format", "xml", &[Format::Csv, Format::Json]).unwrap_err().to_string();
        assert_eq!(err, "--format `xml`: expected one of csv, json");
        assert!(Format::parse("--format", "parquet", &[Format::Csv]).is_err());
    }
}
