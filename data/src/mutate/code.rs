//! Mutations of code text, done on Python's lexical tokens so that strings,
//! attributes and keyword arguments are never touched by mistake. Code the
//! lexer rejects (Python 2, fragments) is left as it is and counted.

use std::collections::{BTreeSet, HashSet};

use rustpython_parser::Tok;

use crate::python::{Lexeme, lex_source};

/// Removes `#` comments. A line that held only a comment disappears; a
/// trailing comment takes the spaces before it along. `None` when the code
/// does not lex.
pub fn strip_comments(code: &str) -> Option<(String, u64)> {
    let (lexemes, error) = lex_source(code);
    if error.is_some() {
        return None;
    }
    // Comments live in the gaps between tokens (strings are tokens).
    let mut cuts: Vec<(usize, usize)> = Vec::new();
    let mut prev_end = 0usize;
    let ranges = lexemes.iter().map(|l| (l.start, l.end)).chain(std::iter::once((code.len(), code.len())));
    for (start, end) in ranges {
        let mut k = prev_end;
        while k < start {
            let Some(h) = code[k..start].find('#') else { break };
            let hash = k + h;
            let stop = code[hash..start].find('\n').map_or(start, |x| hash + x);
            cuts.push(comment_cut(code, hash, stop));
            k = stop;
        }
        prev_end = prev_end.max(end);
    }
    if cuts.is_empty() {
        return Some((code.to_string(), 0));
    }
    let mut out = String::with_capacity(code.len());
    let mut at = 0;
    for &(a, b) in &cuts {
        if a >= at {
            out.push_str(&code[at..a]);
            at = b;
        }
    }
    out.push_str(&code[at..]);
    Some((out, cuts.len() as u64))
}

/// What to remove for the comment at `hash..stop`: the whole line when
/// nothing else is on it, else the comment and the spaces before it.
fn comment_cut(code: &str, hash: usize, stop: usize) -> (usize, usize) {
    let line_start = code[..hash].rfind('\n').map_or(0, |k| k + 1);
    let before = &code[line_start..hash];
    if before.trim().is_empty() {
        let end = if code[stop..].starts_with('\n') { stop + 1 } else { stop };
        (line_start, end)
    } else {
        (hash - (before.len() - before.trim_end().len()), stop)
    }
}

fn name_of(l: &Lexeme) -> Option<&str> {
    match &l.tok {
        Tok::Name { name } => Some(name),
        _ => None,
    }
}

fn is_open(t: &Tok) -> bool {
    matches!(t, Tok::Lpar | Tok::Lsqb | Tok::Lbrace)
}

fn is_close(t: &Tok) -> bool {
    matches!(t, Tok::Rpar | Tok::Rsqb | Tok::Rbrace)
}

fn is_aug_assign(t: &Tok) -> bool {
    matches!(
        t,
        Tok::PlusEqual
            | Tok::MinusEqual
            | Tok::StarEqual
            | Tok::SlashEqual
            | Tok::PercentEqual
            | Tok::AmperEqual
            | Tok::VbarEqual
            | Tok::CircumflexEqual
            | Tok::LeftShiftEqual
            | Tok::RightShiftEqual
            | Tok::DoubleStarEqual
            | Tok::DoubleSlashEqual
            | Tok::AtEqual
    )
}

/// Names `self` and `cls` are conventions, not information about the
/// function; they are never renamed.
const KEEP: [&str; 2] = ["self", "cls"];

/// Local names bound in `lexemes`, in order of first binding: parameters,
/// assignment targets, loop and comprehension variables, `as` targets and
/// walrus targets; names declared global or nonlocal are excluded.
pub(crate) fn local_names(lexemes: &[Lexeme]) -> Vec<String> {
    let mut bound: Vec<String> = Vec::new();
    let mut excluded: HashSet<&str> = KEEP.into_iter().collect();
    for line in lexemes.split(|l| matches!(l.tok, Tok::Newline)) {
        let line: Vec<&Lexeme> = line.iter().filter(|l| !matches!(l.tok, Tok::Indent | Tok::Dedent)).collect();
        // global / nonlocal
        if matches!(tok(&line, 0), Some(Tok::Global | Tok::Nonlocal)) {
            excluded.extend(line.iter().filter_map(|l| name_of(l)));
            continue;
        }
        let top_assign = walrus_and_as_targets(&line, &mut bound);
        def_parameters(&line, &mut bound);
        lambda_and_for_targets(&line, &mut bound);
        if let Some(&last) = top_assign.last() {
            assignment_targets(&line, last, &mut bound);
        }
    }
    bound.retain(|n| !excluded.contains(n.as_str()));
    bound
}

// The binding forms below examine each token with its neighbours, by index.

fn tok<'a>(line: &[&'a Lexeme], i: usize) -> Option<&'a Tok> {
    line.get(i).map(|l| &l.tok)
}

fn add(bound: &mut Vec<String>, n: &str) {
    if !bound.iter().any(|b| b == n) {
        bound.push(n.to_string());
    }
}

