//! Results not yet acknowledged by the coordinator, kept on disk until they
//! are: `<dir>/<study>@<version>-<job>-<attempt>.pb`, the `CompleteRequest`
//! protobuf, written atomically (temporary file, fsync, rename) before the
//! first send. A worker that dies, or a coordinator that is away, loses no
//! finished work: the next start of the agent resends every file here.

use std::path::{Path, PathBuf};

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
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| PendingError::Io { path, source }
        };
        std::fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let path = self.file(req);
        let tmp = path.with_extension("tmp");
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
            f.write_all(&req.encode_to_vec()).map_err(io(&tmp))?;
            f.sync_all().map_err(io(&tmp))?;
        }
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        if let Ok(d) = std::fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
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
