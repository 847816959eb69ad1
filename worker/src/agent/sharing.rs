//! Several jobs on one GPU (`--jobs-per-gpu K`): K agents share the device,
//! each job still in a process of its own.
//!
//! Whether K jobs fit is measured, not guessed: the device's first job runs
//! alone while its memory use is sampled (the device's used memory, less
//! what was used before the job started: torch's caching allocator keeps
//! what a job once needed, so the samples climb to the job's peak and stay
//! there). Only after that job succeeded do the other K - 1 agents start;
//! when K such jobs would not fit, every agent of the device stops with the
//! same error instead, the first one after its result was delivered.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

/// Memory of one GPU in MiB, (used, total); None when it cannot be read.
pub trait MemoryProbe: Send + Sync + std::fmt::Debug {
    fn read(&self) -> Option<(u64, u64)>;
}

/// `nvidia-smi --query-gpu=memory.used,memory.total` of one device, the
/// same numbering as the worker's capabilities.
#[derive(Debug)]
pub struct NvidiaSmi {
    pub index: usize,
}

impl MemoryProbe for NvidiaSmi {
    fn read(&self) -> Option<(u64, u64)> {
        let out = std::process::Command::new("nvidia-smi")
            .args(["--query-gpu=memory.used,memory.total", "--format=csv,noheader,nounits"])
            .arg(format!("--id={}", self.index))
            .output()
            .ok()?;
        out.status.success().then(|| parse_used_total(&String::from_utf8_lossy(&out.stdout))).flatten()
    }
}

/// `1234, 81559` (MiB).
pub fn parse_used_total(line: &str) -> Option<(u64, u64)> {
    let (used, total) = line.trim().split_once(',')?;
    Some((used.trim().parse().ok()?, total.trim().parse().ok()?))
}

/// Share of the device's memory the K jobs may take together: the rest is
/// headroom for fragmentation and for jobs a little larger than the first.
const USABLE: f64 = 0.9;

/// Whether `k` jobs each needing `job_mib` fit a device of `total_mib` of
/// which `before_mib` was in use before them; the refusal says how many fit.
pub fn fits(k: usize, before_mib: u64, job_mib: u64, total_mib: u64, device: &str) -> Result<(), String> {
    let room = (total_mib as f64 * USABLE - before_mib as f64).max(0.0);
    let need = (k as u64 * job_mib.max(1)) as f64;
    if need <= room {
        return Ok(());
    }
    let most = (room / job_mib.max(1) as f64).floor() as u64;
    let gib = |mib: u64| format!("{:.1} GiB", mib as f64 / 1024.0);
    Err(format!(
        "--jobs-per-gpu {k} does not fit {device}: its first job used {} at most, {k} of them need {} and the \
         device has {} ({} in use before the job, {:.0}% usable); {}",
        gib(job_mib),
        gib(k as u64 * job_mib),
        gib(total_mib),
        gib(before_mib),
        USABLE * 100.0,
        if most >= 1 {
            format!("at most {most} fit: use --jobs-per-gpu {most}")
        } else {
            "not even one more job fits beside what else uses the device".to_string()
        }
    ))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Measuring,
    Fits,
    Refused(String),
}

/// The K agents of one device.
#[derive(Debug)]
pub struct GpuShare {
    pub k: usize,
    pub device: String,
    probe: Box<dyn MemoryProbe>,
    decision: watch::Sender<Decision>,
    /// (used before the job, highest used seen) while the first job runs.
    sampled: Mutex<Option<(u64, u64, u64)>>,
    pub sample_every: Duration,
}

impl GpuShare {
    pub fn new(k: usize, device: String, probe: Box<dyn MemoryProbe>) -> Arc<Self> {
        let decision = if k <= 1 { Decision::Fits } else { Decision::Measuring };
        Arc::new(GpuShare {
            k,
            device,
            probe,
            decision: watch::Sender::new(decision),
            sampled: Mutex::new(None),
            sample_every: Duration::from_secs(1),
        })
    }

    /// Refuses at start what cannot be measured at all.
    pub fn check_probe(&self) -> Result<(), String> {
        if self.k > 1 && self.probe.read().is_none() {
            return Err(format!(
                "--jobs-per-gpu {}: the memory of {} cannot be read (nvidia-smi --query-gpu=memory.used,memory.total \
                 failed or is not installed), so whether {} jobs fit cannot be measured",
                self.k, self.device, self.k
            ));
        }
        Ok(())
    }

    pub fn decision(&self) -> Decision {
        self.decision.borrow().clone()
    }

    /// Waits for the first job's verdict (the agents other than the first).
    pub async fn wait(&self) -> Decision {
        let mut rx = self.decision.subscribe();
        let d = rx.wait_for(|d| *d != Decision::Measuring).await.map(|d| d.clone());
        d.unwrap_or_else(|_| Decision::Refused("the device's first agent stopped".into()))
    }

    /// Before the first agent's job: what the device already uses.
    pub fn job_starts(&self) {
        if self.decision() != Decision::Measuring {
            return;
        }
        let sample = self.probe.read();
        *self.sampled.lock().unwrap_or_else(|e| e.into_inner()) = sample.map(|(used, total)| (used, used, total));
    }

    /// One sample while the first agent's job runs.
    pub fn sample(&self) {
        if self.decision() != Decision::Measuring {
            return;
        }
        if let Some((used, _)) = self.probe.read()
            && let Some(s) = self.sampled.lock().unwrap_or_else(|e| e.into_inner()).as_mut()
        {
            s.1 = s.1.max(used);
        }
    }

