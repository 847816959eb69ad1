//! A seeded generator of docstring -> code pairs whose code is fully
//! determined by the docstring: the function name, parameter names, numbers
//! and characters all appear in the docstring, and each phrasing belongs to
//! exactly one template. A small attention model can learn it to high exact
//! match in minutes on a CPU, which makes it the data for tests and demos.
//!
//! Sequences are short on purpose (about 6-20 docstring tokens and 10-40
//! code tokens with the code-whitespace tokenizer) and the vocabulary is a
//! few hundred tokens.

use std::collections::HashSet;

use intervene_proto::job::SyntheticTask;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};
use crate::pair::Pair;

const FUNCTIONS: [&str; 16] = [
    "solve",
    "compute",
    "process",
    "transform",
    "calc",
    "helper",
    "apply_rule",
    "handle",
    "evaluate",
    "convert",
    "make_result",
    "build",
    "find_value",
    "combine",
    "select",
    "run_task",
];
const LISTS: [&str; 8] = ["xs", "items", "values", "nums", "data", "seq", "arr", "lst"];
const STRINGS: [&str; 8] = ["s", "text", "word", "name", "line", "msg", "title", "label"];
const INTS: [&str; 8] = ["a", "b", "n", "m", "p", "q", "u", "v"];
const WORDS: [&str; 8] = ["foo", "bar", "abc", "xyz", "tmp", "key", "err", "end"];
const CHARS: [char; 8] = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];

/// The random choices one pair is built from.
struct Slots {
    f: &'static str,
    l: &'static str,
    s: &'static str,
    a: &'static str,
    b: &'static str,
    k: u32,
    c: char,
    d: char,
    w: &'static str,
    /// Which phrasing of a template's docstring.
    v: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Family {
    List,
    Str,
    Arith,
}

type Template = fn(&Slots) -> (String, String);

fn def(name: &str, params: &[&str], body: &[String]) -> String {
    let mut code = format!("def {name}({}):", params.join(", "));
    for line in body {
        code.push_str("\n    ");
        code.push_str(line);
    }
    code
}

fn ret(expr: String) -> Vec<String> {
    vec![format!("return {expr}")]
}

fn pick<'a>(v: usize, phrasings: &[&'a str]) -> &'a str {
    phrasings[v % phrasings.len()]
}

