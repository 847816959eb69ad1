//! Content-addressed data sets: materialised once per submission with the
//! data crate into `<state>/datasets/<sha256>.parquet`, and served to workers
//! by that hash (no shared filesystem).
//!
//! Materialising reads the study's source (which may mine a whole Python
//! tree), so it runs on the blocking pool and at most [`CONCURRENT_LOADS`]
//! at a time: a client submitting in a loop cannot occupy every core.

use std::path::{Path, PathBuf};

use intervene_proto::job::{DataSpec, SourceSpec};
use tokio::sync::Semaphore;

use crate::plan::Plan;

/// Data sets loaded at the same time.
pub const CONCURRENT_LOADS: usize = 2;

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("data: {0}")]
    Data(#[from] intervene_data::Error),
    #[error("data: the jobs of one study must share one data source, found `{0}` and `{1}`")]
    MixedSources(String, String),
    #[error("data: the study has no jobs")]
    NoJobs,
    #[error("data: the source yielded no pairs")]
    Empty,
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("loading the data set: {0}")]
    Task(String),
}

pub type Result<T> = std::result::Result<T, DatasetError>;

/// A materialised data set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Materialised {
    pub hash: String,
    pub bytes: u64,
    pub pairs: usize,
}

pub struct Datasets {
    dir: PathBuf,
    cache: PathBuf,
    loads: Semaphore,
}

/// Whether `hash` is a hex SHA-256 (64 lowercase hex digits).
pub fn is_hash(hash: &str) -> bool {
    hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Datasets {
    pub fn new(state_dir: &Path) -> Datasets {
        Datasets {
            dir: state_dir.join("datasets"),
            cache: state_dir.join("cache"),
            loads: Semaphore::new(CONCURRENT_LOADS),
        }
    }

    /// Where the data set with this content hash lives.
    pub fn path(&self, hash: &str) -> PathBuf {
        self.dir.join(format!("{hash}.parquet"))
    }

    /// Load the plan's data source (relative paths against `base_dir`) and
    /// store its canonical file under its content hash.
    /// Refuses a study whose splits the data set cannot fill.
    pub async fn materialise(&self, plan: &Plan, base_dir: &Path) -> Result<Materialised> {
        let source = single_source(plan)?;
        let mut splits: Vec<DataSpec> = Vec::new();
        for j in &plan.jobs {
            if !splits.contains(&j.spec.data) {
                splits.push(j.spec.data.clone());
            }
        }
        let _permit = self.loads.acquire().await.map_err(|e| DatasetError::Task(e.to_string()))?;
        let (dir, cache, base_dir) = (self.dir.clone(), self.cache.clone(), base_dir.to_path_buf());
        tokio::task::spawn_blocking(move || materialise_blocking(&source, &splits, &base_dir, &cache, &dir))
            .await
            .map_err(|e| DatasetError::Task(e.to_string()))?
    }
}

fn single_source(plan: &Plan) -> Result<SourceSpec> {
    let first = plan.jobs.first().ok_or(DatasetError::NoJobs)?.spec.data.source.clone();
    for j in &plan.jobs {
        if j.spec.data.source != first {
            return Err(DatasetError::MixedSources(
                serde_json::to_string(&first).unwrap_or_default(),
                serde_json::to_string(&j.spec.data.source).unwrap_or_default(),
            ));
        }
    }
    Ok(first)
}

fn materialise_blocking(
    source: &SourceSpec,
    splits: &[DataSpec],
    base_dir: &Path,
    cache: &Path,
    dir: &Path,
) -> Result<Materialised> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DatasetError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    std::fs::create_dir_all(cache).map_err(io(cache))?;
    let pairs = intervene_data::load_source(source, base_dir, cache)?;
    if pairs.is_empty() {
        return Err(DatasetError::Empty);
    }
    // A split larger than the data set fails the same way on every worker
    // and every retry: refuse the study now. Every pair counts as eligible
    // here (an upper bound: `overlong = "drop"` may leave fewer), so a split
    // refused here can never be filled.
    let all = vec![true; pairs.len()];
    for data in splits {
        intervene_data::split::split(&pairs, &all, 0, data)?;
    }
    let incoming = dir.join(format!(".incoming-{}-{:08x}.parquet", std::process::id(), rand::random::<u32>()));
    let info = intervene_data::write_dataset(&pairs, &incoming)?;
    let target = dir.join(format!("{}.parquet", info.hash));
    if target.exists() {
        // Same content as a data set already stored: keep that one.
        std::fs::remove_file(&incoming).map_err(io(&incoming))?;
    } else {
        std::fs::rename(&incoming, &target).map_err(io(&target))?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(Materialised { hash: info.hash, bytes: info.bytes, pairs: info.pairs })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_64_lowercase_hex_digits() {
        assert!(is_hash(&"a".repeat(64)));
        assert!(!is_hash(&"A".repeat(64)));
        assert!(!is_hash("abc"));
        assert!(!is_hash(&format!("{}/", "a".repeat(63))));
    }

    #[tokio::test]
    async fn a_synthetic_source_is_stored_under_its_content_hash() {
        let state = tempfile::tempdir().unwrap();
        let study = crate::spec::parse(SYNTHETIC, "s.toml", state.path()).unwrap();
        let plan = crate::plan::plan(&study).unwrap();
        let ds = Datasets::new(state.path());
        let a = ds.materialise(&plan, state.path()).await.unwrap();
        let b = ds.materialise(&plan, state.path()).await.unwrap();
        assert_eq!(a, b, "the same source gives the same file");
        let bytes = std::fs::read(ds.path(&a.hash)).unwrap();
        assert_eq!(bytes.len() as u64, a.bytes);
        assert_eq!(intervene_proto::files::sha256_file(&ds.path(&a.hash)).unwrap(), a.hash);
        let leftovers: Vec<_> = std::fs::read_dir(state.path().join("datasets"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[tokio::test]
    async fn a_split_larger_than_the_data_set_is_refused_at_submission() {
        // A file source: its size is known only once it is read.
        let state = tempfile::tempdir().unwrap();
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/tests/fixtures/codesearchnet");
        let toml = SYNTHETIC.replace(
            r#"{ kind = "synthetic", task = "mixed", size = 300 }"#,
            r#"{ kind = "codesearchnet", path = "python_small.jsonl" }"#,
        );
        let study = crate::spec::parse(&toml, "s.toml", &data).unwrap();
        let plan = crate::plan::plan(&study).unwrap();
        let e = Datasets::new(state.path()).materialise(&plan, &data).await.unwrap_err().to_string();
        assert!(e.contains("train 200 + valid 50 + test 50 = 300 pairs, but the data set has"), "{e}");
    }

    const SYNTHETIC: &str = r#"
version = 1
[study]
name = "tiny"
seeds = [1]
[data]
source = { kind = "synthetic", task = "mixed", size = 300 }
train = 200
valid = 50
test = 50
tokenizer = "python-lexer"
vocab_size = 200
max_source_len = 20
max_target_len = 40
[model]
arch = "lstm"
embedding_dim = 16
hidden_dim = 16
layers = 1
dropout = 0.0
bidirectional = false
[train]
batch_size = 8
epochs = 1
learning_rate = 1e-3
[decode]
strategy = "greedy"
"#;
}
