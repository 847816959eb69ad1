//! `intervene train | generate | score`: one job trained locally, code from
//! a checkpoint, and the metrics on plain text files.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use intervene_coordinator::plan::thousands;
use intervene_coordinator::results::{ArmRef, JobRecord, write_job_tables};
use intervene_proto::job::{Batching, DecodeSpec};
use intervene_proto::pb;
use intervene_worker::checkpoint::Checkpoint;
use intervene_worker::device::{device_name, parse_device};
use intervene_worker::eval::{bleu, codexglue, metrics};
use intervene_worker::job::{RunOptions, run_job};

#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// The study file (TOML).
    pub file: PathBuf,
    /// The arm to train (`intervene plan FILE` lists them).
    #[arg(long)]
    pub arm: String,
    /// One of the study's seeds.
    #[arg(long)]
    pub seed: u64,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Where the runs, examples, curves (and attention) tables and the
    /// checkpoint go [default: intervene-runs/<study>].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Where mined data sets are cached.
    #[arg(long, env = "INTERVENE_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Torch CPU threads [default: torch's].
    #[arg(long)]
    pub threads: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Strategy {
    Greedy,
    Beam,
    TopP,
}

#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// A checkpoint directory written by `intervene train`.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Decoding strategy [default: the one the job was evaluated with].
    #[arg(long, value_enum)]
    pub strategy: Option<Strategy>,
    /// Beam width (beam).
    #[arg(long)]
    pub beam_size: Option<u32>,
    /// Length penalty exponent (beam).
    #[arg(long)]
    pub length_penalty: Option<f64>,
    /// Nucleus mass (top-p).
    #[arg(long)]
    pub top_p: Option<f64>,
    /// Softmax temperature (top-p).
    #[arg(long)]
    pub temperature: Option<f64>,
    /// Most tokens to generate [default: the job's].
    #[arg(long)]
    pub max_len: Option<u32>,
    /// Seeds top-p sampling.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// The docstring(s) to generate code for.
    #[arg(required = true)]
    pub docstring: Vec<String>,
}

/// The names are the study files' and the result tables' (`token_accuracy`);
/// the hyphenated spellings clap would derive are accepted too, unlisted, for
/// scripts written before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Metric {
    /// Corpus BLEU as sacrebleu computes it (13a, exp smoothing).
    Bleu,
    /// CodeXGLUE's smoothed BLEU-4 (mean of sentence scores).
    #[value(name = "codexglue_bleu", alias = "codexglue-bleu")]
    CodexglueBleu,
    /// Lines equal after stripping surrounding whitespace, in percent.
    #[value(name = "exact_match", alias = "exact-match")]
    ExactMatch,
    /// Whitespace tokens equal position by position, over reference tokens.
    #[value(name = "token_accuracy", alias = "token-accuracy")]
    TokenAccuracy,
}

#[derive(Debug, clap::Args)]
pub struct ScoreArgs {
    #[arg(long, value_enum)]
    pub metric: Metric,
    /// Hypotheses, one per line.
    #[arg(long)]
    pub hyp: PathBuf,
    /// References, one per line, aligned with the hypotheses.
    #[arg(long = "ref")]
    pub reference: PathBuf,
    /// Print one score per line instead of the corpus score.
    #[arg(long)]
    pub per_line: bool,
}

