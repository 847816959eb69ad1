//! Writing the result tables (layout and units in `intervene_proto::tables`).
//!
//! A table is a folder of Parquet files, each written atomically, so a crash
//! never leaves a half-written file and readers can scan a study's folder
//! while jobs are still finishing. The coordinator writes finished jobs in
//! batches, one file per table and batch ([`batch`]); `intervene train` and
//! carried-over results write one file per job.
//!
//! - [`frames`]: the rows of each table for one job.
//! - [`batch`]: the coordinator's table-writer thread.

pub mod batch;
mod frames;

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use intervene_proto::files;
use intervene_proto::job::JobSpec;
use intervene_proto::pb;
use intervene_proto::tables::{ARMS, ATTENTION, CURVES, EXAMPLES, RUNS};
use polars::prelude::*;

use crate::plan::Plan;

/// The per-job tables, in the order they are written.
pub const JOB_TABLES: [&str; 4] = [RUNS, EXAMPLES, CURVES, ATTENTION];

#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    #[error("writing {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("building table {table}: {source}")]
    Polars { table: &'static str, source: PolarsError },
}

pub type Result<T> = std::result::Result<T, ResultsError>;

/// The arm a job's rows are labelled with (a job reached by several arms
/// is written once per arm).
#[derive(Debug, Clone)]
pub struct ArmRef {
    pub arm: String,
    pub intervention: Option<String>,
    pub kind: String,
    pub compare_to: Option<String>,
    pub bucket: Option<String>,
}

impl ArmRef {
    /// The arms of `plan` that run job `job_id`.
    pub fn of_job(plan: &Plan, job_id: &str) -> Vec<ArmRef> {
        plan.arms
            .iter()
            .filter(|a| a.jobs.iter().any(|(_, id)| id == job_id))
            .map(|a| ArmRef {
                arm: a.name.clone(),
                intervention: a.intervention.clone(),
                kind: a.kind.clone(),
                compare_to: a.compare_to.clone(),
                bucket: a.bucket.clone(),
            })
            .collect()
    }
}

/// Everything the tables record about one finished job.
#[derive(Debug, Clone, Copy)]
pub struct JobRecord<'a> {
    pub study: &'a str,
    pub study_version: u32,
    pub job_id: &'a str,
    pub spec: &'a JobSpec,
    pub arms: &'a [ArmRef],
    pub attempt: u32,
    pub worker: &'a str,
    pub result: &'a pb::JobResult,
    pub finished_at_ms: i64,
}

/// Write the runs, examples, curves and attention rows of one job under
/// `dir` (a study version's results folder), as `<table>/<job_id>.parquet`.
pub fn write_job_tables(dir: &Path, rec: &JobRecord) -> Result<()> {
    write_tables(dir, rec.job_id, std::slice::from_ref(rec), &JOB_TABLES)
}

