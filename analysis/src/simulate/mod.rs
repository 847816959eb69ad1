//! Synthetic study results with planted effects, in the documented table
//! layout: for tests (coverage of the intervals, refuters), for fixtures
//! and for benchmarks (a million example rows in seconds).
//!
//! Per-example outcome of arm `a`, seed `s`, example `i` (percentage points):
//!
//! ```text
//! y = base - 0.4 * source_len_i + difficulty_i + effect_a
//!     + length_slope_a * (source_len_i - 30.5) + u_{a,s} + e_{a,s,i}
//! ```
//!
//! with `difficulty ~ N(0, difficulty_sd)` shared by every arm (the same test
//! set), `u ~ N(0, seed_sd)` the training noise of one run and
//! `e ~ N(0, noise_sd)`; source lengths are uniform on 1..=60, mean 30.5. Sentence BLEU is `y` (clipped to 0..100 when
//! `clip`); the run's BLEU is the mean over its examples, so the planted
//! average effect of arm `a` against its comparison arm is exactly
//! `effect_a - effect_compare_to` (without clipping, and with length slopes
//! averaging out over the lengths drawn).

pub mod paired;

use std::path::{Path, PathBuf};

use intervene_proto::tables as layout;
use polars::prelude::*;

use crate::error::{PolarsContext, Result, io_err};
use crate::stats::rng::{Rng, stable_hash};
use crate::tables::StudyTables;

/// Mean of the simulated source lengths (uniform on 1..=60): length slopes
/// are centred on it, so they average out of the planted effects.
const MEAN_SOURCE_LEN: f64 = 30.5;

#[derive(Debug, Clone)]
pub struct SimArm {
    pub arm: String,
    pub intervention: String,
    pub kind: String,
    pub compare_to: Option<String>,
    pub bucket: Option<String>,
    pub arch: String,
    pub params: i64,
    pub changed: String,
    /// Planted shift of every per-example outcome, in points.
    pub effect: f64,
    /// Extra points per source token above the mean length 30.5 (negative: worse on long inputs).
    pub length_slope: f64,
    /// Whether the model has attention (it then writes attention maps).
    pub attention: bool,
    /// Whether syntax validity is unknown (null), as for a tokenizer that cannot detokenize.
    pub syntax_null: bool,
}