pub fn train(a: TrainArgs) -> anyhow::Result<ExitCode> {
    let device = parse_device(&a.device).map_err(|e| anyhow::anyhow!("--device: {e}"))?;
    let (study, plan) = super::plan::load_and_plan(&a.file)?;
    let Some(arm) = plan.arm(&a.arm) else {
        let names: Vec<&str> = plan.arms.iter().map(|x| x.name.as_str()).collect();
        bail!("{}: no arm `{}` in study {}; its arms are: {}", a.file.display(), a.arm, study.name, names.join(", "));
    };
    let Some((_, job_id)) = arm.jobs.iter().find(|(s, _)| *s == a.seed) else {
        let seeds: Vec<String> = arm.jobs.iter().map(|(s, _)| s.to_string()).collect();
        bail!(
            "{}: seed {} is not one of study {}'s seeds ({})",
            a.file.display(),
            a.seed,
            study.name,
            seeds.join(", ")
        );
    };
    let job = plan
        .job(job_id)
        .with_context(|| format!("the plan lists job {job_id} for arm {} but has no such job", arm.name))?;
    let spec = &job.spec;
    let out = a.out.clone().unwrap_or_else(|| PathBuf::from("intervene-runs").join(&study.name));
    let cache_dir = a.cache_dir.clone().unwrap_or_else(intervene_data::mine::cache::default_cache_dir);

    eprintln!(
        "training {} arm `{}` seed {} ({}, {} batches, job {}) on {}",
        study.name,
        arm.name,
        a.seed,
        spec.model.arch(),
        spec.train.batching.name(),
        intervene_proto::job::short_id(job_id),
        device_name(device)
    );
    let pairs = intervene_data::load_source(&spec.data.source, &study.source.base_dir, &cache_dir)
        .with_context(|| format!("loading the data of {}", a.file.display()))?;
    let checkpoint_dir = out.join("checkpoints").join(job_id);
    let opts =
        RunOptions { device, checkpoint_dir: Some(checkpoint_dir.clone()), attention_examples: 3, threads: a.threads };
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} batches {elapsed_precise} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let mut epochs = EpochLines::new();
    let mut on_progress = |p: pb::Progress| {
        // The bar is redrawn in place; the epoch lines stay in the log
        // (and are all there is when stderr is not a terminal).
        if let Some(line) = epochs.line(&p) {
            bar.suspend(|| eprintln!("{line}"));
        }
        show_progress(&bar, &p)
    };
    let cancel = AtomicBool::new(false);
    let result = run_job(spec, &pairs, &opts, &mut on_progress, &cancel);
    bar.finish_and_clear();
    let result = result.with_context(|| format!("job {job_id} (arm {}, seed {})", arm.name, a.seed))?;

    let arms = ArmRef::of_job(&plan, job_id);
    let finished_at_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
    let record = JobRecord {
        study: &study.name,
        study_version: 1,
        job_id,
        spec,
        arms: &arms,
        attempt: 1,
        worker: "local",
        result: &result,
        finished_at_ms,
    };
    write_job_tables(&out, &record).with_context(|| format!("writing the result tables under {}", out.display()))?;
    print_summary(&result, spec.train.batching, &out, &checkpoint_dir);
    Ok(ExitCode::SUCCESS)
}

/// One line per finished epoch, from the report the trainer sends after
/// validating it: "epoch 2/8: train loss 3.1416, valid loss 3.2718, 12.3 s".
struct EpochLines {
    since: Instant,
}

impl EpochLines {
    fn new() -> Self {
        EpochLines { since: Instant::now() }
    }

    fn line(&mut self, p: &pb::Progress) -> Option<String> {
        if !p.epoch_end {
            // Preparing the data is not part of the first epoch's time.
            if matches!(pb::Phase::try_from(p.phase), Ok(pb::Phase::Preparing)) {
                self.since = Instant::now();
            }
            return None;
        }
        let seconds = self.since.elapsed().as_secs_f64();
        self.since = Instant::now();
        Some(format!(
            "epoch {}/{}: train loss {:.4}, valid loss {:.4}, {seconds:.1} s",
            p.epoch, p.epochs, p.train_loss, p.valid_loss
        ))
    }
}

fn show_progress(bar: &ProgressBar, p: &pb::Progress) {
    match pb::Phase::try_from(p.phase) {
        Ok(pb::Phase::Preparing) => bar.set_prefix("preparing data"),
        Ok(pb::Phase::Evaluating) => {
            bar.set_prefix("evaluating");
            bar.set_message("decoding the test split");
        }
        _ => {
            bar.set_prefix(format!("epoch {}/{}", p.epoch, p.epochs));
            bar.set_length(p.steps_per_epoch);
            let done = p.step.saturating_sub((p.epoch.saturating_sub(1)) as u64 * p.steps_per_epoch);
            bar.set_position(done.min(p.steps_per_epoch));
            let valid = if p.valid_loss.is_nan() { String::new() } else { format!(" valid {:.4}", p.valid_loss) };
            bar.set_message(format!("loss {:.4}{valid}", p.train_loss));
        }
    }
}

fn print_summary(r: &pb::JobResult, batching: Batching, out: &Path, checkpoint: &Path) {
    let Some(m) = &r.metrics else { return };
    let pct = |v: f64| format!("{v:.2}");
    println!("bleu            {}", pct(m.bleu));
    println!("codexglue_bleu  {}", pct(m.codexglue_bleu));
    println!("token_accuracy  {}", pct(m.token_accuracy));
    println!("exact_match     {}", pct(m.exact_match));
    println!(
        "syntax_valid    {}",
        m.syntax_valid.map(pct).unwrap_or_else(|| "n/a (tokenizer does not detokenize)".into())
    );
    println!("test_loss       {:.4}", m.test_loss);
    println!(
        "epochs          {} (best {}, valid loss {:.4}{})",
        m.epochs_run,
        m.best_epoch,
        m.best_valid_loss,
        if m.early_stopped { ", stopped early" } else { "" }
    );
    println!("parameters      {}", m.trainable_params);
    let per_epoch = if r.curves.is_empty() {
        String::new()
    } else {
        let n = r.curves.len() as f64;
        let steps = r.curves.iter().map(|c| c.step_seconds).sum::<f64>() / n;
        let cpu = r.curves.iter().map(|c| c.step_cpu_seconds).sum::<f64>() / n;
        format!(", {steps:.1} s of optimisation steps per epoch ({cpu:.1} s CPU)")
    };
    println!("train           {:.1} s, {:.0} target tokens/s{per_epoch}", m.train_seconds, m.train_tokens_per_second);
    if let Some(line) = batches_line(batching, &r.curves) {
        println!("batches         {line}");
    }
    println!("tables          {}", out.display());
    println!("checkpoint      {}", checkpoint.display());
}

