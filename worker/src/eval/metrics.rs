//! Token accuracy and exact match, in percentage points.

/// Positions where the prediction has the reference's token, over the
/// reference's length (the seed study's definition: position by position,
/// so a shifted prediction scores low).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenCounts {
    pub correct: u64,
    pub total: u64,
}

impl TokenCounts {
    pub fn of<T: PartialEq>(prediction: &[T], reference: &[T]) -> TokenCounts {
        let correct = reference.iter().zip(prediction).filter(|(r, p)| r == p).count() as u64;
        TokenCounts { correct, total: reference.len() as u64 }
    }

    /// Accuracy in 0..100. An empty reference counts as fully matched only
    /// by an empty prediction; that case is decided by the caller through
    /// [`token_accuracy`].
    fn percent(self) -> f64 {
        100.0 * self.correct as f64 / self.total as f64
    }
}

impl std::ops::AddAssign for TokenCounts {
    fn add_assign(&mut self, o: TokenCounts) {
        self.correct += o.correct;
        self.total += o.total;
    }
}

/// Token accuracy of one example, 0..100. An empty reference scores 100
/// against an empty prediction and 0 against anything else.
pub fn token_accuracy<T: PartialEq>(prediction: &[T], reference: &[T]) -> f64 {
    if reference.is_empty() {
        return if prediction.is_empty() { 100.0 } else { 0.0 };
    }
    TokenCounts::of(prediction, reference).percent()
}

/// Corpus token accuracy: correct positions over all reference tokens
/// (micro average), 0..100; 0 for a corpus without reference tokens.
pub fn corpus_token_accuracy<T: PartialEq, P: AsRef<[T]>, R: AsRef<[T]>>(predictions: &[P], references: &[R]) -> f64 {
    let mut sum = TokenCounts::default();
    for (p, r) in predictions.iter().zip(references) {
        sum += TokenCounts::of(p.as_ref(), r.as_ref());
    }
    if sum.total == 0 { 0.0 } else { sum.percent() }
}

/// Exact match of two texts after stripping surrounding whitespace (the seed
/// study's `predicted.strip() == reference.strip()`).
pub fn exact_match_text(prediction: &str, reference: &str) -> bool {
    prediction.trim() == reference.trim()
}

/// Syntax validity of a predicted program: it parses as Python and is not
/// blank. An empty module parses, but a model that writes nothing has not
/// written valid code; counting it would reward collapse to empty output.
pub fn syntax_valid(prediction: &str) -> bool {
    !prediction.trim().is_empty() && intervene_data::python_parses(prediction)
}

/// Share of true values (exact matches, parsing predictions), 0..100; 0
/// for none.
pub fn percent_true(matches: impl IntoIterator<Item = bool>) -> f64 {
    let (mut hit, mut n) = (0u64, 0u64);
    for m in matches {
        hit += m as u64;
        n += 1;
    }
    if n == 0 { 0.0 } else { 100.0 * hit as f64 / n as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_accuracy_is_positional_over_reference_length() {
        assert_eq!(token_accuracy(&["a", "b", "c", "d"], &["a", "b", "c", "d"]), 100.0);
        assert_eq!(token_accuracy(&["a", "x", "c"], &["a", "b", "c", "d"]), 50.0);
        // Extra predicted tokens do not count against it, a shift does.
        assert_eq!(token_accuracy(&["a", "b", "c", "d", "e"], &["a", "b", "c", "d"]), 100.0);
        assert_eq!(token_accuracy(&["z", "a", "b"], &["a", "b"]), 0.0);
        assert_eq!(token_accuracy::<&str>(&[], &[]), 100.0);
        assert_eq!(token_accuracy(&["a"], &[]), 0.0);
    }

    #[test]
    fn corpus_token_accuracy_is_a_micro_average() {
        let preds = [vec!["a"], vec!["x", "b", "c"]];
        let refs = [vec!["a"], vec!["a", "b", "c"]];
        assert!((corpus_token_accuracy(&preds, &refs) - 75.0).abs() < 1e-12);
    }

    #[test]
    fn empty_and_blank_predictions_are_never_syntax_valid() {
        assert!(syntax_valid("return x + 1\n"));
        assert!(syntax_valid("x = f(a)[0]"));
        assert!(!syntax_valid(""));
        assert!(!syntax_valid(" \n\t\n"));
        assert!(!syntax_valid("return max(values"));
        assert!(!syntax_valid("x = <UNK>"));
    }

    #[test]
    fn exact_match_strips_whitespace_only() {
        assert!(exact_match_text("  return x\n", "return x"));
        assert!(!exact_match_text("return  x", "return x"));
        assert_eq!(percent_true([true, false, true, true]), 75.0);
        assert_eq!(percent_true([]), 0.0);
    }
}
