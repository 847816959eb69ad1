//! The study's design as `arms.parquet` states it: which arm is compared to
//! which, in which bucket, with which seeds.

use std::collections::{BTreeSet, HashMap};

use intervene_proto::tables as layout;
use polars::prelude::*;

use crate::error::{Error, PolarsContext, Result};
use crate::tables::{Kind, StudyTables, Table, require_columns};

#[derive(Debug, Clone, PartialEq)]
pub struct Arm {
    pub arm: String,
    pub intervention: String,
    pub kind: String,
    pub compare_to: Option<String>,
    pub bucket: Option<String>,
    pub arch: Option<String>,
    /// Seeds the plan lists for this arm.
    pub seeds: Vec<i64>,
}

/// One arm measured against the arm it is compared to.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub treatment: Arm,
    pub control: Arm,
}

impl Comparison {
    /// A stable key for the comparison's random streams.
    pub fn key(&self) -> String {
        format!("{}\u{1f}{}", self.treatment.arm, self.control.arm)
    }
}

#[derive(Debug, Clone)]
pub struct Design {
    pub arms: Vec<Arm>,
    pub comparisons: Vec<Comparison>,
}

impl Design {
    pub fn arm(&self, name: &str) -> Option<&Arm> {
        self.arms.iter().find(|a| a.arm == name)
    }
}

/// Read the plan. An arm listed twice, or compared to an arm that is not in
/// the plan, is an error naming the row.
pub fn read_design(tables: &StudyTables) -> Result<Design> {
    let df = &tables.arms;
    let location = tables.location_of(Table::Arms);
    require_columns(
        df.schema(),
        layout::ARMS,
        &location,
        &[
            ("arm", Kind::Text),
            ("intervention", Kind::Text),
            ("kind", Kind::Text),
            ("compare_to", Kind::Text),
            ("bucket", Kind::Text),
            ("seeds", Kind::List),
        ],
    )?;
    let text = |name: &str| -> Result<Vec<Option<String>>> {
        let col = df.column(name).ctx(|| format!("reading {location}"))?;
        let col = col.cast(&DataType::String).ctx(|| format!("reading column `{name}` of {location}"))?;
        let ca = col.str().ctx(|| format!("reading column `{name}` of {location}"))?;
        Ok(ca.iter().map(|v| v.map(str::to_string)).collect())
    };
    let arm = text("arm")?;
    let intervention = text("intervention")?;
    let kind = text("kind")?;
    let compare_to = text("compare_to")?;
    let bucket = text("bucket")?;
    let arch = if df.schema().contains("arch") { text("arch")? } else { vec![None; df.height()] };
    let seeds_col = df
        .column("seeds")
        .and_then(|c| c.cast(&DataType::List(Box::new(DataType::Int64))))
        .ctx(|| format!("reading column `seeds` of {location} as a list of integers"))?;
    let seeds_ca = seeds_col.list().ctx(|| format!("reading column `seeds` of {location}"))?;

    let mut arms = Vec::with_capacity(df.height());
    for (row, seeds) in seeds_ca.series_iter().enumerate() {
        let bad = |message: String| Error::BadData {
            table: layout::ARMS.into(),
            location: format!("{location}, row {row}"),
            message,
        };
        let Some(name) = arm[row].clone() else {
            return Err(bad("`arm` is null".into()));
        };
        let seeds: Vec<i64> = match seeds {
            Some(s) => s.i64().ctx(|| format!("reading seeds of arm `{name}`"))?.iter().flatten().collect(),
            None => Vec::new(),
        };
        arms.push(Arm {
            arm: name,
            intervention: intervention[row].clone().unwrap_or_default(),
            kind: kind[row].clone().unwrap_or_default(),
            compare_to: compare_to[row].clone(),
            bucket: bucket[row].clone(),
            arch: arch[row].clone(),
            seeds,
        });
    }
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (row, a) in arms.iter().enumerate() {
        if let Some(first) = index.insert(a.arm.as_str(), row) {
            return Err(Error::BadData {
                table: layout::ARMS.into(),
                location: format!("{location}, rows {first} and {row}"),
                message: format!("arm `{}` is listed twice", a.arm),
            });
        }
    }
    let mut comparisons = Vec::new();
    for (row, a) in arms.iter().enumerate() {
        let Some(target) = &a.compare_to else { continue };
        let Some(&c) = index.get(target.as_str()) else {
            let known: BTreeSet<&str> = index.keys().copied().collect();
            return Err(Error::BadData {
                table: layout::ARMS.into(),
                location: format!("{location}, row {row}"),
                message: format!(
                    "arm `{}` is compared to `{target}`, which is not an arm of the study (arms: {})",
                    a.arm,
                    known.into_iter().collect::<Vec<_>>().join(", ")
                ),
            });
        };
        if arms[c].arm == a.arm {
            return Err(Error::BadData {
                table: layout::ARMS.into(),
                location: format!("{location}, row {row}"),
                message: format!("arm `{}` is compared to itself", a.arm),
            });
        }
        comparisons.push(Comparison { treatment: a.clone(), control: arms[c].clone() });
    }
    Ok(Design { arms, comparisons })
}