/// "bucketed: 180,200 target tokens in 195,000 padded slots (92.4% real),
/// 90,100 source tokens in 99,000 (91.0%) per epoch": the mean over the
/// epochs run. No timing, so that two runs of a job print the same line.
fn batches_line(batching: Batching, curves: &[pb::CurvePoint]) -> Option<String> {
    if curves.is_empty() {
        return None;
    }
    let mean = |f: fn(&pb::CurvePoint) -> u64| curves.iter().map(f).sum::<u64>() / curves.len() as u64;
    let share = |real: u64, padded: u64| {
        if padded > 0 { format!("{:.1}%", 100.0 * real as f64 / padded as f64) } else { "n/a".into() }
    };
    let (target, padded_target) = (mean(|c| c.target_tokens), mean(|c| c.padded_target_tokens));
    let (source, padded_source) = (mean(|c| c.source_tokens), mean(|c| c.padded_source_tokens));
    Some(format!(
        "{}: {} target tokens in {} padded slots ({} real), {} source tokens in {} ({}) per epoch",
        batching.name(),
        thousands(target),
        thousands(padded_target),
        share(target, padded_target),
        thousands(source),
        thousands(padded_source),
        share(source, padded_source),
    ))
}

pub fn generate(a: GenerateArgs) -> anyhow::Result<ExitCode> {
    let device = parse_device(&a.device).map_err(|e| anyhow::anyhow!("--device: {e}"))?;
    let ckpt = Checkpoint::load(&a.checkpoint, device)?;
    let strategy = decode_spec(&a, &ckpt.spec.decode);
    let docs: Vec<&str> = a.docstring.iter().map(String::as_str).collect();
    let codes = ckpt.generate(&docs, &strategy, a.seed)?;
    let (text, notes) = label_outputs(&docs, &codes);
    print!("{text}");
    for note in notes {
        eprintln!("{note}");
    }
    Ok(ExitCode::SUCCESS)
}

/// What `generate` prints: one docstring's code as it is (scripts read it),
/// several each under a `[N] first words` header so that they can be told
/// apart; and a note on standard error for each empty generation, which
/// would otherwise be a blank line easily taken for a missing one.
fn label_outputs(docs: &[&str], codes: &[String]) -> (String, Vec<String>) {
    let several = docs.len() > 1;
    let mut text = String::new();
    let mut notes = Vec::new();
    for (i, (doc, code)) in docs.iter().zip(codes).enumerate() {
        let label = format!("[{}] {}", i + 1, first_words(doc, 8));
        if several {
            text.push_str(&format!("{label}\n"));
        }
        if code.trim().is_empty() {
            let which = if several { format!(" for {label}") } else { String::new() };
            notes.push(format!(
                "note: the model generated nothing{which} (it ended the output at once; a longer --max-len or another --strategy may help)"
            ));
        } else {
            text.push_str(code);
            text.push('\n');
        }
        if several && i + 1 < docs.len() {
            text.push('\n');
        }
    }
    (text, notes)
}

/// The first `n` words of a docstring, with "..." when there are more.
fn first_words(doc: &str, n: usize) -> String {
    let words: Vec<&str> = doc.split_whitespace().collect();
    let mut s = words.iter().take(n).copied().collect::<Vec<_>>().join(" ");
    if words.len() > n {
        s.push_str(" ...");
    }
    s
}

/// The job's decoding, with the strategy and knobs the user overrode.
fn decode_spec(a: &GenerateArgs, job: &DecodeSpec) -> DecodeSpec {
    let max_len = a.max_len.unwrap_or(job.max_len());
    let (job_beam, job_penalty) = match *job {
        DecodeSpec::Beam { beam_size, length_penalty, .. } => (beam_size, length_penalty),
        _ => (3, 1.0),
    };
    let (job_p, job_t) = match *job {
        DecodeSpec::TopP { top_p, temperature, .. } => (top_p, temperature),
        _ => (0.95, 1.0),
    };
    let strategy = a.strategy.unwrap_or(match job {
        DecodeSpec::Greedy { .. } => Strategy::Greedy,
        DecodeSpec::Beam { .. } => Strategy::Beam,
        DecodeSpec::TopP { .. } => Strategy::TopP,
    });
    match strategy {
        Strategy::Greedy => DecodeSpec::Greedy { max_len },
        Strategy::Beam => DecodeSpec::Beam {
            beam_size: a.beam_size.unwrap_or(job_beam),
            length_penalty: a.length_penalty.unwrap_or(job_penalty),
            max_len,
        },
        Strategy::TopP => {
            DecodeSpec::TopP { top_p: a.top_p.unwrap_or(job_p), temperature: a.temperature.unwrap_or(job_t), max_len }
        }
    }
}

