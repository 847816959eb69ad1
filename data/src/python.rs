//! Thin, panic-proof wrappers over `rustpython-parser`: parsing (mining and
//! the syntax-validity metric) and lexing (the python-lexer tokenizer, the
//! code mutations).
//!
//! The parser is generated code that is not known to be panic-free on every
//! input, and these functions see arbitrary model output and arbitrary
//! files, so each call is isolated with `catch_unwind` and a panic counts as
//! "does not parse".

use std::panic::{AssertUnwindSafe, catch_unwind};

use rustpython_parser::ast::{self, Ranged};
use rustpython_parser::lexer::lex;
use rustpython_parser::{Mode, Parse, Tok};

/// One lexical token with its byte range in the source.
#[derive(Debug, Clone)]
pub(crate) struct Lexeme {
    pub tok: Tok,
    pub start: usize,
    pub end: usize,
}

/// The tokens of `source` up to the first lexical error, and the byte offset
/// of that error (`None` when the whole source lexes).
pub(crate) fn lex_source(source: &str) -> (Vec<Lexeme>, Option<usize>) {
    let run = || {
        let mut out = Vec::new();
        for item in lex(source, Mode::Module) {
            match item {
                Ok((tok, range)) => {
                    out.push(Lexeme { tok, start: range.start().to_usize(), end: range.end().to_usize() })
                }
                Err(e) => return (out, Some(e.location.to_usize().min(source.len()))),
            }
        }
        (out, None)
    };
    catch_unwind(AssertUnwindSafe(run)).unwrap_or_else(|_| (Vec::new(), Some(0)))
}

/// Parses a module; `None` when it does not parse.
pub(crate) fn parse_module(source: &str, path: &str) -> Option<ast::Suite> {
    catch_unwind(AssertUnwindSafe(|| ast::Suite::parse(source, path).ok())).ok().flatten()
}

/// Whether `code` parses as a Python module (the syntax-validity metric).
pub fn python_parses(code: &str) -> bool {
    parse_module(code, "<code>").is_some()
}

/// Byte range of a node.
pub(crate) fn span<T: Ranged>(node: &T) -> (usize, usize) {
    let r = node.range();
    (r.start().to_usize(), r.end().to_usize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_valid_and_rejects_invalid_code() {
        assert!(python_parses("def f(x):\n    return x + 1\n"));
        assert!(python_parses("match x:\n    case [a, b]:\n        pass\n"));
        assert!(python_parses(""));
        assert!(!python_parses("def f(x:\n    return"));
        assert!(!python_parses("def f():\nreturn 1"));
        assert!(!python_parses("print 'py2'"));
    }

    #[test]
    fn lexing_reports_where_it_stopped() {
        let (toks, err) = lex_source("x = 1\n");
        assert!(err.is_none());
        assert!(matches!(toks[0].tok, Tok::Name { .. }));
        let (_, err) = lex_source("x = 'unterminated\n");
        assert!(err.is_some());
    }
}
