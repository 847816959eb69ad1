//! The parent side: a [`Trainer`] that trains each job in a child process
//! and waits for it on the agent's training thread.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use intervene_proto::JobSpec;
use intervene_proto::pb;

use super::determinism;
use super::protocol::{Frame, Request, read_frame, write_frame};
use crate::agent::{TrainError, Trainer};

/// How long a cancelled child may take to stop before it is killed.
const KILL_GRACE: Duration = Duration::from_secs(10);
/// Lines of the child's stderr kept for a failure reason.
const STDERR_TAIL: usize = 20;

/// Spare job processes kept started at most.
const MAX_SPARES: usize = 4;

/// Trains every job in its own `PROGRAM job-process` child.
#[derive(Debug)]
pub struct ProcessTrainer {
    /// The `intervene` binary (normally `std::env::current_exe()`).
    pub program: PathBuf,
    /// Torch threads per job; torch's default when `None`.
    pub threads: Option<usize>,
    /// Fleet tests only: children sleep this long instead of training.
    pub fake_seconds: Option<f64>,
    /// Extra environment for the children (tests use it for fault hooks).
    pub env: Vec<(String, String)>,
    /// Started processes waiting for their job, by device: starting one
    /// (loading libtorch) takes about half a second, so the next job's
    /// process starts while the current job trains.
    spares: Mutex<Vec<(String, Child)>>,
}

impl ProcessTrainer {
    pub fn new(program: PathBuf, threads: Option<usize>) -> Self {
        ProcessTrainer { program, threads, fake_seconds: None, env: Vec::new(), spares: Mutex::new(Vec::new()) }
    }

