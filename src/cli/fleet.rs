//! `intervene coordinator | worker`: serving the coordinator and running
//! workers against it. The user commands (`submit`, `status`, `cancel`)
//! are in `client.rs`, the embedded `run` in `run.rs`.
//!
//! The token never appears on a command line (where `ps` would show it):
//! it comes from INTERVENE_TOKEN or from the file named by --token-file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use intervene_coordinator::datasets::Datasets;
use intervene_coordinator::scheduler::{Options, Scheduler};
use intervene_coordinator::service::auth::TokenCheck;
use intervene_coordinator::service::server::{ServeConfig, TlsFiles, serve};
use intervene_proto::device::Device;
use intervene_worker::agent::sharing::{GpuShare, NvidiaSmi};
use intervene_worker::agent::{self, AgentConfig, Connection, Trainer};

pub use super::client::{CancelArgs, RetryArgs, StatusArgs, SubmitArgs, cancel, retry, status, submit};
pub use super::run::{RunArgs, run};

/// How a client finds and authenticates to the coordinator.
#[derive(Debug, Clone, clap::Args)]
pub struct ClientArgs {
    /// The coordinator, http://HOST:PORT or https://HOST:PORT.
    #[arg(long, env = "INTERVENE_COORDINATOR", value_name = "URL")]
    pub coordinator: Option<String>,
    /// File holding the bearer token (otherwise INTERVENE_TOKEN is read).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// PEM file of the CA that signed the coordinator's certificate (https).
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// Check the coordinator's certificate against this name instead of the URL's host.
    #[arg(long, value_name = "NAME")]
    pub tls_domain: Option<String>,
}

impl ClientArgs {
    pub fn connection(&self) -> anyhow::Result<Connection> {
        let tls_ca = match &self.tls_ca {
            Some(p) => Some(std::fs::read(p).with_context(|| format!("--tls-ca {}", p.display()))?),
            None => None,
        };
        let Some(url) = self.coordinator.clone() else {
            bail!("no coordinator: pass --coordinator URL (http://HOST:PORT) or set INTERVENE_COORDINATOR");
        };
        Ok(Connection {
            url,
            token: read_token(self.token_file.as_deref())?,
            tls_ca,
            tls_domain: self.tls_domain.clone(),
        })
    }
}

/// The token from --token-file, else INTERVENE_TOKEN.
pub fn read_token(file: Option<&Path>) -> anyhow::Result<String> {
    let token = match file {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("--token-file {}", path.display()))?
            .trim()
            .to_string(),
        None => match std::env::var("INTERVENE_TOKEN") {
            Ok(t) => t.trim().to_string(),
            Err(_) => bail!("no token: set INTERVENE_TOKEN or pass --token-file FILE (a file holding the token)"),
        },
    };
    if token.is_empty() {
        bail!(
            "the token is empty (from {})",
            file.map_or("INTERVENE_TOKEN".to_string(), |p| format!("--token-file {}", p.display()))
        );
    }
    Ok(token)
}

pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

// ------------------------------------------------------------ coordinator

#[derive(Debug, clap::Args)]
pub struct CoordinatorArgs {
    /// Address to serve on; port 0 picks a free port (printed on start).
    #[arg(long, default_value = "127.0.0.1:50051", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// State directory: the ledger, data sets and result tables.
    #[arg(long, default_value = ".intervene", value_name = "DIR")]
    pub state: PathBuf,
    /// File holding the bearer token (otherwise INTERVENE_TOKEN is read).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// PEM certificate chain: serve TLS (with --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Milliseconds without a heartbeat before a lease expires.
    #[arg(long, default_value_t = 30_000, value_name = "MS")]
    pub lease_ttl_ms: u64,
    /// Milliseconds between a worker's heartbeats.
    #[arg(long, default_value_t = 5_000, value_name = "MS")]
    pub heartbeat_ms: u64,
    /// On SIGTERM, milliseconds to keep serving (handing out no new jobs)
    /// while workers give their leases back; 0 stops at once. The default
    /// fits inside Slurm's and Kubernetes' 30 s between SIGTERM and SIGKILL.
    #[arg(long, default_value_t = 20_000, value_name = "MS")]
    pub drain_ms: u64,
}

