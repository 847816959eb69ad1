//! Study progress on the terminal: one progress bar per arm (done of total,
//! running, failed, ETA) while a study runs, and a table for snapshots.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use intervene_analysis::output::{Align, TextTable};
use intervene_proto::pb;

/// "1h02m", "3m20s", "45s"; "-" when unknown.
pub fn eta(ms: u64) -> String {
    if ms == 0 {
        return "-".into();
    }
    let s = ms.div_ceil(1000);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// Live bars for one study, updated from status snapshots. When standard
/// error is not a terminal (a batch log, `nohup`, CI) bars would draw
/// nothing, so progress is logged as plain lines instead: whenever the job
/// counts change, and once a minute with the running jobs' epochs.
pub struct Bars {
    multi: MultiProgress,
    header: ProgressBar,
    arms: Vec<ProgressBar>,
    plain: Option<Mutex<PlainLog>>,
}

struct PlainLog {
    counts: (u32, u32, u32, u32),
    at: Instant,
}

const PLAIN_EVERY: Duration = Duration::from_secs(60);

impl Bars {
    pub fn new(first: &pb::StudyStatus) -> Bars {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(4));
        let header = multi.add(ProgressBar::new_spinner());
        header.set_style(
            ProgressStyle::with_template("{spinner} {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        header.enable_steady_tick(Duration::from_millis(250));
        let width = first.arms.iter().map(|a| a.arm.chars().count()).max().unwrap_or(8).min(40);
        let template = format!("{{prefix:<{width}}} [{{bar:24}}] {{pos}}/{{len}} {{msg}}");
        let style = ProgressStyle::with_template(&template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let arms = first
            .arms
            .iter()
            .map(|a| {
                let bar = multi.add(ProgressBar::new(a.total as u64));
                bar.set_style(style.clone());
                bar.set_prefix(a.arm.clone());
                bar
            })
            .collect();
        let plain = (!std::io::stderr().is_terminal())
            .then(|| Mutex::new(PlainLog { counts: (u32::MAX, 0, 0, 0), at: Instant::now() }));
        let bars = Bars { multi, header, arms, plain };
        bars.update(first);
        bars
    }

    pub fn update(&self, s: &pb::StudyStatus) {
        if let Some(plain) = &self.plain {
            let mut log = plain.lock().unwrap_or_else(|p| p.into_inner());
            let counts = (s.jobs_succeeded, s.jobs_running, s.jobs_queued, s.jobs_failed);
            if counts != log.counts || log.at.elapsed() >= PLAIN_EVERY {
                log.counts = counts;
                log.at = Instant::now();
                eprintln!("{}", plain_line(s));
            }
        }
        self.header.set_message(format!(
            "study {} v{}: {} | {}/{} done, {} running, {} queued, {} failed | ETA {}",
            s.study,
            s.version,
            s.state,
            s.jobs_succeeded,
            s.jobs_total,
            s.jobs_running,
            s.jobs_queued,
            s.jobs_failed,
            eta(s.eta_ms)
        ));
        for (bar, a) in self.arms.iter().zip(&s.arms) {
            bar.set_length(a.total as u64);
            bar.set_position((a.succeeded + a.failed + a.cancelled) as u64);
            bar.set_message(format!(
                "{} running, {} queued, {} failed{} | ETA {}",
                a.running,
                a.queued,
                a.failed,
                if a.cancelled > 0 { format!(", {} cancelled", a.cancelled) } else { String::new() },
                eta(a.eta_ms)
            ));
        }
    }

    pub fn finish(self) {
        self.header.finish_and_clear();
        for b in &self.arms {
            b.finish_and_clear();
        }
        let _ = self.multi.clear();
    }
}

/// One log line: the study's counts and ETA, then each running job's epoch
/// and loss.
pub fn plain_line(s: &pb::StudyStatus) -> String {
    let mut line = format!(
        "[{}] study {} v{}: {}/{} done, {} running, {} queued, {} failed; ETA {}",
        clock_utc(),
        s.study,
        s.version,
        s.jobs_succeeded,
        s.jobs_total,
        s.jobs_running,
        s.jobs_queued,
        s.jobs_failed,
        eta(s.eta_ms)
    );
    for r in &s.running {
        let p = r.progress.unwrap_or_default();
        let id = job_label(r);
        match phase(&p) {
            Some(what) => line.push_str(&format!(" | {id} {what}")),
            None if p.epochs > 0 => {
                line.push_str(&format!(" | {id} epoch {}/{} loss {:.3}", p.epoch, p.epochs, p.train_loss))
            }
            None => {}
        }
    }
    line
}

/// A running job as the user knows it, "control seed 2 (ab12cd34ef56)":
/// its arm(s) and seed, and the short id that `status --jobs` and the
/// logs use. A coordinator too old to send the arms gives only the id.
fn job_label(r: &pb::RunningJob) -> String {
    let id = intervene_proto::job::short_id(&r.job_id);
    if r.arms.is_empty() { id.to_string() } else { format!("{} seed {} ({id})", r.arms.join(","), r.seed) }
}

/// What a job outside its training epochs is doing: its progress then
/// carries no epoch or loss (they read 0), so those are not shown.
fn phase(p: &pb::Progress) -> Option<&'static str> {
    match pb::Phase::try_from(p.phase) {
        Ok(pb::Phase::Preparing) => Some("preparing"),
        Ok(pb::Phase::Evaluating) => Some("evaluating"),
        _ => None,
    }
}

/// Wall-clock time of day (UTC) as HH:MM:SS, for log lines.
fn clock_utc() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    format!("{:02}:{:02}:{:02}", (secs / 3600) % 24, (secs / 60) % 60, secs % 60)
}

/// The per-arm table of `intervene status STUDY`.
pub fn arm_table(s: &pb::StudyStatus) -> String {
    let mut out = format!(
        "study {} v{}: {} ({} of {} jobs done, {} running, {} queued, {} failed, {} cancelled; ETA {})\nresults: {}\n\n",
        s.study,
        s.version,
        s.state,
        s.jobs_succeeded,
        s.jobs_total,
        s.jobs_running,
        s.jobs_queued,
        s.jobs_failed,
        s.jobs_cancelled,
        eta(s.eta_ms),
        s.results_dir
    );
    let mut t = TextTable::new(&[
        ("ARM", Align::Left),
        ("KIND", Align::Left),
        ("PROGRESS", Align::Left),
        ("DONE", Align::Right),
        ("RUNNING", Align::Right),
        ("QUEUED", Align::Right),
        ("FAILED", Align::Right),
        ("ETA", Align::Right),
    ]);
    for a in &s.arms {
        t.row(vec![
            a.arm.clone(),
            a.kind.clone(),
            bar(a.succeeded + a.failed + a.cancelled, a.total, 20),
            format!("{}/{}", a.succeeded, a.total),
            a.running.to_string(),
            a.queued.to_string(),
            a.failed.to_string(),
            eta(a.eta_ms),
        ]);
    }
    out.push_str(&t.render());
    if !s.running.is_empty() {
        let mut t = TextTable::new(&[
            ("ARM", Align::Left),
            ("SEED", Align::Right),
            ("JOB", Align::Left),
            ("ATTEMPT", Align::Right),
            ("WORKER", Align::Left),
            ("EPOCH", Align::Right),
            ("LOSS", Align::Right),
        ]);
        for r in &s.running {
            let p = r.progress.unwrap_or_default();
            t.row(vec![
                if r.arms.is_empty() { "-".into() } else { r.arms.join(",") },
                if r.arms.is_empty() { "-".into() } else { r.seed.to_string() },
                intervene_proto::job::short_id(&r.job_id).to_string(),
                r.attempt.to_string(),
                r.worker.clone(),
                match phase(&p) {
                    Some(what) => what.to_string(),
                    None if p.epochs > 0 => format!("{}/{}", p.epoch, p.epochs),
                    None => "-".into(),
                },
                if p.train_loss > 0.0 && phase(&p).is_none() { format!("{:.3}", p.train_loss) } else { "-".into() },
            ]);
        }
        out.push('\n');
        out.push_str(&t.render());
    }
    out
}

/// `[=====     ]` of `done` out of `total`, `width` cells.
pub fn bar(done: u32, total: u32, width: usize) -> String {
    let filled = if total == 0 { width } else { (done as usize * width) / total as usize };
    format!("[{}{}]", "=".repeat(filled), " ".repeat(width - filled.min(width)))
}

/// One line per study for `intervene status` without a study.
pub fn study_table(studies: &[pb::StudyStatus]) -> String {
    let mut t = TextTable::new(&[
        ("STUDY", Align::Left),
        ("VERSION", Align::Right),
        ("STATE", Align::Left),
        ("DONE", Align::Right),
        ("RUNNING", Align::Right),
        ("QUEUED", Align::Right),
        ("FAILED", Align::Right),
        ("ETA", Align::Right),
    ]);
    for s in studies {
        t.row(vec![
            s.study.clone(),
            s.version.to_string(),
            s.state.clone(),
            format!("{}/{}", s.jobs_succeeded, s.jobs_total),
            s.jobs_running.to_string(),
            s.jobs_queued.to_string(),
            s.jobs_failed.to_string(),
            eta(s.eta_ms),
        ]);
    }
    t.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_name_counts_and_running_epochs() {
        let s = pb::StudyStatus {
            study: "q".into(),
            version: 1,
            jobs_total: 6,
            jobs_succeeded: 2,
            jobs_running: 1,
            jobs_queued: 3,
            running: vec![pb::RunningJob {
                job_id: "ab".repeat(32),
                progress: Some(pb::Progress { epoch: 2, epochs: 5, train_loss: 1.5, ..Default::default() }),
                arms: vec!["arch/gru".into()],
                seed: 3,
                ..Default::default()
            }],
            ..Default::default()
        };
        let line = plain_line(&s);
        assert!(line.contains("study q v1: 2/6 done, 1 running, 3 queued, 0 failed"), "{line}");
        assert!(line.ends_with("| arch/gru seed 3 (abababababab) epoch 2/5 loss 1.500"), "{line}");
        let table = arm_table(&s);
        assert!(table.lines().any(|l| l.trim_start().starts_with("arch/gru") && l.contains("abababababab")), "{table}");
    }

    #[test]
    fn an_evaluating_job_says_so_instead_of_epoch_zero() {
        let s = pb::StudyStatus {
            study: "q".into(),
            version: 1,
            running: vec![pb::RunningJob {
                job_id: "cd".repeat(32),
                progress: Some(pb::Progress { phase: pb::Phase::Evaluating as i32, epochs: 8, ..Default::default() }),
                ..Default::default()
            }],
            ..Default::default()
        };
        let line = plain_line(&s);
        assert!(line.ends_with("| cdcdcdcdcdcd evaluating"), "{line}");
    }

    #[test]
    fn etas_and_bars_render() {
        assert_eq!(eta(0), "-");
        assert_eq!(eta(1), "1s");
        assert_eq!(eta(61_000), "1m01s");
        assert_eq!(eta(3_720_000), "1h02m");
        assert_eq!(bar(1, 4, 8), "[==      ]");
        assert_eq!(bar(0, 0, 4), "[====]");
    }
}