    /// A started process for a job on `device`: a spare if one is alive,
    /// else a new one; a new spare is started for the job after it.
    fn take_child(&self, device: &str) -> std::io::Result<Child> {
        let mut spares = self.spares.lock().unwrap_or_else(|e| e.into_inner());
        let mut found = None;
        while let Some(i) = spares.iter().position(|(d, _)| d == device) {
            let (_, mut c) = spares.swap_remove(i);
            if matches!(c.try_wait(), Ok(None)) {
                found = Some(c);
                break;
            }
        }
        drop(spares);
        let child = match found {
            Some(c) => c,
            None => self.spawn(device)?,
        };
        match self.spawn(device) {
            Ok(next) => {
                let mut spares = self.spares.lock().unwrap_or_else(|e| e.into_inner());
                spares.push((device.to_string(), next));
                while spares.len() > MAX_SPARES {
                    let (_, mut extra) = spares.remove(0);
                    kill_group(&mut extra);
                    let _ = extra.wait();
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot start a spare job process"),
        }
        Ok(child)
    }

    fn spawn(&self, device: &str) -> std::io::Result<Child> {
        let mut cmd = Command::new(&self.program);
        cmd.arg("job-process").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        // Its own process group: a Ctrl-C in the terminal reaches the worker,
        // which stops the job cleanly, not the child directly.
        cmd.process_group(0);
        for (k, v) in determinism::child_env(device) {
            cmd.env(k, v);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.spawn()
    }
}

enum Msg {
    Frame(Frame),
    /// The stream ended (cleanly or not: the exit status says why).
    End(Option<String>),
}

impl Trainer for ProcessTrainer {
    fn train(
        &self,
        spec: &JobSpec,
        device: &str,
        dataset: &Path,
        progress: &mut dyn FnMut(pb::Progress),
        cancel: &AtomicBool,
    ) -> Result<pb::JobResult, TrainError> {
        let request = Request {
            spec_json: spec.canonical_json(),
            device: device.to_string(),
            dataset: dataset.to_path_buf(),
            threads: self.threads,
            fake_seconds: self.fake_seconds,
        };
        self.supervise(request, progress, cancel)
    }
}

impl ProcessTrainer {
    /// Runs `request` in a new child until it answers or dies.
    fn supervise(
        &self,
        request: Request,
        progress: &mut dyn FnMut(pb::Progress),
        cancel: &AtomicBool,
    ) -> Result<pb::JobResult, TrainError> {
        let mut child = self.take_child(&request.device).map_err(|e| {
            TrainError::retryable(format!("cannot start a job process ({}): {e}", self.program.display()))
        })?;
        let mut stdin = child.stdin.take();
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            kill_group(&mut child);
            return Err(TrainError::retryable("the job process has no output pipes"));
        };
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let tail_thread = {
            let tail = tail.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    // The child's log is the worker's log.
                    eprintln!("{line}");
                    let mut t = tail.lock().unwrap_or_else(|e| e.into_inner());
                    if t.len() == STDERR_TAIL {
                        t.pop_front();
                    }
                    t.push_back(line);
                }
            })
        };
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            loop {
                match read_frame(&mut r) {
                    Ok(Some(f)) => {
                        if tx.send(Msg::Frame(f)).is_err() {
                            return;
                        }
                    }
                    Ok(None) => return drop(tx.send(Msg::End(None))),
                    Err(e) => return drop(tx.send(Msg::End(Some(e.to_string())))),
                }
            }
        });
        if let Some(w) = stdin.as_mut()
            && let Err(e) = write_frame(w, &Frame::Request(request))
        {
            // The child died at once; its exit status says more below.
            tracing::warn!(error = %e, "cannot send the job to its process");
        }

        let mut answer: Option<Result<pb::JobResult, TrainError>> = None;
        let mut stream_error = None;
        let mut cancelled_at: Option<Instant> = None;
        let mut killed = false;
        loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(Msg::Frame(Frame::Progress(p))) => progress(p),
                Ok(Msg::Frame(Frame::Result(r))) => answer = Some(Ok(*r)),
                Ok(Msg::Frame(Frame::Error(e))) => answer = Some(Err(e)),
                Ok(Msg::Frame(other)) => stream_error = Some(format!("unexpected frame {other:?}")),
                Ok(Msg::End(e)) => {
                    stream_error = stream_error.or(e);
                    break;
                }
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {}
            }
            if cancel.load(Ordering::Relaxed) {
                match cancelled_at {
                    None => {
                        cancelled_at = Some(Instant::now());
                        if let Some(w) = stdin.as_mut() {
                            let _ = write_frame(w, &Frame::Cancel);
                        }
                    }
                    Some(at) if at.elapsed() > KILL_GRACE && !killed => {
                        tracing::warn!("the job process did not stop in time; killing it");
                        kill_group(&mut child);
                        killed = true;
                    }
                    Some(_) => {}
                }
            }
        }
        drop(stdin);
        let status = child.wait();
        let _ = tail_thread.join();
        let tail: Vec<String> = tail.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect();
        match answer {
            Some(a) => a,
            None if cancelled_at.is_some() => Err(TrainError::cancelled()),
            // Only someone stopping the machine's work sends a job process
            // SIGTERM (this supervisor cancels by frame, then SIGKILL): a
            // stop, not the job's failure, even when it lands before the
            // process has set up its handler.
            None if status.as_ref().is_ok_and(|s| s.signal() == Some(libc::SIGTERM)) => Err(TrainError::cancelled()),
            None => Err(died(status, stream_error, &tail)),
        }
    }
}

impl Drop for ProcessTrainer {
    fn drop(&mut self) {
        for (_, mut c) in self.spares.get_mut().unwrap_or_else(|e| e.into_inner()).drain(..) {
            kill_group(&mut c);
            let _ = c.wait();
        }
    }
}

/// SIGKILL to the child's whole process group (it leads one): anything it
/// started dies with it and lets go of the pipes.
fn kill_group(child: &mut Child) {
    // SAFETY: kill(2) on a process group id this supervisor created.
    let rc = unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
    if rc != 0 {
        let _ = child.kill();
    }
}