fn read_lines(path: &Path, what: &str) -> anyhow::Result<Vec<String>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read the {what} file {}", path.display()))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "the {what} file {} is not UTF-8 text (invalid byte at offset {})",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })?;
    Ok(text.lines().map(str::to_owned).collect())
}

pub fn score(a: ScoreArgs) -> anyhow::Result<ExitCode> {
    let hyps = read_lines(&a.hyp, "hypothesis")?;
    let refs = read_lines(&a.reference, "reference")?;
    // Every metric of no lines is 0 or undefined: a score printed for them
    // would pass for a result.
    if hyps.is_empty() || refs.is_empty() {
        let empty: Vec<String> = [(&a.hyp, &hyps), (&a.reference, &refs)]
            .iter()
            .filter(|(_, lines)| lines.is_empty())
            .map(|(path, _)| path.display().to_string())
            .collect();
        bail!("nothing to score: {} {} no lines", empty.join(" and "), if empty.len() > 1 { "have" } else { "has" });
    }
    if hyps.len() != refs.len() {
        bail!(
            "the files are not line-aligned: {} has {} lines but {} has {}",
            a.hyp.display(),
            hyps.len(),
            a.reference.display(),
            refs.len()
        );
    }
    let words = |s: &String| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    if a.per_line {
        for (h, r) in hyps.iter().zip(&refs) {
            let v = match a.metric {
                Metric::Bleu => bleu::sentence_bleu(h, r),
                Metric::CodexglueBleu => {
                    100.0
                        * codexglue::segment_smoothed_bleu(
                            &codexglue::codexglue_tokens(h),
                            &codexglue::codexglue_tokens(r),
                        )
                }
                Metric::ExactMatch => metrics::percent_true([metrics::exact_match_text(h, r)]),
                Metric::TokenAccuracy => metrics::token_accuracy(&words(h), &words(r)),
            };
            println!("{v:.6}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let v = match a.metric {
        Metric::Bleu => bleu::corpus_bleu(&hyps, &refs),
        Metric::CodexglueBleu => codexglue::codexglue_bleu(&hyps, &refs),
        Metric::ExactMatch => {
            metrics::percent_true(hyps.iter().zip(&refs).map(|(h, r)| metrics::exact_match_text(h, r)))
        }
        Metric::TokenAccuracy => {
            let h: Vec<Vec<String>> = hyps.iter().map(words).collect();
            let r: Vec<Vec<String>> = refs.iter().map(words).collect();
            metrics::corpus_token_accuracy(&h, &r)
        }
    };
    println!("{v:.6}");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_outputs_are_labelled_with_their_docstrings_and_empty_ones_noted() {
        let docs = ["return the largest element of xs and nothing else at all", "sum"];
        let codes = ["return max(xs)".to_string(), String::new()];
        let (text, notes) = label_outputs(&docs, &codes);
        assert_eq!(text, "[1] return the largest element of xs and nothing ...\nreturn max(xs)\n\n[2] sum\n");
        assert_eq!(notes.len(), 1);
        assert!(notes[0].starts_with("note: the model generated nothing for [2] sum"), "{notes:?}");
    }

    #[test]
    fn one_output_is_printed_as_it_is() {
        let (text, notes) = label_outputs(&["sum"], &["return sum(xs)".to_string()]);
        assert_eq!((text.as_str(), notes.len()), ("return sum(xs)\n", 0));
        let (text, notes) = label_outputs(&["sum"], &[String::new()]);
        assert_eq!(text, "");
        assert!(notes[0].starts_with("note: the model generated nothing ("), "{notes:?}");
    }

    #[test]
    fn an_epoch_line_is_printed_once_per_validated_epoch() {
        let mut lines = EpochLines::new();
        let mid = pb::Progress { phase: pb::Phase::Training as i32, epoch: 1, epochs: 2, ..Default::default() };
        assert_eq!(lines.line(&mid), None);
        let end = pb::Progress { train_loss: 2.5, valid_loss: 3.25, epoch_end: true, ..mid };
        let line = lines.line(&end).unwrap();
        assert!(
            line.starts_with("epoch 1/2: train loss 2.5000, valid loss 3.2500, ") && line.ends_with(" s"),
            "{line}"
        );
    }
}
