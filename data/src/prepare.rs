//! From pairs to model-ready examples: split, mutate, tokenize, build the
//! vocabularies, truncate, encode.
//!
//! Order, and why:
//! 1. Overlong pairs are dropped (`overlong = "drop"`), measured on the
//!    unmutated text, then the split is taken. Membership never depends on
//!    the mutation, so a control arm and its mutated arms are evaluated on
//!    the same test examples.
//! 2. Pair mutations (label-noise, subsample), then code-text mutations
//!    (strip-comments, rename-identifiers), on the listed splits only.
//! 3. The tokenizer is built (BPE trained on the mutated train split), every
//!    text is tokenized, token mutations act on the listed splits and sides.
//! 4. Vocabularies come from the mutated train split; tokens are truncated
//!    to the maximum lengths (pairs that grew past them under a mutation are
//!    truncated even under "drop") and encoded.

use std::collections::BTreeMap;

use intervene_proto::job::{DataSpec, MutationOp, MutationSpec, Overlong, Side, Split, TokenizerKind};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};
use crate::mutate::{self, Counts, Draft, applies, bump, side_name, uniform};
use crate::pair::Pair;
use crate::split::split;
use crate::tokenize::Tokenizer;
use crate::vocab::Vocab;

/// One model-ready example. Tokens and ids are after mutation and
/// truncation and have the same length; ids carry no SOS/EOS. The texts
/// are the (mutated) texts before tokenizing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    pub id: String,
    pub source_text: String,
    pub target_text: String,
    pub source_tokens: Vec<String>,
    pub target_tokens: Vec<String>,
    pub source_ids: Vec<i64>,
    pub target_ids: Vec<i64>,
}

#[derive(Debug, Clone)]
pub struct Prepared {
    pub train: Vec<Example>,
    pub valid: Vec<Example>,
    pub test: Vec<Example>,
    pub tokenizer: Tokenizer,
    pub source_vocab: Vocab,
    pub target_vocab: Vocab,
    /// What the mutation changed, for the result tables; empty without one.
    pub mutation_counts: BTreeMap<String, u64>,
    /// Pairs left out before splitting because they were too long
    /// (`overlong = "drop"`).
    pub overlong_dropped: usize,
}

fn validate(data: &DataSpec) -> Result<()> {
    for (field, v) in
        [("data.source_vocab_size", data.source_vocab_size), ("data.target_vocab_size", data.target_vocab_size)]
    {
        if v < 5 {
            return Err(Error::spec(field, format!("{v} is too small: at least 5 (4 specials + 1 token)")));
        }
    }
    for (field, v) in [("data.max_source_len", data.max_source_len), ("data.max_target_len", data.max_target_len)] {
        if v == 0 {
            return Err(Error::spec(field, "0: at least 1 token"));
        }
    }
    if data.train == 0 {
        return Err(Error::spec("data.train", "0: the vocabularies are built on the train split, which needs pairs"));
    }
    Ok(())
}

/// Which pairs may enter a split, and how many were dropped as overlong
/// (none when overlong pairs are truncated instead).
fn eligible(pairs: &[Pair], data: &DataSpec) -> Result<(Vec<bool>, usize)> {
    let (max_src, max_tgt) = (data.max_source_len as usize, data.max_target_len as usize);
    Ok(match data.overlong {
        Overlong::Truncate => (vec![true; pairs.len()], 0),
        Overlong::Drop => {
            let measure = measuring_tokenizer(pairs, data)?;
            let keep: Vec<bool> = pairs
                .iter()
                .map(|p| measure.source_fits(&p.docstring, max_src) && measure.target_fits(&p.code, max_tgt))
                .collect();
            let dropped = keep.iter().filter(|k| !**k).count();
            (keep, dropped)
        }
    })
}