/// Walrus and `as` targets; returns the positions of the line's top-level
/// `=` and augmented assignments.
#[allow(clippy::needless_range_loop)]
fn walrus_and_as_targets(line: &[&Lexeme], bound: &mut Vec<String>) -> Vec<usize> {
    let mut depth = 0usize;
    let mut top_assign = Vec::new();
    for i in 0..line.len() {
        let t = &line[i].tok;
        let prev = if i > 0 { tok(line, i - 1) } else { None };
        let next = tok(line, i + 1);
        if is_open(t) {
            depth += 1;
        } else if is_close(t) {
            depth = depth.saturating_sub(1);
        }
        if depth == 0 && (matches!(t, Tok::Equal) || is_aug_assign(t)) {
            top_assign.push(i);
        }
        let Some(n) = name_of(line[i]) else { continue };
        let after_dot = matches!(prev, Some(Tok::Dot));
        if matches!(next, Some(Tok::ColonEqual)) || (matches!(prev, Some(Tok::As)) && !after_dot) {
            add(bound, n);
        }
    }
    top_assign
}

/// def parameters: inside the parentheses right after `def NAME`.
#[allow(clippy::needless_range_loop)]
fn def_parameters(line: &[&Lexeme], bound: &mut Vec<String>) {
    let Some(d) = line.iter().position(|l| matches!(l.tok, Tok::Def)) else { return };
    if !matches!(tok(line, d + 2), Some(Tok::Lpar)) {
        return;
    }
    let mut depth = 0usize;
    for i in d + 2..line.len() {
        let t = &line[i].tok;
        if is_open(t) {
            depth += 1;
        } else if is_close(t) {
            depth -= 1;
            if depth == 0 {
                break;
            }
        }
        if depth == 1
            && let Some(n) = name_of(line[i])
            && matches!(tok(line, i - 1), Some(Tok::Lpar | Tok::Comma | Tok::Star | Tok::DoubleStar))
            && matches!(tok(line, i + 1), Some(Tok::Comma | Tok::Rpar | Tok::Equal | Tok::Colon))
        {
            add(bound, n);
        }
    }
}

/// lambda parameters and for targets: up to `:` / `in` at the same depth.
#[allow(clippy::needless_range_loop)]
fn lambda_and_for_targets(line: &[&Lexeme], bound: &mut Vec<String>) {
    for i in 0..line.len() {
        let (stop_lambda, is_for) = match line[i].tok {
            Tok::Lambda => (true, false),
            Tok::For => (false, true),
            _ => continue,
        };
        let mut depth = 0usize;
        for j in i + 1..line.len() {
            let t = &line[j].tok;
            if depth == 0 && ((stop_lambda && matches!(t, Tok::Colon)) || (is_for && matches!(t, Tok::In))) {
                break;
            }
            if is_open(t) {
                depth += 1;
            } else if is_close(t) {
                if depth == 0 {
                    break;
                }
                depth -= 1;
            }
            if let Some(n) = name_of(line[j])
                && !matches!(tok(line, j - 1), Some(Tok::Dot | Tok::Equal))
                && !matches!(tok(line, j + 1), Some(Tok::Dot | Tok::Lpar | Tok::Lsqb))
            {
                add(bound, n);
            }
        }
    }
}

/// Assignment targets: names at depth 0 before the last top-level `=`
/// (at position `last`).
#[allow(clippy::needless_range_loop)]
fn assignment_targets(line: &[&Lexeme], last: usize, bound: &mut Vec<String>) {
    let mut depth = 0usize;
    for i in 0..last {
        let t = &line[i].tok;
        if is_open(t) {
            depth += 1;
        } else if is_close(t) {
            depth = depth.saturating_sub(1);
        }
        let Some(n) = name_of(line[i]) else { continue };
        let after_dot = i > 0 && matches!(tok(line, i - 1), Some(Tok::Dot));
        let next = tok(line, i + 1);
        // `x: int = 1` only at the start of a statement: elsewhere a colon
        // ends an `if a:` header.
        let target = matches!(next, Some(Tok::Equal | Tok::Comma))
            || (i == 0 && matches!(next, Some(Tok::Colon)))
            || next.is_some_and(is_aug_assign);
        if depth == 0 && !after_dot && target {
            add(bound, n);
        }
    }
}

