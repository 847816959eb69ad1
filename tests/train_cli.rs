//! `intervene score | train | generate` through the binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn intervene(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_intervene")).args(args).current_dir(dir).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// The cases of `worker/src/eval/bleu.rs` on one line each (the multi-line
/// reference there is on one line here, which changes nothing for 13a).
/// Expected corpus scores computed once with sacrebleu 2.5.1
/// (`sacrebleu.corpus_bleu(hyps, [refs]).score`) and with CodeXGLUE's
/// code-to-text `bleu.py` (`bleuFromMaps` after `splitPuncts(x.strip().lower())`);
/// `bench/check_bleu.py` re-checks BLEU against the installed package.
const HYPS: &str = "def add ( a , b ) : return a + b
return max(values)
for i in range(10): print(i)
x = 3.14, y = 1,000
self.foo_bar = None
if a<b and c>=d: return -1

import os.path as osp
Ünïcode naïve café — “quotes”
a.. b,, c-3 10-20
return
raise ValueError('bad value: %s' % x)
";
const REFS: &str = "def add ( a , b ) : return a + b
return max ( values )
for i in range(10):     print(i)
x = 3.14 , y = 1000
self.foo_bar = []
if a < b and c >= d : return - 1
return None
import os
Unicode naive café — \"quotes\"
a . . b , , c - 3 10 - 20
return x
raise ValueError ( 'bad value: %s' % x )
";

fn files(dir: &Path) -> (PathBuf, PathBuf) {
    let (h, r) = (dir.join("hyp.txt"), dir.join("ref.txt"));
    std::fs::write(&h, HYPS).unwrap();
    std::fs::write(&r, REFS).unwrap();
    (h, r)
}

fn score(dir: &Path, metric: &str, extra: &[&str]) -> Vec<f64> {
    let mut args = vec!["score", "--metric", metric, "--hyp", "hyp.txt", "--ref", "ref.txt"];
    args.extend_from_slice(extra);
    let out = intervene(dir, &args);
    assert!(out.status.success(), "{metric}: {}", stderr(&out));
    stdout(&out).split_whitespace().map(|v| v.parse().unwrap()).collect()
}

#[test]
fn score_bleu_agrees_with_sacrebleu_to_four_decimals() {
    let tmp = tempfile::tempdir().unwrap();
    files(tmp.path());
    let bleu = score(tmp.path(), "bleu", &[])[0];
    assert!((bleu - 78.22507750119044).abs() < 1e-4, "{bleu}");
    let per_line = score(tmp.path(), "bleu", &["--per-line"]);
    let sacrebleu_sentences = [
        100.00000000000004,
        100.00000000000004,
        100.00000000000004,
        80.91067115702207,
        70.1396726799769,
        83.1353976469103,
        0.0,
        16.233395773754953,
        14.320952289897704,
        53.87551338654778,
        36.78794411714425,
        100.00000000000004,
    ];
    assert_eq!(per_line.len(), 12);
    for (got, want) in per_line.iter().zip(sacrebleu_sentences) {
        assert!((got - want).abs() < 1e-4, "{got} vs {want}");
    }
    let cxg = score(tmp.path(), "codexglue_bleu", &[])[0];
    assert!((cxg - 72.5897250642814).abs() < 1e-4, "{cxg}");
}

#[test]
fn score_exact_match_and_token_accuracy() {
    let tmp = tempfile::tempdir().unwrap();
    files(tmp.path());
    // Only the first line is identical after stripping.
    let em = score(tmp.path(), "exact_match", &[])[0];
    assert!((em - 100.0 / 12.0).abs() < 1e-4, "{em}");
    let h = tmp.path().join("hyp.txt");
    std::fs::write(&h, "a b c\nx y\n").unwrap();
    std::fs::write(tmp.path().join("ref.txt"), "a b d\nx y z\n").unwrap();
    // 2 of 3 plus 2 of 3 reference tokens.
    let acc = score(tmp.path(), "token_accuracy", &[])[0];
    assert!((acc - 400.0 / 6.0).abs() < 1e-4, "{acc}");
    // The spelling of earlier versions still works.
    assert_eq!(score(tmp.path(), "token-accuracy", &[]), [acc]);
    assert_eq!(score(tmp.path(), "exact-match", &["--per-line"]), [0.0, 0.0]);
}