/// Split, mutate, tokenize, build vocabularies, truncate and encode.
/// `seed` keys the mutation's randomness; `data.split_seed` the split's.
pub fn prepare(pairs: &[Pair], data: &DataSpec, mutation: Option<&MutationSpec>, seed: u64) -> Result<Prepared> {
    validate(data)?;
    if let Some(m) = mutation {
        mutate::validate(m)?;
    }
    let (max_src, max_tgt) = (data.max_source_len as usize, data.max_target_len as usize);

    // 1. Membership.
    let (eligible, overlong_dropped) = eligible(pairs, data)?;
    let indices = split(pairs, &eligible, overlong_dropped, data)?;
    let draft = |i: &usize| Draft {
        id: pairs[*i].id.clone(),
        docstring: pairs[*i].docstring.clone(),
        code: pairs[*i].code.clone(),
    };
    let mut drafts: [Vec<Draft>; 3] = [
        indices.train.iter().map(draft).collect(),
        indices.valid.iter().map(draft).collect(),
        indices.test.iter().map(draft).collect(),
    ];
    const SPLITS: [Split; 3] = [Split::Train, Split::Valid, Split::Test];

    // 2. Pair and code-text mutations.
    let mut counts = Counts::new();
    if let Some(m) = mutation {
        for (k, split) in SPLITS.iter().enumerate() {
            if applies(m, *split) {
                mutate_drafts(&mut drafts[k], m, seed, &mut counts);
            }
        }
        if drafts[0].is_empty() {
            return Err(Error::spec(
                "mutation.fraction",
                "the mutation left the train split empty; raise the fraction",
            ));
        }
    }

    // 3. Tokenize (BPE learns from the mutated train split).
    let tokenizer = {
        let sources: Vec<&str> = drafts[0].iter().map(|d| d.docstring.as_str()).collect();
        let targets: Vec<&str> = drafts[0].iter().map(|d| d.code.as_str()).collect();
        Tokenizer::train(
            data.tokenizer,
            &sources,
            &targets,
            data.source_vocab_size as usize,
            data.target_vocab_size as usize,
        )?
    };
    // (draft, source tokens, target tokens) per split.
    type Tokenized = (Draft, Vec<String>, Vec<String>);
    let mut tokenized: [Vec<Tokenized>; 3] = Default::default();
    for k in 0..3 {
        for d in std::mem::take(&mut drafts[k]) {
            let mut src = tokenizer.source_tokens(&d.docstring);
            let mut tgt = tokenizer.target_tokens(&d.code);
            if let Some(m) = mutation
                && applies(m, SPLITS[k])
            {
                mutate_tokens(&mut src, &mut tgt, &d.id, m, seed, &mut counts);
            }
            tokenized[k].push((d, src, tgt));
        }
    }

    // 4. Vocabularies from the train split, then truncate and encode.
    let source_vocab =
        Vocab::build(tokenized[0].iter().map(|(_, s, _)| s.as_slice()), data.source_vocab_size as usize)?;
    let target_vocab =
        Vocab::build(tokenized[0].iter().map(|(_, _, t)| t.as_slice()), data.target_vocab_size as usize)?;
    let [train, valid, test] = tokenized.map(|split| {
        split
            .into_iter()
            .map(|(d, mut src, mut tgt)| {
                src.truncate(max_src);
                tgt.truncate(max_tgt);
                Example {
                    source_ids: source_vocab.encode(&src),
                    target_ids: target_vocab.encode(&tgt),
                    id: d.id,
                    source_text: d.docstring,
                    target_text: d.code,
                    source_tokens: src,
                    target_tokens: tgt,
                }
            })
            .collect::<Vec<_>>()
    });
    Ok(Prepared {
        train,
        valid,
        test,
        tokenizer,
        source_vocab,
        target_vocab,
        mutation_counts: counts,
        overlong_dropped,
    })
}

/// The tokenizer that decides which pairs are overlong: the configured one,
/// with BPE trained on an unmutated sample of the train-split size, so the
/// decision is the same for every arm.
fn measuring_tokenizer(pairs: &[Pair], data: &DataSpec) -> Result<Tokenizer> {
    if data.tokenizer != TokenizerKind::Bpe {
        return Tokenizer::new(data.tokenizer);
    }
    let mut order: Vec<usize> = (0..pairs.len()).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(data.split_seed));
    order.truncate(data.train as usize);
    let sources: Vec<&str> = order.iter().map(|&i| pairs[i].docstring.as_str()).collect();
    let targets: Vec<&str> = order.iter().map(|&i| pairs[i].code.as_str()).collect();
    Tokenizer::train(
        TokenizerKind::Bpe,
        &sources,
        &targets,
        data.source_vocab_size as usize,
        data.target_vocab_size as usize,
    )
}

fn mutate_drafts(drafts: &mut Vec<Draft>, m: &MutationSpec, seed: u64, counts: &mut Counts) {
    match m.op {
        MutationOp::LabelNoise { fraction } => mutate::pairs::label_noise(drafts, fraction, m.side, seed, counts),
        MutationOp::Subsample { fraction } => mutate::pairs::subsample(drafts, fraction, seed, counts),
        MutationOp::StripComments => {
            for d in drafts.iter_mut() {
                match mutate::code::strip_comments(&d.code) {
                    Some((code, n)) => {
                        bump(counts, "comments_removed", n);
                        bump(counts, "pairs_mutated", u64::from(n > 0));
                        d.code = code;
                    }
                    None => bump(counts, "pairs_unlexable", 1),
                }
            }
        }
        MutationOp::RenameIdentifiers { p } => {
            for d in drafts.iter_mut() {
                let id = d.id.clone();
                let chosen = |name: &str| uniform(seed, "rename-identifiers", &id, name) < p;
                match mutate::code::rename_identifiers(&d.code, chosen) {
                    Some((code, names, occurrences)) => {
                        bump(counts, "identifiers_renamed", names);
                        bump(counts, "occurrences_renamed", occurrences);
                        bump(counts, "pairs_mutated", u64::from(names > 0));
                        d.code = code;
                    }
                    None => bump(counts, "pairs_unlexable", 1),
                }
            }
        }
        MutationOp::TokenDropout { .. } | MutationOp::LocalShuffle { .. } | MutationOp::Truncate { .. } => {}
    }
}

fn mutate_tokens(
    src: &mut Vec<String>,
    tgt: &mut Vec<String>,
    id: &str,
    m: &MutationSpec,
    seed: u64,
    counts: &mut Counts,
) {
    let mut apply = |tokens: &mut Vec<String>, side: Side| match m.op {
        MutationOp::TokenDropout { p } => mutate::tokens::token_dropout(tokens, p, seed, id, side_name(side), counts),
        MutationOp::LocalShuffle { window } => {
            mutate::tokens::local_shuffle(tokens, window as usize, seed, id, side_name(side), counts)
        }
        MutationOp::Truncate { max_tokens } => mutate::tokens::truncate(tokens, max_tokens as usize, counts),
        _ => {}
    };
    if matches!(m.side, Side::Source | Side::Both) {
        apply(src, Side::Source);
    }
    if matches!(m.side, Side::Target | Side::Both) {
        apply(tgt, Side::Target);
    }
}

#[cfg(test)]
mod tests;
