//! Coordinator lease throughput: the real `intervene coordinator` binary on
//! loopback, a study of `--jobs` queued jobs submitted with `intervene
//! submit`, and N simulated workers, each on its own gRPC connection,
//! running Register, then Lease -> Complete (an empty result, no training)
//! as fast as the coordinator answers.
//!
//!     cargo bench --bench leases -- [--workers 10,100,1000] [--jobs 100000] [--seconds 30]
//!
//! Measures for each fleet size, over `--seconds` (or until the queue is
//! empty): completed leases per second, p50/p99 latency of the Lease and the
//! Complete calls as the client sees them, and the coordinator process's CPU
//! (cores busy, from /proc) and resident memory. Clients and coordinator share
//! the machine, so on a small machine the clients' own CPU lowers the numbers.
//! Prints one `leases key=value ...` line per fleet size.
//!
//! Two shapes, because a closed loop cannot show both numbers of issue 7's
//! target at once: with N workers each looping as fast as it is answered,
//! every call waits behind the other N-1 workers' calls (Little's law:
//! latency = N / throughput), so the closed loop (the default) measures the
//! most leases per second the coordinator sustains, and `--rate R` paces the
//! fleet to R Lease -> Complete cycles per second in all (each worker
//! starts a cycle every N/R seconds, staggered), the way real workers
//! arrive, to measure the latency at that load.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use intervene_proto::pb;
use intervene_proto::pb::coordinator_client::CoordinatorClient;
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};

const BIN: &str = env!("CARGO_BIN_EXE_intervene");
const TOKEN: &str = "bench-token-0123456789abcdef0123";

struct Args {
    workers: Vec<usize>,
    jobs: usize,
    seconds: f64,
    /// Cycles per second for the whole fleet; None: as fast as answered.
    rate: Option<f64>,
}

fn args() -> Result<Args, String> {
    let mut a = Args { workers: vec![10, 100, 1000], jobs: 100_000, seconds: 30.0, rate: None };
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        let mut value = |flag: &str| it.next().ok_or_else(|| format!("{flag} needs a value"));
        match x.as_str() {
            "--workers" => {
                let v = value("--workers")?;
                a.workers = v
                    .split(',')
                    .map(|n| n.trim().parse().map_err(|_| format!("--workers: `{n}` is not a count")))
                    .collect::<Result<_, _>>()?;
            }
            "--jobs" => {
                let v = value("--jobs")?;
                a.jobs = v.parse().map_err(|_| format!("--jobs: `{v}` is not a count"))?;
                if a.jobs < 2 || a.jobs % 2 != 0 {
                    return Err(format!("--jobs: {v}: an even count of at least 2 (two arms per seed)"));
                }
            }
            "--seconds" => {
                let v = value("--seconds")?;
                a.seconds = v.parse().map_err(|_| format!("--seconds: `{v}` is not a number"))?;
            }
            "--rate" => {
                let v = value("--rate")?;
                let r: f64 = v.parse().map_err(|_| format!("--rate: `{v}` is not a number"))?;
                if !(r.is_finite() && r > 0.0) {
                    return Err(format!("--rate: {v}: expected cycles per second above 0"));
                }
                a.rate = Some(r);
            }
            "--bench" => {}
            other => {
                return Err(format!("unknown argument `{other}` (--workers LIST, --jobs N, --seconds S, --rate R)"));
            }
        }
    }
    Ok(a)
}

/// The coordinator child, killed when dropped.
struct Coordinator {
    child: Child,
    url: String,
}