/// Write the rows of `recs` (jobs of one study version) as
/// `<table>/<stem>.parquet` under `dir`, one file per table in `tables`. The
/// attention table is skipped when no job has attention maps; the others
/// are written even when empty, so their presence says the jobs were written.
pub fn write_tables(dir: &Path, stem: &str, recs: &[JobRecord], tables: &[&'static str]) -> Result<()> {
    let file = format!("{stem}.parquet");
    for &table in tables {
        let build: fn(&[JobRecord]) -> PolarsResult<DataFrame> = match table {
            RUNS => frames::runs_frame,
            EXAMPLES => frames::examples_frame,
            CURVES => frames::curves_frame,
            ATTENTION => frames::attention_frame,
            other => unreachable!("{other} is not a per-job table"),
        };
        if recs.is_empty() || (table == ATTENTION && recs.iter().all(|r| r.result.attention.is_empty())) {
            continue;
        }
        let mut df = build(recs).map_err(polars(table))?;
        write_parquet(&dir.join(table).join(&file), &mut df)?;
    }
    Ok(())
}

/// Write `arms.parquet`: the plan, one row per arm.
pub fn write_arms(dir: &Path, version: u32, plan: &Plan) -> Result<()> {
    let n = plan.arms.len();
    let s = |f: &dyn Fn(&crate::plan::Arm) -> Option<String>| plan.arms.iter().map(f).collect::<Vec<_>>();
    let seeds: Vec<Series> = plan
        .arms
        .iter()
        .map(|a| Series::new("".into(), a.jobs.iter().map(|(s, _)| *s as i64).collect::<Vec<_>>()))
        .collect();
    let ids: Vec<Series> = plan
        .arms
        .iter()
        .map(|a| Series::new("".into(), a.jobs.iter().map(|(_, id)| id.clone()).collect::<Vec<_>>()))
        .collect();
    let mut df = DataFrame::new(
        n,
        vec![
            Column::new("study".into(), vec![plan.study.clone(); n]),
            Column::new("study_version".into(), vec![version as i64; n]),
            Column::new("arm".into(), s(&|a| Some(a.name.clone()))),
            Column::new("intervention".into(), s(&|a| a.intervention.clone())),
            Column::new("kind".into(), s(&|a| Some(a.kind.clone()))),
            Column::new("compare_to".into(), s(&|a| a.compare_to.clone())),
            Column::new("bucket".into(), s(&|a| a.bucket.clone())),
            Column::new("arch".into(), s(&|a| Some(a.arch.to_string()))),
            Column::new("params".into(), plan.arms.iter().map(|a| a.params as i64).collect::<Vec<_>>()),
            Column::new("changed".into(), s(&|a| Some(a.changed_text()))),
            Column::new("seeds".into(), seeds),
            Column::new("job_ids".into(), ids),
        ],
    )
    .map_err(polars(ARMS))?;
    write_parquet(&dir.join(format!("{ARMS}.parquet")), &mut df)
}

fn polars(table: &'static str) -> impl Fn(PolarsError) -> ResultsError {
    move |source| ResultsError::Polars { table, source }
}

/// Writes one table file with [`files::write_atomic`]: the file is either
/// absent or whole, also across a power cut.
fn write_parquet(path: &Path, df: &mut DataFrame) -> Result<()> {
    files::write_atomic(path, |tmp| {
        let mut file = File::create(tmp)?;
        ParquetWriter::new(&mut file).finish(df).map_err(std::io::Error::other)?;
        file.flush()
    })
    .map_err(|source| ResultsError::Io { path: path.to_path_buf(), source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use intervene_proto::tables::{EXAMPLE_COLUMNS, FACTOR_COLUMNS, RUN_FACTS, RUN_ID_COLUMNS, RUN_OUTCOMES};

    fn spec() -> JobSpec {
        serde_json::from_str(include_str!("../../tests/fixtures/job_spec.json")).unwrap()
    }

    fn result() -> pb::JobResult {
        pb::JobResult {
            metrics: Some(pb::RunMetrics {
                bleu: 12.5,
                exact_match: 50.0,
                trainable_params: 1234,
                ..Default::default()
            }),
            examples: vec![
                pb::ExampleRow {
                    example_id: "a".into(),
                    exact_match: true,
                    syntax_valid: Some(true),
                    ..Default::default()
                },
                pb::ExampleRow { example_id: "b".into(), ..Default::default() },
            ],
            curves: vec![pb::CurvePoint { epoch: 1, train_loss: 2.0, ..Default::default() }],
            attention: vec![pb::AttentionMap {
                example_id: "a".into(),
                source_tokens: vec!["x".into()],
                target_tokens: vec!["y".into(), "z".into()],
                weights: vec![1.0, 1.0],
            }],
            ..Default::default()
        }
    }

    fn arm(name: &str) -> ArmRef {
        ArmRef { arm: name.into(), intervention: None, kind: "control".into(), compare_to: None, bucket: None }
    }

    #[test]
    fn writes_every_table_with_the_documented_columns() {
        let dir = tempfile::tempdir().unwrap();
        let (spec, result) = (spec(), result());
        let arms = [arm("control"), arm("other")];
        let rec = JobRecord {
            study: "s",
            study_version: 1,
            job_id: "abc",
            spec: &spec,
            arms: &arms,
            attempt: 1,
            worker: "w",
            result: &result,
            finished_at_ms: 5,
        };
        write_job_tables(dir.path(), &rec).unwrap();
        let read = |t: &str| {
            let f = File::open(dir.path().join(t).join("abc.parquet")).unwrap();
            ParquetReader::new(f).finish().unwrap()
        };
        let runs = read(RUNS);
        let expected: Vec<&str> =
            RUN_ID_COLUMNS.iter().chain(FACTOR_COLUMNS).chain(RUN_OUTCOMES).chain(RUN_FACTS).copied().collect();
        let names: Vec<&str> = runs.get_column_names().iter().map(|s| s.as_str()).collect();
        assert_eq!(names, expected);
        assert_eq!(runs.height(), 2, "one row per arm");
        let examples = read(EXAMPLES);
        let names: Vec<&str> = examples.get_column_names().iter().map(|s| s.as_str()).collect();
        assert_eq!(names, EXAMPLE_COLUMNS);
        assert_eq!(examples.height(), 4);
        assert_eq!(read(CURVES).height(), 2);
        assert_eq!(read(ATTENTION).height(), 2);
        // No temporary files are left behind.
        let leftovers: Vec<_> = walk(dir.path()).into_iter().filter(|p| !p.ends_with(".parquet")).collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn a_batch_writes_one_file_per_table_with_every_job() {
        let dir = tempfile::tempdir().unwrap();
        let spec = spec();
        let with_attention = result();
        let without = pb::JobResult { attention: Vec::new(), ..result() };
        let arms = [arm("control")];
        let rec = |job_id, result| JobRecord {
            study: "s",
            study_version: 1,
            job_id,
            spec: &spec,
            arms: &arms,
            attempt: 1,
            worker: "w",
            result,
            finished_at_ms: 5,
        };
        let recs = [rec("j1", &with_attention), rec("j2", &without)];
        write_tables(dir.path(), "batch-00000007", &recs, &JOB_TABLES).unwrap();
        let read = |t: &str| {
            let f = File::open(dir.path().join(t).join("batch-00000007.parquet")).unwrap();
            ParquetReader::new(f).finish().unwrap()
        };
        let ids = |df: &DataFrame| -> Vec<String> {
            df.column("job_id").unwrap().str().unwrap().iter().map(|v| v.unwrap_or_default().to_string()).collect()
        };
        assert_eq!(ids(&read(RUNS)), ["j1", "j2"]);
        assert_eq!(ids(&read(EXAMPLES)), ["j1", "j1", "j2", "j2"]);
        assert_eq!(ids(&read(ATTENTION)), ["j1"]);

        // No attention rows at all: no attention file.
        write_tables(dir.path(), "batch-00000008", &recs[1..], &JOB_TABLES).unwrap();
        assert!(dir.path().join(RUNS).join("batch-00000008.parquet").exists());
        assert!(!dir.path().join(ATTENTION).join("batch-00000008.parquet").exists());
    }

    fn walk(dir: &Path) -> Vec<String> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p.display().to_string());
            }
        }
        out
    }
}
