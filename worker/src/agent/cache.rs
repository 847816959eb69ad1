//! The local data set cache: `<cache>/<sha256>.parquet`, fetched from the
//! coordinator by content hash (no shared filesystem), resumed from where a
//! broken transfer stopped, and verified against its hash before use.

use std::path::{Path, PathBuf};

use intervene_proto::pb;
use sha2::{Digest, Sha256};
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
    /// Distinguishes this agent's partial downloads from others sharing the
    /// folder (one agent per GPU).
    tag: String,
}

/// Transfer attempts (each resuming the previous) before giving up on a job.
const MAX_TRIES: usize = 8;

fn io(path: &Path) -> impl Fn(std::io::Error) -> CacheError + '_ {
    move |source| CacheError::Io { path: path.to_path_buf(), source }
}

impl DatasetCache {
    pub fn new(dir: PathBuf, tag: &str) -> DatasetCache {
        let tag = tag.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
        DatasetCache { dir, tag }
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
        let part = self.dir.join(format!(".{hash}.{}.part", self.tag));
        let mut backoff = Backoff::new(std::time::Duration::from_secs(5));
        let mut tries = 0;
        loop {
            tries += 1;
            match self.transfer(client, hash, &part).await {
                Ok(total) => {
                    if expected_bytes > 0 && total != expected_bytes {
                        let _ = tokio::fs::remove_file(&part).await;
                        return Err(bad(format!("{total} bytes received, the assignment said {expected_bytes}")));
                    }
                    break;
                }
                Err(CacheError::Fetch { status, .. }) if is_transient(&status) && tries < MAX_TRIES => {
                    tracing::warn!(hash, error = %status, "data set transfer interrupted; resuming");
                    tokio::time::sleep(backoff.delay()).await;
                }
                Err(e) => return Err(e),
            }
        }
        let digest = {
            let part = part.clone();
            tokio::task::spawn_blocking(move || sha256_file(&part))
                .await
                .map_err(|e| bad(format!("hashing: {e}")))??
        };
        if digest != hash {
            let _ = tokio::fs::remove_file(&part).await;
            return Err(bad(format!("the received file hashes to {digest}; discarded")));
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

fn sha256_file(path: &Path) -> Result<String, CacheError> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(io(path))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(io(path))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}
