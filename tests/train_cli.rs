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
    let cxg = score(tmp.path(), "codexglue-bleu", &[])[0];
    assert!((cxg - 72.5897250642814).abs() < 1e-4, "{cxg}");
}

#[test]
fn score_exact_match_and_token_accuracy() {
    let tmp = tempfile::tempdir().unwrap();
    files(tmp.path());
    // Only the first line is identical after stripping.
    let em = score(tmp.path(), "exact-match", &[])[0];
    assert!((em - 100.0 / 12.0).abs() < 1e-4, "{em}");
    let h = tmp.path().join("hyp.txt");
    std::fs::write(&h, "a b c\nx y\n").unwrap();
    std::fs::write(tmp.path().join("ref.txt"), "a b d\nx y z\n").unwrap();
    // 2 of 3 plus 2 of 3 reference tokens.
    let acc = score(tmp.path(), "token-accuracy", &[])[0];
    assert!((acc - 400.0 / 6.0).abs() < 1e-4, "{acc}");
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
    assert!(stderr(&out).contains("codexglue-bleu"), "{}", stderr(&out));
}