pub fn scheduler_options(lease_ttl_ms: u64, heartbeat_ms: u64) -> anyhow::Result<Options> {
    if heartbeat_ms == 0 || lease_ttl_ms < 2 * heartbeat_ms {
        bail!(
            "--lease-ttl-ms {lease_ttl_ms} must be at least twice --heartbeat-ms {heartbeat_ms} (one lost heartbeat must not expire a lease)"
        );
    }
    Ok(Options {
        lease_ttl: Duration::from_millis(lease_ttl_ms),
        heartbeat_interval: Duration::from_millis(heartbeat_ms),
        max_lease_wait: Duration::from_secs(60),
    })
}

pub fn coordinator(args: CoordinatorArgs) -> anyhow::Result<ExitCode> {
    let token = TokenCheck::new(&read_token(args.token_file.as_deref())?).map_err(|e| anyhow::anyhow!("token: {e}"))?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(TlsFiles {
            cert_pem: std::fs::read(cert).with_context(|| format!("--tls-cert {}", cert.display()))?,
            key_pem: std::fs::read(key).with_context(|| format!("--tls-key {}", key.display()))?,
        }),
        _ => None,
    };
    let opts = scheduler_options(args.lease_ttl_ms, args.heartbeat_ms)?;
    runtime()?.block_on(async move {
        let scheduler = Scheduler::open(&args.state, opts)
            .await
            .with_context(|| format!("opening the state directory {}", args.state.display()))?;
        let datasets = Arc::new(Datasets::new(&args.state));
        let listener =
            tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("--listen {}", args.listen))?;
        let addr = listener.local_addr()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        println!("intervene coordinator listening on {scheme}://{addr} (state {})", args.state.display());
        let grace = Duration::from_millis(args.drain_ms);
        let stop = {
            let scheduler = scheduler.clone();
            async move {
                stop_signal().await;
                drain(&scheduler, grace).await;
            }
        };
        serve(listener, scheduler.clone(), datasets, ServeConfig { token, tls }, stop).await?;
        // Results are acknowledged before their table rows are written.
        scheduler.flush_tables().await;
        eprintln!("coordinator stopped");
        Ok(ExitCode::SUCCESS)
    })
}