/// The failure of a child that ended without an answer: retryable (a crash,
/// an OOM kill), naming the signal or exit code and the end of its stderr.
fn died(status: std::io::Result<ExitStatus>, stream_error: Option<String>, tail: &[String]) -> TrainError {
    let how = match status {
        Ok(s) => match (s.signal(), s.code()) {
            (Some(sig), _) => format!("was killed by signal {sig} ({})", signal_name(sig)),
            (None, Some(code)) => format!("exited with status {code} without an answer"),
            (None, None) => format!("ended without an answer ({s})"),
        },
        Err(e) => format!("could not be waited for: {e}"),
    };
    let mut message = format!("the job process {how}");
    if let Some(e) = stream_error {
        message.push_str(&format!("; its output stream: {e}"));
    }
    if !tail.is_empty() {
        message.push_str("; last lines of its stderr:\n");
        message.push_str(&tail.join("\n"));
    }
    TrainError::retryable(message)
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGABRT => "SIGABRT",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGBUS => "SIGBUS",
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        libc::SIGFPE => "SIGFPE",
        libc::SIGILL => "SIGILL",
        _ => "signal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::FailureKind;

    fn fake_program(script: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fake-intervene");
        std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        (dir, path)
    }

    fn train(program: PathBuf, cancel: bool) -> Result<pb::JobResult, TrainError> {
        let t = ProcessTrainer::new(program, Some(1));
        let flag = AtomicBool::new(cancel);
        let request = Request {
            spec_json: "{}".into(),
            device: "cpu".into(),
            dataset: "/nonexistent".into(),
            threads: Some(1),
            fake_seconds: None,
        };
        t.supervise(request, &mut |_| {}, &flag)
    }

    #[test]
    fn a_child_killed_by_a_signal_fails_the_attempt_with_the_signal_and_its_stderr() {
        let (_d, p) = fake_program("echo 'about to crash' >&2; kill -ABRT $$");
        let e = train(p, false).unwrap_err();
        assert_eq!(e.kind, FailureKind::Retryable);
        assert!(e.message.contains("signal 6 (SIGABRT)"), "{}", e.message);
        assert!(e.message.contains("about to crash"), "{}", e.message);
    }

    #[test]
    fn a_child_killed_by_sigterm_is_a_stop_not_a_failure() {
        // What a batch system does to every process of a job it stops.
        let (_d, p) = fake_program("kill -TERM $$");
        let e = train(p, false).unwrap_err();
        assert_eq!(e.kind, FailureKind::Cancelled, "{}", e.message);
    }

    #[test]
    fn a_child_that_exits_without_an_answer_names_its_status() {
        let (_d, p) = fake_program("exit 7");
        let e = train(p, false).unwrap_err();
        assert!(e.message.contains("exited with status 7"), "{}", e.message);
    }

    #[test]
    fn a_cancelled_child_that_ignores_the_request_is_killed_and_reported_cancelled() {
        // Reads nothing and sleeps far past the grace; the test would hang
        // without the kill. (The grace is 10 s: this test takes that long.)
        let (_d, p) = fake_program("trap '' TERM; sleep 60");
        let started = Instant::now();
        let e = train(p, true).unwrap_err();
        assert_eq!(e.kind, FailureKind::Cancelled);
        assert!(started.elapsed() < Duration::from_secs(30));
    }

    #[test]
    fn the_next_job_gets_a_process_started_while_the_previous_one_ran() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("started");
        let (_d, p) = fake_program(&format!("echo started >> {}; head -c 5 > /dev/null; exit 7", log.display()));
        let t = ProcessTrainer::new(p, Some(1));
        let starts = || std::fs::read_to_string(&log).unwrap_or_default().lines().count();
        let request = || Request {
            spec_json: "{}".into(),
            device: "cpu".into(),
            dataset: "/nonexistent".into(),
            threads: Some(1),
            fake_seconds: None,
        };
        let flag = AtomicBool::new(false);
        let first = t.supervise(request(), &mut |_| {}, &flag).unwrap_err();
        assert!(first.message.contains("exited with status 7"), "{}", first.message);
        // A spare waits on its stdin; give it a moment to have started.
        let end = Instant::now() + Duration::from_secs(10);
        while starts() < 2 && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(starts(), 2, "the job's process and one spare");
        t.supervise(request(), &mut |_| {}, &flag).unwrap_err();
        let end = Instant::now() + Duration::from_secs(10);
        while starts() < 3 && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(starts(), 3, "the second job ran in the spare, and a new spare was started");
    }

    #[test]
    fn a_missing_program_is_a_retryable_start_failure() {
        let e = train(PathBuf::from("/nonexistent/intervene"), false).unwrap_err();
        assert_eq!(e.kind, FailureKind::Retryable);
        assert!(e.message.contains("cannot start a job process"), "{}", e.message);
    }
}
