//! `intervene run FILE`: the embedded default. An in-process coordinator
//! (state in `.intervene/` unless `--state`), N local workers talking to it
//! over loopback gRPC with a token generated for this run: the same code
//! paths as a fleet, so a study that runs here runs on a cluster. Live
//! progress bars while it runs, a per-arm summary of the outcomes at the end.
//! Interrupting it (Ctrl-C) stops the workers cleanly; running it again
//! resumes where it stopped.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use intervene_analysis::output::{Align, TextTable};
use intervene_coordinator::datasets::Datasets;
use intervene_coordinator::scheduler::Scheduler;
use intervene_coordinator::service::auth::{TokenCheck, generate_token};
use intervene_coordinator::service::server::{ServeConfig, serve};
use intervene_coordinator::summary::{ArmSummary, summarise};
use intervene_proto::pb;
use intervene_worker::agent::{self, Connection};

use super::client::{describe_submission, explain, submission, watch};
use super::fleet::{agent_configs, devices, runtime, scheduler_options, slots, stop_signal, trainer};

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The study file (TOML).
    pub file: PathBuf,
    /// Jobs to train at once, each in a process of its own (default: one
    /// per CPU core).
    #[arg(long)]
    pub workers: Option<usize>,
    /// State directory: ledger, data sets, result tables.
    #[arg(long, default_value = ".intervene", value_name = "DIR")]
    pub state: PathBuf,
    /// Device of the workers: cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// One worker per GPU, each job on its worker's GPU: `all`, or indices
    /// such as `0,1` (instead of --workers and --device).
    #[arg(long, value_name = "all|0,1,..", conflicts_with_all = ["workers", "device"])]
    pub gpus: Option<String>,
    /// Jobs at once on each GPU (--gpus or --device cuda:N), each in its own
    /// process; the first job's memory decides whether K fit.
    #[arg(long, value_name = "K", default_value_t = 1, conflicts_with = "workers")]
    pub jobs_per_gpu: usize,
    /// Torch threads per job. A job's result is bit-identical on CPU for a
    /// given thread count, whatever runs beside it; the default of 1 keeps
    /// results the same for any --workers.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Accept an edited study as its next version.
    #[arg(long)]
    pub new_version: bool,
    /// TESTING ONLY: fake training of SECONDS per job (see `intervene worker`).
    #[cfg(fake_train)]
    #[arg(long, hide = true, value_name = "SECONDS")]
    pub fake_train: Option<f64>,
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let workers = args.workers.unwrap_or(cores);
    if workers == 0 {
        anyhow::bail!("--workers 0: at least one worker is needed");
    }
    if args.threads == 0 {
        anyhow::bail!("--threads 0: at least one torch thread per job is needed");
    }
    let (_, plan) = super::plan::load_and_plan(&args.file)?;
    let request = submission(&args.file, args.new_version)?;
    let device = devices(&args.device, args.gpus.as_deref())?;
    // --gpus (or --jobs-per-gpu): K workers per GPU; otherwise --workers of
    // the one device.
    let worker_slots = if args.gpus.is_some() || args.jobs_per_gpu != 1 {
        slots(&device, args.jobs_per_gpu)?
    } else {
        slots(&std::iter::repeat_n(device[0].clone(), workers).collect::<Vec<_>>(), 1)?
    };
    let workers = worker_slots.len();
    #[cfg(fake_train)]
    let fake = args.fake_train;
    #[cfg(not(fake_train))]
    let fake = None;
    let trainer = trainer(fake, Some(args.threads))?;
    eprintln!("{workers} worker(s), {} torch thread(s) per job, each job in its own process", args.threads);
    // Local workers die with this process: a short lease lets a rerun take
    // over what an interrupted run left in flight without a long wait.
    let opts = scheduler_options(10_000, 2_000)?;
    let token = generate_token();
    let check = TokenCheck::new(&token).map_err(|e| anyhow::anyhow!(e))?;

    runtime()?.block_on(async move {
        // Only this study's jobs: another study left unfinished in the same
        // state folder is said, not silently run.
        let scheduler = Scheduler::open_for(&args.state, opts, Some(plan.study.clone()))
            .await
            .with_context(|| format!("opening the state directory {}", args.state.display()))?;
        note_other_studies(&scheduler, &plan.study, &args.state);
        let datasets = Arc::new(Datasets::new(&args.state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("binding a loopback port")?;
        let url = format!("http://{}", listener.local_addr()?);
        let (server_stop_tx, server_stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(
            listener,
            scheduler.clone(),
            datasets,
            ServeConfig { token: check, tls: None },
            async move {
                let _ = server_stop_rx.await;
            },
        ));

        let connection = Connection { url, token, tls_ca: None, tls_domain: None };
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut workers = Vec::new();
        for (i, mut cfg) in agent_configs(
            &connection,
            &worker_slots,
            Some("local"),
            &args.state.join("worker"),
            Duration::from_millis(500),
        )
        .into_iter()
        .enumerate()
        {
            cfg.name = format!("local-{}", i + 1);
            cfg.pending_dir = args.state.join("worker/pending").join(&cfg.name);
            workers.push(tokio::spawn(agent::run(cfg, trainer.clone(), stop_rx.clone())));
        }

        // The workers as one task: when every one of them stopped on its own
        // (a refused --jobs-per-gpu), nothing would ever finish the study.
        let mut fleet = tokio::spawn(async move {
            let mut errors = Vec::new();
            for w in workers {
                match w.await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => errors.push(e.to_string()),
                    Err(e) => errors.push(format!("a worker task failed: {e}")),
                }
            }
            errors
        });
        let mut client = connection.client()?;
        let mut fleet_errors = None;
        let outcome = async {
            let r = client.submit_study(request).await.map_err(explain)?.into_inner();
            eprintln!("{}", describe_submission(&r));
            let study = format!("{}@{}", r.study, r.version);
            tokio::select! {
                last = watch(&mut client, &study) => last.map(|s| (r, Some(s))),
                errors = &mut fleet => {
                    fleet_errors = Some(errors.unwrap_or_default());
                    Ok((r, None))
                }
                _ = stop_signal() => {
                    eprintln!("interrupted: stopping the workers; run the same command again to resume");
                    Ok((r, None))
                }
            }
        }
        .await;

        let _ = stop_tx.send(true);
        let stopped_early = fleet_errors.is_some();
        let errors = match fleet_errors {
            Some(e) => e,
            None => fleet.await.unwrap_or_default(),
        };
        let mut seen = std::collections::HashSet::new();
        for e in &errors {
            // K agents of a GPU refused for one reason say it once.
            if seen.insert(e.clone()) {
                eprintln!("{}: {e}", if stopped_early { "error" } else { "warning: a worker stopped with an error" });
            }
        }
        let _ = server_stop_tx.send(());
        server.await.context("the coordinator task")??;
        // Results are acknowledged before their table rows are written.
        scheduler.flush_tables().await;

        let (submitted, last) = outcome?;
        if stopped_early {
            eprintln!("every worker stopped before the study finished; what they finished is kept");
            return Ok(ExitCode::FAILURE);
        }
        let Some(last) = last else { return Ok(ExitCode::from(130)) };
        print_end(&args.state, &submitted, &last)
    })
}

