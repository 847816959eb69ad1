//! Id sequences to padded batch tensors, and which examples go into each
//! batch.
//!
//! A source row is the source ids plus EOS (so no row is empty), a decoder
//! input row is SOS plus the target ids, a target row the target ids plus
//! EOS; all padded with PAD. Rows inside a batch are sorted by decreasing
//! source length, which the packed recurrent encoders need; `order` maps
//! rows back to examples.
//!
//! A training epoch's batches come from [`shuffled_batches`] (random, as
//! the reference trains) or [`bucketed_batches`] (`[train] batching =
//! "bucketed"`). Both give every example exactly once per epoch and the same
//! number of batches, `ceil(n / batch_size)`, so the steps of a run do not
//! depend on the batching.

use intervene_proto::job::Batching;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use tch::{Device, Tensor};

/// Source and target id sequences of a split, without SOS/EOS.
#[derive(Debug, Clone, Default)]
pub struct Corpus {
    pub sources: Vec<Vec<i64>>,
    pub targets: Vec<Vec<i64>>,
}

impl Corpus {
    pub fn len(&self) -> usize {
        self.sources.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// Target tokens the loss is computed on (ids plus EOS).
    pub fn target_tokens(&self) -> u64 {
        self.targets.iter().map(|t| t.len() as u64 + 1).sum()
    }
}

#[derive(Debug)]
pub struct Batch {
    /// `[B, S]`.
    pub src: Tensor,
    /// `[B]`, CPU, decreasing.
    pub lengths: Tensor,
    /// `[B, T]`: SOS, target.
    pub inputs: Tensor,
    /// `[B, T]`: target, EOS.
    pub targets: Tensor,
    /// Example index of each row.
    pub order: Vec<usize>,
    /// Non-PAD entries of `targets`.
    pub target_tokens: u64,
    /// Every entry of `targets`, PAD included: rows x longest row.
    pub padded_target_tokens: u64,
    /// Non-PAD entries of `src` (ids plus EOS), and all of them.
    pub source_tokens: u64,
    pub padded_source_tokens: u64,
}

pub fn make_batch(corpus: &Corpus, indices: &[usize], device: Device) -> Batch {
    let mut order = indices.to_vec();
    // Stable: equal lengths keep their shuffled order.
    order.sort_by_key(|&i| std::cmp::Reverse(corpus.sources[i].len()));
    let b = order.len();
    let s = order.iter().map(|&i| corpus.sources[i].len() + 1).max().unwrap_or(1);
    let t = order.iter().map(|&i| corpus.targets[i].len() + 1).max().unwrap_or(1);
    let mut src = vec![crate::PAD; b * s];
    let mut lengths = Vec::with_capacity(b);
    let mut inputs = vec![crate::PAD; b * t];
    let mut targets = vec![crate::PAD; b * t];
    let (mut target_tokens, mut source_tokens) = (0, 0);
    for (row, &i) in order.iter().enumerate() {
        let (x, y) = (&corpus.sources[i], &corpus.targets[i]);
        src[row * s..row * s + x.len()].copy_from_slice(x);
        src[row * s + x.len()] = crate::EOS;
        lengths.push(x.len() as i64 + 1);
        inputs[row * t] = crate::SOS;
        inputs[row * t + 1..row * t + 1 + y.len()].copy_from_slice(y);
        targets[row * t..row * t + y.len()].copy_from_slice(y);
        targets[row * t + y.len()] = crate::EOS;
        target_tokens += y.len() as u64 + 1;
        source_tokens += x.len() as u64 + 1;
    }
    let to = |v: &[i64], cols: usize| Tensor::from_slice(v).view([b as i64, cols as i64]).to_device(device);
    Batch {
        src: to(&src, s),
        lengths: Tensor::from_slice(&lengths),
        inputs: to(&inputs, t),
        targets: to(&targets, t),
        order,
        target_tokens,
        padded_target_tokens: (b * t) as u64,
        source_tokens,
        padded_source_tokens: (b * s) as u64,
    }
}

/// A training epoch's batches: all examples shuffled by `rng`, then cut
/// into batches of `batch_size` (the last one may be smaller).
pub fn shuffled_batches(n: usize, batch_size: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<usize>> {
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(rng);
    idx.chunks(batch_size.max(1)).map(<[usize]>::to_vec).collect()
}

/// Batches of the bucketed pool: this many batches' worth of examples are
/// sorted by length together. A larger pool pads less but makes a batch's
/// company more a matter of length than of chance (torchtext's
/// `BucketIterator` pooled 100 batches). With 50, a pool at batch 64 holds
/// 3,200 pairs, about 50 per target length when targets run from 1 to 64
/// tokens, so a batch spans a length or two; a train split of 10,000 pairs
/// still has four pools whose batches interleave.
pub const BUCKET_POOL_BATCHES: usize = 50;

/// A training epoch's batches of similar lengths: all examples shuffled by
/// `rng`, the shuffled order cut into pools of [`BUCKET_POOL_BATCHES`]
/// batches, each pool sorted by target length, then source length (stable,
/// so ties keep their shuffled order), cut into batches of `batch_size`, and
/// the batches of all pools shuffled by `rng`. Only the last pool has a
/// batch smaller than `batch_size`.
pub fn bucketed_batches(corpus: &Corpus, batch_size: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<usize>> {
    let batch_size = batch_size.max(1);
    let mut idx: Vec<usize> = (0..corpus.len()).collect();
    idx.shuffle(rng);
    let mut batches = Vec::with_capacity(corpus.len().div_ceil(batch_size));
    for pool in idx.chunks_mut(batch_size * BUCKET_POOL_BATCHES) {
        pool.sort_by_key(|&i| (corpus.targets[i].len(), corpus.sources[i].len()));
        batches.extend(pool.chunks(batch_size).map(<[usize]>::to_vec));
    }
    batches.shuffle(rng);
    batches
}

/// A training epoch's batches as `batching` asks.
pub fn epoch_batches(batching: Batching, corpus: &Corpus, batch_size: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<usize>> {
    match batching {
        Batching::Random => shuffled_batches(corpus.len(), batch_size, rng),
        Batching::Bucketed => bucketed_batches(corpus, batch_size, rng),
    }
}

/// Target slots of `batches` once padded: rows x (longest target + EOS).
pub fn padded_target_tokens(corpus: &Corpus, batches: &[Vec<usize>]) -> u64 {
    batches
        .iter()
        .map(|b| b.len() as u64 * b.iter().map(|&i| corpus.targets[i].len() as u64 + 1).max().unwrap_or(0))
        .sum()
}

/// Evaluation batches: examples sorted by source length so a batch pads
/// little.
pub fn length_sorted_batches(corpus: &Corpus, batch_size: usize) -> Vec<Vec<usize>> {
    let mut idx: Vec<usize> = (0..corpus.len()).collect();
    idx.sort_by_key(|&i| std::cmp::Reverse(corpus.sources[i].len()));
    idx.chunks(batch_size.max(1)).map(<[usize]>::to_vec).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn rows(t: &Tensor) -> Vec<Vec<i64>> {
        let (b, _) = t.size2().unwrap();
        (0..b).map(|i| Vec::<i64>::try_from(t.get(i)).unwrap()).collect()
    }

    #[test]
    fn rows_are_sorted_padded_and_framed() {
        let c = Corpus { sources: vec![vec![7], vec![5, 6, 7], vec![]], targets: vec![vec![9, 9], vec![8], vec![4]] };
        let b = make_batch(&c, &[0, 1, 2], Device::Cpu);
        assert_eq!(b.order, [1, 0, 2]);
        assert_eq!(rows(&b.src), [vec![5, 6, 7, 2], vec![7, 2, 0, 0], vec![2, 0, 0, 0]]);
        assert_eq!(Vec::<i64>::try_from(&b.lengths).unwrap(), [4, 2, 1]);
        assert_eq!(rows(&b.inputs), [vec![1, 8, 0], vec![1, 9, 9], vec![1, 4, 0]]);
        assert_eq!(rows(&b.targets), [vec![8, 2, 0], vec![9, 9, 2], vec![4, 2, 0]]);
        assert_eq!(b.target_tokens, 7);
        assert_eq!(b.padded_target_tokens, 9);
        assert_eq!((b.source_tokens, b.padded_source_tokens), (7, 12));
        assert_eq!(c.target_tokens(), 7);
    }

    #[test]
    fn shuffling_is_seeded_and_covers_everything() {
        let a = shuffled_batches(10, 4, &mut ChaCha8Rng::seed_from_u64(1));
        let b = shuffled_batches(10, 4, &mut ChaCha8Rng::seed_from_u64(1));
        assert_eq!(a, b);
        assert_eq!(a.iter().map(Vec::len).collect::<Vec<_>>(), [4, 4, 2]);
        let mut all: Vec<usize> = a.concat();
        all.sort();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
    }

    /// Lengths from 1 to 60 in no order, as mined docstrings and code have.
    fn varied(n: usize) -> Corpus {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let len = |rng: &mut ChaCha8Rng| rand::Rng::gen_range(rng, 1..=60);
        let sources = (0..n).map(|_| vec![5; len(&mut rng)]).collect();
        let targets = (0..n).map(|_| vec![6; len(&mut rng)]).collect();
        Corpus { sources, targets }
    }

    fn sorted(batches: &[Vec<usize>]) -> Vec<usize> {
        let mut all = batches.concat();
        all.sort();
        all
    }

    #[test]
    fn bucketing_covers_every_example_once_in_as_many_batches() {
        let c = varied(1000);
        for bs in [1, 7, 32] {
            let mut rng = ChaCha8Rng::seed_from_u64(3);
            for _epoch in 0..3 {
                let b = bucketed_batches(&c, bs, &mut rng);
                assert_eq!(sorted(&b), (0..1000).collect::<Vec<_>>(), "batch_size {bs}");
                assert_eq!(b.len(), 1000usize.div_ceil(bs), "batch_size {bs}");
                assert!(b.iter().all(|x| !x.is_empty() && x.len() <= bs));
                // Only the last pool's last batch is short.
                assert!(b.iter().filter(|x| x.len() < bs).count() <= 1);
            }
        }
    }

    #[test]
    fn bucketing_is_seeded_and_epochs_differ() {
        let c = varied(500);
        let mut r1 = ChaCha8Rng::seed_from_u64(4);
        let mut r2 = ChaCha8Rng::seed_from_u64(4);
        let a = [bucketed_batches(&c, 16, &mut r1), bucketed_batches(&c, 16, &mut r1)];
        let b = [bucketed_batches(&c, 16, &mut r2), bucketed_batches(&c, 16, &mut r2)];
        assert_eq!(a, b);
        assert_ne!(a[0], a[1], "each epoch draws a new order");
        assert_ne!(a[0], bucketed_batches(&c, 16, &mut ChaCha8Rng::seed_from_u64(5)));
    }

    #[test]
    fn bucketing_pads_less_than_random_batching() {
        let c = varied(2000);
        let (mut random, mut bucketed) = (0, 0);
        for seed in 0..5 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            random += padded_target_tokens(&c, &shuffled_batches(c.len(), 32, &mut rng));
            bucketed += padded_target_tokens(&c, &bucketed_batches(&c, 32, &mut rng));
        }
        let real = 5 * c.target_tokens();
        assert!(real < bucketed && bucketed < random, "real {real}, bucketed {bucketed}, random {random}");
        // Pools of 1,600 examples over 60 target lengths: a batch spans a
        // length or two, where a random one reaches the longest of 32 draws.
        assert!((bucketed - real) * 10 < random - real, "real {real}, bucketed {bucketed}, random {random}");
    }

    #[test]
    fn a_corpus_smaller_than_a_batch_is_one_batch() {
        let c = varied(5);
        let b = bucketed_batches(&c, 64, &mut ChaCha8Rng::seed_from_u64(1));
        assert_eq!(b.len(), 1);
        assert_eq!(sorted(&b), [0, 1, 2, 3, 4]);
        let lens: Vec<usize> = b[0].iter().map(|&i| c.targets[i].len()).collect();
        assert!(lens.is_sorted(), "one pool, sorted by target length: {lens:?}");
        assert!(bucketed_batches(&Corpus::default(), 64, &mut ChaCha8Rng::seed_from_u64(1)).is_empty());
    }

    #[test]
    fn batch_size_one_gives_every_example_its_own_batch() {
        let c = varied(40);
        let b = bucketed_batches(&c, 1, &mut ChaCha8Rng::seed_from_u64(2));
        assert_eq!(b.len(), 40);
        assert_eq!(sorted(&b), (0..40).collect::<Vec<_>>());
        // Nothing to pad: each batch is one example.
        assert_eq!(padded_target_tokens(&c, &b), c.target_tokens());
    }

    #[test]
    fn padded_tokens_count_what_make_batch_builds() {
        let c = varied(50);
        for idx in bucketed_batches(&c, 8, &mut ChaCha8Rng::seed_from_u64(6)) {
            let b = make_batch(&c, &idx, Device::Cpu);
            assert_eq!(b.padded_target_tokens, padded_target_tokens(&c, std::slice::from_ref(&idx)));
            assert_eq!(b.padded_target_tokens, b.targets.numel() as u64);
            assert_eq!(b.padded_source_tokens, b.src.numel() as u64);
            assert_eq!(b.source_tokens, idx.iter().map(|&i| c.sources[i].len() as u64 + 1).sum::<u64>());
        }
    }
}
