//! Study progress on the terminal: one progress bar per arm (done of total,
//! running, failed, ETA) while a study runs, and a table for snapshots.

use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use intervene_proto::pb;

use super::table::{Align, Table};

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

/// Live bars for one study, updated from status snapshots.
pub struct Bars {
    multi: MultiProgress,
    header: ProgressBar,
    arms: Vec<ProgressBar>,
}

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
        let bars = Bars { multi, header, arms };
        bars.update(first);
        bars
    }

    pub fn update(&self, s: &pb::StudyStatus) {
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
    let mut t = Table::new(&[
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
        let mut t = Table::new(&[
            ("JOB", Align::Left),
            ("ATTEMPT", Align::Right),
            ("WORKER", Align::Left),
            ("EPOCH", Align::Right),
            ("LOSS", Align::Right),
        ]);
        for r in &s.running {
            let p = r.progress.unwrap_or_default();
            t.row(vec![
                intervene_proto::job::short_id(&r.job_id).to_string(),
                r.attempt.to_string(),
                r.worker.clone(),
                if p.epochs > 0 { format!("{}/{}", p.epoch, p.epochs) } else { "-".into() },
                if p.train_loss > 0.0 { format!("{:.3}", p.train_loss) } else { "-".into() },
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
    let mut t = Table::new(&[
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
    fn etas_and_bars_render() {
        assert_eq!(eta(0), "-");
        assert_eq!(eta(1), "1s");
        assert_eq!(eta(61_000), "1m01s");
        assert_eq!(eta(3_720_000), "1h02m");
        assert_eq!(bar(1, 4, 8), "[==      ]");
        assert_eq!(bar(0, 0, 4), "[====]");
    }
}
