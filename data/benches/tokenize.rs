//! Tokenization speed of the code-whitespace recipe (seed 002) over a file
//! of pairs: JSON lines `{"docstring": ..., "code": ...}` as written by
//! `bench/gen_pairs.py`. `bench/tokenize_ref.py` runs the same recipe in Python.
//!
//!     cargo bench -p intervene-data --bench tokenize -- PAIRS.jsonl [--repeats N]
//!
//! Prints `tokenize pairs=.. tokens=.. best_s=.. pairs_per_s=..`: the best of
//! `--repeats` passes, both sides of every pair, file reading excluded.

use std::time::Instant;

use intervene_data::tokenize::whitespace;

fn main() {
    let mut file = None;
    let mut repeats = 5usize;
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        match x.as_str() {
            "--repeats" => {
                let v = it.next().unwrap_or_default();
                repeats = match v.parse() {
                    Ok(n) if n > 0 => n,
                    _ => fail(&format!("--repeats: `{v}` is not a positive count")),
                };
            }
            "--bench" => {}
            f if file.is_none() && !f.starts_with("--") => file = Some(f.to_string()),
            other => fail(&format!("unknown argument `{other}` (PAIRS.jsonl [--repeats N])")),
        }
    }
    let Some(file) = file else { fail("give the pairs file (JSON lines with docstring and code)") };
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| fail(&format!("{file}: {e}")));
    let mut pairs = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| fail(&format!("{file}:{}: {e}", i + 1)));
        let field = |k: &str| {
            v.get(k)
                .and_then(|s| s.as_str())
                .map(str::to_owned)
                .unwrap_or_else(|| fail(&format!("{file}:{}: no string `{k}`", i + 1)))
        };
        pairs.push((field("docstring"), field("code")));
    }
    let mut best = f64::INFINITY;
    let mut tokens = 0usize;
    for _ in 0..repeats {
        let t0 = Instant::now();
        let mut n = 0usize;
        for (doc, code) in &pairs {
            n += whitespace::tokenize(doc).len() + whitespace::tokenize(code).len();
        }
        best = best.min(t0.elapsed().as_secs_f64());
        tokens = n;
    }
    println!(
        "tokenize pairs={} tokens={tokens} best_s={best:.4} pairs_per_s={:.0}",
        pairs.len(),
        pairs.len() as f64 / best
    );
}

fn fail(msg: &str) -> ! {
    eprintln!("tokenize: {msg}");
    std::process::exit(2);
}
