//! CodeXGLUE's "smoothed BLEU-4", the metric of its code-to-text task
//! (`Code-Text/code-to-text/code/bleu.py`, `bleuFromMaps`), adapted from the
//! MOSES `bleu.py`:
//!
//! - each line is stripped, lowercased and split into `\w+` runs and single
//!   other non-space characters (`splitPuncts`), then put through the NIST
//!   normalisation (the same four substitutions as 13a);
//! - every segment gets its own BLEU with add-one smoothing on the 2-, 3-
//!   and 4-gram precisions (Lin and Och 2004) and the brevity penalty
//!   `min(0, 1 - (r + 1) / (c + 1))` in log space;
//! - the corpus score is the mean of the segment scores, times 100.
//!
//! As in [`super::bleu`], an n-gram with a masked `<UNK>` never matches.
//!
//! Its text-to-code task reports a different, corpus-level variant (the
//! Tensor2Tensor `compute_bleu` with smoothing on whitespace tokens); the
//! study tables carry this one because it is the one CodeXGLUE calls
//! "smoothed BLEU-4".

use super::bleu::{is_py_space, regexp_tokenize};
use super::unk::is_masked;
use std::collections::HashMap;

const ORDER: usize = 4;

/// `re.findall(r"[\w]+|[^\s\w]", line)` joined with spaces.
fn split_puncts(line: &str) -> String {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let mut pieces: Vec<String> = Vec::new();
    let mut word = String::new();
    for c in line.chars() {
        if is_word(c) {
            word.push(c);
            continue;
        }
        if !word.is_empty() {
            pieces.push(std::mem::take(&mut word));
        }
        if !is_py_space(c) {
            pieces.push(c.to_string());
        }
    }
    if !word.is_empty() {
        pieces.push(word);
    }
    pieces.join(" ")
}

/// The tokens CodeXGLUE scores: `normalize(splitPuncts(line.strip().lower()))`.
pub fn codexglue_tokens(line: &str) -> Vec<String> {
    let lowered = line.trim_matches(is_py_space).to_lowercase();
    // normalize() lowercases again and pads with spaces; after splitPuncts
    // there is no newline, `<skipped>` or XML entity left for its first steps.
    regexp_tokenize(&format!(" {} ", split_puncts(&lowered).to_lowercase()))
}

fn counts(tokens: &[String]) -> HashMap<&[String], u64> {
    let mut m = HashMap::new();
    for n in 1..=ORDER {
        for g in tokens.windows(n) {
            *m.entry(g).or_insert(0) += 1;
        }
    }
    m
}

/// Smoothed BLEU of one segment in 0..1 (`bleu([ref], hyp)[0]`).
pub fn segment_smoothed_bleu(hyp: &[String], reference: &[String]) -> f64 {
    let ref_counts = counts(reference);
    let mut correct = [0u64; ORDER];
    for (g, c) in counts(hyp) {
        if g.iter().any(|t| is_masked(t)) {
            continue;
        }
        correct[g.len() - 1] += c.min(ref_counts.get(g).copied().unwrap_or(0));
    }
    let tiny = f64::MIN_POSITIVE; // Python's sys.float_info.min
    let mut log_bleu = 0.0;
    for k in 0..ORDER {
        let guess = (hyp.len() as i64 - k as i64).max(0) as f64;
        let add = if k > 0 { 1.0 } else { 0.0 };
        log_bleu += (correct[k] as f64 + add + tiny).ln() - (guess + add + tiny).ln();
    }
    log_bleu /= ORDER as f64;
    let brevity = (1.0 - (reference.len() as f64 + 1.0) / (hyp.len() as f64 + 1.0)).min(0.0);
    (log_bleu + brevity).exp()
}

/// Mean smoothed BLEU-4 over aligned segments, in 0..100; 0 for no segments.
pub fn codexglue_bleu<H: AsRef<str>, R: AsRef<str>>(hyps: &[H], refs: &[R]) -> f64 {
    let n = hyps.len().min(refs.len());
    if n == 0 {
        return 0.0;
    }
    let mut sum = 0.0;
    for (h, r) in hyps.iter().zip(refs) {
        sum += segment_smoothed_bleu(&codexglue_tokens(h.as_ref()), &codexglue_tokens(r.as_ref()));
    }
    sum * 100.0 / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_lowercase_and_split_words_from_symbols() {
        assert_eq!(codexglue_tokens("  Return MAX(values_list)\n"), ["return", "max", "(", "values", "_", "list", ")"]);
        assert_eq!(codexglue_tokens("x==1.5"), ["x", "=", "=", "1", ".", "5"]);
    }

    #[test]
    fn agrees_with_codexglue_script() {
        use crate::eval::bleu::CASES;
        let (hyps, refs): (Vec<&str>, Vec<&str>) = CASES.iter().copied().unzip();
        let corpus = codexglue_bleu(&hyps, &refs);
        assert!((corpus - 72.5897250642814).abs() < 1e-9, "{corpus}");
        let sentences = [
            1.0,
            1.0,
            1.0,
            0.704855911033775,
            0.7382729905093979,
            1.0,
            0.1353352832366127,
            0.2730120862709067,
            0.2527600769504433,
            1.0,
            0.6065306597126334,
            1.0,
        ];
        for ((h, r), want) in CASES.iter().zip(sentences) {
            let got = segment_smoothed_bleu(&codexglue_tokens(h), &codexglue_tokens(r));
            assert!((got - want).abs() < 1e-12, "{h:?} vs {r:?}: {got} != {want}");
        }
    }

    #[test]
    fn identical_segments_score_100() {
        let s = "def f(x): return x + 1";
        assert!((codexglue_bleu(&[s], &[s]) - 100.0).abs() < 1e-9);
    }

    #[test]
    fn smoothing_by_hand() {
        // hyp "a b c x" vs ref "a b c d": unigrams 3/4, bigrams (2+1)/(3+1),
        // trigrams (1+1)/(2+1), 4-grams (0+1)/(1+1); equal lengths.
        let h: Vec<String> = ["a", "b", "c", "x"].map(String::from).to_vec();
        let r: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
        let want = ((0.75f64).ln() + (0.75f64).ln() + (2.0f64 / 3.0).ln() + (0.5f64).ln()) / 4.0;
        assert!((segment_smoothed_bleu(&h, &r) - want.exp()).abs() < 1e-12);
    }

    #[test]
    fn a_masked_unk_never_matches() {
        use crate::eval::unk::MASK;
        let same = format!("return {MASK}");
        let unmasked = codexglue_bleu(&["return x"], &["return x"]);
        assert!(codexglue_bleu(&[same.as_str()], &[same.as_str()]) < unmasked);
        let h = codexglue_tokens(&same);
        // One unigram of two matches; no bigram does.
        let want = ((0.5f64).ln() + (1.0f64 / 2.0).ln() + 0.0 + 0.0) / 4.0;
        assert!((segment_smoothed_bleu(&h, &h) - want.exp()).abs() < 1e-12);
    }

    #[test]
    fn empty_hypothesis_gets_only_the_brevity_penalty() {
        // Every log term is log(tiny) - log(tiny) or log(1) - log(1) = 0.
        let r: Vec<String> = ["a", "b"].map(String::from).to_vec();
        assert!((segment_smoothed_bleu(&[], &r) - (-2.0f64).exp()).abs() < 1e-12);
    }
}
