//! Reading a study's result tables (layout in `intervene_proto::tables`).
//!
//! Per-job files are scanned lazily and unioned diagonally with type
//! promotion, so one job file written with a column all-null (an Int64 knob
//! that job's architecture lacks, stored as Null) does not break the union.

use std::path::{Path, PathBuf};

use intervene_proto::tables as layout;
use polars::prelude::*;

use crate::error::{Error, PolarsContext, Result, io_err};

/// The tables of a study, as they are named in SQL and on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Arms,
    Runs,
    Examples,
    Curves,
    Attention,
}

impl Table {
    pub const ALL: [Table; 5] = [Table::Arms, Table::Runs, Table::Examples, Table::Curves, Table::Attention];

    pub fn name(self) -> &'static str {
        match self {
            Table::Arms => layout::ARMS,
            Table::Runs => layout::RUNS,
            Table::Examples => layout::EXAMPLES,
            Table::Curves => layout::CURVES,
            Table::Attention => layout::ATTENTION,
        }
    }
}

/// Where one version of a study's results lives.
#[derive(Debug, Clone)]
pub struct StudyResults {
    pub study: String,
    pub version: u32,
    pub dir: PathBuf,
}

impl StudyResults {
    /// Find `<state>/results/<study>/v<version>`, the highest version when
    /// `version` is None.
    pub fn locate(state: &Path, study: &str, version: Option<u32>) -> Result<Self> {
        let results = state.join("results");
        let study_dir = results.join(study);
        if !study_dir.is_dir() {
            return Err(Error::StudyNotFound {
                study: study.to_string(),
                dir: results.clone(),
                available: list_dirs(&results)?,
            });
        }
        let mut versions: Vec<u32> = list_dirs(&study_dir)?
            .iter()
            .filter_map(|name| name.strip_prefix('v').and_then(|v| v.parse().ok()))
            .collect();
        versions.sort_unstable();
        let chosen = match version {
            Some(v) if versions.contains(&v) => v,
            None if !versions.is_empty() => versions[versions.len() - 1],
            _ => {
                return Err(Error::VersionNotFound {
                    study: study.to_string(),
                    version: version.unwrap_or(1),
                    dir: study_dir,
                    available: versions.iter().map(|v| format!("v{v}")).collect(),
                });
            }
        };
        let dir = state.join(layout::results_dir(study, chosen));
        Ok(Self { study: study.to_string(), version: chosen, dir })
    }

    /// The per-job files of a table, sorted. Hidden and non-Parquet files
    /// (the temporaries of atomic writes) are not results.
    pub fn job_files(&self, table: Table) -> Result<Vec<PathBuf>> {
        let dir = self.dir.join(table.name());
        if !dir.is_dir() {
            return Ok(Vec::new());
        }
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(io_err(&dir))? {
            let path = entry.map_err(io_err(&dir))?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if path.is_file() && !name.starts_with('.') && name.ends_with(".parquet") {
                files.push(path);
            }
        }
        files.sort();
        Ok(files)
    }

    /// A lazy union of a table's per-job files; None when no job wrote one.
    pub fn scan(&self, table: Table) -> Result<Option<LazyFrame>> {
        if table == Table::Arms {
            let path = self.dir.join(format!("{}.parquet", layout::ARMS));
            if !path.is_file() {
                return Ok(None);
            }
            return scan_files(&[path]).map(Some);
        }
        let files = self.job_files(table)?;
        if files.is_empty() {
            return Ok(None);
        }
        scan_files(&files).map(Some)
    }

    /// All tables of the study. `arms` is required: without the plan there
    /// is nothing to compare.
    pub fn load(&self) -> Result<StudyTables> {
        let arms_path = self.dir.join(format!("{}.parquet", layout::ARMS));
        let arms = self.scan(Table::Arms)?.ok_or_else(|| Error::MissingTable {
            table: layout::ARMS.into(),
            path: arms_path.clone(),
            expected: "the study's plan, written when the study is submitted".into(),
        })?;
        let arms = arms.collect().ctx(|| format!("reading {}", arms_path.display()))?;
        Ok(StudyTables {
            study: self.study.clone(),
            version: self.version,
            location: self.dir.display().to_string(),
            arms,
            runs: self.scan(Table::Runs)?,
            examples: self.scan(Table::Examples)?,
            curves: self.scan(Table::Curves)?,
            attention: self.scan(Table::Attention)?,
        })
    }
}

/// A study's tables in memory or as lazy scans: what the effects and report
/// code works on (tests build it directly from DataFrames).
#[derive(Clone)]
pub struct StudyTables {
    pub study: String,
    pub version: u32,
    /// Where the tables came from, for error messages.
    pub location: String,
    pub arms: DataFrame,
    pub runs: Option<LazyFrame>,
    pub examples: Option<LazyFrame>,
    pub curves: Option<LazyFrame>,
    pub attention: Option<LazyFrame>,
}

