//! `intervene query`: Polars SQL over a study's tables, and `intervene export`.

use std::path::Path;

use polars::prelude::*;
use polars::sql::SQLContext;

use crate::error::{Error, PolarsContext, Result, io_err};
use crate::output::{lists_to_text, write_parquet};
use crate::tables::{StudyTables, Table};

/// Run `sql` with the study's tables registered under their names (`runs`,
/// `examples`, `curves`, `arms`, `attention`; a table no job wrote is not
/// registered).
pub fn run_sql(tables: &StudyTables, sql: &str) -> Result<DataFrame> {
    let mut ctx = SQLContext::new();
    let mut registered = Vec::new();
    for table in Table::ALL {
        if let Some(lf) = tables.get(table) {
            ctx.register(table.name(), lf);
            registered.push(table.name());
        }
    }
    let plan = ctx.execute(sql).map_err(|e| sql_error(e, &registered))?;
    plan.collect().map_err(|e| sql_error(e, &registered))
}

fn sql_error(err: PolarsError, registered: &[&str]) -> Error {
    let text = err.to_string();
    let mut message = text.trim().to_string();
    let lower = message.to_lowercase();
    if lower.contains("relation") || lower.contains("table") {
        message.push_str(&format!(" (tables of this study: {})", registered.join(", ")));
    }
    Error::Sql { message }
}

/// Write every table of the study to `dir` as `<table>.parquet` or
/// `<table>.csv`; returns (table, rows, path) for each file written.
pub fn export(tables: &StudyTables, dir: &Path, csv: bool) -> Result<Vec<(String, usize, std::path::PathBuf)>> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let mut written = Vec::new();
    for table in Table::ALL {
        let Some(lf) = tables.get(table) else { continue };
        let df = lf.collect().ctx(|| format!("reading table `{}` ({})", table.name(), tables.location_of(table)))?;
        let path = dir.join(format!("{}.{}", table.name(), if csv { "csv" } else { "parquet" }));
        if csv {
            let mut flat = lists_to_text(&df)?;
            let file = std::fs::File::create(&path).map_err(io_err(&path))?;
            CsvWriter::new(file)
                .include_header(true)
                .finish(&mut flat)
                .ctx(|| format!("writing {}", path.display()))?;
        } else {
            write_parquet(&df, &path)?;
        }
        written.push((table.name().to_string(), df.height(), path));
    }
    Ok(written)
}
