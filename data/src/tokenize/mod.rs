//! Tokenizers: the source side is the docstring, the target side the code.
//!
//! | kind            | source (docstring)     | target (code)                        |
//! |-----------------|------------------------|--------------------------------------|
//! | code-whitespace | recipe of seed 002     | recipe of seed 002 (not code again)  |
//! | python-lexer    | recipe of seed 002     | Python tokens, strings as characters |
//! | bpe             | byte-level BPE (own)   | byte-level BPE (own)                 |

pub mod bound;
pub mod bpe;
pub mod pylex;
pub mod whitespace;

use intervene_proto::files::write_atomic;
use std::path::Path;

use intervene_proto::job::TokenizerKind;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, read_utf8};
use bpe::BpeModel;

#[derive(Debug, Clone)]
pub struct Tokenizer {
    kind: TokenizerKind,
    /// (source, target) models of a BPE tokenizer.
    bpe: Option<Box<(BpeModel, BpeModel)>>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    kind: TokenizerKind,
}

const MANIFEST: &str = "tokenizer.json";
const BPE_SOURCE: &str = "bpe-source.json";
const BPE_TARGET: &str = "bpe-target.json";

impl Tokenizer {
    /// A tokenizer that needs no training (code-whitespace, python-lexer).
    pub fn new(kind: TokenizerKind) -> Result<Self> {
        if kind == TokenizerKind::Bpe {
            return Err(Error::Tokenizer("bpe must be trained on the train split first (Tokenizer::train)".into()));
        }
        Ok(Tokenizer { kind, bpe: None })
    }

    /// Builds the tokenizer of `kind`, training BPE models on the given
    /// train-split texts with the configured sizes (specials included).
    pub fn train(
        kind: TokenizerKind,
        sources: &[&str],
        targets: &[&str],
        source_vocab_size: usize,
        target_vocab_size: usize,
    ) -> Result<Self> {
        if kind != TokenizerKind::Bpe {
            return Self::new(kind);
        }
        let source = BpeModel::train(sources, source_vocab_size)?;
        let target = BpeModel::train(targets, target_vocab_size)?;
        Ok(Tokenizer { kind, bpe: Some(Box::new((source, target))) })
    }

    pub fn kind(&self) -> TokenizerKind {
        self.kind
    }

    pub fn source_tokens(&self, docstring: &str) -> Vec<String> {
        match &self.bpe {
            Some(models) => models.0.tokens(docstring),
            None => whitespace::tokenize(docstring),
        }
    }

    pub fn target_tokens(&self, code: &str) -> Vec<String> {
        match (&self.bpe, self.kind) {
            (Some(models), _) => models.1.tokens(code),
            (None, TokenizerKind::PythonLexer) => pylex::tokenize(code),
            (None, _) => whitespace::tokenize(code),
        }
    }

    /// Whether `docstring` has at most `max` source tokens; the same answer
    /// as counting [`Self::source_tokens`], without tokenizing a text whose
    /// BPE lower bound is already over (most of a mined data set under a
    /// short limit).
    pub fn source_fits(&self, docstring: &str, max: usize) -> bool {
        if self.bpe.is_some() && bound::min_pieces(docstring) > max {
            return false;
        }
        self.source_tokens(docstring).len() <= max
    }

    /// [`Self::source_fits`] for the target side.
    pub fn target_fits(&self, code: &str, max: usize) -> bool {
        if self.bpe.is_some() && bound::min_pieces(code) > max {
            return false;
        }
        self.target_tokens(code).len() <= max
    }

    /// Code from target tokens where the kind allows it
    /// ([`TokenizerKind::detokenizes_to_code`]); the tokens joined with
    /// spaces for code-whitespace.
    pub fn detokenize_target(&self, tokens: &[String]) -> String {
        match self.kind {
            TokenizerKind::CodeWhitespace => whitespace::detokenize(tokens),
            TokenizerKind::PythonLexer => pylex::detokenize(tokens),
            TokenizerKind::Bpe => BpeModel::detokenize(tokens),
        }
    }

