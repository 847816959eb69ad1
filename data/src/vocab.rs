//! Token <-> id maps. The four specials come first (PAD=0, SOS=1, EOS=2,
//! UNK=3), then tokens by descending frequency, ties broken by the token's
//! string so the same data always gives the same ids. A vocabulary never
//! holds more entries than its configured size, because models size their
//! embedding tables from the configuration before any data is read.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vocab {
    tokens: Vec<String>,
    index: HashMap<String, i64>,
    max_size: usize,
}

/// The JSON layout (the seed study's `idx2word` plus its configured size).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct VocabFile {
    vocab_size: usize,
    idx2word: Vec<String>,
}

impl Vocab {
    pub const PAD: i64 = 0;
    pub const SOS: i64 = 1;
    pub const EOS: i64 = 2;
    pub const UNK: i64 = 3;
    pub const SPECIALS: [&'static str; 4] = ["<PAD>", "<SOS>", "<EOS>", "<UNK>"];

    /// Builds from token sequences: the `max_size - 4` most frequent tokens.
    pub fn build<'a, I, S>(sequences: I, max_size: usize) -> Result<Self>
    where
        I: IntoIterator<Item = &'a [S]>,
        S: AsRef<str> + 'a,
    {
        if max_size < Self::SPECIALS.len() + 1 {
            return Err(Error::spec(
                "vocab_size",
                format!("{max_size} is too small: at least 5 (4 specials + 1 token)"),
            ));
        }
        let mut counts: HashMap<&str, u64> = HashMap::new();
        for seq in sequences {
            for tok in seq {
                *counts.entry(tok.as_ref()).or_insert(0) += 1;
            }
        }
        let mut ranked: Vec<(&str, u64)> = counts.into_iter().filter(|(t, _)| !Self::SPECIALS.contains(t)).collect();
        ranked.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        ranked.truncate(max_size - Self::SPECIALS.len());
        let tokens = Self::SPECIALS.iter().map(|s| s.to_string()).chain(ranked.into_iter().map(|(t, _)| t.to_string()));
        Ok(Self::from_tokens(tokens.collect(), max_size))
    }

    fn from_tokens(tokens: Vec<String>, max_size: usize) -> Self {
        let index = tokens.iter().enumerate().map(|(i, t)| (t.clone(), i as i64)).collect();
        Vocab { tokens, index, max_size }
    }

    /// Number of entries, specials included (at most [`Vocab::max_size`]).
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The configured size: what embedding tables are sized to.
    pub fn max_size(&self) -> usize {
        self.max_size
    }

    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }

    pub fn id(&self, token: &str) -> i64 {
        self.index.get(token).copied().unwrap_or(Self::UNK)
    }

    pub fn token(&self, id: i64) -> &str {
        usize::try_from(id).ok().and_then(|i| self.tokens.get(i)).map(String::as_str).unwrap_or(Self::SPECIALS[3])
    }

    /// Ids of tokens, unknown tokens as UNK; no SOS/EOS added.
    pub fn encode<S: AsRef<str>>(&self, tokens: &[S]) -> Vec<i64> {
        tokens.iter().map(|t| self.id(t.as_ref())).collect()
    }

    /// Tokens of ids, stopping at the first EOS and skipping PAD and SOS.
    /// Ids outside the vocabulary read as UNK.
    pub fn decode(&self, ids: &[i64]) -> Vec<String> {
        ids.iter()
            .take_while(|&&i| i != Self::EOS)
            .filter(|&&i| i != Self::PAD && i != Self::SOS)
            .map(|&i| self.token(i).to_string())
            .collect()
    }

    pub fn to_json(&self) -> String {
        let file = VocabFile { vocab_size: self.max_size, idx2word: self.tokens.clone() };
        serde_json::to_string_pretty(&file).unwrap_or_default()
    }

    pub fn from_json(text: &str, origin: &Path) -> Result<Self> {
        let file: VocabFile = serde_json::from_str(text).map_err(|e| {
            Error::line(
                origin,
                e.line(),
                format!("not a vocabulary file: {e} (expected {{\"vocab_size\": N, \"idx2word\": [...]}})"),
            )
        })?;
        if file.idx2word.len() < 4 || file.idx2word[..4] != Self::SPECIALS {
            return Err(Error::file(origin, format!("idx2word must start with {:?}", Self::SPECIALS)));
        }
        if file.idx2word.len() > file.vocab_size {
            return Err(Error::file(
                origin,
                format!("idx2word has {} entries, more than vocab_size {}", file.idx2word.len(), file.vocab_size),
            ));
        }
        let vocab = Self::from_tokens(file.idx2word, file.vocab_size);
        if vocab.index.len() != vocab.tokens.len() {
            return Err(Error::file(origin, "idx2word has duplicate tokens"));
        }
        Ok(vocab)
    }

    /// Writes the vocabulary atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let json = self.to_json();
        intervene_proto::files::write_atomic(path, |tmp| std::fs::write(tmp, &json)).map_err(|e| Error::io(path, e))
    }

    pub fn load(path: &Path) -> Result<Self> {
        let text = crate::error::read_utf8(path)?;
        Self::from_json(&text, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seqs(texts: &[&str]) -> Vec<Vec<String>> {
        texts.iter().map(|t| t.split_whitespace().map(String::from).collect()).collect()
    }

    #[test]
    fn most_frequent_first_with_deterministic_ties_and_a_size_cap() {
        let data = seqs(&["b a c a", "c a d e", "b"]);
        let v = Vocab::build(data.iter().map(|s| s.as_slice()), 7).unwrap();
        assert_eq!(v.tokens(), ["<PAD>", "<SOS>", "<EOS>", "<UNK>", "a", "b", "c"]);
        assert_eq!(v.len(), 7);
        assert_eq!(v.encode(&["a", "zzz", "c"]), [4, Vocab::UNK, 6]);
        assert_eq!(v.decode(&[Vocab::SOS, 4, Vocab::PAD, 5, Vocab::EOS, 6]), ["a", "b"]);
        assert_eq!(v.decode(&[99, -1]), ["<UNK>", "<UNK>"]);
        // Fewer distinct tokens than the size: the vocabulary is smaller, never padded.
        let small = Vocab::build(data.iter().map(|s| s.as_slice()), 100).unwrap();
        assert_eq!(small.len(), 9);
        assert_eq!(small.max_size(), 100);
        assert!(Vocab::build(data.iter().map(|s| s.as_slice()), 4).is_err());
    }

    #[test]
    fn json_round_trip_and_bad_files() {
        let data = seqs(&["x y y"]);
        let v = Vocab::build(data.iter().map(|s| s.as_slice()), 10).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v.json");
        v.save(&p).unwrap();
        assert_eq!(Vocab::load(&p).unwrap(), v);
        std::fs::write(&p, r#"{"vocab_size": 5, "idx2word": ["a"]}"#).unwrap();
        assert!(Vocab::load(&p).unwrap_err().to_string().contains("must start with"));
        std::fs::write(&p, r#"{"vocab_size": 4, "idx2word": ["<PAD>","<SOS>","<EOS>","<UNK>","x"]}"#).unwrap();
        assert!(Vocab::load(&p).unwrap_err().to_string().contains("more than vocab_size"));
        std::fs::write(&p, "[").unwrap();
        assert!(Vocab::load(&p).unwrap_err().to_string().contains("v.json:1: not a vocabulary file"));
    }
}