/// Another study left unfinished in the same state folder is said, not run.
fn note_other_studies(scheduler: &Scheduler, study: &str, state: &std::path::Path) {
    for other in scheduler.list() {
        let left = other.jobs_queued + other.jobs_running;
        if other.study != study && left > 0 && other.state != "cancelled" {
            eprintln!(
                "note: {} also holds study `{}` v{} with {left} unfinished jobs; this run leaves them \
                 (run its study file to resume it)",
                state.display(),
                other.study,
                other.version
            );
        }
    }
}

/// The final line, the per-arm table and where the results are; the exit
/// code says whether every job succeeded.
fn print_end(
    state: &std::path::Path,
    submitted: &pb::SubmitStudyResponse,
    last: &pb::StudyStatus,
) -> anyhow::Result<ExitCode> {
    let summary = summarise(state, &submitted.study, submitted.version)?;
    println!(
        "study {} v{}: {} ({} of {} jobs succeeded, {} failed, {} cancelled)",
        last.study,
        last.version,
        last.state,
        last.jobs_succeeded,
        last.jobs_total,
        last.jobs_failed,
        last.jobs_cancelled
    );
    print!("{}", summary_table(&summary));
    println!("results: {}", last.results_dir);
    Ok(if last.state == "succeeded" { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Per arm: n, then mean ± sd of each outcome.
pub fn summary_table(arms: &[ArmSummary]) -> String {
    let names: Vec<String> =
        arms.first().map(|a| a.outcomes.iter().map(|(n, ..)| n.clone()).collect()).unwrap_or_default();
    let mut headers: Vec<(String, Align)> =
        vec![("ARM".into(), Align::Left), ("KIND".into(), Align::Left), ("N".into(), Align::Right)];
    headers.extend(names.iter().map(|n| (n.to_uppercase(), Align::Right)));
    let refs: Vec<(&str, Align)> = headers.iter().map(|(h, a)| (h.as_str(), *a)).collect();
    let mut t = TextTable::new(&refs);
    let num = |v: f64| if v.is_nan() { "-".to_string() } else { format!("{v:.2}") };
    for a in arms {
        let mut row = vec![a.arm.clone(), a.kind.clone(), format!("{}/{}", a.n, a.total)];
        for (_, mean, sd) in &a.outcomes {
            row.push(if sd.is_nan() { num(*mean) } else { format!("{} ± {}", num(*mean), num(*sd)) });
        }
        t.row(row);
    }
    t.render()
}
