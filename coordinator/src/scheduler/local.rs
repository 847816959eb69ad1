//! A state folder read without a coordinator: `intervene status --state
//! DIR` and `status STUDY --jobs --state DIR` on the machine that ran
//! `intervene run`. The ledger is read as a coordinator would recover it,
//! but nothing is written: the view is what the ledger last committed (jobs
//! in flight then show as running).

use std::path::{Path, PathBuf};
use std::time::Duration;

use intervene_proto::pb;

use super::recover::rebuild;
use super::state::State;
use super::status::{find, jobs_view, snapshot};
use crate::store::{StoreError, ledger_path, load, open_connection};

pub struct LocalView {
    st: State,
    dir: PathBuf,
}

impl LocalView {
    /// Reads `state_dir`'s ledger; an error when there is none.
    pub fn open(state_dir: &Path) -> Result<LocalView, StoreError> {
        let path = ledger_path(state_dir);
        if !path.is_file() {
            return Err(StoreError::State {
                path: state_dir.to_path_buf(),
                message: "no ledger here: no study has been run with this state folder (see --state)".into(),
            });
        }
        let conn = open_connection(&path)?;
        let snapshot = load::load(&conn, &path)?;
        // Recovery's ledger writes (burnt attempt numbers) are dropped: this
        // is a view, and the next coordinator makes them itself.
        let (st, _writes) = rebuild(snapshot, Duration::from_secs(30), &path)?;
        Ok(LocalView { st, dir: state_dir.to_path_buf() })
    }

    pub fn list(&self) -> Vec<pb::StudyStatus> {
        (0..self.st.studies.len()).map(|slot| snapshot(&self.st, slot, Duration::from_secs(30), &self.dir)).collect()
    }

    pub fn status(&self, study: &str) -> super::Result<pb::StudyStatus> {
        Ok(snapshot(&self.st, find(&self.st, study)?, Duration::from_secs(30), &self.dir))
    }

    pub fn jobs(&self, study: &str) -> super::Result<pb::ListJobsResponse> {
        Ok(jobs_view(&self.st, find(&self.st, study)?))
    }
}
