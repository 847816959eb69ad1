//! Id sequences to padded batch tensors.
//!
//! A source row is the source ids plus EOS (so no row is empty), a decoder
//! input row is SOS plus the target ids, a target row the target ids plus
//! EOS; all padded with PAD. Rows inside a batch are sorted by decreasing
//! source length, which the packed recurrent encoders need; `order` maps
//! rows back to examples.

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
    let mut target_tokens = 0;
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
    }
    let to = |v: &[i64], cols: usize| Tensor::from_slice(v).view([b as i64, cols as i64]).to_device(device);
    Batch {
        src: to(&src, s),
        lengths: Tensor::from_slice(&lengths),
        inputs: to(&inputs, t),
        targets: to(&targets, t),
        order,
        target_tokens,
    }
}

/// A training epoch's batches: all examples shuffled by `rng`, then cut
/// into batches of `batch_size` (the last one may be smaller).
pub fn shuffled_batches(n: usize, batch_size: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<usize>> {
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(rng);
    idx.chunks(batch_size.max(1)).map(<[usize]>::to_vec).collect()
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
}
