//! `intervene submit | status | cancel`: the user's side of a coordinator.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use intervene_proto::pb;
use intervene_worker::agent::client::Client;
use tokio_stream::StreamExt;
use tonic::Code;

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
    /// Follow the study with live progress bars until it is finished.
    #[arg(long, requires = "study")]
    pub watch: bool,
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

pub fn describe_submission(r: &pb::SubmitStudyResponse) -> String {
    let what = if r.resumed { "resumed" } else { "submitted" };
    format!(
        "{what} study {} version {}: {} jobs ({} queued, {} already done), data set {}",
        r.study,
        r.version,
        r.jobs_total,
        r.jobs_queued,
        r.jobs_already_done,
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

pub fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let connection = args.client.connection()?;
    runtime()?.block_on(async move {
        // The channel needs the runtime to exist when it is made.
        let mut client = connection.client()?;
        match args.study {
            None => {
                let r = client.list_studies(pb::ListStudiesRequest {}).await.map_err(explain)?.into_inner();
                if r.studies.is_empty() {
                    println!("no studies");
                } else {
                    print!("{}", study_table(&r.studies));
                }
            }
            Some(study) if args.watch => {
                let last = watch(&mut client, &study).await?;
                print!("{}", arm_table(&last));
            }
            Some(study) => {
                let s = client.get_study(pb::GetStudyRequest { study }).await.map_err(explain)?.into_inner();
                print!("{}", arm_table(&s));
            }
        }
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
