//! The python-lexer tokenizer (seed 001): Python's own lexical tokens, with
//! string literals spelled out as characters so that the vocabulary does not
//! grow with every distinct literal, explicit layout tokens, comments
//! dropped.
//!
//! A string literal `r'a\n'` becomes `<STR:r'>`, `a`, `\`, `n`, `</STR>`:
//! the open marker carries the prefix and quote, the characters are the raw
//! source between the quotes (escapes kept as written), so detokenizing
//! rebuilds the literal exactly. Numbers and names keep their source
//! spelling. Layout is `<NEWLINE>` (end of a logical line), `<INDENT>`,
//! `<DEDENT>`; detokenizing re-indents with four spaces per level, which
//! Python parses whatever the original indentation was.

use rustpython_parser::Tok;

use crate::python::lex_source;

pub const NEWLINE: &str = "<NEWLINE>";
pub const INDENT: &str = "<INDENT>";
pub const DEDENT: &str = "<DEDENT>";
pub const STR_OPEN_PREFIX: &str = "<STR:";
pub const STR_CLOSE: &str = "</STR>";

pub fn tokenize(code: &str) -> Vec<String> {
    let (lexemes, error_at) = lex_source(code);
    let mut out = Vec::with_capacity(lexemes.len() * 2);
    for lx in &lexemes {
        let text = &code[lx.start..lx.end];
        match &lx.tok {
            Tok::Newline => push_newline(&mut out),
            Tok::Indent => out.push(INDENT.to_string()),
            Tok::Dedent => out.push(DEDENT.to_string()),
            Tok::EndOfFile => {}
            Tok::String { .. } => push_string(&mut out, text),
            _ => out.push(text.to_string()),
        }
    }
    if error_at.is_some() {
        // Code Python cannot lex (Python 2, a fragment, model output): the
        // rest, from the end of the last good token, is split into words and
        // single symbols so that nothing is lost; it will simply not
        // detokenize to valid code.
        let from = lexemes.iter().map(|l| l.end).max().unwrap_or(0);
        fallback(&code[floor_char_boundary(code, from)..], &mut out);
    }
    out
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn push_newline(out: &mut Vec<String>) {
    if out.last().is_some_and(|t| t != NEWLINE) {
        out.push(NEWLINE.to_string());
    }
}

fn push_string(out: &mut Vec<String>, literal: &str) {
    let prefix_len = literal.find(['\'', '"']).unwrap_or(literal.len());
    let (prefix, rest) = literal.split_at(prefix_len);
    let quote =
        if rest.starts_with("'''") || rest.starts_with("\"\"\"") { &rest[..3] } else { &rest[..rest.len().min(1)] };
    let body_end = rest.len().saturating_sub(quote.len()).max(quote.len());
    let body = rest.get(quote.len()..body_end).unwrap_or("");
    out.push(format!("{STR_OPEN_PREFIX}{prefix}{quote}>"));
    out.extend(body.chars().map(String::from));
    out.push(STR_CLOSE.to_string());
}

fn fallback(rest: &str, out: &mut Vec<String>) {
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut Vec<String>| {
        if !word.is_empty() {
            out.push(std::mem::take(word));
        }
    };
    for ch in rest.chars() {
        if ch.is_alphanumeric() || ch == '_' {
            word.push(ch);
            continue;
        }
        flush(&mut word, out);
        if ch == '\n' {
            push_newline(out);
        } else if !ch.is_whitespace() {
            out.push(ch.to_string());
        }
    }
    flush(&mut word, out);
}

fn is_open(tok: &str) -> Option<(&str, &str)> {
    let inner = tok.strip_prefix(STR_OPEN_PREFIX)?.strip_suffix('>')?;
    let q = inner.find(['\'', '"'])?;
    let (prefix, quote) = inner.split_at(q);
    matches!(quote, "'" | "\"" | "'''" | "\"\"\"").then_some((prefix, quote))
}

const KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del",
    "elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda", "nonlocal",
    "not", "or", "pass", "raise", "return", "try", "while", "with", "yield",
];

fn starts_numeric(tok: &str) -> bool {
    tok.chars().next().is_some_and(|c| c.is_ascii_digit())
}

/// Whether a token is a value (a name, number, string or closed bracket),
/// after which `-`, `+`, `*`, `**` and `~` are binary operators.
fn is_value(tok: &str) -> bool {
    if matches!(tok, ")" | "]" | "}" | STR_CLOSE | "None" | "True" | "False") {
        return true;
    }
    !KEYWORDS.contains(&tok) && tok.chars().last().is_some_and(|c| c.is_alphanumeric() || c == '_')
}

/// Whether a space is needed (or wanted) between two tokens on a line,
/// `before` being the token before `prev`. Only spaces that can never join
/// two tokens into one are left out.
fn space_between(before: Option<&str>, prev: &str, cur: &str, depth: usize) -> bool {
    if matches!(cur, ")" | "]" | "}" | "," | ";") {
        return false;
    }
    if cur == ":" {
        return false;
    }
    if cur == "." {
        // `1 .real` must keep its space or it lexes as the float `1.`;
        // `from . import x` reads better with it.
        return starts_numeric(prev) || KEYWORDS.contains(&prev);
    }
    if prev == "." {
        return starts_numeric(cur) || KEYWORDS.contains(&cur);
    }
    if matches!(prev, "(" | "[" | "{" | "~") {
        return false;
    }
    // Unary operators stick to their operand: `-x`, `f(*args)`.
    if matches!(prev, "-" | "+" | "*" | "**") && !before.is_some_and(is_value) {
        return false;
    }
    if matches!(cur, "(" | "[") {
        return !is_value(prev) || matches!(prev, "None" | "True" | "False");
    }
    // Keyword arguments and defaults: `f(a=1)`.
    if depth > 0 && (cur == "=" || prev == "=") {
        return false;
    }
    true
}