/// Renames the local names for which `rename(name)` says yes, consistently
/// (every use), to `var1`, `var2`... (skipping names the code already
/// uses). Attributes (`x.name`) and keyword arguments of calls
/// (`f(name=1)`) are left alone. Returns the new code, the number of
/// distinct names renamed and of occurrences rewritten; `None` when the code
/// does not lex.
pub fn rename_identifiers(code: &str, mut rename: impl FnMut(&str) -> bool) -> Option<(String, u64, u64)> {
    let (lexemes, error) = lex_source(code);
    if error.is_some() {
        return None;
    }
    let used: BTreeSet<&str> = lexemes.iter().filter_map(name_of).collect();
    let mut mapping: Vec<(String, String)> = Vec::new();
    let mut counter = 0usize;
    for name in local_names(&lexemes) {
        if rename(&name) {
            let fresh = loop {
                counter += 1;
                let candidate = format!("var{counter}");
                if !used.contains(candidate.as_str()) {
                    break candidate;
                }
            };
            mapping.push((name, fresh));
        }
    }
    if mapping.is_empty() {
        return Some((code.to_string(), 0, 0));
    }
    // Parenthesis kinds, to tell a call's keyword argument from a default.
    #[derive(PartialEq)]
    enum Paren {
        Params,
        Other,
    }
    let mut stack: Vec<Paren> = Vec::new();
    let mut out = String::with_capacity(code.len());
    let mut at = 0;
    let mut occurrences = 0u64;
    for (i, lx) in lexemes.iter().enumerate() {
        let prev = i.checked_sub(1).map(|k| &lexemes[k].tok);
        if is_open(&lx.tok) {
            let params = matches!(lx.tok, Tok::Lpar) && i >= 2 && matches!(lexemes[i - 2].tok, Tok::Def);
            stack.push(if params { Paren::Params } else { Paren::Other });
        } else if is_close(&lx.tok) {
            stack.pop();
        }
        let Some(n) = name_of(lx) else { continue };
        let Some((_, fresh)) = mapping.iter().find(|(old, _)| old == n) else { continue };
        let attribute = matches!(prev, Some(Tok::Dot));
        let keyword_arg = matches!(stack.last(), Some(Paren::Other))
            && matches!(prev, Some(Tok::Lpar | Tok::Comma))
            && matches!(lexemes.get(i + 1).map(|l| &l.tok), Some(Tok::Equal));
        if attribute || keyword_arg {
            continue;
        }
        out.push_str(&code[at..lx.start]);
        out.push_str(fresh);
        at = lx.end;
        occurrences += 1;
    }
    out.push_str(&code[at..]);
    Some((out, mapping.len() as u64, occurrences))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::python::python_parses;

    #[test]
    fn strips_comments_but_not_hashes_in_strings() {
        let code = "# header\ndef f(x):  # trailing\n    # whole line\n    s = '#not' + \"\"\"# nor\"\"\"\n    return s  # end";
        let (out, n) = strip_comments(code).unwrap();
        assert_eq!(n, 4);
        assert_eq!(out, "def f(x):\n    s = '#not' + \"\"\"# nor\"\"\"\n    return s");
        assert!(python_parses(&out));
        assert_eq!(strip_comments("x = 1\n").unwrap(), ("x = 1\n".to_string(), 0));
        assert!(strip_comments("x = 'open").is_none());
    }

    fn lexed(code: &str) -> Vec<String> {
        local_names(&lex_source(code).0)
    }

    #[test]
    fn finds_local_bindings() {
        let code = "def f(self, a, b=1, *args, c: int = 2, **kw):\n    global g\n    x, y = a, b\n    total += x\n    for i, (j, k) in enumerate(a):\n        pass\n    with open(p) as fh:\n        pass\n    if (n := len(a)) > 0:\n        pass\n    q = [e for e in a]\n    h = lambda z, w=1: z\n    obj.attr = 3\n    arr[idx] = 4\n    g = 5\n";
        let names = lexed(code);
        for want in ["a", "b", "args", "c", "kw", "x", "y", "total", "i", "j", "k", "fh", "n", "q", "e", "h", "z", "w"]
        {
            assert!(names.contains(&want.to_string()), "{want} missing from {names:?}");
        }
        for not in ["self", "g", "attr", "obj", "arr", "idx", "open", "p", "len", "enumerate", "f"] {
            assert!(!names.contains(&not.to_string()), "{not} wrongly in {names:?}");
        }
    }

    #[test]
    fn renames_consistently_and_keeps_attributes_and_keywords() {
        let code = "def f(data, key=None):\n    result = sorted(data, key=key)\n    self.result = result\n    return result, 'result'\n";
        let (out, names, occ) = rename_identifiers(code, |_| true).unwrap();
        assert_eq!(
            out,
            "def f(var1, var2=None):\n    var3 = sorted(var1, key=var2)\n    self.result = var3\n    return var3, 'result'\n"
        );
        assert_eq!((names, occ), (3, 7));
        assert!(python_parses(&out));
        let (same, n, _) = rename_identifiers(code, |_| false).unwrap();
        assert_eq!((same.as_str(), n), (code, 0));
        // Fresh names never collide with names in use.
        let (out, _, _) = rename_identifiers("def f(a):\n    var1 = a\n    return var1\n", |n| n == "a").unwrap();
        assert_eq!(out, "def f(var2):\n    var1 = var2\n    return var1\n");
        // Unbalanced brackets: whatever the lexer decides, no panic.
        let _ = rename_identifiers("def f(:", |_| true);
        assert!(rename_identifiers("x = 'open", |_| true).is_none());
    }
}
