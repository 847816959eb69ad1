//! Data mutations (interventions on the data). Every random choice is drawn
//! from a stream keyed by (seed, op, example id, side), so an example's
//! mutation does not depend on which other examples exist or their order:
//! the same seed gives byte-identical data, another seed different data.
//!
//! Stages, in the order [`crate::prepare`] applies them:
//! - pairs: label-noise, subsample (which pairs, which docstrings);
//! - code text: strip-comments, rename-identifiers (before tokenizing);
//! - tokens: token-dropout, local-shuffle, truncate (after tokenizing, on
//!   the chosen side).
//!
//! Each op adds counters to a `BTreeMap` that ends up in the result tables.

pub mod code;
pub mod pairs;
pub mod tokens;

use std::collections::BTreeMap;

use intervene_proto::job::{MutationOp, MutationSpec, Side, Split};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

pub type Counts = BTreeMap<String, u64>;

/// An example before tokenizing: what the pair and text mutations act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    pub id: String,
    pub docstring: String,
    pub code: String,
}

pub(crate) fn bump(counts: &mut Counts, key: &str, by: u64) {
    *counts.entry(key.to_string()).or_insert(0) += by;
}

fn key(seed: u64, op: &str, id: &str, extra: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"intervene-mutation-v1\0");
    h.update(seed.to_le_bytes());
    for part in [op, id, extra] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    h.finalize().into()
}

/// A uniform number in [0, 1) fixed by (seed, op, id, extra).
pub(crate) fn uniform(seed: u64, op: &str, id: &str, extra: &str) -> f64 {
    let k = key(seed, op, id, extra);
    let mut b = [0u8; 8];
    b.copy_from_slice(&k[..8]);
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

/// A random stream fixed by (seed, op, id, extra).
pub(crate) fn stream(seed: u64, op: &str, id: &str, extra: &str) -> ChaCha8Rng {
    ChaCha8Rng::from_seed(key(seed, op, id, extra))
}

/// Checks the op's level and its side before any data is touched.
pub fn validate(m: &MutationSpec) -> Result<()> {
    let unit = |name: &str, v: f64| {
        if (0.0..=1.0).contains(&v) {
            Ok(())
        } else {
            Err(Error::spec(format!("mutation.{name}"), format!("{v} is outside [0, 1]")))
        }
    };
    match m.op {
        MutationOp::TokenDropout { p } | MutationOp::RenameIdentifiers { p } => unit("p", p)?,
        MutationOp::LabelNoise { fraction } | MutationOp::Subsample { fraction } => unit("fraction", fraction)?,
        MutationOp::LocalShuffle { window } if window < 2 => {
            return Err(Error::spec("mutation.window", format!("{window}: a shuffle window needs at least 2 tokens")));
        }
        MutationOp::Truncate { max_tokens: 0 } => {
            return Err(Error::spec("mutation.max_tokens", "0: keep at least 1 token"));
        }
        _ => {}
    }
    if matches!(m.op, MutationOp::RenameIdentifiers { .. } | MutationOp::StripComments) && m.side == Side::Source {
        return Err(Error::spec(
            "mutation.side",
            format!(
                "{} changes code, the target side: side must be \"target\" or \"both\", not \"source\"",
                m.op.name()
            ),
        ));
    }
    if m.splits.is_empty() {
        return Err(Error::spec("mutation.splits", "empty: list at least one of train, valid, test"));
    }
    Ok(())
}

/// Whether the mutation applies to this split.
pub(crate) fn applies(m: &MutationSpec, split: Split) -> bool {
    m.splits.contains(&split)
}

pub(crate) fn side_name(side: Side) -> &'static str {
    match side {
        Side::Source => "source",
        Side::Target => "target",
        Side::Both => "both",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_is_fixed_by_its_key_and_spread() {
        assert_eq!(uniform(1, "op", "a", ""), uniform(1, "op", "a", ""));
        assert_ne!(uniform(1, "op", "a", ""), uniform(2, "op", "a", ""));
        assert_ne!(uniform(1, "op", "a", ""), uniform(1, "op", "b", ""));
        let mean: f64 = (0..2000).map(|i| uniform(7, "x", &i.to_string(), "")).sum::<f64>() / 2000.0;
        assert!((mean - 0.5).abs() < 0.03, "{mean}");
    }

    #[test]
    fn validation_names_the_field() {
        let spec = |op| MutationSpec { op, side: Side::Source, splits: vec![Split::Train] };
        let e = validate(&spec(MutationOp::TokenDropout { p: 1.5 })).unwrap_err().to_string();
        assert_eq!(e, "mutation.p: 1.5 is outside [0, 1]");
        let e = validate(&spec(MutationOp::StripComments)).unwrap_err().to_string();
        assert!(e.starts_with("mutation.side: strip-comments changes code"), "{e}");
        assert!(validate(&spec(MutationOp::LocalShuffle { window: 1 })).is_err());
        assert!(validate(&spec(MutationOp::Truncate { max_tokens: 0 })).is_err());
        let mut s = spec(MutationOp::Subsample { fraction: 0.5 });
        assert!(validate(&s).is_ok());
        s.splits.clear();
        assert!(validate(&s).unwrap_err().to_string().contains("mutation.splits"));
    }
}
