//! Scores a test split's predictions: one `examples` row per example and
//! the run-level outcomes.
//!
//! Both sides are scored as the tokenizer sees them: predictions are the
//! decoded target tokens, references the example's (truncated) target
//! tokens, and BLEU and syntax validity read the texts the tokenizer
//! detokenizes them to. Exact match compares token sequences, which for
//! these canonical texts is the seed study's stripped-string comparison.
//!
//! A predicted `<UNK>` is shown as `<UNK>` in the table's `prediction` and
//! is read by the parser as written (so it never parses), but BLEU and the
//! error analysis see it masked ([`super::unk`]): it earns nothing.
//!
//! `bleu_vocab` is the seed notebook's BLEU, kept so that its published
//! figures can be compared: both sides are the target vocabulary's tokens
//! (a reference word outside the vocabulary becomes `<UNK>`, and matches a
//! predicted `<UNK>`), scored without 13a.

use super::{bleu, codexglue, errors, metrics, unk};
use intervene_data::{Example, Tokenizer, Vocab};
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
    /// Corpus BLEU on target-vocabulary tokens, `<UNK>` matching `<UNK>`
    /// (the seed notebook's convention; not comparable with `bleu`).
    pub bleu_vocab: f64,
}

/// Rows and outcomes for `examples` and their predicted target tokens
/// (same order); `target_vocab` is the one the predictions were decoded
/// with.
pub fn score_split(
    examples: &[Example],
    predictions: &[Vec<String>],
    tokenizer: &Tokenizer,
    target_vocab: &Vocab,
) -> (Vec<pb::ExampleRow>, Outcomes) {
    let code = tokenizer.kind().detokenizes_to_code();
    let mut rows = Vec::with_capacity(examples.len());
    let (mut hyps, mut refs) = (Vec::with_capacity(examples.len()), Vec::with_capacity(examples.len()));
    let mut vocab_refs = Vec::with_capacity(examples.len());
    let mut tokens = metrics::TokenCounts::default();
    for (ex, pred) in examples.iter().zip(predictions) {
        let prediction = tokenizer.detokenize_target(pred);
        let scored = tokenizer.detokenize_target(&unk::mask_unk(pred));
        let reference = tokenizer.detokenize_target(&ex.target_tokens);
        tokens += metrics::TokenCounts::of(pred, &ex.target_tokens);
        vocab_refs.push(target_vocab.decode(&ex.target_ids));
        rows.push(pb::ExampleRow {
            example_id: ex.id.clone(),
            source_len: ex.source_tokens.len() as u32,
            target_len: ex.target_tokens.len() as u32,
            length_bin: length_bin(ex.source_tokens.len()).to_string(),
            sentence_bleu: bleu::sentence_bleu(&scored, &reference),
            token_accuracy: metrics::token_accuracy(pred, &ex.target_tokens),
            exact_match: *pred == ex.target_tokens,
            syntax_valid: code.then(|| metrics::syntax_valid(&prediction)),
            error_category: errors::error_category(pred, &ex.target_tokens, &scored, &reference).to_string(),
            source: ex.source_text.clone(),
            reference: reference.clone(),
            prediction,
        });
        hyps.push(scored);
        refs.push(reference);
    }
    let outcomes = Outcomes {
        bleu: bleu::corpus_bleu(&hyps, &refs),
        codexglue_bleu: codexglue::codexglue_bleu(&hyps, &refs),
        token_accuracy: if tokens.total == 0 { 0.0 } else { 100.0 * tokens.correct as f64 / tokens.total as f64 },
        exact_match: metrics::percent_true(rows.iter().map(|r| r.exact_match)),
        syntax_valid: code.then(|| metrics::percent_true(rows.iter().map(|r| r.syntax_valid == Some(true)))),
        bleu_vocab: bleu::corpus_bleu_tokens(predictions, &vocab_refs),
    };
    (rows, outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use intervene_proto::job::TokenizerKind;

    fn example(id: &str, code: &str, tok: &Tokenizer, vocab: &Vocab) -> Example {
        let target_tokens = tok.target_tokens(code);
        Example {
            id: id.into(),
            source_text: "doc".into(),
            target_text: code.into(),
            source_tokens: vec!["doc".into()],
            target_ids: vocab.encode(&target_tokens),
            target_tokens,
            source_ids: vec![4],
        }
    }

    fn strings(tokens: &[&str]) -> Vec<String> {
        tokens.iter().map(|t| t.to_string()).collect()
    }

    /// Four hand-made predictions with the python-lexer tokenizer: right,
    /// nothing, layout only, and the reference through the vocabulary, with
    /// `<UNK>` for the word it lacks (`zeta`).
    fn case() -> (Tokenizer, Vocab, Vec<Example>, Vec<Vec<String>>) {
        let tok = Tokenizer::new(TokenizerKind::PythonLexer).unwrap();
        let train = [tok.target_tokens("return f(x)\n"), tok.target_tokens("if a < b:\n    return a\n")];
        let vocab = Vocab::build(train.iter().map(|t| t.as_slice()), 100).unwrap();
        let examples = vec![
            example("right", "return f(x)\n", &tok, &vocab),
            example("empty", "return f(x)\n", &tok, &vocab),
            example("layout", "return f(x)\n", &tok, &vocab),
            example("unk", "if a < zeta:\n    return a\n", &tok, &vocab),
        ];
        let predictions = vec![
            examples[0].target_tokens.clone(),
            vec![],
            strings(&["<NEWLINE>", "<INDENT>", "<DEDENT>", "<NEWLINE>", "<NEWLINE>"]),
            vocab.decode(&examples[3].target_ids),
        ];
        assert!(predictions[3].contains(&"<UNK>".to_string()), "{:?}", predictions[3]);
        (tok, vocab, examples, predictions)
    }

    #[test]
    fn empty_predictions_are_invalid_and_empty_output() {
        let (tok, vocab, examples, predictions) = case();
        let (rows, outcomes) = score_split(&examples, &predictions, &tok, &vocab);
        let valid: Vec<_> = rows.iter().map(|r| r.syntax_valid).collect();
        assert_eq!(valid, [Some(true), Some(false), Some(false), Some(false)]);
        assert_eq!(outcomes.syntax_valid, Some(25.0));
        let cats: Vec<_> = rows.iter().map(|r| r.error_category.as_str()).collect();
        assert_eq!(cats, ["correct", "empty_output", "empty_output", "other"]);
        assert_eq!((rows[1].sentence_bleu, rows[2].sentence_bleu), (0.0, 0.0));
        assert_eq!(rows[3].length_bin, "0-10");
    }

    #[test]
    fn unk_is_shown_but_earns_no_bleu_and_bleu_vocab_credits_it() {
        let (tok, vocab, examples, predictions) = case();
        let (rows, outcomes) = score_split(&examples[3..], &predictions[3..], &tok, &vocab);
        assert_eq!(rows[0].prediction, "if a < <UNK>:\n    return a\n");
        // Masked, the unknown word scores as one wrong word, not as the
        // three tokens `< UNK >` whose `<` could match the reference's.
        let wrong_word = bleu::sentence_bleu("if a < qqq:\n    return a\n", &rows[0].reference);
        assert!((rows[0].sentence_bleu - wrong_word).abs() < 1e-9, "{} vs {wrong_word}", rows[0].sentence_bleu);
        assert_eq!(rows[0].error_category, "other");
        assert!(outcomes.bleu < 100.0);
        // The seed's convention: the reference's `zeta` is `<UNK>` too, so
        // the prediction is perfect.
        assert!((outcomes.bleu_vocab - 100.0).abs() < 1e-9, "{}", outcomes.bleu_vocab);
    }
}
