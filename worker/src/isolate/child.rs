//! The job process: `intervene job-process`, started by a worker's
//! [`super::ProcessTrainer`]. It reads one request on stdin, trains that one
//! job, writes progress and the answer on stdout, and exits.
//!
//! Stdout carries frames only: the frame stream gets a private copy of the
//! stdout descriptor and descriptor 1 is pointed at stderr, so anything a
//! library prints lands in the log instead of corrupting the stream.
//! Cancellation arrives as a `Cancel` frame, as the end of stdin (the
//! worker died) or as SIGTERM (a batch system signalling every process).

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::os::fd::FromRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use intervene_proto::JobSpec;

use super::determinism;
use super::protocol::{Frame, Request, read_frame, write_frame};
use crate::agent::real::RealTrainer;
use crate::agent::{TrainError, Trainer};

/// Fleet tests: a file path; the first job process that finds no file there
/// creates it and aborts, so exactly one attempt dies of SIGABRT.
#[cfg(feature = "fake-train")]
pub const ABORT_ONCE_ENV: &str = "INTERVENE_TEST_ABORT_ONCE";

/// Runs the job process; the exit code. Errors before the answer can be
/// sent go to stderr, which the supervisor keeps for the failure reason.
pub fn serve() -> i32 {
    // First, before the request arrives: a batch system's SIGTERM (Slurm
    // signals every process of a step) must stop a job, not kill it, even
    // one that has only just started.
    let cancel = Arc::new(AtomicBool::new(false));
    if let Err(e) = signal_hook::flag::register(signal_hook::consts::SIGTERM, cancel.clone()) {
        eprintln!("job process: cannot watch SIGTERM: {e}");
    }
    // SAFETY: plain descriptor calls on this process's own stdio before any
    // other thread writes to it; the duplicate is owned by `frames` alone.
    let frames = unsafe {
        let fd = libc::dup(1);
        if fd < 0 || libc::dup2(2, 1) < 0 {
            eprintln!("job process: cannot set up its output: {}", std::io::Error::last_os_error());
            return 2;
        }
        File::from_raw_fd(fd)
    };
    let out = Arc::new(Mutex::new(BufWriter::new(frames)));
    let mut stdin = BufReader::new(std::io::stdin());
    let request = match read_frame(&mut stdin) {
        Ok(Some(Frame::Request(r))) => r,
        // A spare process whose worker stopped before it had a job.
        Ok(None) => return 0,
        other => {
            eprintln!("job process: expected a request frame on stdin, got {other:?}");
            return 2;
        }
    };

    {
        let cancel = cancel.clone();
        // Anything but more frames (a Cancel, the end, an error) stops the job.
        std::thread::spawn(move || {
            while let Ok(Some(f)) = read_frame(&mut stdin) {
                if f == Frame::Cancel {
                    break;
                }
            }
            cancel.store(true, Ordering::Relaxed);
        });
    }

    #[cfg(feature = "fake-train")]
    if let Some(path) = std::env::var_os(ABORT_ONCE_ENV)
        && std::fs::OpenOptions::new().write(true).create_new(true).open(&path).is_ok()
    {
        eprintln!("job process: aborting on purpose ({ABORT_ONCE_ENV})");
        std::process::abort();
    }

    let answer = run(&request, &out, &cancel);
    let frame = match answer {
        Ok(result) => Frame::Result(Box::new(result)),
        Err(e) => Frame::Error(e),
    };
    let mut w = out.lock().unwrap_or_else(|e| e.into_inner());
    match write_frame(&mut *w, &frame).and_then(|_| w.flush()) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("job process: cannot send the answer: {e}");
            3
        }
    }
}

fn run(
    req: &Request,
    out: &Arc<Mutex<BufWriter<File>>>,
    cancel: &AtomicBool,
) -> Result<intervene_proto::pb::JobResult, TrainError> {
    let spec = JobSpec::from_json(&req.spec_json)
        .map_err(|e| TrainError::fatal(format!("spec_json does not parse as a JobSpec: {e}")))?;
    let mut progress = |p| {
        let mut w = out.lock().unwrap_or_else(|e| e.into_inner());
        // A broken pipe means the worker is gone; the stdin watcher cancels.
        let _ = write_frame(&mut *w, &Frame::Progress(p));
    };
    let (trainer, record) = trainer_for(req)?;
    let mut result = trainer.train(&spec, &req.device, &req.dataset, &mut progress, cancel)?;
    let ran_on = result.ran_on.get_or_insert_with(Default::default);
    ran_on.determinism = record;
    Ok(result)
}

/// The trainer for this request, and the determinism it trains under.
fn trainer_for(req: &Request) -> Result<(Box<dyn Trainer>, String), TrainError> {
    if let Some(seconds) = req.fake_seconds {
        #[cfg(feature = "fake-train")]
        {
            let duration = std::time::Duration::from_secs_f64(seconds.max(0.0));
            return Ok((Box::new(crate::agent::FakeTrainer { duration }), "fake trainer".into()));
        }
        #[cfg(not(feature = "fake-train"))]
        return Err(TrainError::fatal(format!(
            "fake training ({seconds} s) asked for, but this build has no fake trainer (feature fake-train)"
        )));
    }
    let device = crate::device::parse_device(&req.device).map_err(TrainError::fatal)?;
    if let Some(n) = req.threads {
        tch::set_num_threads(n.max(1) as i32);
    }
    let record = determinism::apply(device, tch::get_num_threads().max(1) as usize);
    Ok((Box::new(RealTrainer::new(req.threads)), record))
}
