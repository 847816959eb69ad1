//! Functions with docstrings out of one parsed file, the way CodeSearchNet
//! was built: top-level functions and methods (also inside `if`/`try`/`with`
//! blocks at module or class level, not functions nested in functions); the
//! query is the first paragraph of the docstring; the code is the function
//! from `def` to its last statement, without the docstring, dedented.

use rustpython_parser::Tok;
use rustpython_parser::ast::{self, Constant, ExceptHandler, Expr, Stmt};

use crate::python::{lex_source, parse_module, span};

/// The filtering rules, in the order they are checked; a function is
/// counted under the first rule it fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    NameContainsTest,
    Dunder,
    ShortDocstring,
    ShortFunction,
    DoesNotParse,
    DuplicateExact,
    DuplicateNear,
}

impl Rule {
    pub const ALL: [Rule; 7] = [
        Rule::NameContainsTest,
        Rule::Dunder,
        Rule::ShortDocstring,
        Rule::ShortFunction,
        Rule::DoesNotParse,
        Rule::DuplicateExact,
        Rule::DuplicateNear,
    ];

    pub fn describe(self) -> &'static str {
        match self {
            Rule::NameContainsTest => "name contains \"test\"",
            Rule::Dunder => "dunder method",
            Rule::ShortDocstring => "docstring under 3 tokens",
            Rule::ShortFunction => "function under 3 lines",
            Rule::DoesNotParse => "code does not parse",
            Rule::DuplicateExact => "duplicate (exact)",
            Rule::DuplicateNear => "duplicate (near: same normalised tokens)",
        }
    }
}

/// A function found in a file, with the verdict of the per-function rules.
#[derive(Debug, Clone)]
pub struct Found {
    pub qualname: String,
    /// 1-based line of `def`.
    pub line: usize,
    pub docstring: String,
    pub code: String,
    /// `Err(rule)` when a per-function rule rejected it.
    pub verdict: Result<(), Rule>,
    /// Hash of the normalised token sequence, for near-duplicate removal.
    pub near_key: u64,
}

/// Every function with a docstring in `module` (the parsed `source`).
pub fn functions(source: &str, module: &[Stmt]) -> Vec<Found> {
    let mut out = Vec::new();
    walk(source, module, "", &mut out);
    out
}

fn walk(source: &str, body: &[Stmt], prefix: &str, out: &mut Vec<Found>) {
    for stmt in body {
        match stmt {
            Stmt::FunctionDef(f) => consider(source, stmt, &f.name, &f.body, prefix, out),
            Stmt::AsyncFunctionDef(f) => consider(source, stmt, &f.name, &f.body, prefix, out),
            Stmt::ClassDef(c) => walk(source, &c.body, &format!("{prefix}{}.", c.name.as_str()), out),
            Stmt::If(s) => {
                walk(source, &s.body, prefix, out);
                walk(source, &s.orelse, prefix, out);
            }
            Stmt::Try(s) => try_blocks(source, &s.body, &s.handlers, &s.orelse, &s.finalbody, prefix, out),
            Stmt::TryStar(s) => try_blocks(source, &s.body, &s.handlers, &s.orelse, &s.finalbody, prefix, out),
            Stmt::With(s) => walk(source, &s.body, prefix, out),
            Stmt::AsyncWith(s) => walk(source, &s.body, prefix, out),
            _ => {}
        }
    }
}

fn try_blocks(
    source: &str,
    body: &[Stmt],
    handlers: &[ExceptHandler],
    orelse: &[Stmt],
    finalbody: &[Stmt],
    prefix: &str,
    out: &mut Vec<Found>,
) {
    walk(source, body, prefix, out);
    for ExceptHandler::ExceptHandler(h) in handlers {
        walk(source, &h.body, prefix, out);
    }
    walk(source, orelse, prefix, out);
    walk(source, finalbody, prefix, out);
}