#[test]
fn score_refuses_misaligned_and_unreadable_files() {
    let tmp = tempfile::tempdir().unwrap();
    files(tmp.path());
    std::fs::write(tmp.path().join("short.txt"), "one line\n").unwrap();
    let out = intervene(tmp.path(), &["score", "--metric", "bleu", "--hyp", "short.txt", "--ref", "ref.txt"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("short.txt") && err.contains("ref.txt") && err.contains("1 lines") && err.contains("12"),
        "{err}"
    );

    let out = intervene(tmp.path(), &["score", "--metric", "bleu", "--hyp", "missing.txt", "--ref", "ref.txt"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("missing.txt"), "{}", stderr(&out));

    std::fs::write(tmp.path().join("binary.txt"), [0xff, 0xfe, b'\n']).unwrap();
    let out = intervene(tmp.path(), &["score", "--metric", "bleu", "--hyp", "hyp.txt", "--ref", "binary.txt"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("binary.txt") && err.contains("UTF-8"), "{err}");

    let out = intervene(tmp.path(), &["score", "--metric", "rouge", "--hyp", "hyp.txt", "--ref", "ref.txt"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    // The accepted values are listed with the names studies use.
    assert!(err.contains("codexglue_bleu") && err.contains("token_accuracy"), "{err}");
    assert!(!err.contains("token-accuracy"), "{err}");

    std::fs::write(tmp.path().join("empty_hyp.txt"), "").unwrap();
    std::fs::write(tmp.path().join("empty_ref.txt"), "").unwrap();
    let out = intervene(tmp.path(), &["score", "--metric", "bleu", "--hyp", "empty_hyp.txt", "--ref", "empty_ref.txt"]);
    assert!(!out.status.success(), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("empty_hyp.txt") && err.contains("empty_ref.txt") && err.contains("no lines"), "{err}");
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
}

const STUDY: &str = r#"
version = 1

[study]
name = "tiny"
seeds = [1, 2]

[data]
source = { kind = "synthetic", task = "list", size = 300, seed = 5 }
train = 200
valid = 50
test = 50
split_seed = 42
tokenizer = "python-lexer"
vocab_size = 300
max_source_len = 20
max_target_len = 40

[model]
arch = "lstm-attention"
embedding_dim = 16
hidden_dim = 24
layers = 1
dropout = 0.1
bidirectional = true

[train]
batch_size = 32
epochs = 2
learning_rate = 5e-3

[decode]
strategy = "greedy"

[[inter]]
name = "arch"
archs = ["lstm-attention", "gru"]
reference = "lstm-attention"
"#;

fn only_entry(dir: &Path) -> PathBuf {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    entries.pop().unwrap()
}

#[test]
fn train_writes_tables_and_a_checkpoint_that_generates() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("tiny.toml"), STUDY).unwrap();
    let out =
        intervene(dir, &["train", "tiny.toml", "--arm", "control", "--seed", "1", "--out", "out", "--threads", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // One progress line per epoch on stderr, with both losses and the time.
    let log = stderr(&out);
    for epoch in ["epoch 1/2: train loss ", "epoch 2/2: train loss "] {
        let line = log.lines().find(|l| l.starts_with(epoch)).unwrap_or_else(|| panic!("no {epoch:?} in\n{log}"));
        assert!(line.contains(", valid loss ") && line.ends_with(" s"), "{line}");
    }
    assert_eq!(log.lines().filter(|l| l.starts_with("epoch ")).count(), 2, "{log}");
    let text = stdout(&out);
    for key in ["bleu", "token_accuracy", "exact_match", "syntax_valid", "checkpoint"] {
        assert!(text.contains(key), "no {key} in\n{text}");
    }
    for table in ["runs", "examples", "curves", "attention"] {
        let file = only_entry(&dir.join("out").join(table));
        assert_eq!(file.extension().unwrap(), "parquet");
        assert!(std::fs::metadata(&file).unwrap().len() > 0);
    }
    let ckpt = only_entry(&dir.join("out/checkpoints"));
    for f in ["model.safetensors", "job.json", "checkpoint.json", "source_vocab.json", "target_vocab.json"] {
        assert!(ckpt.join(f).is_file(), "checkpoint lacks {f}");
    }
    let ckpt = ckpt.to_string_lossy().to_string();
    let doc = "solve returns the largest element of xs";
    let greedy = intervene(dir, &["generate", "--checkpoint", &ckpt, doc]);
    assert!(greedy.status.success(), "{}", stderr(&greedy));
    assert!(!stdout(&greedy).trim().is_empty());
    let beam = intervene(dir, &["generate", "--checkpoint", &ckpt, "--strategy", "beam", "--beam-size", "2", doc]);
    assert!(beam.status.success(), "{}", stderr(&beam));
    let sample = |seed: &str| {
        let o = intervene(
            dir,
            &["generate", "--checkpoint", &ckpt, "--strategy", "top-p", "--seed", seed, doc, "another one"],
        );
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    assert_eq!(sample("3"), sample("3"));
    // Several docstrings: each output under its number and first words.
    let labelled = sample("3");
    let first = labelled.find("[1] solve returns the largest element of xs\n");
    let second = labelled.find("[2] another one\n");
    assert!(matches!((first, second), (Some(a), Some(b)) if a < b), "{labelled}");
}

/// The target counts of the `batches` line: "bucketed: 4,321 target tokens
/// in 5,000 padded slots (86.4% real), 3,000 source tokens in 3,600 (83.3%)
/// per epoch" -> (4321, 5000).
fn batch_tokens(text: &str) -> (u64, u64) {
    let line = text.lines().find_map(|l| l.strip_prefix("batches")).unwrap_or_else(|| panic!("no batches in\n{text}"));
    let numbers: Vec<u64> = line.split_whitespace().filter_map(|w| w.replace(',', "").parse().ok()).collect();
    assert_eq!(numbers.len(), 4, "{line}");
    (numbers[0], numbers[1])
}

#[test]
fn bucketed_batching_is_an_intra_knob_that_pads_less() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let study = format!("{STUDY}\n[[intra]]\nname = \"batching\"\nvary = {{ batching = [\"bucketed\"] }}\n");
    std::fs::write(dir.join("tiny.toml"), study).unwrap();
    let plan = intervene(dir, &["plan", "tiny.toml"]);
    assert!(plan.status.success(), "{}", stderr(&plan));
    assert!(stdout(&plan).contains("batching/batching=bucketed"), "{}", stdout(&plan));
    let train = |arm: &str| {
        let out =
            intervene(dir, &["train", "tiny.toml", "--arm", arm, "--seed", "1", "--out", "out", "--threads", "1"]);
        assert!(out.status.success(), "{arm}: {}", stderr(&out));
        out
    };
    let random = train("control");
    let bucketed = train("batching/batching=bucketed");
    assert!(stderr(&random).contains("random batches"), "{}", stderr(&random));
    assert!(stderr(&bucketed).contains("bucketed batches"), "{}", stderr(&bucketed));
    assert!(stdout(&bucketed).contains("batches         bucketed: "), "{}", stdout(&bucketed));
    assert!(stdout(&random).contains("s of optimisation steps per epoch"), "{}", stdout(&random));
    let (real_r, padded_r) = batch_tokens(&stdout(&random));
    let (real_b, padded_b) = batch_tokens(&stdout(&bucketed));
    assert_eq!(real_r, real_b, "the same examples every epoch");
    assert!(real_b <= padded_b && padded_b < padded_r, "random {real_r}/{padded_r}, bucketed {real_b}/{padded_b}");
}

#[test]
fn train_and_generate_name_what_is_wrong() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("tiny.toml"), STUDY).unwrap();
    let out = intervene(dir, &["train", "tiny.toml", "--arm", "nope", "--seed", "1"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("nope") && err.contains("control") && err.contains("arch/gru"), "{err}");

    let out = intervene(dir, &["train", "tiny.toml", "--arm", "control", "--seed", "9"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("seed 9") && err.contains("1, 2"), "{err}");

    let out = intervene(dir, &["train", "tiny.toml", "--arm", "control", "--seed", "1", "--device", "tpu"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("cpu, cuda or cuda:N"), "{}", stderr(&out));

    let out = intervene(dir, &["train", "missing.toml", "--arm", "control", "--seed", "1"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("missing.toml"), "{}", stderr(&out));

    let out = intervene(dir, &["generate", "--checkpoint", "no-such-dir", "a docstring"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no-such-dir"), "{}", stderr(&out));

    std::fs::create_dir(dir.join("empty")).unwrap();
    let out = intervene(dir, &["generate", "--checkpoint", "empty", "a docstring"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("job.json"), "{}", stderr(&out));
}

#[test]
fn the_same_job_trained_twice_at_once_writes_identical_checkpoint_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("tiny.toml"), STUDY).unwrap();
    // Two processes training the same job side by side, one torch thread each.
    let start = |out: &str| {
        Command::new(env!("CARGO_BIN_EXE_intervene"))
            .args(["train", "tiny.toml", "--arm", "control", "--seed", "2", "--out", out, "--threads", "1"])
            .current_dir(dir)
            .output()
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| start("a"));
        let b = s.spawn(|| start("b"));
        (a.join().unwrap().unwrap(), b.join().unwrap().unwrap())
    });
    assert!(a.status.success() && b.status.success(), "{}\n{}", stderr(&a), stderr(&b));
    let weights =
        |out: &str| std::fs::read(only_entry(&dir.join(out).join("checkpoints")).join("model.safetensors")).unwrap();
    let (wa, wb) = (weights("a"), weights("b"));
    assert!(!wa.is_empty());
    assert!(wa == wb, "the checkpoints differ ({} vs {} bytes)", wa.len(), wb.len());
    let table = |out: &str| std::fs::read(only_entry(&dir.join(out).join("examples"))).unwrap();
    assert_eq!(table("a"), table("b"), "the per-example tables (predictions) differ");
    // What the job reports is the same too, timings aside.
    let metrics = |o: &Output| {
        let keep = |l: &&str| !["train ", "tables ", "checkpoint "].iter().any(|p| l.starts_with(p));
        stdout(o).lines().filter(keep).map(str::to_string).collect::<Vec<_>>()
    };
    assert!(metrics(&a).iter().any(|l| l.starts_with("test_loss")), "{}", stdout(&a));
    assert_eq!(metrics(&a), metrics(&b));
}