    /// After the first agent's job: decides when it succeeded (a job that
    /// failed early says nothing of a real job's size; the next one is
    /// measured instead).
    pub fn job_ended(&self, succeeded: bool) -> Decision {
        if self.decision() != Decision::Measuring {
            return self.decision();
        }
        self.sample();
        let sampled = self.sampled.lock().unwrap_or_else(|e| e.into_inner()).take();
        if !succeeded {
            return Decision::Measuring;
        }
        let d = match sampled {
            Some((before, peak, total)) => match fits(self.k, before, peak.saturating_sub(before), total, &self.device)
            {
                Ok(()) => Decision::Fits,
                Err(e) => Decision::Refused(e),
            },
            None => Decision::Refused(format!(
                "--jobs-per-gpu {}: the memory of {} could not be read during its first job",
                self.k, self.device
            )),
        };
        match &d {
            Decision::Fits => {
                tracing::info!(device = %self.device, k = self.k, "the first job's memory leaves room: {} jobs at once", self.k)
            }
            Decision::Refused(e) => tracing::error!("{e}"),
            Decision::Measuring => {}
        }
        self.decision.send_replace(d.clone());
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[derive(Debug)]
    struct Fake {
        used: Arc<AtomicU64>,
        total: u64,
    }

    impl MemoryProbe for Fake {
        fn read(&self) -> Option<(u64, u64)> {
            Some((self.used.load(Ordering::Relaxed), self.total))
        }
    }

    #[derive(Debug)]
    struct Unreadable;

    impl MemoryProbe for Unreadable {
        fn read(&self) -> Option<(u64, u64)> {
            None
        }
    }

    #[test]
    fn nvidia_smi_memory_parses() {
        assert_eq!(parse_used_total("1234, 81559\n"), Some((1234, 81559)));
        assert_eq!(parse_used_total("[N/A], 81559"), None);
        assert_eq!(parse_used_total(""), None);
    }

    #[test]
    fn k_jobs_fit_in_nine_tenths_of_the_device_less_what_was_used() {
        // 10 GiB device: 9 GiB usable, 1 GiB already used: 8 GiB for jobs.
        assert_eq!(fits(4, 1024, 2048, 10240, "cuda:0"), Ok(()));
        let e = fits(5, 1024, 2048, 10240, "cuda:0").unwrap_err();
        assert!(e.starts_with("--jobs-per-gpu 5 does not fit cuda:0: its first job used 2.0 GiB at most"), "{e}");
        assert!(e.ends_with("at most 4 fit: use --jobs-per-gpu 4"), "{e}");
        let e = fits(2, 9000, 2048, 10240, "cuda:1").unwrap_err();
        assert!(e.ends_with("not even one more job fits beside what else uses the device"), "{e}");
        assert_eq!(fits(8, 0, 0, 10240, "cuda:0"), Ok(()), "a job that used nothing measurable");
    }

    #[test]
    fn one_job_per_gpu_needs_no_measurement() {
        let share = GpuShare::new(1, "cuda:0".into(), Box::new(Unreadable));
        assert_eq!(share.decision(), Decision::Fits);
        assert_eq!(share.check_probe(), Ok(()));
    }

    #[test]
    fn an_unreadable_device_refuses_k_at_start() {
        let share = GpuShare::new(3, "cuda:2".into(), Box::new(Unreadable));
        let e = share.check_probe().unwrap_err();
        assert!(e.starts_with("--jobs-per-gpu 3: the memory of cuda:2 cannot be read"), "{e}");
    }

    #[tokio::test]
    async fn the_others_wait_for_the_first_successful_job_and_share_its_verdict() {
        let used = Arc::new(AtomicU64::new(500));
        let share = GpuShare::new(3, "cuda:0".into(), Box::new(Fake { used: used.clone(), total: 10240 }));
        let waiter = tokio::spawn({
            let share = share.clone();
            async move { share.wait().await }
        });
        // A job that failed at once: no verdict yet.
        share.job_starts();
        assert_eq!(share.job_ended(false), Decision::Measuring);
        // A real job: climbs to 3 GiB above the 500 MiB used before it.
        share.job_starts();
        used.store(2000, Ordering::Relaxed);
        share.sample();
        used.store(500 + 3072, Ordering::Relaxed);
        share.sample();
        used.store(600, Ordering::Relaxed); // freed at the end: the peak counts
        assert!(!waiter.is_finished());
        let d = share.job_ended(true);
        // 3 x 3 GiB = 9 GiB > 9 GiB usable - 500 MiB.
        let Decision::Refused(e) = &d else { panic!("{d:?}") };
        assert!(e.contains("at most 2 fit"), "{e}");
        assert_eq!(waiter.await.unwrap(), d);
        // Later jobs change nothing.
        share.job_starts();
        assert_eq!(share.job_ended(true), d);
    }

    #[tokio::test]
    async fn jobs_that_fit_let_the_others_start() {
        let used = Arc::new(AtomicU64::new(0));
        let share = GpuShare::new(2, "cuda:0".into(), Box::new(Fake { used: used.clone(), total: 81559 }));
        share.job_starts();
        used.store(4000, Ordering::Relaxed);
        assert_eq!(share.job_ended(true), Decision::Fits);
        assert_eq!(share.wait().await, Decision::Fits);
    }
}
