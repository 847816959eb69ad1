//! A cheap lower bound on the number of byte-level BPE pieces of a text,
//! so that `overlong = "drop"` need not run BPE on every pair of a large
//! data set (tens of thousands of mined functions, most of them far longer
//! than the limit): a pair whose bound already exceeds the limit is
//! overlong whatever the merges, and only the others are encoded.
//!
//! Why it is a bound: the byte-level pre-tokenizer splits a text with the
//! GPT-2 pattern `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+|
//! ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+` before any merge, BPE never merges
//! across those splits, and each split yields at least one piece. Every
//! alternative but the contractions holds characters of one class (letters,
//! digits or other non-space), so each maximal run of one class starts at
//! least one split, except a letter run that a contraction (`'` followed by
//! a letter) absorbs into the preceding `'`. Whitespace splits are not
//! counted, which only lowers the bound.
//!
//! Outside ASCII the classes of Unicode and of the pattern are not checked
//! here, so a text with any non-ASCII byte gets the bound 0 (it is always
//! encoded).

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Space,
    Letter,
    Digit,
    Other,
}

fn class(b: u8) -> Class {
    match b {
        b'a'..=b'z' | b'A'..=b'Z' => Class::Letter,
        b'0'..=b'9' => Class::Digit,
        // The ASCII members of Unicode White_Space, which `\s` matches.
        b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r' => Class::Space,
        _ => Class::Other,
    }
}

/// At most the number of byte-level BPE pieces of `text`.
pub fn min_pieces(text: &str) -> usize {
    if !text.is_ascii() {
        return 0;
    }
    let bytes = text.as_bytes();
    let mut runs = 0usize;
    let mut contractions = 0usize;
    let mut prev = Class::Space;
    for (i, &b) in bytes.iter().enumerate() {
        let c = class(b);
        if c != Class::Space && c != prev {
            runs += 1;
        }
        // `'` then a letter may be one split (`'s`, `'ll`, ...): the two
        // runs it touches may count once.
        if b == b'\'' && bytes.get(i + 1).is_some_and(|n| class(*n) == Class::Letter) {
            contractions += 1;
        }
        prev = c;
    }
    runs.saturating_sub(contractions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use tokenizers::pre_tokenizers::byte_level::ByteLevel;
    use tokenizers::{OffsetReferential, OffsetType, PreTokenizedString, PreTokenizer};

    fn splits(text: &str) -> usize {
        let mut pre = PreTokenizedString::from(text);
        ByteLevel::new(false, true, true).pre_tokenize(&mut pre).unwrap();
        pre.get_splits(OffsetReferential::Original, OffsetType::Byte).len()
    }

    #[test]
    fn hand_made_cases() {
        assert_eq!(min_pieces(""), 0);
        assert_eq!(min_pieces("   \n\t"), 0);
        assert_eq!(min_pieces("def f(a_b):"), 7); // def f ( a _ b ):
        assert_eq!(min_pieces("x1"), 2);
        assert_eq!(min_pieces("don't"), 2); // don 't
        assert_eq!(min_pieces("'sam"), 1); // 's am: counted low, still a bound
        assert_eq!(min_pieces("naïve"), 0);
    }

    #[test]
    fn never_exceeds_the_pre_tokenizer_splits() {
        // Contractions, quotes, digits, underscores and every kind of ASCII
        // whitespace, in random mixtures.
        const ALPHABET: &[u8] = b"abcXYZ019_'\"s tdlmrve.,()[]:=+-*#\\\t\n\r\x0b\x0c\x01\x7f    ";
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for _ in 0..20_000 {
            let n = rng.gen_range(0..40);
            let text: String = (0..n).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char).collect();
            let (bound, actual) = (min_pieces(&text), splits(&text));
            assert!(bound <= actual, "{text:?}: bound {bound} > {actual} splits");
        }
        for code in ["def add(a, b):\n    return a + b\n", "x = 'it''s'  # don't\n", "    if x >= 10e-3:\n\tpass"] {
            assert!(min_pieces(code) <= splits(code), "{code:?}");
        }
    }
}
