//! The local data set cache: `<cache>/<sha256>.parquet`, fetched from the
//! coordinator by content hash (no shared filesystem), resumed from where a
//! broken transfer stopped, and verified against its hash before use.
//!
//! Any number of worker processes may share one cache folder (one worker
//! per GPU, or several `intervene worker` on a machine): a download holds an
//! exclusive lock on `.<hash>.lock`, so one process fetches while the others
//! wait and then find the finished file; the partial file is the lock
//! holder's alone and becomes the cached file by an atomic rename. The
//! operating system drops the lock of a process that dies, and the next
//! holder resumes its partial file.

use std::path::{Path, PathBuf};

use intervene_proto::files::sha256_file;
use intervene_proto::pb;
use tokio::io::AsyncWriteExt;
use tokio_stream::StreamExt;

use super::client::{Backoff, Client, is_transient};

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("fetching data set {hash}: {status}")]
    Fetch { hash: String, status: tonic::Status },
    #[error("data set {hash}: {message}")]
    Bad { hash: String, message: String },
}

pub struct DatasetCache {
    dir: PathBuf,
}

/// Transfer attempts (each resuming the previous, or starting again after a
/// corrupt file) before the job is handed back to the coordinator.
const MAX_TRIES: usize = 8;

fn io(path: &Path) -> impl Fn(std::io::Error) -> CacheError + '_ {
    move |source| CacheError::Io { path: path.to_path_buf(), source }
}

impl DatasetCache {
    pub fn new(dir: PathBuf) -> DatasetCache {
        DatasetCache { dir }
    }

    /// Waits for the exclusive download lock of `hash` (held until dropped).
    async fn lock(&self, hash: &str) -> Result<std::fs::File, CacheError> {
        let path = self.dir.join(format!(".{hash}.lock"));
        tokio::task::spawn_blocking(move || {
            let file =
                std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(io(&path))?;
            file.lock().map_err(io(&path))?;
            Ok(file)
        })
        .await
        .map_err(|e| CacheError::Bad {
            hash: hash.to_string(),
            message: format!("waiting for the download lock: {e}"),
        })?
    }

    pub fn path(&self, hash: &str) -> PathBuf {
        self.dir.join(format!("{hash}.parquet"))
    }

    /// The verified local copy of data set `hash`, fetching what is missing.
    pub async fn ensure(&self, client: &mut Client, hash: &str, expected_bytes: u64) -> Result<PathBuf, CacheError> {
        let bad = |message: String| CacheError::Bad { hash: hash.to_string(), message };
        if !(hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit())) {
            return Err(bad("not a SHA-256 hash".into()));
        }
        let target = self.path(hash);
        if target.is_file() {
            return Ok(target);
        }
        tokio::fs::create_dir_all(&self.dir).await.map_err(io(&self.dir))?;
        let _lock = self.lock(hash).await?;
        if target.is_file() {
            // Another process fetched it while this one waited.
            return Ok(target);
        }
        let part = self.dir.join(format!(".{hash}.part"));
        let mut backoff = Backoff::new(std::time::Duration::from_secs(5));
        let mut tries = 0;
        loop {
            tries += 1;
            let last = tries >= MAX_TRIES;
            let problem = match self.transfer(client, hash, &part).await {
                Ok(total) if expected_bytes > 0 && total != expected_bytes => {
                    format!("{total} bytes received, the assignment said {expected_bytes}")
                }
                Ok(_) => {
                    let digest = {
                        let part = part.clone();
                        tokio::task::spawn_blocking(move || sha256_file(&part).map_err(io(&part)))
                            .await
                            .map_err(|e| bad(format!("hashing: {e}")))??
                    };
                    if digest == hash {
                        break;
                    }
                    format!("the received file hashes to {digest}")
                }
                Err(CacheError::Fetch { status, .. }) if is_transient(&status) && !last => {
                    tracing::warn!(hash, error = %status, "data set transfer interrupted; resuming");
                    tokio::time::sleep(backoff.delay()).await;
                    continue;
                }
                Err(CacheError::Bad { message, .. }) => message,
                Err(e) => return Err(e),
            };
            // A corrupt or short file is thrown away and fetched again whole.
            let _ = tokio::fs::remove_file(&part).await;
            if last {
                return Err(bad(format!("{problem}; discarded, {tries} tries")));
            }
            tracing::warn!(hash, problem, "data set transfer corrupt; discarded, fetching again");
            tokio::time::sleep(backoff.delay()).await;
        }
        tokio::fs::rename(&part, &target).await.map_err(io(&target))?;
        tracing::info!(hash, path = %target.display(), "data set cached");
        Ok(target)
    }

    /// Append to `part` from its current length to the end; the total size.
    async fn transfer(&self, client: &mut Client, hash: &str, part: &Path) -> Result<u64, CacheError> {
        let fetch = |status| CacheError::Fetch { hash: hash.to_string(), status };
        let offset = match tokio::fs::metadata(part).await {
            Ok(m) => m.len(),
            Err(_) => 0,
        };
        let mut file = tokio::fs::OpenOptions::new().create(true).append(true).open(part).await.map_err(io(part))?;
        let mut stream = client
            .fetch_dataset(pb::FetchDatasetRequest { dataset_hash: hash.to_string(), offset })
            .await
            .map_err(fetch)?
            .into_inner();
        let mut at = offset;
        let mut total = None;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(fetch)?;
            if chunk.offset != at {
                let _ = tokio::fs::remove_file(part).await;
                return Err(CacheError::Bad {
                    hash: hash.to_string(),
                    message: format!("chunk at offset {} while expecting {at}; restarting the transfer", chunk.offset),
                });
            }
            file.write_all(&chunk.data).await.map_err(io(part))?;
            at += chunk.data.len() as u64;
            total = Some(chunk.total_bytes);
        }
        file.flush().await.map_err(io(part))?;
        file.sync_all().await.map_err(io(part))?;
        match total {
            Some(t) if t == at => Ok(t),
            // Nothing was left to send: the part file was already whole.
            None => Ok(at),
            Some(t) => Err(fetch(tonic::Status::unavailable(format!("stream ended at byte {at} of {t}")))),
        }
    }
}