/// (family, template). The docstring fixes every name and number in the code.
const TEMPLATES: &[(Family, Template)] = &[
    (Family::List, |x| {
        let doc = format!("{} {} {}", x.f, pick(x.v, &["returns the largest element of", "finds the maximum of"]), x.l);
        (doc, def(x.f, &[x.l], &ret(format!("max({})", x.l))))
    }),
    (Family::List, |x| {
        let doc =
            format!("{} {} {}", x.f, pick(x.v, &["returns the smallest element of", "finds the minimum of"]), x.l);
        (doc, def(x.f, &[x.l], &ret(format!("min({})", x.l))))
    }),
    (Family::List, |x| {
        let doc = format!("{} {} {}", x.f, pick(x.v, &["returns the sum of", "adds up the elements of"]), x.l);
        (doc, def(x.f, &[x.l], &ret(format!("sum({})", x.l))))
    }),
    (Family::List, |x| {
        (
            format!("{} returns {} sorted in ascending order", x.f, x.l),
            def(x.f, &[x.l], &ret(format!("sorted({})", x.l))),
        )
    }),
    (Family::List, |x| {
        (
            format!("{} returns {} sorted in descending order", x.f, x.l),
            def(x.f, &[x.l], &ret(format!("sorted({}, reverse=True)", x.l))),
        )
    }),
    (Family::List, |x| {
        (format!("{} returns {} in reverse order", x.f, x.l), def(x.f, &[x.l], &ret(format!("{}[::-1]", x.l))))
    }),
    (Family::List, |x| {
        (
            format!("{} returns the first {} elements of {}", x.f, x.k, x.l),
            def(x.f, &[x.l], &ret(format!("{}[:{}]", x.l, x.k))),
        )
    }),
    (Family::List, |x| {
        (
            format!("{} returns the last {} elements of {}", x.f, x.k, x.l),
            def(x.f, &[x.l], &ret(format!("{}[-{}:]", x.l, x.k))),
        )
    }),
    (Family::List, |x| {
        (
            format!("{} returns the elements of {} greater than {}", x.f, x.l, x.k),
            def(x.f, &[x.l], &ret(format!("[x for x in {} if x > {}]", x.l, x.k))),
        )
    }),
    (Family::List, |x| {
        (
            format!("{} returns the elements of {} less than {}", x.f, x.l, x.k),
            def(x.f, &[x.l], &ret(format!("[x for x in {} if x < {}]", x.l, x.k))),
        )
    }),
    (Family::List, |x| {
        (
            format!("{} multiplies every element of {} by {}", x.f, x.l, x.k),
            def(x.f, &[x.l], &ret(format!("[x * {} for x in {}]", x.k, x.l))),
        )
    }),
    (Family::List, |x| {
        (
            format!("{} adds {} to every element of {}", x.f, x.k, x.l),
            def(x.f, &[x.l], &ret(format!("[x + {} for x in {}]", x.k, x.l))),
        )
    }),
    (Family::List, |x| {
        (
            format!("{} counts how many times {} occurs in {}", x.f, x.a, x.l),
            def(x.f, &[x.l, x.a], &ret(format!("{}.count({})", x.l, x.a))),
        )
    }),
    (Family::List, |x| {
        let doc = format!(
            "{} {} {}",
            x.f,
            pick(x.v, &["returns the number of elements in", "returns the length of list"]),
            x.l
        );
        (doc, def(x.f, &[x.l], &ret(format!("len({})", x.l))))
    }),
    (Family::List, |x| {
        (
            format!("{} returns the even elements of {}", x.f, x.l),
            def(x.f, &[x.l], &ret(format!("[x for x in {} if x % 2 == 0]", x.l))),
        )
    }),
    (Family::List, |x| {
        (
            format!("{} appends {} to {} and returns it", x.f, x.a, x.l),
            def(x.f, &[x.l, x.a], &[format!("{}.append({})", x.l, x.a), format!("return {}", x.l)]),
        )
    }),
    (Family::List, |x| {
        (
            format!("{} collects the elements of {} above {} in a loop", x.f, x.l, x.k),
            def(
                x.f,
                &[x.l],
                &[
                    "result = []".into(),
                    format!("for x in {}:", x.l),
                    format!("    if x > {}:", x.k),
                    "        result.append(x)".into(),
                    "return result".into(),
                ],
            ),
        )
    }),
    (Family::List, |x| {
        (
            format!("{} returns true if {} contains {}", x.f, x.l, x.a),
            def(x.f, &[x.l, x.a], &ret(format!("{} in {}", x.a, x.l))),
        )
    }),
    (Family::Str, |x| {
        let doc = format!("{} returns {} in {}", x.f, x.s, pick(x.v, &["upper case", "capital letters"]));
        (doc, def(x.f, &[x.s], &ret(format!("{}.upper()", x.s))))
    }),
    (Family::Str, |x| {
        let doc = format!("{} returns {} in {}", x.f, x.s, pick(x.v, &["lower case", "small letters"]));
        (doc, def(x.f, &[x.s], &ret(format!("{}.lower()", x.s))))
    }),
    (Family::Str, |x| {
        (
            format!("{} removes leading and trailing whitespace from {}", x.f, x.s),
            def(x.f, &[x.s], &ret(format!("{}.strip()", x.s))),
        )
    }),
    (Family::Str, |x| {
        (
            format!("{} replaces every {} in {} with {}", x.f, x.c, x.s, x.d),
            def(x.f, &[x.s], &ret(format!("{}.replace('{}', '{}')", x.s, x.c, x.d))),
        )
    }),
    (Family::Str, |x| {
        (
            format!("{} returns true if {} starts with {}", x.f, x.s, x.w),
            def(x.f, &[x.s], &ret(format!("{}.startswith('{}')", x.s, x.w))),
        )
    }),
    (Family::Str, |x| {
        (
            format!("{} returns true if {} ends with {}", x.f, x.s, x.w),
            def(x.f, &[x.s], &ret(format!("{}.endswith('{}')", x.s, x.w))),
        )
    }),
    (Family::Str, |x| {
        (format!("{} splits {} on commas", x.f, x.s), def(x.f, &[x.s], &ret(format!("{}.split(',')", x.s))))
    }),
    (Family::Str, |x| {
        (format!("{} splits {} into words", x.f, x.s), def(x.f, &[x.s], &ret(format!("{}.split()", x.s))))
    }),
    (Family::Str, |x| {
        (
            format!("{} returns the number of characters in {}", x.f, x.s),
            def(x.f, &[x.s], &ret(format!("len({})", x.s))),
        )
    }),
    (Family::Str, |x| {
        (
            format!("{} returns {} repeated {} times", x.f, x.s, x.k),
            def(x.f, &[x.s], &ret(format!("{} * {}", x.s, x.k))),
        )
    }),
    (Family::Str, |x| {
        (
            format!("{} returns the first {} characters of {}", x.f, x.k, x.s),
            def(x.f, &[x.s], &ret(format!("{}[:{}]", x.s, x.k))),
        )
    }),
    (Family::Str, |x| {
        let (word, sep) = [("commas", ","), ("dashes", "-"), ("colons", ":")][x.v % 3];
        (
            format!("{} joins the strings in {} with {}", x.f, x.l, word),
            def(x.f, &[x.l], &ret(format!("'{sep}'.join({})", x.l))),
        )
    }),
    (Family::Str, |x| {
        (
            format!("{} counts the occurrences of {} in {}", x.f, x.c, x.s),
            def(x.f, &[x.s], &ret(format!("{}.count('{}')", x.s, x.c))),
        )
    }),
    (Family::Str, |x| {
        (
            format!("{} returns true if {} contains {}", x.f, x.s, x.w),
            def(x.f, &[x.s], &ret(format!("'{}' in {}", x.w, x.s))),
        )
    }),
    (Family::Str, |x| {
        (
            format!("{} appends {} to the end of {}", x.f, x.w, x.s),
            def(x.f, &[x.s], &ret(format!("{} + '{}'", x.s, x.w))),
        )
    }),
    (Family::Str, |x| {
        (format!("{} returns the string {} reversed", x.f, x.s), def(x.f, &[x.s], &ret(format!("{}[::-1]", x.s))))
    }),
    (Family::Arith, |x| {
        let doc = format!("{} returns {} {} {}", x.f, x.a, pick(x.v, &["plus", "added to"]), x.b);
        (doc, def(x.f, &[x.a, x.b], &ret(format!("{} + {}", x.a, x.b))))
    }),
    (Family::Arith, |x| {
        (format!("{} returns {} minus {}", x.f, x.a, x.b), def(x.f, &[x.a, x.b], &ret(format!("{} - {}", x.a, x.b))))
    }),
    (Family::Arith, |x| {
        let doc = format!("{} returns {} {} {}", x.f, x.a, pick(x.v, &["times", "multiplied by"]), x.b);
        (doc, def(x.f, &[x.a, x.b], &ret(format!("{} * {}", x.a, x.b))))
    }),
    (Family::Arith, |x| {
        (
            format!("{} returns {} divided by {}", x.f, x.a, x.b),
            def(x.f, &[x.a, x.b], &ret(format!("{} / {}", x.a, x.b))),
        )
    }),
    (Family::Arith, |x| {
        (format!("{} returns {} plus {}", x.f, x.a, x.k), def(x.f, &[x.a], &ret(format!("{} + {}", x.a, x.k))))
    }),
    (Family::Arith, |x| {
        (format!("{} returns {} times {}", x.f, x.a, x.k), def(x.f, &[x.a], &ret(format!("{} * {}", x.a, x.k))))
    }),
    (Family::Arith, |x| {
        (format!("{} returns the square of {}", x.f, x.a), def(x.f, &[x.a], &ret(format!("{} * {}", x.a, x.a))))
    }),
    (Family::Arith, |x| {
        (
            format!("{} returns {} raised to the power {}", x.f, x.a, x.k),
            def(x.f, &[x.a], &ret(format!("{} ** {}", x.a, x.k))),
        )
    }),
    (Family::Arith, |x| {
        (
            format!("{} returns true if {} is divisible by {}", x.f, x.a, x.k),
            def(x.f, &[x.a], &ret(format!("{} % {} == 0", x.a, x.k))),
        )
    }),
    (Family::Arith, |x| {
        (
            format!("{} returns the remainder of {} divided by {}", x.f, x.a, x.b),
            def(x.f, &[x.a, x.b], &ret(format!("{} % {}", x.a, x.b))),
        )
    }),
    (Family::Arith, |x| {
        (
            format!("{} returns the larger of {} and {}", x.f, x.a, x.b),
            def(x.f, &[x.a, x.b], &ret(format!("max({}, {})", x.a, x.b))),
        )
    }),
    (Family::Arith, |x| {
        (
            format!("{} returns the smaller of {} and {}", x.f, x.a, x.b),
            def(x.f, &[x.a, x.b], &ret(format!("min({}, {})", x.a, x.b))),
        )
    }),
    (Family::Arith, |x| {
        (
            format!("{} returns the absolute difference between {} and {}", x.f, x.a, x.b),
            def(x.f, &[x.a, x.b], &ret(format!("abs({} - {})", x.a, x.b))),
        )
    }),
    (Family::Arith, |x| {
        (
            format!("{} returns the average of {} and {}", x.f, x.a, x.b),
            def(x.f, &[x.a, x.b], &ret(format!("({} + {}) / 2", x.a, x.b))),
        )
    }),
    (Family::Arith, |x| {
        (
            format!("{} returns true if {} is greater than {}", x.f, x.a, x.b),
            def(x.f, &[x.a, x.b], &ret(format!("{} > {}", x.a, x.b))),
        )
    }),
    (Family::Arith, |x| {
        (
            format!("{} returns {} if it is positive and zero otherwise", x.f, x.a),
            def(x.f, &[x.a], &[format!("if {} > 0:", x.a), format!("    return {}", x.a), "return 0".into()]),
        )
    }),
    (Family::Arith, |x| {
        (
            format!("{} adds up the numbers from 1 to {}", x.f, x.a),
            def(x.f, &[x.a], &ret(format!("sum(range(1, {} + 1))", x.a))),
        )
    }),
];

