//! One docstring -> code pair, the unit every source yields.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    /// Unique within a data set; the key of per-example result rows and of
    /// per-example mutation randomness.
    pub id: String,
    pub docstring: String,
    pub code: String,
    pub repo: Option<String>,
    pub path: Option<String>,
    pub func_name: Option<String>,
    /// The published split ("train", "valid", "test") where the source has one.
    pub partition: Option<String>,
}

impl Pair {
    pub fn new(id: impl Into<String>, docstring: impl Into<String>, code: impl Into<String>) -> Self {
        Pair {
            id: id.into(),
            docstring: docstring.into(),
            code: code.into(),
            repo: None,
            path: None,
            func_name: None,
            partition: None,
        }
    }
}

/// Content-derived id for sources without one: the first 16 hex digits of
/// the SHA-256 of the fields, so the same function gets the same id whatever
/// file layout it arrived in.
pub(crate) fn content_id(prefix: &str, pair: &Pair) -> String {
    let mut h = Sha256::new();
    for field in [
        pair.repo.as_deref().unwrap_or(""),
        pair.path.as_deref().unwrap_or(""),
        pair.func_name.as_deref().unwrap_or(""),
        &pair.docstring,
        &pair.code,
    ] {
        h.update(field.as_bytes());
        h.update([0u8]);
    }
    format!("{prefix}-{}", &hex::encode(h.finalize())[..16])
}

/// Makes ids unique by suffixing repeats with `~2`, `~3`... in order of
/// appearance (exact duplicate pairs get the same content id).
pub(crate) fn dedupe_ids(pairs: &mut [Pair]) {
    let mut seen: HashMap<String, usize> = HashMap::with_capacity(pairs.len());
    for pair in pairs.iter_mut() {
        let n = seen.entry(pair.id.clone()).or_insert(0);
        *n += 1;
        if *n > 1 {
            pair.id = format!("{}~{}", pair.id, n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ids_are_stable_and_deduplicated() {
        let a = Pair::new("", "Add two numbers.", "def add(a, b):\n    return a + b\n");
        let id = content_id("csn", &a);
        assert_eq!(id, content_id("csn", &a.clone()));
        assert!(id.starts_with("csn-") && id.len() == 20);
        let mut b = a.clone();
        b.code.push('\n');
        assert_ne!(id, content_id("csn", &b));

        let mut pairs = vec![a.clone(), a.clone(), a];
        for p in &mut pairs {
            p.id = id.clone();
        }
        dedupe_ids(&mut pairs);
        assert_eq!(pairs[0].id, id);
        assert_eq!(pairs[1].id, format!("{id}~2"));
        assert_eq!(pairs[2].id, format!("{id}~3"));
    }
}