/// After a stop signal: no more jobs handed out, and a wait (at most
/// `grace`, or until Ctrl-C) for the leased jobs to come back. A batch
/// system signals the coordinator and its workers together; stopping at
/// once would leave their releases unanswered and every job they held to
/// expire as a failed attempt. Only Ctrl-C cuts the wait short: Slurm's
/// `srun` forwards the SIGTERM a task already got, so a second SIGTERM is
/// routine, not impatience.
async fn drain(scheduler: &Scheduler, grace: Duration) {
    scheduler.drain();
    let held = scheduler.held_leases();
    if held == 0 || grace.is_zero() {
        return;
    }
    eprintln!(
        "stopping: waiting up to {} s for {held} leased job(s) to be given back (Ctrl-C stops at once)",
        grace.as_secs()
    );
    let deadline = tokio::time::Instant::now() + grace;
    let mut changed = scheduler.subscribe();
    let wait = async {
        while scheduler.held_leases() > 0 {
            tokio::select! {
                r = changed.changed() => if r.is_err() { break },
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
    };
    tokio::select! {
        _ = wait => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    match scheduler.held_leases() {
        0 => eprintln!("every lease was given back"),
        left => eprintln!("stopping with {left} job(s) still leased: they run again once their leases expire"),
    }
}

// ----------------------------------------------------------------- worker

#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Device to train on: cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu", conflicts_with = "gpus")]
    pub device: String,
    /// Run one worker per GPU: `all`, or indices such as `0,1`.
    #[arg(long, value_name = "all|0,1,..")]
    pub gpus: Option<String>,
    /// Jobs at once on each GPU, each in its own process. The first job of
    /// a GPU runs alone and its memory decides: K that would not fit the
    /// device is refused with how many would.
    #[arg(long, value_name = "K", default_value_t = 1)]
    pub jobs_per_gpu: usize,
    /// Name shown in `intervene status` (default HOST/DEVICE).
    #[arg(long)]
    pub name: Option<String>,
    /// Data set cache and unacknowledged results.
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Torch threads per job (torch's default when unset). A job's result
    /// is bit-identical on CPU for a given thread count; the count is
    /// recorded in the runs table (cpu_threads).
    #[arg(long)]
    pub threads: Option<usize>,
    /// TESTING ONLY (builds with the fake-train feature): do not train; each
    /// job sleeps SECONDS while reporting progress and returns a result
    /// derived from its id. For fleet fault and load tests.
    #[cfg(fake_train)]
    #[arg(long, hide = true, value_name = "SECONDS")]
    pub fake_train: Option<f64>,
    /// How long one Lease call waits for a job (ms).
    #[arg(long, hide = true, default_value_t = 10_000)]
    pub lease_wait_ms: u64,
}

/// The devices `--device` / `--gpus` ask for, by their canonical names
/// (`cpu`, `cuda:N`; `--device cuda` is `cuda:0`).
pub fn devices(device: &str, gpus: Option<&str>) -> anyhow::Result<Vec<String>> {
    // Only asked when GPUs are: counting them loads torch's CUDA backend.
    let available = if gpus.is_some() { agent::capabilities::cuda_devices() } else { 0 };
    let check = |i: usize| -> anyhow::Result<String> {
        if i >= available {
            bail!(
                "--gpus: GPU {i} asked for, but torch sees {available} CUDA device(s){}",
                if available > 0 { format!(" (0..{})", available - 1) } else { String::new() }
            );
        }
        Ok(Device::Cuda(i).to_string())
    };
    match gpus {
        None => {
            let parsed: Device = device.parse().map_err(|e| anyhow::anyhow!("--device: {e}"))?;
            if let Device::Cuda(i) = parsed {
                intervene_worker::device::check_cuda(i).map_err(|e| anyhow::anyhow!("--device {parsed}: {e}"))?;
            }
            Ok(vec![parsed.to_string()])
        }
        Some("all") => {
            if available == 0 {
                bail!("--gpus all: torch sees no CUDA device on this machine");
            }
            (0..available).map(check).collect()
        }
        Some(list) => {
            let mut out = Vec::new();
            for part in list.split(',') {
                let i: usize = part.trim().parse().with_context(|| {
                    format!("--gpus `{list}`: `{part}` is not a GPU index (expected all, or indices such as 0,1)")
                })?;
                let d = check(i)?;
                if out.contains(&d) {
                    bail!("--gpus `{list}`: GPU {i} is listed twice");
                }
                out.push(d);
            }
            Ok(out)
        }
    }
}

pub fn default_cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".intervene"))
        .join("intervene/worker")
}

/// The trainer the workers use: every job in a child process of this
/// binary (`intervene job-process`); in test builds, children that fake
/// training when `fake_train` is given.
pub fn trainer(fake_train: Option<f64>, threads: Option<usize>) -> anyhow::Result<Arc<dyn Trainer>> {
    let program = std::env::current_exe().context("finding the intervene binary to run jobs with")?;
    let mut t = intervene_worker::isolate::ProcessTrainer::new(program, threads);
    match fake_train {
        Some(s) if s.is_finite() && s >= 0.0 => t.fake_seconds = Some(s),
        Some(s) => bail!("--fake-train {s}: expected a number of seconds >= 0"),
        None => {}
    }
    Ok(Arc::new(t))
}