fn family_matches(task: SyntheticTask, family: Family) -> bool {
    match task {
        SyntheticTask::Mixed => true,
        SyntheticTask::List => family == Family::List,
        SyntheticTask::String => family == Family::Str,
        SyntheticTask::Arithmetic => family == Family::Arith,
    }
}

fn task_name(task: SyntheticTask) -> &'static str {
    match task {
        SyntheticTask::Mixed => "mixed",
        SyntheticTask::List => "list",
        SyntheticTask::String => "string",
        SyntheticTask::Arithmetic => "arithmetic",
    }
}

/// `size` distinct pairs of the task's families, the same for the same seed.
pub fn generate(task: SyntheticTask, size: u32, seed: u64) -> Result<Vec<Pair>> {
    let templates: Vec<Template> =
        TEMPLATES.iter().filter(|(fam, _)| family_matches(task, *fam)).map(|(_, t)| *t).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut seen = HashSet::with_capacity(size as usize);
    let mut pairs = Vec::with_capacity(size as usize);
    // Far more combinations exist than any sensible size; giving up after
    // a long run of repeats turns an absurd size into an error instead of an
    // endless loop.
    const MAX_MISSES: u32 = 100_000;
    let mut misses = 0u32;
    while pairs.len() < size as usize {
        if misses > MAX_MISSES {
            return Err(Error::spec(
                "data.source.size",
                format!(
                    "the {} synthetic task ran out of distinct pairs at {} ({MAX_MISSES} draws in a row were repeats); ask for fewer than {size}",
                    task_name(task),
                    pairs.len()
                ),
            ));
        }
        let template = templates[rng.gen_range(0..templates.len())];
        let (a, b) = two_distinct(&mut rng, &INTS);
        let (c, d) = two_distinct(&mut rng, &CHARS);
        let slots = Slots {
            f: pick_one(&mut rng, &FUNCTIONS),
            l: pick_one(&mut rng, &LISTS),
            s: pick_one(&mut rng, &STRINGS),
            a,
            b,
            k: rng.gen_range(2..=9),
            c,
            d,
            w: pick_one(&mut rng, &WORDS),
            v: rng.gen_range(0..6),
        };
        let (docstring, code) = template(&slots);
        if seen.insert(docstring.clone()) {
            let id = format!("syn-{}-{}", task_name(task), pairs.len());
            let mut pair = Pair::new(id, docstring, code);
            pair.func_name = Some(slots.f.to_string());
            pairs.push(pair);
            misses = 0;
        } else {
            misses += 1;
        }
    }
    Ok(pairs)
}

