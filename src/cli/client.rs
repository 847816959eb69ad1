//! `intervene submit | status | cancel`: the user's side of a coordinator.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use intervene_analysis::output::{Align, TextTable};
use intervene_proto::pb;
use intervene_worker::agent::client::Client;
use tokio_stream::StreamExt;
use tonic::Code;

use intervene_coordinator::scheduler::Scheduler;
use intervene_coordinator::scheduler::local::LocalView;

use super::fleet::{ClientArgs, runtime};
use super::progress::{Bars, arm_table, study_table};

#[derive(Debug, clap::Args)]
pub struct SubmitArgs {
    /// The study file (TOML).
    pub file: PathBuf,
    #[command(flatten)]
    pub client: ClientArgs,
    /// Accept an edited study as its next version (otherwise refused with what changed).
    #[arg(long)]
    pub new_version: bool,
    /// Directory on the coordinator's machine that the study's relative data
    /// paths resolve against (default: the study file's own directory, for a
    /// coordinator on this machine).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// A study name (its latest version) or NAME@VERSION; every study when omitted.
    pub study: Option<String>,
    #[command(flatten)]
    pub client: ClientArgs,
    /// Read this state folder instead of asking a coordinator (what
    /// `intervene run` left; the default when no --coordinator is given).
    #[arg(long, value_name = "DIR", conflicts_with = "watch")]
    pub state: Option<PathBuf>,
    /// Follow the study with live progress bars until it is finished.
    #[arg(long, requires = "study")]
    pub watch: bool,
    /// One line per job: arm, seed, state, attempts and the last failure.
    #[arg(long, requires = "study", conflicts_with = "watch")]
    pub jobs: bool,
    /// Print JSON instead of a table.
    #[arg(long, conflicts_with = "watch")]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct RetryArgs {
    /// A study name (its latest version) or NAME@VERSION.
    pub study: String,
    #[command(flatten)]
    pub client: ClientArgs,
    /// Queue the jobs again in this state folder (no coordinator may be
    /// running on it); the next `intervene run` of the study trains them.
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct CancelArgs {
    /// A study name (its latest version) or NAME@VERSION.
    pub study: String,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// A refusal from the coordinator as the user should read it.
pub fn explain(status: tonic::Status) -> anyhow::Error {
    match status.code() {
        Code::Unauthenticated => anyhow::anyhow!("the coordinator refused the token: {}", status.message()),
        Code::Unavailable => anyhow::anyhow!("the coordinator is not reachable: {}", status.message()),
        Code::FailedPrecondition | Code::InvalidArgument | Code::NotFound => anyhow::anyhow!("{}", status.message()),
        _ => anyhow::anyhow!("{:?}: {}", status.code(), status.message()),
    }
}

/// The submission of a study file: its text, name and directory (relative
/// data paths resolve against it, on the coordinator's machine).
pub fn submission(file: &Path, new_version: bool) -> anyhow::Result<pb::SubmitStudyRequest> {
    let spec_toml = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let dir = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let base_dir = dir.canonicalize().with_context(|| format!("the folder of {}", file.display()))?;
    Ok(pb::SubmitStudyRequest {
        spec_toml,
        file_name: file.display().to_string(),
        base_dir: base_dir.display().to_string(),
        new_version,
    })
}

/// "submitted study s version 1: 4 jobs (4 new, 0 already queued or
/// running, 0 already done)". The counts add up to the total whatever state
/// the study was in (a job left queued by an earlier submission is not
/// counted as queued by this one); on a resumption the first count is the
/// failed or cancelled jobs queued again.
pub fn describe_submission(r: &pb::SubmitStudyResponse) -> String {
    let (what, queued) = if r.resumed { ("resumed", "queued again") } else { ("submitted", "new") };
    let mut counts = format!(
        "{} {queued}, {} already queued or running, {} already done",
        r.jobs_queued, r.jobs_in_progress, r.jobs_already_done
    );
    // Fatal failures are neither queued again nor done: say so rather than
    // leave the counts short of the total.
    let rest = r.jobs_total.saturating_sub(r.jobs_queued + r.jobs_in_progress + r.jobs_already_done);
    if rest > 0 {
        counts.push_str(&format!(", {rest} failed and not retried (intervene retry queues them)"));
    }
    format!(
        "{what} study {} version {}: {} jobs ({counts}), data set {}",
        r.study,
        r.version,
        r.jobs_total,
        intervene_proto::job::short_id(&r.dataset_hash)
    )
}

pub fn submit(args: SubmitArgs) -> anyhow::Result<ExitCode> {
    let mut request = submission(&args.file, args.new_version)?;
    match args.data_dir {
        // The data lives on the coordinator's machine: it checks the paths.
        Some(dir) => request.base_dir = dir,
        // Check locally first: errors point into the user's own file.
        None => drop(super::plan::load_and_plan(&args.file)?),
    }
    let connection = args.client.connection()?;
    runtime()?.block_on(async move {
        // The channel needs the runtime to exist when it is made.
        let mut client = connection.client()?;
        let r = client.submit_study(request).await.map_err(explain)?.into_inner();
        println!("{}", describe_submission(&r));
        Ok(ExitCode::SUCCESS)
    })
}

/// Follow a study with progress bars until it is finished; its last status.
pub async fn watch(client: &mut Client, study: &str) -> anyhow::Result<pb::StudyStatus> {
    let mut stream =
        client.watch_study(pb::GetStudyRequest { study: study.to_string() }).await.map_err(explain)?.into_inner();
    let first = stream.next().await.context("the coordinator closed the watch at once")?.map_err(explain)?;
    let bars = Bars::new(&first);
    let mut last = first;
    while last.state == "running" {
        match stream.next().await {
            Some(Ok(s)) => {
                bars.update(&s);
                last = s;
            }
            Some(Err(e)) => {
                bars.finish();
                return Err(explain(e));
            }
            None => break,
        }
    }
    bars.finish();
    Ok(last)
}

/// Where status and retry look: a coordinator when one is named, otherwise
/// a state folder on this machine.
fn local_state(client: &ClientArgs, state: &Option<PathBuf>) -> Option<PathBuf> {
    match (state, &client.coordinator) {
        (Some(dir), _) => Some(dir.clone()),
        (None, None) => Some(PathBuf::from(".intervene")),
        (None, Some(_)) => None,
    }
}

pub fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    if let Some(dir) = local_state(&args.client, &args.state) {
        let view = LocalView::open(&dir).map_err(|e| {
            anyhow::anyhow!("{e}\n(pass --coordinator URL or set INTERVENE_COORDINATOR to ask a coordinator)")
        })?;
        let shown = match &args.study {
            None => Shown::Studies(view.list()),
            Some(study) if args.jobs => Shown::Jobs(view.jobs(study).map_err(|e| anyhow::anyhow!("{e}"))?),
            Some(study) => Shown::Study(Box::new(view.status(study).map_err(|e| anyhow::anyhow!("{e}"))?)),
        };
        print!("{}", shown.render(args.json));
        return Ok(ExitCode::SUCCESS);
    }
    let connection = args.client.connection()?;
    runtime()?.block_on(async move {
        // The channel needs the runtime to exist when it is made.
        let mut client = connection.client()?;
        let shown = match args.study {
            None => {
                let r = client.list_studies(pb::ListStudiesRequest {}).await.map_err(explain)?.into_inner();
                Shown::Studies(r.studies)
            }
            Some(study) if args.watch => {
                let last = watch(&mut client, &study).await?;
                Shown::Study(Box::new(last))
            }
            Some(study) if args.jobs => {
                let r = client.list_jobs(pb::GetStudyRequest { study }).await.map_err(explain)?.into_inner();
                Shown::Jobs(r)
            }
            Some(study) => {
                let s = client.get_study(pb::GetStudyRequest { study }).await.map_err(explain)?.into_inner();
                Shown::Study(Box::new(s))
            }
        };
        print!("{}", shown.render(args.json));
        Ok(ExitCode::SUCCESS)
    })
}

/// What `intervene status` prints.
enum Shown {
    Studies(Vec<pb::StudyStatus>),
    Study(Box<pb::StudyStatus>),
    Jobs(pb::ListJobsResponse),
}

impl Shown {
    fn render(&self, json: bool) -> String {
        match (self, json) {
            (Shown::Studies(s), false) if s.is_empty() => "no studies\n".into(),
            (Shown::Studies(s), false) => study_table(s),
            (Shown::Study(s), false) => arm_table(s),
            (Shown::Jobs(j), false) => job_table(j),
            (Shown::Studies(s), true) => json_line(serde_json::Value::Array(s.iter().map(study_json).collect())),
            (Shown::Study(s), true) => json_line(study_json(s)),
            (Shown::Jobs(j), true) => json_line(jobs_json(j)),
        }
    }
}

fn json_line(v: serde_json::Value) -> String {
    format!("{v:#}\n")
}

fn study_json(s: &pb::StudyStatus) -> serde_json::Value {
    serde_json::json!({
        "study": s.study,
        "version": s.version,
        "state": s.state,
        "jobs_total": s.jobs_total,
        "jobs_queued": s.jobs_queued,
        "jobs_running": s.jobs_running,
        "jobs_succeeded": s.jobs_succeeded,
        "jobs_failed": s.jobs_failed,
        "jobs_cancelled": s.jobs_cancelled,
        "eta_ms": s.eta_ms,
        "results_dir": s.results_dir,
        "arms": s.arms.iter().map(|a| serde_json::json!({
            "arm": a.arm,
            "intervention": a.intervention,
            "kind": a.kind,
            "queued": a.queued,
            "running": a.running,
            "succeeded": a.succeeded,
            "failed": a.failed,
            "cancelled": a.cancelled,
            "total": a.total,
            "eta_ms": a.eta_ms,
        })).collect::<Vec<_>>(),
    })
}

fn jobs_json(r: &pb::ListJobsResponse) -> serde_json::Value {
    serde_json::json!({
        "study": r.study,
        "version": r.version,
        "jobs": r.jobs.iter().map(|j| serde_json::json!({
            "job_id": j.job_id,
            "arms": j.arms,
            "seed": j.seed,
            "state": j.state,
            "attempts": j.attempts,
            "failures": j.failures,
            "last_reason": (!j.last_reason.is_empty()).then_some(&j.last_reason),
            "worker": (!j.worker.is_empty()).then_some(&j.worker),
        })).collect::<Vec<_>>(),
    })
}

/// One row per job; the last failure cut to its first line.
fn job_table(r: &pb::ListJobsResponse) -> String {
    let mut t = TextTable::new(&[
        ("JOB", Align::Left),
        ("ARM", Align::Left),
        ("SEED", Align::Right),
        ("STATE", Align::Left),
        ("ATTEMPTS", Align::Right),
        ("FAILURES", Align::Right),
        ("WORKER", Align::Left),
        ("LAST FAILURE", Align::Left),
    ]);
    for j in &r.jobs {
        let reason = j.last_reason.lines().next().unwrap_or("");
        let reason = if reason.chars().count() > 100 {
            format!("{}...", reason.chars().take(97).collect::<String>())
        } else {
            reason.to_string()
        };
        t.row(vec![
            intervene_proto::job::short_id(&j.job_id).to_string(),
            j.arms.join(","),
            j.seed.to_string(),
            j.state.clone(),
            j.attempts.to_string(),
            j.failures.to_string(),
            if j.worker.is_empty() { "-".into() } else { j.worker.clone() },
            if reason.is_empty() { "-".into() } else { reason },
        ]);
    }
    format!("study {} v{}: {} jobs\n{}", r.study, r.version, r.jobs.len(), t.render())
}

pub fn retry(args: RetryArgs) -> anyhow::Result<ExitCode> {
    let print = |r: &pb::SubmitStudyResponse| {
        println!(
            "study {} v{}: {} failed job(s) queued again (same jobs, same seeds, attempts counted from 0); {} of {} done",
            r.study, r.version, r.jobs_queued, r.jobs_already_done, r.jobs_total
        )
    };
    if let Some(dir) = local_state(&args.client, &args.state) {
        return runtime()?.block_on(async move {
            let scheduler = Scheduler::open(&dir, Default::default())
                .await
                .with_context(|| format!("opening the state directory {}", dir.display()))?;
            let r = scheduler.retry(&args.study).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            scheduler.flush_tables().await;
            print(&r);
            if r.jobs_queued > 0 {
                println!("run the study again (intervene run FILE --state {}) to train them", dir.display());
            }
            Ok(ExitCode::SUCCESS)
        });
    }
    let connection = args.client.connection()?;
    runtime()?.block_on(async move {
        let mut client = connection.client()?;
        let r =
            client.retry_study(pb::GetStudyRequest { study: args.study.clone() }).await.map_err(explain)?.into_inner();
        print(&r);
        Ok(ExitCode::SUCCESS)
    })
}

pub fn cancel(args: CancelArgs) -> anyhow::Result<ExitCode> {
    let connection = args.client.connection()?;
    runtime()?.block_on(async move {
        // The channel needs the runtime to exist when it is made.
        let mut client = connection.client()?;
        let r = client
            .cancel_study(pb::CancelStudyRequest { study: args.study.clone() })
            .await
            .map_err(explain)?
            .into_inner();
        println!(
            "cancelled {}: {} queued jobs dropped, {} running jobs asked to stop",
            args.study, r.dropped_queued, r.stopping_running
        );
        Ok(ExitCode::SUCCESS)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resubmission_says_which_jobs_were_already_under_way() {
        let r = pb::SubmitStudyResponse {
            study: "tiny".into(),
            version: 1,
            jobs_total: 2,
            jobs_in_progress: 2,
            resumed: true,
            dataset_hash: "ab".repeat(32),
            ..Default::default()
        };
        let line = describe_submission(&r);
        assert!(line.contains("2 jobs (0 queued again, 2 already queued or running, 0 already done)"), "{line}");
        let fresh = pb::SubmitStudyResponse { jobs_total: 3, jobs_queued: 2, jobs_already_done: 1, ..r.clone() };
        let fresh = pb::SubmitStudyResponse { resumed: false, jobs_in_progress: 0, ..fresh };
        let line = describe_submission(&fresh);
        assert!(line.contains("3 jobs (2 new, 0 already queued or running, 1 already done)"), "{line}");
        let fatal = pb::SubmitStudyResponse { jobs_total: 4, ..fresh };
        assert!(describe_submission(&fatal).contains(", 1 failed and not retried"), "{}", describe_submission(&fatal));
    }
}