/// The agents of `--jobs-per-gpu K`: K for each GPU of `devices`, sharing
/// it (the first of each is measured); refused for a CPU, for K = 0, and
/// when the GPU's memory cannot be read.
pub fn slots(devices: &[String], jobs_per_gpu: usize) -> anyhow::Result<Vec<(String, Option<(Arc<GpuShare>, bool)>)>> {
    if jobs_per_gpu == 0 {
        bail!("--jobs-per-gpu 0: at least one job per GPU is needed");
    }
    if jobs_per_gpu == 1 {
        return Ok(devices.iter().map(|d| (d.clone(), None)).collect());
    }
    let mut out = Vec::new();
    for device in devices {
        let Ok(Device::Cuda(index)) = device.parse::<Device>() else {
            bail!(
                "--jobs-per-gpu {jobs_per_gpu}: `{device}` is not a GPU; it applies to --gpus or --device cuda:N \
                 (on the CPU, more workers run more jobs at once)"
            );
        };
        let share = GpuShare::new(jobs_per_gpu, device.clone(), Box::new(NvidiaSmi { index }));
        share.check_probe().map_err(|e| anyhow::anyhow!(e))?;
        out.extend((0..jobs_per_gpu).map(|slot| (device.clone(), Some((share.clone(), slot == 0)))));
    }
    Ok(out)
}

/// One agent config per slot (a device, or a share of one), named
/// HOST/DEVICE unless named, with `#N` for the N-th job of a shared GPU.
pub fn agent_configs(
    connection: &Connection,
    slots: &[(String, Option<(Arc<GpuShare>, bool)>)],
    name: Option<&str>,
    cache_dir: &Path,
    lease_wait: Duration,
) -> Vec<AgentConfig> {
    let host = agent::capabilities::hostname();
    let mut seen: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let many = slots.len() > 1;
    slots
        .iter()
        .map(|(device, share)| {
            let n = seen.entry(device.as_str()).or_default();
            *n += 1;
            let suffix = if share.is_some() { format!("#{n}") } else { String::new() };
            let name = match name {
                Some(n) if many => format!("{n}/{device}{suffix}"),
                Some(n) => n.to_string(),
                None => format!("{host}/{device}{suffix}"),
            };
            let dir_name: String =
                name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
            AgentConfig {
                connection: connection.clone(),
                name,
                device: device.clone(),
                cache_dir: cache_dir.join("datasets"),
                pending_dir: cache_dir.join("pending").join(dir_name),
                lease_wait,
                max_backoff: Duration::from_secs(10),
                share: share.clone(),
            }
        })
        .collect()
}

pub fn worker(args: WorkerArgs) -> anyhow::Result<ExitCode> {
    let connection = args.client.connection()?;
    let devices = devices(&args.device, args.gpus.as_deref())?;
    let slots = slots(&devices, args.jobs_per_gpu)?;
    #[cfg(fake_train)]
    let fake = args.fake_train;
    #[cfg(not(fake_train))]
    let fake = None;
    let trainer = trainer(fake, args.threads)?;
    let cache_dir = args.cache_dir.clone().unwrap_or_else(default_cache_dir);
    let configs =
        agent_configs(&connection, &slots, args.name.as_deref(), &cache_dir, Duration::from_millis(args.lease_wait_ms));
    runtime()?.block_on(async move {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            stop_signal().await;
            eprintln!("stopping: releasing leases");
            let _ = stop_tx.send(true);
        });
        let mut tasks = Vec::new();
        for cfg in configs {
            eprintln!("worker {} on {} -> {}", cfg.name, cfg.device, cfg.connection.url);
            tasks.push(tokio::spawn(agent::run(cfg, trainer.clone(), stop_rx.clone())));
        }
        let mut failed = false;
        // The agents of one GPU refused for one reason say it once.
        let mut said = std::collections::HashSet::new();
        for t in tasks {
            match t.await {
                Ok(Ok(summary)) => eprintln!(
                    "worker stopped: {} completed, {} failed, {} released",
                    summary.completed, summary.failed, summary.released
                ),
                Ok(Err(e)) => {
                    if said.insert(e.to_string()) {
                        eprintln!("error: {e}");
                    }
                    failed = true;
                }
                Err(e) => {
                    eprintln!("error: worker task: {e}");
                    failed = true;
                }
            }
        }
        Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
    })
}