fn docstring_of(body: &[Stmt]) -> Option<(&str, (usize, usize))> {
    let Stmt::Expr(e) = body.first()? else { return None };
    let Expr::Constant(ast::ExprConstant { value: Constant::Str(s), .. }) = e.value.as_ref() else { return None };
    Some((s.as_str(), span(e)))
}

fn consider(source: &str, stmt: &Stmt, name: &str, body: &[Stmt], prefix: &str, out: &mut Vec<Found>) {
    let Some((doc, doc_span)) = docstring_of(body) else { return };
    let (start, end) = span(stmt);
    let line_start = source[..start].rfind('\n').map_or(0, |k| k + 1);
    let indent = &source[line_start..start];
    // `def` preceded by something other than whitespace (`if x: def ...` is
    // not Python, but `async def` is): keep only the leading whitespace.
    let indent = &indent[..indent.len() - indent.trim_start().len()];
    let line = source[..start].matches('\n').count() + 1;
    let code = dedent(&without(source, line_start, end, doc_span), indent);
    let docstring = first_paragraph(doc);
    let verdict = judge(name, &docstring, &code);
    let near_key = if verdict.is_ok() { near_key(&code) } else { 0 };
    out.push(Found { qualname: format!("{prefix}{name}"), line, docstring, code, verdict, near_key });
}

/// The code of one function without its docstring statement (CodeSearchNet's
/// `code` column keeps the docstring, which would hand the model its input
/// back as part of the answer). `None` when `code` is not a single
/// function with a docstring and more statements, or does not parse.
pub fn strip_function_docstring(code: &str) -> Option<String> {
    let module = parse_module(code, "<code>")?;
    let [stmt] = module.as_slice() else { return None };
    let body = match stmt {
        Stmt::FunctionDef(f) => &f.body,
        Stmt::AsyncFunctionDef(f) => &f.body,
        _ => return None,
    };
    if body.len() < 2 {
        return None;
    }
    let (_, doc_span) = docstring_of(body)?;
    Some(without(code, 0, code.len(), doc_span))
}

/// `source[from..to]` without the docstring statement, and without its line
/// when nothing else is on it.
fn without(source: &str, from: usize, to: usize, (ds, de): (usize, usize)) -> String {
    let ls = source[..ds].rfind('\n').map_or(0, |k| k + 1).max(from);
    let le = source[de..].find('\n').map_or(source.len(), |k| de + k);
    let whole_line = source[ls..ds].trim().is_empty() && source[de..le].trim().is_empty();
    let (a, b) = if whole_line { (ls, (le + 1).min(source.len())) } else { (ds, de) };
    let mut code = source[from..a].to_string();
    if b < to {
        code.push_str(&source[b..to]);
    }
    code.truncate(code.trim_end().len());
    code
}

