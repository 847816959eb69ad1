//! Token-level mutations: they keep the sequence nature of the data (seed
//! 000) and act on the tokens of one side of one example.

use rand::Rng;
use rand::seq::SliceRandom;

use super::{Counts, bump, stream};

/// Drops each token with probability `p`.
pub fn token_dropout(tokens: &mut Vec<String>, p: f64, seed: u64, id: &str, side: &str, counts: &mut Counts) {
    let mut rng = stream(seed, "token-dropout", id, side);
    let before = tokens.len();
    tokens.retain(|_| rng.r#gen::<f64>() >= p);
    let dropped = (before - tokens.len()) as u64;
    bump(counts, "tokens_seen", before as u64);
    bump(counts, "tokens_dropped", dropped);
    bump(counts, "sequences_mutated", u64::from(dropped > 0));
}

/// Shuffles tokens inside consecutive, non-overlapping windows.
pub fn local_shuffle(tokens: &mut [String], window: usize, seed: u64, id: &str, side: &str, counts: &mut Counts) {
    let mut rng = stream(seed, "local-shuffle", id, side);
    let before = tokens.to_vec();
    for chunk in tokens.chunks_mut(window.max(1)) {
        chunk.shuffle(&mut rng);
    }
    let moved = before.iter().zip(tokens.iter()).filter(|(a, b)| a != b).count() as u64;
    bump(counts, "tokens_seen", before.len() as u64);
    bump(counts, "tokens_moved", moved);
    bump(counts, "sequences_mutated", u64::from(moved > 0));
}

/// Keeps the first `max_tokens` tokens.
pub fn truncate(tokens: &mut Vec<String>, max_tokens: usize, counts: &mut Counts) {
    let removed = tokens.len().saturating_sub(max_tokens) as u64;
    tokens.truncate(max_tokens);
    bump(counts, "tokens_removed", removed);
    bump(counts, "sequences_truncated", u64::from(removed > 0));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("t{i}")).collect()
    }

    #[test]
    fn dropout_is_seeded_per_example_and_counts() {
        let mut counts = Counts::new();
        let mut a = toks(1000);
        token_dropout(&mut a, 0.3, 1, "ex", "source", &mut counts);
        let mut b = toks(1000);
        token_dropout(&mut b, 0.3, 1, "ex", "source", &mut Counts::new());
        assert_eq!(a, b);
        let mut c = toks(1000);
        token_dropout(&mut c, 0.3, 2, "ex", "source", &mut Counts::new());
        assert_ne!(a, c);
        let dropped = counts["tokens_dropped"];
        assert_eq!(dropped as usize, 1000 - a.len());
        assert!((250..350).contains(&dropped), "{dropped}");
        // Order of the survivors is kept.
        let idx: Vec<usize> = a.iter().map(|t| t[1..].parse().unwrap()).collect();
        assert!(idx.windows(2).all(|w| w[0] < w[1]));
        let mut none = toks(10);
        token_dropout(&mut none, 0.0, 1, "ex", "source", &mut counts);
        assert_eq!(none, toks(10));
    }

    #[test]
    fn shuffle_stays_inside_windows() {
        let mut counts = Counts::new();
        let mut t = toks(23);
        local_shuffle(&mut t, 4, 9, "ex", "target", &mut counts);
        assert_ne!(t, toks(23));
        for (w, chunk) in t.chunks(4).enumerate() {
            let mut idx: Vec<usize> = chunk.iter().map(|s| s[1..].parse().unwrap()).collect();
            idx.sort();
            assert_eq!(idx, (w * 4..(w * 4 + chunk.len())).collect::<Vec<_>>());
        }
        assert!(counts["tokens_moved"] > 0);
    }

    #[test]
    fn truncate_keeps_a_prefix() {
        let mut counts = Counts::new();
        let mut t = toks(10);
        truncate(&mut t, 3, &mut counts);
        assert_eq!(t, toks(3));
        truncate(&mut t, 5, &mut counts);
        assert_eq!(counts["tokens_removed"], 7);
        assert_eq!(counts["sequences_truncated"], 1);
    }
}
