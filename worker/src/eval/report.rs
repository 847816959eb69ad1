//! Scores a test split's predictions: one `examples` row per example and
//! the run-level outcomes.
//!
//! Both sides are scored as the tokenizer sees them: predictions are the
//! decoded target tokens, references the example's (truncated) target
//! tokens, and BLEU and syntax validity read the texts the tokenizer
//! detokenizes them to. Exact match compares token sequences, which for
//! these canonical texts is the seed study's stripped-string comparison.

use super::{bleu, codexglue, errors, metrics};
use intervene_data::{Example, Tokenizer};
use intervene_proto::pb;
use intervene_proto::tables::length_bin;

/// Run-level outcomes of a scored split, in percentage points.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcomes {
    pub bleu: f64,
    pub codexglue_bleu: f64,
    pub token_accuracy: f64,
    pub exact_match: f64,
    /// `None` when the tokenizer does not detokenize to code.
    pub syntax_valid: Option<f64>,
}

/// Rows and outcomes for `examples` and their predicted target tokens
/// (same order).
pub fn score_split(
    examples: &[Example],
    predictions: &[Vec<String>],
    tokenizer: &Tokenizer,
) -> (Vec<pb::ExampleRow>, Outcomes) {
    let code = tokenizer.kind().detokenizes_to_code();
    let mut rows = Vec::with_capacity(examples.len());
    let (mut hyps, mut refs) = (Vec::with_capacity(examples.len()), Vec::with_capacity(examples.len()));
    let mut tokens = metrics::TokenCounts::default();
    for (ex, pred) in examples.iter().zip(predictions) {
        let prediction = tokenizer.detokenize_target(pred);
        let reference = tokenizer.detokenize_target(&ex.target_tokens);
        tokens += metrics::TokenCounts::of(pred, &ex.target_tokens);
        rows.push(pb::ExampleRow {
            example_id: ex.id.clone(),
            source_len: ex.source_tokens.len() as u32,
            target_len: ex.target_tokens.len() as u32,
            length_bin: length_bin(ex.source_tokens.len()).to_string(),
            sentence_bleu: bleu::sentence_bleu(&prediction, &reference),
            token_accuracy: metrics::token_accuracy(pred, &ex.target_tokens),
            exact_match: *pred == ex.target_tokens,
            syntax_valid: code.then(|| intervene_data::python_parses(&prediction)),
            error_category: errors::error_category(pred, &ex.target_tokens, &prediction, &reference).to_string(),
            source: ex.source_text.clone(),
            reference: reference.clone(),
            prediction: prediction.clone(),
        });
        hyps.push(prediction);
        refs.push(reference);
    }
    let outcomes = Outcomes {
        bleu: bleu::corpus_bleu(&hyps, &refs),
        codexglue_bleu: codexglue::codexglue_bleu(&hyps, &refs),
        token_accuracy: if tokens.total == 0 { 0.0 } else { 100.0 * tokens.correct as f64 / tokens.total as f64 },
        exact_match: metrics::percent_true(rows.iter().map(|r| r.exact_match)),
        syntax_valid: code.then(|| metrics::percent_true(rows.iter().map(|r| r.syntax_valid == Some(true)))),
    };
    (rows, outcomes)
}