fn pick_one<T: Copy>(rng: &mut ChaCha8Rng, pool: &[T]) -> T {
    // Pools are non-empty constants.
    *pool.choose(rng).unwrap_or(&pool[0])
}

fn two_distinct<T: Copy>(rng: &mut ChaCha8Rng, pool: &[T]) -> (T, T) {
    let i = rng.gen_range(0..pool.len());
    let j = (i + rng.gen_range(1..pool.len())) % pool.len();
    (pool[i], pool[j])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::python::python_parses;
    use crate::tokenize::whitespace::tokenize as ws;
    use std::collections::HashMap;

    #[test]
    fn same_seed_same_pairs_other_seed_other_pairs() {
        let a = generate(SyntheticTask::Mixed, 300, 1).unwrap();
        assert_eq!(a, generate(SyntheticTask::Mixed, 300, 1).unwrap());
        assert_ne!(a, generate(SyntheticTask::Mixed, 300, 2).unwrap());
        assert_eq!(a.len(), 300);
    }

    #[test]
    fn every_template_parses_and_is_short() {
        for task in [SyntheticTask::List, SyntheticTask::String, SyntheticTask::Arithmetic, SyntheticTask::Mixed] {
            for p in generate(task, 500, 7).unwrap() {
                assert!(python_parses(&p.code), "does not parse: {}", p.code);
                let (s, t) = (ws(&p.docstring).len(), ws(&p.code).len());
                assert!((5..=20).contains(&s), "{s} source tokens: {}", p.docstring);
                assert!((8..=40).contains(&t), "{t} target tokens: {}", p.code);
            }
        }
    }

    #[test]
    fn the_docstring_determines_the_code() {
        let pairs = generate(SyntheticTask::Mixed, 5000, 3).unwrap();
        let mut by_doc: HashMap<&str, &str> = HashMap::new();
        for p in &pairs {
            assert_eq!(*by_doc.entry(&p.docstring).or_insert(&p.code), p.code.as_str());
            // The function name is copied from the docstring.
            let f = p.func_name.as_deref().unwrap();
            assert!(p.docstring.starts_with(f) && p.code.starts_with(&format!("def {f}(")));
        }
        let mut vocab: HashSet<String> = HashSet::new();
        for p in &pairs {
            vocab.extend(ws(&p.docstring));
            vocab.extend(ws(&p.code));
        }
        assert!(vocab.len() < 400, "{} distinct tokens", vocab.len());
    }

    #[test]
    fn families_are_separate() {
        for p in generate(SyntheticTask::Arithmetic, 200, 5).unwrap() {
            assert!(!p.code.contains('[') && !p.code.contains('\''), "{}", p.code);
        }
        let e = generate(SyntheticTask::Arithmetic, 2_000_000, 5);
        assert!(e.is_err());
    }
}
