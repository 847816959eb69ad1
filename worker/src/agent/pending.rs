//! Results not yet acknowledged by the coordinator, kept on disk until they
//! are: `<dir>/<study>@<version>-<job>-<attempt>.pb`, the `CompleteRequest`
//! protobuf, written atomically (`files::write_atomic`) before the
//! first send. A worker that dies, or a coordinator that is away, loses no
//! finished work: the next start of the agent resends every file here.

use std::path::PathBuf;

use intervene_proto::files::write_atomic;
use intervene_proto::pb;
use prost::Message;

#[derive(Debug, thiserror::Error)]
pub enum PendingError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

pub struct Pending {
    dir: PathBuf,
}

impl Pending {
    pub fn new(dir: PathBuf) -> Pending {
        Pending { dir }
    }

    fn file(&self, req: &pb::CompleteRequest) -> PathBuf {
        self.dir.join(format!("{}@{}-{}-{}.pb", req.study, req.study_version, req.job_id, req.attempt))
    }

    /// Keep `req` until [`Pending::remove`] is called for it.
    pub fn save(&self, req: &pb::CompleteRequest) -> Result<PathBuf, PendingError> {
        let path = self.file(req);
        let bytes = req.encode_to_vec();
        write_atomic(&path, |tmp| std::fs::write(tmp, &bytes))
            .map_err(|source| PendingError::Io { path: path.clone(), source })?;
        Ok(path)
    }

    pub fn remove(&self, req: &pb::CompleteRequest) {
        let path = self.file(req);
        if let Err(e) = std::fs::remove_file(&path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %path.display(), error = %e, "cannot remove an acknowledged result");
        }
    }

    /// Every kept result. A file that does not decode (cut short by a crash
    /// before the rename cannot happen; damage can) is reported and moved
    /// aside, never silently dropped.
    pub fn load(&self) -> Vec<pb::CompleteRequest> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return Vec::new() };
        let mut out = Vec::new();
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            if path.extension().is_none_or(|e| e != "pb") {
                continue;
            }
            match std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| pb::CompleteRequest::decode(b.as_slice()).map_err(|e| e.to_string()))
            {
                Ok(req) => out.push(req),
                Err(e) => {
                    let aside = path.with_extension("damaged");
                    tracing::error!(path = %path.display(), error = %e, moved_to = %aside.display(), "a kept result does not decode");
                    let _ = std::fs::rename(&path, &aside);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_survive_until_removed() {
        let dir = tempfile::tempdir().unwrap();
        let p = Pending::new(dir.path().join("pending"));
        assert!(p.load().is_empty());
        let req = pb::CompleteRequest {
            worker_id: "w-1".into(),
            job_id: "ab".repeat(32),
            attempt: 2,
            study: "s".into(),
            study_version: 1,
            result: Some(pb::JobResult::default()),
        };
        p.save(&req).unwrap();
        let again = Pending::new(dir.path().join("pending"));
        assert_eq!(again.load(), vec![req.clone()]);
        std::fs::write(dir.path().join("pending/junk.pb"), b"\xff\xff\xff").unwrap();
        assert_eq!(again.load(), vec![req.clone()], "a damaged file is set aside");
        assert!(dir.path().join("pending/junk.damaged").exists());
        again.remove(&req);
        assert!(again.load().is_empty());
    }
}