impl StudyTables {
    pub fn get(&self, table: Table) -> Option<LazyFrame> {
        match table {
            Table::Arms => Some(self.arms.clone().lazy()),
            Table::Runs => self.runs.clone(),
            Table::Examples => self.examples.clone(),
            Table::Curves => self.curves.clone(),
            Table::Attention => self.attention.clone(),
        }
    }

    /// Where a table came from: `<dir>/<table>` for error messages.
    pub fn location_of(&self, table: Table) -> String {
        match table {
            Table::Arms => format!("{}/{}.parquet", self.location, table.name()),
            _ => format!("{}/{}/", self.location, table.name()),
        }
    }
}

fn scan_files(files: &[PathBuf]) -> Result<LazyFrame> {
    let mut frames = Vec::with_capacity(files.len());
    for path in files {
        let Some(s) = path.to_str() else {
            return Err(Error::BadData {
                table: "results".into(),
                location: path.display().to_string(),
                message: "file name is not valid UTF-8".into(),
            });
        };
        let args = ScanArgsParquet { glob: false, ..Default::default() };
        frames.push(LazyFrame::scan_parquet(PlRefPath::new(s), args).ctx(|| format!("scanning {s}"))?);
    }
    if frames.len() == 1 {
        return Ok(frames.remove(0));
    }
    // Files of one writer share a schema: one multi-file scan reads them in
    // parallel. (It also avoids a polars 0.55 bug: `count(*)` over a union
    // of scans casts to UInt128, which needs a feature we do not build.)
    let mut first: Option<SchemaRef> = None;
    let mut same = true;
    for (frame, path) in frames.iter_mut().zip(files) {
        let schema = frame.collect_schema().ctx(|| format!("reading the schema of {}", path.display()))?;
        match &first {
            None => first = Some(schema),
            Some(f) => same &= **f == *schema,
        }
        if !same {
            break;
        }
    }
    if same {
        let paths: Vec<PlRefPath> = files.iter().filter_map(|p| p.to_str()).map(PlRefPath::new).collect();
        let args = ScanArgsParquet { glob: false, ..Default::default() };
        return LazyFrame::scan_parquet_files(paths.into_iter().collect(), args)
            .ctx(|| format!("scanning {} files", files.len()));
    }
    let args = UnionArgs { to_supertypes: true, diagonal: true, rechunk: true, ..Default::default() };
    concat_lf_diagonal(frames, args).ctx(|| format!("combining {} files", files.len()))
}

fn list_dirs(dir: &Path) -> Result<Vec<String>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        if entry.path().is_dir()
            && let Some(name) = entry.file_name().to_str()
        {
            names.push(name.to_string());
        }
    }
    names.sort();
    Ok(names)
}

/// What a column must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Integer or float.
    Numeric,
    /// Boolean or numeric (0/1, 0/100 are read as given).
    BoolOrNumeric,
    Text,
    /// A list of anything.
    List,
    Any,
}

impl Kind {
    fn accepts(self, dtype: &DataType) -> bool {
        match self {
            Kind::Numeric => dtype.is_primitive_numeric() || dtype.is_null(),
            Kind::BoolOrNumeric => dtype.is_bool() || dtype.is_primitive_numeric() || dtype.is_null(),
            Kind::Text => dtype.is_string() || dtype.is_categorical() || dtype.is_enum() || dtype.is_null(),
            Kind::List => matches!(dtype, DataType::List(_) | DataType::Array(..)) || dtype.is_null(),
            Kind::Any => true,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Kind::Numeric => "a number",
            Kind::BoolOrNumeric => "a boolean or a number",
            Kind::Text => "text",
            Kind::List => "a list",
            Kind::Any => "anything",
        }
    }
}

/// Check that `schema` has each named column with an accepted type.
pub fn require_columns(schema: &Schema, table: &str, location: &str, columns: &[(&str, Kind)]) -> Result<()> {
    for &(name, kind) in columns {
        match schema.get(name) {
            None => {
                return Err(Error::MissingColumn {
                    table: table.into(),
                    location: location.into(),
                    column: name.into(),
                    present: schema.iter_names().map(|n| n.to_string()).collect(),
                });
            }
            Some(dtype) if !kind.accepts(dtype) => {
                return Err(Error::ColumnType {
                    table: table.into(),
                    location: location.into(),
                    column: name.into(),
                    found: dtype.to_string(),
                    expected: kind.describe().into(),
                });
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// The schema of a lazy table, with the table's location in the error.
pub fn schema_of(lf: &mut LazyFrame, table: &str, location: &str) -> Result<SchemaRef> {
    lf.collect_schema().ctx(|| format!("reading the schema of table `{table}` ({location})"))
}