    /// Writes `tokenizer.json` (and the two BPE models) into `dir`, each
    /// file atomically.
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let manifest = serde_json::to_string_pretty(&Manifest { kind: self.kind })
            .map_err(|e| Error::Tokenizer(format!("saving: {e}")))?;
        write(&dir.join(MANIFEST), &manifest)?;
        if let Some(models) = &self.bpe {
            write(&dir.join(BPE_SOURCE), &models.0.to_json()?)?;
            write(&dir.join(BPE_TARGET), &models.1.to_json()?)?;
        }
        Ok(())
    }

    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(MANIFEST);
        let manifest: Manifest = serde_json::from_str(&read_utf8(&path)?).map_err(|e| {
            Error::line(
                &path,
                e.line(),
                format!("{e} (expected {{\"kind\": \"code-whitespace\" | \"python-lexer\" | \"bpe\"}})"),
            )
        })?;
        if manifest.kind != TokenizerKind::Bpe {
            return Self::new(manifest.kind);
        }
        let model = |name: &str| -> Result<BpeModel> {
            let path = dir.join(name);
            BpeModel::from_json(&read_utf8(&path)?).map_err(|e| Error::file(&path, e.to_string()))
        };
        Ok(Tokenizer { kind: manifest.kind, bpe: Some(Box::new((model(BPE_SOURCE)?, model(BPE_TARGET)?))) })
    }
}

fn write(path: &Path, text: &str) -> Result<()> {
    write_atomic(path, |tmp| std::fs::write(tmp, text)).map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::python::python_parses;

    const DOCS: &[&str] = &["Return the sum of a and b.", "Return the product of a and b."];
    const CODE: &[&str] = &["def add(a, b):\n    return a + b\n", "def mul(a, b):\n    return a * b\n"];

    #[test]
    fn every_kind_tokenizes_saves_and_loads() {
        for kind in [TokenizerKind::CodeWhitespace, TokenizerKind::PythonLexer, TokenizerKind::Bpe] {
            let tok = Tokenizer::train(kind, DOCS, CODE, 300, 300).unwrap();
            let src = tok.source_tokens(DOCS[0]);
            let tgt = tok.target_tokens(CODE[0]);
            assert!(!src.is_empty() && !tgt.is_empty());
            let back = tok.detokenize_target(&tgt);
            match kind {
                // The recipe loses layout and case: no way back to the code.
                TokenizerKind::CodeWhitespace => assert_eq!(back, "def add ( a , b ) : return a + b"),
                TokenizerKind::PythonLexer => assert!(python_parses(&back), "{back:?}"),
                TokenizerKind::Bpe => assert_eq!(back, CODE[0]),
            }
            let dir = tempfile::tempdir().unwrap();
            tok.save(dir.path()).unwrap();
            let loaded = Tokenizer::load(dir.path()).unwrap();
            assert_eq!(loaded.kind(), kind);
            assert_eq!(loaded.target_tokens(CODE[1]), tok.target_tokens(CODE[1]));
            assert_eq!(loaded.source_tokens(DOCS[1]), tok.source_tokens(DOCS[1]));
        }
        assert_eq!(
            Tokenizer::train(TokenizerKind::Bpe, DOCS, CODE, 300, 300).unwrap().detokenize_target(
                &Tokenizer::train(TokenizerKind::Bpe, DOCS, CODE, 300, 300).unwrap().target_tokens(CODE[0])
            ),
            CODE[0]
        );
    }

    #[test]
    fn fits_agrees_with_counting_the_tokens() {
        let code: Vec<String> = (0..40)
            .map(|i| format!("def f{i}(x, y='it''s'):\n    # don't\n    return x * {i} + y  # {}\n", "ab ".repeat(i)))
            .chain(["", "naïve = 'é'\n", "\t\n"].map(String::from))
            .collect();
        let texts: Vec<&str> = code.iter().map(String::as_str).collect();
        for kind in [TokenizerKind::CodeWhitespace, TokenizerKind::PythonLexer, TokenizerKind::Bpe] {
            let tok = Tokenizer::train(kind, &texts, &texts, 400, 400).unwrap();
            for text in &texts {
                let (n, m) = (tok.target_tokens(text).len(), tok.source_tokens(text).len());
                for max in [0, 1, 5, 20, 40, 80, 200] {
                    assert_eq!(tok.target_fits(text, max), n <= max, "{kind:?} {text:?} max {max}: {n} tokens");
                    assert_eq!(tok.source_fits(text, max), m <= max, "{kind:?} {text:?} max {max}: {m} tokens");
                }
            }
        }
    }

    #[test]
    fn loading_names_the_bad_file() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Tokenizer::load(dir.path()).unwrap_err().to_string().contains("tokenizer.json"));
        std::fs::write(dir.path().join(MANIFEST), r#"{"kind": "words"}"#).unwrap();
        let e = Tokenizer::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("tokenizer.json:1:") && e.contains("unknown variant"), "{e}");
        std::fs::write(dir.path().join(MANIFEST), r#"{"kind": "bpe"}"#).unwrap();
        assert!(Tokenizer::load(dir.path()).unwrap_err().to_string().contains("bpe-source.json"));
        assert!(Tokenizer::new(TokenizerKind::Bpe).is_err());
    }
}