impl SimArm {
    pub fn new(arm: &str, kind: &str, compare_to: Option<&str>, arch: &str, effect: f64) -> Self {
        Self {
            arm: arm.into(),
            intervention: if kind == layout::KIND_CONTROL {
                String::new()
            } else {
                arm.split('/').next().unwrap_or(arm).into()
            },
            kind: kind.into(),
            compare_to: compare_to.map(str::to_string),
            bucket: None,
            arch: arch.into(),
            params: 1_000_000,
            changed: String::new(),
            effect,
            length_slope: 0.0,
            attention: arch.contains("attention") || arch == "transformer",
            syntax_null: false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Simulation {
    pub study: String,
    pub version: u32,
    pub seeds: Vec<i64>,
    pub examples: usize,
    pub arms: Vec<SimArm>,
    pub base: f64,
    pub seed_sd: f64,
    pub noise_sd: f64,
    pub difficulty_sd: f64,
    pub clip: bool,
    pub epochs: usize,
    /// (arm, seed) jobs that never finished: no rows anywhere.
    pub missing: Vec<(String, i64)>,
    pub rng_seed: u64,
}

impl Simulation {
    /// A study shaped like the reference ones: a control LSTM with
    /// attention, an intra intervention (hidden size), a data mutation, and
    /// an inter intervention over two complexity buckets.
    pub fn realistic(study: &str, seeds: Vec<i64>, examples: usize, rng_seed: u64) -> Self {
        let mut arms = vec![
            SimArm::new("control", layout::KIND_CONTROL, None, "lstm-attention", 0.0),
            SimArm::new("hidden-size/hidden_dim=128", layout::KIND_INTRA, Some("control"), "lstm-attention", -2.0),
            SimArm::new("docstring-dropout/p=0.3", layout::KIND_MUTATION, Some("control"), "lstm-attention", -4.0),
        ];
        arms[1].changed = "hidden_dim=128".into();
        arms[2].changed = "token-dropout p=0.3".into();
        for (bucket, scale) in [("low", 0.0), ("medium", 2.0)] {
            let reference = format!("arch-by-complexity/{bucket}/rnn");
            for (arch, effect, slope) in [("rnn", -8.0, -0.3), ("lstm", -3.0, -0.1), ("lstm-attention", 0.0, 0.0)] {
                let name = format!("arch-by-complexity/{bucket}/{arch}");
                let compare = (arch != "rnn").then_some(reference.as_str());
                let mut a = SimArm::new(&name, layout::KIND_INTER, compare, arch, effect + scale);
                a.bucket = Some(bucket.into());
                a.length_slope = slope;
                a.params = if bucket == "low" { 1_200_000 } else { 4_000_000 };
                a.changed = format!("arch={arch}");
                arms.push(a);
            }
        }
        Self {
            study: study.into(),
            version: 1,
            seeds,
            examples,
            arms,
            base: 45.0,
            seed_sd: 0.8,
            noise_sd: 15.0,
            difficulty_sd: 10.0,
            clip: true,
            epochs: 6,
            missing: Vec::new(),
            rng_seed,
        }
    }

    pub fn job_id(&self, arm: &SimArm, seed: i64) -> String {
        format!("{:016x}", stable_hash(&format!("{}\u{1f}{}\u{1f}{}\u{1f}{seed}", self.study, arm.arm, arm.arch)))
    }

    fn finished(&self, arm: &SimArm, seed: i64) -> bool {
        !self.missing.iter().any(|(a, s)| *a == arm.arm && *s == seed)
    }

    /// Every job's tables, job by job: (job id, runs, examples, curves, attention).
    pub fn jobs(&self) -> Result<Vec<JobFrames>> {
        let mut rng = Rng::new(self.rng_seed);
        let source_len: Vec<i64> = (0..self.examples).map(|_| 1 + rng.below(60) as i64).collect();
        let target_len: Vec<i64> = (0..self.examples).map(|_| 5 + rng.below(76) as i64).collect();
        let difficulty: Vec<f64> = (0..self.examples).map(|_| normal(&mut rng) * self.difficulty_sd).collect();
        let mut jobs = Vec::new();
        for arm in &self.arms {
            for &seed in &self.seeds {
                // Draw the run's noise even for a missing job, so dropping a
                // job does not change the others.
                let mut job_rng = Rng::stream(self.rng_seed, stable_hash(&arm.arm), seed as u64);
                let u = normal(&mut job_rng) * self.seed_sd;
                if !self.finished(arm, seed) {
                    continue;
                }
                jobs.push(self.job(arm, seed, u, &source_len, &target_len, &difficulty, &mut job_rng)?);
            }
        }
        Ok(jobs)
    }

    #[allow(clippy::too_many_arguments)]
    fn job(
        &self,
        arm: &SimArm,
        seed: i64,
        u: f64,
        source_len: &[i64],
        target_len: &[i64],
        difficulty: &[f64],
        rng: &mut Rng,
    ) -> Result<JobFrames> {
        let n = self.examples;
        let job_id = self.job_id(arm, seed);
        let clip = |v: f64| if self.clip { v.clamp(0.0, 100.0) } else { v };
        let mut bleu = Vec::with_capacity(n);
        let mut accuracy = Vec::with_capacity(n);
        let mut exact = Vec::with_capacity(n);
        let mut syntax = Vec::with_capacity(n);
        let mut category = Vec::with_capacity(n);
        for i in 0..n {
            let y = self.base - 0.4 * source_len[i] as f64
                + difficulty[i]
                + arm.effect
                + arm.length_slope * (source_len[i] as f64 - MEAN_SOURCE_LEN)
                + u
                + normal(rng) * self.noise_sd;
            bleu.push(clip(y));
            accuracy.push(clip(y + 15.0 + normal(rng) * 5.0));
            let is_exact = y > 85.0;
            exact.push(is_exact);
            syntax.push(if arm.syntax_null { None } else { Some(y + normal(rng) * 10.0 > 20.0) });
            let cat = if is_exact {
                "correct"
            } else if y < 5.0 {
                "empty_output"
            } else if y < 15.0 {
                "incomplete_code"
            } else {
                layout::ERROR_CATEGORIES[3 + rng.below(layout::ERROR_CATEGORIES.len() - 3)]
            };
            category.push(cat);
        }
        let study = vec![self.study.clone(); n];
        let examples = DataFrame::new(
            n,
            vec![
                Column::new("study".into(), study),
                Column::new("study_version".into(), vec![i64::from(self.version); n]),
                Column::new("arm".into(), vec![arm.arm.clone(); n]),
                Column::new("job_id".into(), vec![job_id.clone(); n]),
                Column::new("seed".into(), vec![seed; n]),
                Column::new("example_id".into(), (0..n as i64).collect::<Vec<_>>()),
                Column::new("source_len".into(), source_len.to_vec()),
                Column::new("target_len".into(), target_len.to_vec()),
                Column::new(
                    "length_bin".into(),
                    source_len.iter().map(|&l| layout::length_bin(l as usize)).collect::<Vec<_>>(),
                ),
                Column::new("sentence_bleu".into(), bleu.clone()),
                Column::new("token_accuracy".into(), accuracy.clone()),
                Column::new("exact_match".into(), exact.clone()),
                Column::new("syntax_valid".into(), syntax.clone()),
                Column::new("error_category".into(), category),
                Column::new(
                    "source".into(),
                    (0..n).map(|i| format!("returns the value number {i}")).collect::<Vec<_>>(),
                ),
                Column::new("reference".into(), (0..n).map(|i| format!("return values [ {i} ]")).collect::<Vec<_>>()),
                Column::new(
                    "prediction".into(),
                    (0..n).map(|i| format!("return values [ {} ]", i % 7)).collect::<Vec<_>>(),
                ),
            ],
        )
        .ctx(|| "simulating examples".into())?;

        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
        let pct = |v: &[bool]| 100.0 * v.iter().filter(|b| **b).count() as f64 / v.len().max(1) as f64;
        let known: Vec<bool> = syntax.iter().flatten().copied().collect();
        let run_bleu = mean(&bleu);
        let outcomes = [
            ("bleu", Some(run_bleu)),
            ("codexglue_bleu", Some(run_bleu + 1.0)),
            ("token_accuracy", Some(mean(&accuracy))),
            ("exact_match", Some(pct(&exact))),
            ("syntax_valid", if arm.syntax_null { None } else { Some(pct(&known)) }),
        ];
        let runs = self.run_frame(arm, seed, &job_id, &outcomes)?;

        let curves = self.curves_frame(arm, seed, &job_id, rng)?;

        let attention = if arm.attention { Some(self.attention_frame(arm, seed, &job_id, rng)?) } else { None };
        Ok(JobFrames { arm: arm.arm.clone(), job_id, runs, examples, curves, attention })
    }

    /// Learning curves that fall faster for arms with a larger effect.
    fn curves_frame(&self, arm: &SimArm, seed: i64, job_id: &str, rng: &mut Rng) -> Result<DataFrame> {
        let e = self.epochs;
        let epochs: Vec<i64> = (1..=e as i64).collect();
        let speed = 0.25 + 0.05 * arm.effect.max(-5.0) / 5.0;
        let train: Vec<f64> =
            epochs.iter().map(|&x| 0.6 + 4.0 * (-speed * x as f64).exp() + 0.02 * normal(rng)).collect();
        let valid: Vec<f64> = train.iter().map(|t| t + 0.25 + 0.02 * normal(rng)).collect();
        DataFrame::new(
            e,
            vec![
                Column::new("study".into(), vec![self.study.clone(); e]),
                Column::new("study_version".into(), vec![i64::from(self.version); e]),
                Column::new("arm".into(), vec![arm.arm.clone(); e]),
                Column::new("job_id".into(), vec![job_id.to_string(); e]),
                Column::new("seed".into(), vec![seed; e]),
                Column::new("epoch".into(), epochs.clone()),
                Column::new("step".into(), epochs.iter().map(|x| x * 157).collect::<Vec<_>>()),
                Column::new("train_loss".into(), train),
                Column::new("valid_loss".into(), valid),
                Column::new("learning_rate".into(), vec![1e-3; e]),
                Column::new(
                    "teacher_forcing".into(),
                    epochs.iter().map(|&x| 0.5 * (1.0 - x as f64 / (e as f64 + 1.0))).collect::<Vec<_>>(),
                ),
                Column::new("seconds".into(), epochs.iter().map(|&x| 12.5 * x as f64).collect::<Vec<_>>()),
                Column::new("step_seconds".into(), vec![12.0; e]),
                Column::new("step_cpu_seconds".into(), vec![11.5; e]),
                Column::new("target_tokens".into(), vec![300_000i64; e]),
                Column::new("padded_target_tokens".into(), vec![480_000i64; e]),
                Column::new("source_tokens".into(), vec![200_000i64; e]),
                Column::new("padded_source_tokens".into(), vec![260_000i64; e]),
            ],
        )
        .ctx(|| "simulating curves".into())
    }

    fn run_frame(&self, arm: &SimArm, seed: i64, job_id: &str, outcomes: &[(&str, Option<f64>)]) -> Result<DataFrame> {
        let s = |v: &str| Column::new("".into(), [v.to_string()]);
        let mut cols: Vec<(&str, Column)> = vec![
            ("study", s(&self.study)),
            ("study_version", Column::new("".into(), [i64::from(self.version)])),
            ("arm", s(&arm.arm)),
            ("intervention", s(&arm.intervention)),
            ("kind", s(&arm.kind)),
            ("compare_to", Column::new("".into(), [arm.compare_to.clone()])),
            ("bucket", Column::new("".into(), [arm.bucket.clone()])),
            ("job_id", s(job_id)),
            ("seed", Column::new("".into(), [seed])),
            ("attempt", Column::new("".into(), [1i64])),
            ("worker", s("sim-worker")),
            ("device", s("cpu")),
            ("gpu_name", Column::new("".into(), [None::<String>])),
            ("torch_version", s("2.11.0")),
            ("arch", s(&arm.arch)),
            ("params", Column::new("".into(), [arm.params])),
            ("finished_at_ms", Column::new("".into(), [1_700_000_000_000i64 + seed])),
        ];
        for name in layout::FACTOR_COLUMNS {
            cols.push((name, factor_value(name, arm)));
        }
        for (name, v) in outcomes {
            cols.push((name, Column::new("".into(), [*v])));
        }
        for name in layout::RUN_FACTS {
            cols.push((name, fact_value(name, self)));
        }
        let columns = cols.into_iter().map(|(name, c)| c.with_name(name.into())).collect();
        DataFrame::new(1, columns).ctx(|| "simulating a run".into())
    }

    fn attention_frame(&self, arm: &SimArm, seed: i64, job_id: &str, rng: &mut Rng) -> Result<DataFrame> {
        let examples = self.examples.min(3);
        let src_words = ["returns", "the", "maximum", "value", "of", "a", "list"];
        let tgt_words = ["return", "max", "(", "values", ")"];
        let mut sources = Vec::new();
        let mut targets = Vec::new();
        let mut weights = Vec::new();
        for ex in 0..examples {
            let s_len = 4 + (ex + seed as usize) % 4;
            let t_len = 3 + ex % 3;
            let src: Vec<&str> = src_words.iter().cycle().skip(ex).take(s_len).copied().collect();
            let tgt: Vec<&str> = tgt_words.iter().cycle().skip(ex).take(t_len).copied().collect();
            let mut w = Vec::with_capacity(s_len * t_len);
            for t in 0..t_len {
                let logits: Vec<f64> = (0..s_len)
                    .map(|s| -((s as f64 - t as f64 * s_len as f64 / t_len as f64).powi(2)) / 2.0 + 0.3 * normal(rng))
                    .collect();
                let max = logits.iter().cloned().fold(f64::MIN, f64::max);
                let exp: Vec<f64> = logits.iter().map(|l| (l - max).exp()).collect();
                let z: f64 = exp.iter().sum();
                w.extend(exp.iter().map(|e| (e / z) as f32));
            }
            sources.push(Series::new("".into(), src.iter().map(|s| s.to_string()).collect::<Vec<_>>()));
            targets.push(Series::new("".into(), tgt.iter().map(|s| s.to_string()).collect::<Vec<_>>()));
            weights.push(Series::new("".into(), w));
        }
        DataFrame::new(
            examples,
            vec![
                Column::new("study".into(), vec![self.study.clone(); examples]),
                Column::new("study_version".into(), vec![i64::from(self.version); examples]),
                Column::new("arm".into(), vec![arm.arm.clone(); examples]),
                Column::new("job_id".into(), vec![job_id.to_string(); examples]),
                Column::new("seed".into(), vec![seed; examples]),
                Column::new("example_id".into(), (0..examples as i64).collect::<Vec<_>>()),
                Column::new("source_tokens".into(), sources),
                Column::new("target_tokens".into(), targets),
                Column::new("weights".into(), weights),
            ],
        )
        .ctx(|| "simulating attention".into())
    }

    /// The plan, one row per arm.
    pub fn arms_frame(&self) -> Result<DataFrame> {
        let a = &self.arms;
        let seeds: Vec<Series> = a.iter().map(|_| Series::new("".into(), self.seeds.clone())).collect();
        let job_ids: Vec<Series> = a
            .iter()
            .map(|arm| Series::new("".into(), self.seeds.iter().map(|&s| self.job_id(arm, s)).collect::<Vec<_>>()))
            .collect();
        DataFrame::new(
            a.len(),
            vec![
                Column::new("study".into(), vec![self.study.clone(); a.len()]),
                Column::new("study_version".into(), vec![i64::from(self.version); a.len()]),
                Column::new("arm".into(), a.iter().map(|x| x.arm.clone()).collect::<Vec<_>>()),
                Column::new("intervention".into(), a.iter().map(|x| x.intervention.clone()).collect::<Vec<_>>()),
                Column::new("kind".into(), a.iter().map(|x| x.kind.clone()).collect::<Vec<_>>()),
                Column::new("compare_to".into(), a.iter().map(|x| x.compare_to.clone()).collect::<Vec<_>>()),
                Column::new("bucket".into(), a.iter().map(|x| x.bucket.clone()).collect::<Vec<_>>()),
                Column::new("arch".into(), a.iter().map(|x| x.arch.clone()).collect::<Vec<_>>()),
                Column::new("params".into(), a.iter().map(|x| x.params).collect::<Vec<_>>()),
                Column::new("changed".into(), a.iter().map(|x| x.changed.clone()).collect::<Vec<_>>()),
                Column::new("seeds".into(), seeds),
                Column::new("job_ids".into(), job_ids),
            ],
        )
        .ctx(|| "simulating the plan".into())
    }

    /// The study's tables in memory.
    pub fn tables(&self) -> Result<StudyTables> {
        let jobs = self.jobs()?;
        let stack = |pick: &dyn Fn(&JobFrames) -> Option<&DataFrame>| -> Result<Option<LazyFrame>> {
            let frames: Vec<LazyFrame> = jobs.iter().filter_map(|j| pick(j).map(|d| d.clone().lazy())).collect();
            if frames.is_empty() {
                return Ok(None);
            }
            let args = UnionArgs { to_supertypes: true, diagonal: true, ..Default::default() };
            Ok(Some(
                concat_lf_diagonal(frames, args)
                    .ctx(|| "stacking simulated jobs".into())?
                    .collect()
                    .ctx(|| "stacking".into())?
                    .lazy(),
            ))
        };
        Ok(StudyTables {
            study: self.study.clone(),
            version: self.version,
            location: format!("simulated study `{}`", self.study),
            arms: self.arms_frame()?,
            runs: stack(&|j| Some(&j.runs))?,
            examples: stack(&|j| Some(&j.examples))?,
            curves: stack(&|j| Some(&j.curves))?,
            attention: stack(&|j| j.attention.as_ref())?,
        })
    }

    /// Write the study under `<state>/results/<study>/v<version>/` as the
    /// coordinator does; returns that directory.
    pub fn write(&self, state: &Path) -> Result<PathBuf> {
        let dir = state.join(layout::results_dir(&self.study, self.version));
        for t in [layout::RUNS, layout::EXAMPLES, layout::CURVES, layout::ATTENTION] {
            std::fs::create_dir_all(dir.join(t)).map_err(io_err(dir.join(t)))?;
        }
        crate::output::write_parquet(&self.arms_frame()?, &dir.join(format!("{}.parquet", layout::ARMS)))?;
        for job in self.jobs()? {
            // A job reached by two arms has one row per arm in one file; the
            // simulation gives every arm its own job, so one file per (arm, job).
            let name = format!("{}.parquet", job.job_id);
            crate::output::write_parquet(&job.runs, &dir.join(layout::RUNS).join(&name))?;
            crate::output::write_parquet(&job.examples, &dir.join(layout::EXAMPLES).join(&name))?;
            crate::output::write_parquet(&job.curves, &dir.join(layout::CURVES).join(&name))?;
            if let Some(a) = &job.attention {
                crate::output::write_parquet(a, &dir.join(layout::ATTENTION).join(&name))?;
            }
        }
        Ok(dir)
    }
}

/// The frames one job writes.
#[derive(Debug, Clone)]
pub struct JobFrames {
    pub arm: String,
    pub job_id: String,
    pub runs: DataFrame,
    pub examples: DataFrame,
    pub curves: DataFrame,
    pub attention: Option<DataFrame>,
}

/// A standard normal draw (Box-Muller).
pub fn normal(rng: &mut Rng) -> f64 {
    let u1 = 1.0 - rng.uniform();
    let u2 = rng.uniform();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn factor_value(name: &str, arm: &SimArm) -> Column {
    let f = |v: Option<f64>| Column::new("".into(), [v]);
    let i = |v: Option<i64>| Column::new("".into(), [v]);
    let s = |v: Option<&str>| Column::new("".into(), [v.map(str::to_string)]);
    let rnn = arm.arch != "transformer";
    match name {
        "dropout" => f(Some(0.3)),
        "learning_rate" => f(Some(1e-3)),
        "weight_decay" => f(Some(0.0)),
        "gradient_clip" => f(Some(1.0)),
        "teacher_forcing" => f(Some(0.5)),
        "teacher_forcing_min" | "length_penalty" | "top_p" | "temperature" => f(None),
        "mutation_level" => f((arm.kind == layout::KIND_MUTATION).then_some(0.3)),
        "bidirectional" => Column::new("".into(), [rnn.then_some(true)]),
        "scheduled_sampling" => s(Some("linear")),
        "batching" => s(Some("random")),
        "strategy" => s(Some("beam")),
        "source_kind" => s(Some("synthetic")),
        "split" => s(Some("random")),
        "tokenizer" => s(Some("code-whitespace")),
        "overlong" => s(Some("truncate")),
        "mutation_op" => s((arm.kind == layout::KIND_MUTATION).then_some("token-dropout")),
        "mutation_side" => s((arm.kind == layout::KIND_MUTATION).then_some("source")),
        "mutation_splits" => s((arm.kind == layout::KIND_MUTATION).then_some("train")),
        "mutation_param" => s((arm.kind == layout::KIND_MUTATION).then_some("p")),
        "embedding_dim" => i(Some(256)),
        "hidden_dim" => i(rnn.then_some(if arm.changed.contains("hidden_dim=128") { 128 } else { 256 })),
        "layers" => i(rnn.then_some(2)),
        "attention_dim" => i(arm.arch.contains("attention").then_some(256)),
        "d_model" | "heads" | "ff_dim" | "encoder_layers" | "decoder_layers" => i(None),
        "batch_size" => i(Some(64)),
        "epochs" => i(Some(20)),
        "warmup_steps" => i(Some(1000)),
        "sampling_k" => i(None),
        "early_stopping_patience" => i(Some(3)),
        "beam_size" => i(Some(3)),
        "max_len" => i(Some(80)),
        "train_size" => i(Some(10_000)),
        "valid_size" | "test_size" => i(Some(1_500)),
        "split_seed" => i(Some(42)),
        "source_vocab_size" | "target_vocab_size" => i(Some(5_000)),
        "max_source_len" => i(Some(50)),
        "max_target_len" => i(Some(80)),
        _ => i(None),
    }
}

fn fact_value(name: &str, sim: &Simulation) -> Column {
    let f = |v: f64| Column::new("".into(), [v]);
    let i = |v: i64| Column::new("".into(), [v]);
    match name {
        "test_loss" | "best_valid_loss" => f(1.2),
        "best_epoch" | "epochs_run" => i(sim.epochs as i64),
        "early_stopped" => Column::new("".into(), [false]),
        "trainable_params" => i(1_000_000),
        "source_vocab" | "target_vocab" => i(5_000),
        "train_examples" => i(10_000),
        "valid_examples" => i(1_500),
        "test_examples" => i(sim.examples as i64),
        "train_seconds" => f(75.0),
        "eval_seconds" => f(4.0),
        "train_tokens_per_second" => f(25_000.0),
        "mutation_counts" => Column::new("".into(), ["{}".to_string()]),
        _ => Column::new("".into(), [None::<f64>]),
    }
}