fn dedent(code: &str, indent: &str) -> String {
    if indent.is_empty() {
        return code.to_string();
    }
    code.split('\n')
        .map(|l| l.strip_prefix(indent).unwrap_or(if l.trim().is_empty() { "" } else { l }))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first paragraph of a docstring, whitespace collapsed (what
/// CodeSearchNet used as the query).
pub fn first_paragraph(doc: &str) -> String {
    let mut words: Vec<&str> = Vec::new();
    let mut started = false;
    for line in doc.lines() {
        if line.trim().is_empty() {
            if started {
                break;
            }
            continue;
        }
        started = true;
        words.extend(line.split_whitespace());
    }
    words.join(" ")
}

fn judge(name: &str, docstring: &str, code: &str) -> Result<(), Rule> {
    if name.to_lowercase().contains("test") {
        return Err(Rule::NameContainsTest);
    }
    if name.len() > 4 && name.starts_with("__") && name.ends_with("__") {
        return Err(Rule::Dunder);
    }
    if docstring.split_whitespace().count() < 3 {
        return Err(Rule::ShortDocstring);
    }
    if code.lines().filter(|l| !l.trim().is_empty()).count() < 3 {
        return Err(Rule::ShortFunction);
    }
    if parse_module(code, "<function>").is_none() {
        return Err(Rule::DoesNotParse);
    }
    Ok(())
}

/// FNV-1a over the token sequence with layout and comments gone and every
/// string and number literal replaced by a placeholder: copies that differ
/// only in formatting, comments or constants collide.
pub(crate) fn near_key(code: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for &b in bytes.iter().chain(std::iter::once(&0u8)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    let (lexemes, _) = lex_source(code);
    for lx in &lexemes {
        match &lx.tok {
            Tok::Newline | Tok::Indent | Tok::Dedent | Tok::EndOfFile => {}
            Tok::String { .. } => feed(b"\x01STR"),
            Tok::Int { .. } | Tok::Float { .. } | Tok::Complex { .. } => feed(b"\x01NUM"),
            _ => feed(&code.as_bytes()[lx.start..lx.end]),
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(source: &str) -> Vec<Found> {
        let module = parse_module(source, "t.py").unwrap();
        functions(source, &module)
    }

    const SOURCE: &str = r#"
def top(a, b):
    """Add two numbers together.

    More detail that is not part of the query.
    """
    c = a + b
    return c


class Box:
    """A box."""

    def size(self):
        '''Return the size of the box.'''
        # the size
        return self._size * 2 + \
            1

    def __len__(self):
        """Return the length of it."""
        return 1
        return 2

    def test_it(self):
        """Checks that it works fine."""
        x = 1
        return x

    def short(self):
        """Return one thing."""
        return 1

if True:
    async def fetch(url):
        """Fetch a url now."""; x = 1
        return x
        pass

def nodoc():
    return 1
"#;

    #[test]
    fn extracts_functions_methods_and_verdicts() {
        let f = found(SOURCE);
        let names: Vec<_> = f.iter().map(|x| x.qualname.as_str()).collect();
        assert_eq!(names, ["top", "Box.size", "Box.__len__", "Box.test_it", "Box.short", "fetch"]);
        assert_eq!(f[0].docstring, "Add two numbers together.");
        assert_eq!(f[0].code, "def top(a, b):\n    c = a + b\n    return c");
        assert_eq!(f[0].line, 2);
        assert!(f[0].verdict.is_ok());
        assert_eq!(f[1].code, "def size(self):\n    # the size\n    return self._size * 2 + \\\n        1");
        assert!(f[1].verdict.is_ok());
        assert_eq!(f[2].verdict, Err(Rule::Dunder));
        assert_eq!(f[3].verdict, Err(Rule::NameContainsTest));
        assert_eq!(f[4].verdict, Err(Rule::ShortFunction));
        // A docstring sharing its line with code leaves `; x = 1` behind.
        assert_eq!(f[5].verdict, Err(Rule::DoesNotParse), "{}", f[5].code);
    }

    #[test]
    fn near_keys_ignore_layout_comments_and_constants() {
        let a = near_key("def f(x):\n    # hi\n    return x + 1\n");
        let b = near_key("def f(x):\n\n        return (x\n   + 2)");
        let b2 = near_key("def f(x):\n        return x + 2");
        let c = near_key("def f(y):\n    return y + 1\n");
        assert_eq!(a, b2);
        assert_ne!(a, b, "parentheses are tokens");
        assert_ne!(a, c, "names are kept");
    }

    #[test]
    fn strips_the_docstring_of_a_lone_function() {
        let code = "@cache\ndef f(a):\n    \"\"\"Doc.\n\n    More.\"\"\"\n    return a\n";
        assert_eq!(strip_function_docstring(code).unwrap(), "@cache\ndef f(a):\n    return a");
        assert!(strip_function_docstring("def f(a):\n    return a").is_none());
        assert!(strip_function_docstring("def f(a):\n    'only a docstring'").is_none());
        assert!(strip_function_docstring("print 'py2'").is_none());
        assert!(strip_function_docstring("x = 1\ndef f():\n    'd'\n    return 1").is_none());
    }

    #[test]
    fn first_paragraph_collapses_whitespace() {
        assert_eq!(first_paragraph("\n   Do a\n   thing.\n\n   More."), "Do a thing.");
        assert_eq!(first_paragraph(""), "");
    }
}
