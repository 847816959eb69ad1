//! `intervene query | effects | report | export` on result tables written by
//! the coordinator's own writer (`intervene_coordinator::results`), for the
//! plan of tests/fixtures/golden-study.toml: every kind of arm, a job shared
//! by two arms, attention maps, and one job that never finished.
//!
//! The job results are synthetic (no training here): every per-example score
//! is `40 + difficulty_i + planted(spec) + u_seed + noise`, with the planted
//! shift a function of the job's configuration, so the expected effect of
//! every arm against its comparison arm is known.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use intervene_coordinator::plan::{Plan, plan};
use intervene_coordinator::results::{ArmRef, JobRecord, write_arms, write_job_tables};
use intervene_coordinator::spec;
use intervene_proto::job::{Arch, JobSpec, ModelSpec};
use intervene_proto::pb;
use intervene_proto::tables::{length_bin, results_dir};

const EXAMPLES: usize = 120;
const FAST: &[&str] = &["--resamples", "200", "--permutations", "200", "--refuter-sims", "20"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn intervene(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_intervene")).args(args).current_dir(cwd).output().expect("the binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// splitmix64: a seeded stream without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Sum of 12 uniforms: close enough to a standard normal here.
    fn normal(&mut self) -> f64 {
        (0..12).map(|_| self.uniform()).sum::<f64>() - 6.0
    }
}

/// The planted shift of every per-example score of a job, in points.
fn planted(spec: &JobSpec) -> f64 {
    let mut e = match spec.model.arch() {
        Arch::LstmAttention => 0.0,
        Arch::Gru => -3.0,
        Arch::Transformer => 2.0,
        Arch::Rnn | Arch::Lstm => -5.0,
    };
    if let ModelSpec::LstmAttention(a) = &spec.model
        && a.hidden_dim == 32
    {
        e -= 2.0;
    }
    if spec.mutation.is_some() {
        e -= 4.0;
    }
    e
}

fn job_result(spec: &JobSpec, difficulty: &[f64], rng: &mut Rng) -> pb::JobResult {
    let shift = planted(spec) + 0.3 * rng.normal();
    let attention = spec.model.arch() == Arch::LstmAttention;
    let mut examples = Vec::with_capacity(EXAMPLES);
    for (i, d) in difficulty.iter().enumerate() {
        let source_len = 3 + (i * 7) % 50;
        let bleu = (40.0 + d + shift + 2.0 * rng.normal()).clamp(0.0, 100.0);
        examples.push(pb::ExampleRow {
            example_id: format!("csn-{i:04}"),
            source_len: source_len as u32,
            target_len: (5 + (i * 3) % 30) as u32,
            length_bin: length_bin(source_len).to_string(),
            sentence_bleu: bleu,
            token_accuracy: (bleu + 15.0).min(100.0),
            exact_match: bleu > 60.0,
            syntax_valid: Some(bleu > 25.0),
            error_category: if bleu > 60.0 { "correct" } else { "missing_colons" }.into(),
            source: format!("returns item {i}"),
            reference: format!("return items [ {i} ]"),
            prediction: format!("return items [ {} ]", i % 5),
        });
    }
    let mean = examples.iter().map(|e| e.sentence_bleu).sum::<f64>() / EXAMPLES as f64;
    let pct =
        |f: &dyn Fn(&pb::ExampleRow) -> bool| 100.0 * examples.iter().filter(|e| f(e)).count() as f64 / EXAMPLES as f64;
    let metrics = pb::RunMetrics {
        bleu: mean,
        codexglue_bleu: mean + 0.5,
        token_accuracy: examples.iter().map(|e| e.token_accuracy).sum::<f64>() / EXAMPLES as f64,
        exact_match: pct(&|e| e.exact_match),
        syntax_valid: Some(pct(&|e| e.syntax_valid == Some(true))),
        test_loss: 2.0 - shift / 10.0,
        best_valid_loss: 2.1,
        best_epoch: 3,
        epochs_run: 3,
        trainable_params: 100_000,
        test_examples: EXAMPLES as u32,
        ..Default::default()
    };
    let curves = (1..=3)
        .map(|epoch| pb::CurvePoint {
            epoch,
            step: u64::from(epoch) * 50,
            train_loss: 4.0 / f64::from(epoch),
            valid_loss: 4.2 / f64::from(epoch),
            learning_rate: 3e-3,
            teacher_forcing: 0.5,
            seconds: f64::from(epoch),
            step_seconds: 0.9,
            step_cpu_seconds: 0.8,
            target_tokens: 1_000,
            padded_target_tokens: 1_250,
            source_tokens: 800,
            padded_source_tokens: 1_000,
        })
        .collect();
    let attention = if attention {
        (0..2)
            .map(|i| pb::AttentionMap {
                example_id: format!("csn-{i:04}"),
                source_tokens: vec!["def".into(), "f".into(), "(".into(), ")".into()],
                target_tokens: vec!["returns".into(), "f".into(), "<eos>".into()],
                weights: (0..12).map(|k| ((k * 5 + i) % 7) as f32 / 7.0).collect(),
            })
            .collect()
    } else {
        Vec::new()
    };
    pb::JobResult { metrics: Some(metrics), examples, curves, attention, ..Default::default() }
}

/// Write the golden study's results as the coordinator would, leaving out
/// the job of `missing` (arm, seed).
fn write_study(state: &Path, missing: (&str, u64)) -> Plan {
    let study = spec::load(&root().join("tests/fixtures/golden-study.toml")).expect("the golden study loads");
    let plan = plan(&study).expect("the golden study plans");
    let dir = state.join(results_dir(&plan.study, 1));
    write_arms(&dir, 1, &plan).unwrap();
    let skip = plan.arm(missing.0).and_then(|a| a.jobs.iter().find(|(s, _)| *s == missing.1)).map(|(_, id)| id.clone());
    assert!(skip.is_some(), "no job for {missing:?}");
    // The same test set for every job: the example difficulties are shared.
    let mut rng = Rng(7);
    let difficulty: Vec<f64> = (0..EXAMPLES).map(|_| 8.0 * rng.normal()).collect();
    for job in &plan.jobs {
        if Some(&job.id) == skip.as_ref() {
            continue;
        }
        let result = job_result(&job.spec, &difficulty, &mut rng);
        let arms = ArmRef::of_job(&plan, &job.id);
        let rec = JobRecord {
            study: &plan.study,
            study_version: 1,
            job_id: &job.id,
            spec: &job.spec,
            arms: &arms,
            attempt: 1,
            worker: "test-worker",
            result: &result,
            finished_at_ms: 1_700_000_000_000,
        };
        write_job_tables(&dir, &rec).unwrap();
    }
    plan
}

/// The planted effect of `arm` against its comparison arm.
fn expected_effect(plan: &Plan, arm: &str, compare_to: &str) -> f64 {
    let spec_of = |name: &str| {
        let a = plan.arm(name).unwrap_or_else(|| panic!("no arm {name}"));
        &plan.job(&a.jobs[0].1).unwrap().spec
    };
    planted(spec_of(arm)) - planted(spec_of(compare_to))
}

#[test]
fn the_cli_analyses_tables_written_by_the_coordinator() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join(".intervene");
    let plan = write_study(&state, ("drop/p=0.2", 2));
    let cwd = dir.path();

    // query: one run per arm and seed, the unfinished job missing.
    let o = intervene(
        &["query", "golden", "SELECT arm, count(*) AS n FROM runs GROUP BY arm ORDER BY arm", "--format", "csv"],
        cwd,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let counts: BTreeMap<String, String> = out
        .lines()
        .skip(1)
        .map(|l| {
            let (a, n) = l.rsplit_once(',').unwrap();
            (a.to_string(), n.to_string())
        })
        .collect();
    assert_eq!(counts.len(), plan.arms.len(), "{out}");
    for arm in &plan.arms {
        let want = if arm.name == "drop/p=0.2" { "1" } else { "2" };
        assert_eq!(counts[&arm.name], want, "{}: {out}", arm.name);
    }

    // effects: every arm's planted effect is recovered; the missing seed is flagged.
    // sentence_bleu: the per-example outcome, with seed-level, example-level and adjusted estimates.
    let mut args = vec!["effects", "golden", "--outcome", "sentence_bleu", "--format", "json"];
    args.extend(FAST);
    let o = intervene(&args, cwd);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    let compared: Vec<_> = plan.arms.iter().filter(|a| a.compare_to.is_some()).collect();
    let mut checked = 0;
    for arm in &compared {
        let r = rows
            .iter()
            .find(|r| r["arm"] == arm.name.as_str())
            .unwrap_or_else(|| panic!("no effect row for {}: {rows:?}", arm.name));
        let compare_to = arm.compare_to.as_deref().unwrap();
        assert_eq!(r["compare_to"], compare_to);
        let want = expected_effect(&plan, &arm.name, compare_to);
        for key in ["ate", "ex_ate", "adj_ate"] {
            let got = r[key].as_f64().unwrap_or_else(|| panic!("{}: {key} is {}", arm.name, r[key]));
            assert!((got - want).abs() < 1.5, "{} {key}: {got}, planted {want}", arm.name);
        }
        assert_eq!(r["n_pairs"], if arm.name == "drop/p=0.2" { EXAMPLES } else { 2 * EXAMPLES });
        if arm.name == "drop/p=0.2" {
            assert_eq!(r["n_seeds"], 1);
            assert!(r["flags"].as_str().unwrap().contains("treatment `drop/p=0.2` missing seeds 2"), "{r}");
        } else {
            assert_eq!(r["n_seeds"], 2, "{}", arm.name);
        }
        checked += 1;
    }
    assert!(checked >= 4, "intra, inter and mutation arms: {checked}");

    // effects by bucket and by length bin run on the same tables.
    for by in ["bucket", "length_bin", "arch"] {
        let mut args = vec!["effects", "golden", "--outcome", "sentence_bleu", "--by", by, "--format", "csv"];
        args.extend(FAST);
        let o = intervene(&args, cwd);
        assert!(o.status.success(), "--by {by}: {}", stderr(&o));
        assert!(String::from_utf8_lossy(&o.stdout).lines().count() > 1, "--by {by}: no rows");
    }

    // report: Markdown, HTML and PNGs, with attention heatmaps of the attention arms.
    let out = dir.path().join("report");
    let o = intervene(&["report", "golden", "-o", out.to_str().unwrap(), "--resamples", "200"], cwd);
    assert!(o.status.success(), "{}", stderr(&o));
    let pngs: Vec<PathBuf> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    assert!(pngs.len() >= 4, "{pngs:?}");
    for png in &pngs {
        let bytes = std::fs::read(png).unwrap();
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.ends_with(b"IEND\xaeB`\x82"), "{}", png.display());
    }
    assert!(pngs.iter().any(|p| p.file_name().unwrap().to_string_lossy().contains("attention")), "{pngs:?}");
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("drop/p=0.2") && md.contains("missing seeds 2"), "{md}");
    assert!(out.join("report.html").is_file());

    // export: every table as CSV.
    let out = dir.path().join("export");
    let o = intervene(&["export", "golden", "--format", "csv", "-o", out.to_str().unwrap()], cwd);
    assert!(o.status.success(), "{}", stderr(&o));
    let examples = std::fs::read_to_string(out.join("examples.csv")).unwrap();
    let rows_written: usize = plan.jobs.iter().map(|j| j.arms.len()).sum::<usize>() - 1;
    assert_eq!(examples.lines().count(), rows_written * EXAMPLES + 1);
}