impl Drop for Coordinator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_coordinator(state: &Path) -> Coordinator {
    let log = std::fs::File::create(state.with_extension("log")).expect("coordinator log file");
    let mut child = Command::new(BIN)
        .args(["coordinator", "--listen", "127.0.0.1:0", "--state"])
        .arg(state)
        .env("INTERVENE_TOKEN", TOKEN)
        .env("INTERVENE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("spawn the coordinator");
    let stdout = child.stdout.take().expect("coordinator stdout");
    let mut lines = BufReader::new(stdout).lines();
    let line = lines.next().and_then(|l| l.ok()).expect("the coordinator printed no address");
    std::thread::spawn(move || for _ in lines {});
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in `{line}`"))
        .to_string();
    Coordinator { child, url }
}

fn study_file(dir: &Path, jobs: usize) -> std::path::PathBuf {
    let seeds: Vec<usize> = (1..=jobs / 2).collect();
    // Two arms, so every seed is two jobs.
    let text = format!(
        "{}[[intra]]\nname = \"wider\"\nvary = {{ hidden_dim = [64] }}\n",
        include_str!("../bench/tiny-study.toml").replace("@NAME@", "leases").replace("@SEEDS@", &format!("{seeds:?}"))
    );
    let path = dir.join("leases.toml");
    std::fs::write(&path, text).expect("write the study file");
    path
}

/// (utime + stime in seconds, VmRSS MiB, VmHWM MiB) of a process.
fn proc_usage(pid: u32) -> (f64, f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // USER_HZ: 100 on every Linux this runs on (`getconf CLK_TCK`).
    let hz = 100.0;
    let cpu = (ticks(11) + ticks(12)) / hz;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (cpu, kib("VmRSS:") / 1024.0, kib("VmHWM:") / 1024.0)
}

type Client = CoordinatorClient<Channel>;

fn request<T>(msg: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.metadata_mut().insert("authorization", MetadataValue::try_from(format!("Bearer {TOKEN}")).expect("header"));
    r
}

#[derive(Default)]
struct Timings {
    lease_us: Vec<u64>,
    complete_us: Vec<u64>,
    errors: u64,
}

/// When a paced worker starts its cycles: the first at `start`, then one
/// every `period`.
#[derive(Clone, Copy)]
struct Pace {
    start: tokio::time::Instant,
    period: Duration,
}

async fn simulated_worker(
    url: String,
    name: String,
    stop: Arc<AtomicBool>,
    end: Instant,
    pace: Option<Pace>,
) -> Timings {
    let mut t = Timings::default();
    let channel = match Endpoint::from_shared(url).expect("url").tcp_nodelay(true).connect().await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{name}: cannot connect: {e}");
            t.errors += 1;
            return t;
        }
    };
    let mut client = Client::new(channel);
    let caps = pb::Capabilities { hostname: name.clone(), device: "cpu".into(), cpu_threads: 1, ..Default::default() };
    let worker_id = match client.register(request(pb::RegisterRequest { name, capabilities: Some(caps) })).await {
        Ok(r) => r.into_inner().worker_id,
        Err(e) => {
            eprintln!("register: {e}");
            t.errors += 1;
            return t;
        }
    };
    let mut cycle = 0u32;
    while !stop.load(Ordering::Relaxed) && Instant::now() < end {
        if let Some(p) = pace {
            // Behind schedule: start at once (the lateness is the coordinator's).
            tokio::time::sleep_until(p.start + p.period * cycle).await;
            cycle += 1;
            if stop.load(Ordering::Relaxed) || Instant::now() >= end {
                break;
            }
        }
        let t0 = Instant::now();
        let leased = client.lease(request(pb::LeaseRequest { worker_id: worker_id.clone(), wait_ms: 200 })).await;
        let job = match leased {
            Ok(r) => r.into_inner().job,
            Err(e) => {
                eprintln!("lease: {e}");
                t.errors += 1;
                continue;
            }
        };
        let Some(job) = job else {
            // Nothing queued within the wait: the queue is drained.
            stop.store(true, Ordering::Relaxed);
            break;
        };
        t.lease_us.push(t0.elapsed().as_micros() as u64);
        let result = pb::JobResult {
            metrics: Some(pb::RunMetrics { bleu: 1.0, codexglue_bleu: 1.0, ..Default::default() }),
            ..Default::default()
        };
        let t1 = Instant::now();
        let done = client
            .complete(request(pb::CompleteRequest {
                worker_id: worker_id.clone(),
                job_id: job.job_id,
                attempt: job.attempt,
                result: Some(result),
                study: job.study,
                study_version: job.study_version,
            }))
            .await;
        match done {
            Ok(_) => t.complete_us.push(t1.elapsed().as_micros() as u64),
            Err(e) => {
                eprintln!("complete: {e}");
                t.errors += 1;
            }
        }
    }
    t
}

