//! A predicted `<UNK>` earns no credit.
//!
//! The vocabulary maps every word it does not hold to `<UNK>`, so a model
//! that predicts `<UNK>` has not predicted any word. Scored as text it would
//! read as `< UNK >` after BLEU's 13a tokenization, and its `<` and `>`
//! would match comparison operators of the reference (and count as
//! operators in the error analysis). Before scoring, predicted `<UNK>`
//! tokens are replaced by [`MASK`], a run of lowercase ASCII letters that
//! every detokenizer keeps as it is and that no tokenizer splits or changes
//! (13a and CodeXGLUE's `splitPuncts` split only on punctuation; CodeXGLUE
//! lowercases). The BLEU counters then give no match to a hypothesis n-gram
//! holding a masked token, whatever the reference holds: the mask is never
//! compared, so a reference containing the same letters gains nothing.

use intervene_data::Vocab;

/// What a predicted `<UNK>` is scored as. Lowercase letters only, so that it
/// survives lowercasing and is one token for 13a and `splitPuncts`.
pub const MASK: &str = "zzunkmaskzz";

/// The prediction with every `<UNK>` replaced by [`MASK`].
pub fn mask_unk(tokens: &[String]) -> Vec<String> {
    let unk = Vocab::SPECIALS[Vocab::UNK as usize];
    tokens.iter().map(|t| if t == unk { MASK.to_string() } else { t.clone() }).collect()
}

/// Whether a scored token came from a predicted `<UNK>`. A detokenizer may
/// glue the mask to a neighbouring piece (byte-level BPE has no space
/// before it), so containment, not equality: the glued token is not a word
/// of the reference either.
pub fn is_masked(token: &str) -> bool {
    token.contains(MASK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unk_is_masked() {
        let toks: Vec<String> = ["x", "<UNK>", "<unk>", "UNK"].map(String::from).to_vec();
        assert_eq!(mask_unk(&toks), ["x", MASK, "<unk>", "UNK"]);
        assert!(is_masked(MASK) && is_masked(&format!("foo{MASK}")));
        assert!(!is_masked("unk") && !is_masked("<UNK>"));
    }

    #[test]
    fn the_mask_is_one_token_for_both_bleu_tokenizers() {
        let text = format!("if a < {MASK} : return {MASK}");
        let t13a = super::super::bleu::tokenize_13a(&text);
        assert_eq!(t13a.iter().filter(|t| *t == MASK).count(), 2, "{t13a:?}");
        let cx = super::super::codexglue::codexglue_tokens(&text);
        assert_eq!(cx.iter().filter(|t| *t == MASK).count(), 2, "{cx:?}");
    }
}
