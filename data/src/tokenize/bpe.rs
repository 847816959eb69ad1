//! Byte-level BPE (Hugging Face `tokenizers`), one model per side, trained
//! on the train split. Byte-level pieces cover every input, so nothing maps
//! to an unknown piece, and decoding restores the exact text (layout
//! included), which is why BPE code detokenizes to code.

use std::collections::HashSet;

use tokenizers::decoders::DecoderWrapper;
use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
use tokenizers::normalizers::NormalizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::processors::PostProcessorWrapper;
use tokenizers::{AddedToken, Decoder, TokenizerBuilder, TokenizerImpl};

use crate::error::{Error, Result};
use crate::vocab::Vocab;

type Hf = TokenizerImpl<BPE, NormalizerWrapper, ByteLevel, PostProcessorWrapper, DecoderWrapper>;

#[derive(Debug, Clone)]
pub struct BpeModel {
    inner: Hf,
}

/// Pairs seen fewer times than this are not merged: a merge seen once
/// only memorises one word.
const MIN_FREQUENCY: u64 = 2;

fn byte_level() -> ByteLevel {
    // No prefix space: decoding must give back exactly the input.
    ByteLevel::new(false, true, true)
}

impl BpeModel {
    /// Trains on `texts` with at most `vocab_size` pieces, the four specials
    /// included (the 256 byte pieces always exist, so a size below 260 only
    /// means no merges; the [`Vocab`] built afterwards enforces the size).
    pub fn train(texts: &[&str], vocab_size: usize) -> Result<Self> {
        let specials = Vocab::SPECIALS.iter().map(|s| AddedToken::from(s.to_string(), true)).collect();
        let alphabet: HashSet<char> = ByteLevel::alphabet().into_iter().collect();
        let mut trainer = BpeTrainerBuilder::new()
            .vocab_size(vocab_size)
            .min_frequency(MIN_FREQUENCY)
            .special_tokens(specials)
            .initial_alphabet(alphabet)
            .show_progress(false)
            .build();
        let mut inner: Hf = TokenizerBuilder::new()
            .with_model(BPE::default())
            .with_normalizer(None)
            .with_pre_tokenizer(Some(byte_level()))
            .with_post_processor(None)
            .with_decoder(None)
            .build()
            .map_err(|e| Error::Tokenizer(format!("building BPE: {e}")))?;
        inner.train(&mut trainer, texts.iter()).map_err(|e| Error::Tokenizer(format!("training BPE: {e}")))?;
        Ok(BpeModel { inner })
    }

    pub fn tokens(&self, text: &str) -> Vec<String> {
        match self.inner.encode(text, false) {
            Ok(enc) => enc.get_tokens().to_vec(),
            Err(e) => {
                // Byte-level BPE encodes every string; this is not reachable
                // with a model we trained, only with a damaged saved one.
                tracing::warn!("BPE could not encode a text ({e}); using its bytes");
                byte_pieces(text)
            }
        }
    }

    pub fn detokenize(tokens: &[String]) -> String {
        byte_level().decode(tokens.to_vec()).unwrap_or_else(|_| tokens.concat())
    }

    pub fn to_json(&self) -> Result<String> {
        self.inner.to_string(true).map_err(|e| Error::Tokenizer(format!("saving BPE: {e}")))
    }

    pub fn from_json(text: &str) -> Result<Self> {
        let inner: Hf = text.parse().map_err(|e| Error::Tokenizer(format!("not a BPE model: {e}")))?;
        Ok(BpeModel { inner })
    }
}

/// One piece per byte, in the byte-level alphabet.
fn byte_pieces(text: &str) -> Vec<String> {
    let mut pre = tokenizers::PreTokenizedString::from(text);
    use tokenizers::PreTokenizer;
    if byte_level().use_regex(false).pre_tokenize(&mut pre).is_err() {
        return Vec::new();
    }
    pre.get_splits(tokenizers::OffsetReferential::Original, tokenizers::OffsetType::Byte)
        .into_iter()
        .flat_map(|(s, _, _)| s.chars().map(String::from).collect::<Vec<_>>())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CODE: &[&str] = &[
        "def add(a, b):\n    return a + b\n",
        "def sub(a, b):\n    return a - b\n",
        "def mul(a, b):\n    # product\n    return a * b\n",
        "class A:\n\tdef f(self):\n\t\treturn 'é ✓'\n",
    ];

    #[test]
    fn round_trips_exactly_and_respects_the_size() {
        let model = BpeModel::train(CODE, 300).unwrap();
        for code in CODE.iter().chain(["unseen text ünïcode 🙂\r\n\t x"].iter()) {
            let toks = model.tokens(code);
            assert!(!toks.is_empty());
            assert_eq!(BpeModel::detokenize(&toks), *code);
        }
        let json = model.to_json().unwrap();
        let again = BpeModel::from_json(&json).unwrap();
        assert_eq!(again.tokens(CODE[0]), model.tokens(CODE[0]));
        // Merges happened: fewer pieces than bytes.
        assert!(model.tokens(CODE[0]).len() < CODE[0].len());
        assert!(model.inner.get_vocab_size(true) <= 300);
    }

    #[test]
    fn training_is_deterministic() {
        let a = BpeModel::train(CODE, 280).unwrap().to_json().unwrap();
        let b = BpeModel::train(CODE, 280).unwrap().to_json().unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn odd_pieces_do_not_panic() {
        let toks: Vec<String> = ["<UNK>", "Ġx", "\u{0}", ""].iter().map(|s| s.to_string()).collect();
        let _ = BpeModel::detokenize(&toks);
        assert!(BpeModel::from_json("{").is_err());
        assert_eq!(byte_pieces("ab").len(), 2);
    }
}