/// Rebuilds source code from tokens. Works on any sequence (model output
/// included): an unclosed string is closed, stray layout tokens are
/// tolerated; only a well-formed sequence is guaranteed to parse.
pub fn detokenize(tokens: &[String]) -> String {
    let mut out = String::new();
    let mut indent = 0usize;
    let mut line_start = true;
    let mut depth = 0usize;
    let mut prev: Option<&str> = None;
    let mut before: Option<&str> = None;
    let mut in_string: Option<&str> = None;
    for tok in tokens {
        let tok = tok.as_str();
        if let Some(quote) = in_string {
            if tok == STR_CLOSE {
                out.push_str(quote);
                in_string = None;
                continue;
            }
            if tok != NEWLINE && tok != INDENT && tok != DEDENT {
                out.push_str(tok);
                continue;
            }
            out.push_str(quote);
            in_string = None;
        }
        match tok {
            NEWLINE => {
                if !line_start {
                    out.push('\n');
                    line_start = true;
                    depth = 0;
                    (prev, before) = (None, None);
                }
            }
            INDENT => {
                if !line_start {
                    out.push('\n');
                    line_start = true;
                    (prev, before) = (None, None);
                }
                indent += 1;
            }
            DEDENT => indent = indent.saturating_sub(1),
            STR_CLOSE => {}
            _ => {
                if line_start {
                    out.push_str(&"    ".repeat(indent));
                    line_start = false;
                } else if let Some(p) = prev
                    && space_between(before, p, if is_open(tok).is_some() { "\"" } else { tok }, depth)
                {
                    out.push(' ');
                }
                if let Some((prefix, quote)) = is_open(tok) {
                    out.push_str(prefix);
                    out.push_str(quote);
                    in_string = Some(quote);
                    (before, prev) = (prev, Some(STR_CLOSE));
                    continue;
                }
                match tok {
                    "(" | "[" | "{" => depth += 1,
                    ")" | "]" | "}" => depth = depth.saturating_sub(1),
                    _ => {}
                }
                out.push_str(tok);
                (before, prev) = (prev, Some(tok));
            }
        }
    }
    if let Some(quote) = in_string {
        out.push_str(quote);
    }
    if !line_start {
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::python::python_parses;

    fn t(code: &str) -> Vec<String> {
        tokenize(code)
    }

    #[test]
    fn strings_become_characters_and_layout_tokens_appear() {
        let toks = t("def f(x):\n    # comment\n    return x + 'ab'\n");
        assert_eq!(
            toks,
            [
                "def", "f", "(", "x", ")", ":", NEWLINE, INDENT, "return", "x", "+", "<STR:'>", "a", "b", STR_CLOSE,
                NEWLINE, DEDENT
            ]
        );
        assert_eq!(t("rb'\\n'"), ["<STR:rb'>", "\\", "n", STR_CLOSE, NEWLINE]);
        assert_eq!(t("x = \"\"\"a\nb\"\"\""), ["x", "=", "<STR:\"\"\">", "a", "\n", "b", STR_CLOSE, NEWLINE]);
        assert_eq!(t("x = 0x1F + 1_000 + 1.50"), ["x", "=", "0x1F", "+", "1_000", "+", "1.50", NEWLINE]);
    }

    #[test]
    fn detokenizes_to_code_that_parses_and_keeps_meaning() {
        for code in [
            "def f(x, *args, key=None, **kw):\n    return [y for y in x if y > 1]\n",
            "class A(B):\n    @property\n    def g(self):\n        if self.a:\n            return 1 .real\n        return {'a': (1, 2)}\n",
            "x = f'{a!r}' 'b'\ny = rb'c' b'd'\nfrom . import y\nfrom ..z import w\nprint(not(x), -x, x[1:-1], x[::2])\n",
            "async def g():\n    async with a as b:\n        await c\n    return lambda q: q\n",
            "s = '''multi\n  line\\\n'''\nt = 'it\\'s'\n",
            "if a:\n    pass\nelif b:\n    for i in range(3):\n        while True:\n            break\nelse:\n    x = a if b else c\n",
            "match p:\n    case Point(x=0, y=0):\n        pass\n    case [1, *rest]:\n        pass\n",
            "try:\n    x = (1 +\n         2)\nexcept (A, B) as e:\n    raise\nfinally:\n    del x\n",
        ] {
            let toks = t(code);
            let back = detokenize(&toks);
            assert!(python_parses(&back), "does not parse:\n{back}\nfrom:\n{code}");
            assert_eq!(t(&back), toks, "tokens differ after a round trip of:\n{code}\n->\n{back}");
        }
        assert_eq!(detokenize(&t("def f(a, b=1):\n    return g(a)[0].x\n")), "def f(a, b=1):\n    return g(a)[0].x\n");
    }

    #[test]
    fn unlexable_code_falls_back_without_losing_words() {
        let toks = t("x = 1\ny = 'open string\nz = 2\n");
        assert_eq!(&toks[..4], ["x", "=", "1", NEWLINE]);
        assert!(toks.contains(&"open".to_string()) && toks.contains(&"z".to_string()), "{toks:?}");
    }

    #[test]
    fn detokenizes_any_sequence() {
        let junk: Vec<String> = [
            "<STR:'>",
            "a",
            INDENT,
            DEDENT,
            DEDENT,
            ")",
            STR_CLOSE,
            "<STR:bogus>",
            "(",
            NEWLINE,
            NEWLINE,
            "<STR:f\"\"\">",
            "x",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let out = detokenize(&junk);
        assert!(out.ends_with("\"\"\"\n"), "{out:?}");
        assert_eq!(detokenize(&[]), "");
    }
}