fn percentile_ms(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

fn run(workers: usize, a: &Args) {
    let tmp = std::env::temp_dir().join(format!("intervene-leases-{}-{workers}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).expect("temp dir");
    let state = tmp.join("state");
    let coordinator = start_coordinator(&state);
    let pid = coordinator.child.id();
    let file = study_file(&tmp, a.jobs);
    let t_submit = Instant::now();
    let out = Command::new(BIN)
        .arg("submit")
        .arg(&file)
        .args(["--coordinator", &coordinator.url])
        .env("INTERVENE_TOKEN", TOKEN)
        .output()
        .expect("run intervene submit");
    assert!(out.status.success(), "submit failed: {}", String::from_utf8_lossy(&out.stderr));
    let submit_s = t_submit.elapsed().as_secs_f64();
    let (_, rss_idle, _) = proc_usage(pid);

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let (cpu0, _, _) = proc_usage(pid);
    let t0 = Instant::now();
    let end = t0 + Duration::from_secs_f64(a.seconds + if a.rate.is_some() { 1.0 } else { 0.0 });
    let stop = Arc::new(AtomicBool::new(false));
    let results: Vec<Timings> = rt.block_on(async {
        // Paced workers start after a second, once every worker has connected.
        let first = tokio::time::Instant::now() + Duration::from_secs(1);
        let tasks: Vec<_> = (0..workers)
            .map(|i| {
                let pace = a.rate.map(|rate| Pace {
                    start: first + Duration::from_secs_f64(i as f64 / rate),
                    period: Duration::from_secs_f64(workers as f64 / rate),
                });
                tokio::spawn(simulated_worker(coordinator.url.clone(), format!("sim-{i}"), stop.clone(), end, pace))
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.expect("worker task"));
        }
        out
    });
    let wall = t0.elapsed().as_secs_f64();
    let (cpu1, rss, hwm) = proc_usage(pid);
    drop(coordinator);
    let _ = std::fs::remove_dir_all(&tmp);

    let mut lease: Vec<u64> = results.iter().flat_map(|t| t.lease_us.iter().copied()).collect();
    let mut complete: Vec<u64> = results.iter().flat_map(|t| t.complete_us.iter().copied()).collect();
    let errors: u64 = results.iter().map(|t| t.errors).sum();
    lease.sort_unstable();
    complete.sort_unstable();
    // Paced runs count from the first scheduled cycle.
    let wall = if a.rate.is_some() { (wall - 1.0).max(1e-9) } else { wall };
    let mode = a.rate.map_or("closed".to_string(), |r| format!("paced rate={r}"));
    println!(
        "leases mode={mode} workers={workers} jobs={} submit_s={submit_s:.2} leased={} completed={} errors={errors} seconds={wall:.2} \
         leases_per_s={:.1} lease_p50_ms={:.3} lease_p99_ms={:.3} complete_p50_ms={:.3} complete_p99_ms={:.3} \
         coord_cpu_cores={:.2} coord_rss_idle_mib={rss_idle:.1} coord_rss_mib={rss:.1} coord_peak_rss_mib={hwm:.1}",
        a.jobs,
        lease.len(),
        complete.len(),
        complete.len() as f64 / wall,
        percentile_ms(&lease, 0.5),
        percentile_ms(&lease, 0.99),
        percentile_ms(&complete, 0.5),
        percentile_ms(&complete, 0.99),
        (cpu1 - cpu0) / wall,
    );
}

fn main() {
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("leases: {e}");
            std::process::exit(2);
        }
    };
    for &w in &a.workers {
        run(w, &a);
    }
}
