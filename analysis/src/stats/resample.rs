//! Resampling: the hierarchical bootstrap and the paired sign-flip
//! permutation test, both on plain slices, both parallel over resamples.
//!
//! Resample `r` always uses the stream `Rng::stream(seed, key, r)`, so a
//! result depends only on the data, the seed and the key, never on how many
//! threads ran it.

use std::num::NonZeroUsize;

use super::describe::quantile_in_place;
use super::rng::Rng;

/// Compute `f(r)` for `r in 0..count` on all cores.
pub fn par_map(count: usize, f: impl Fn(usize) -> f64 + Sync) -> Vec<f64> {
    let threads = std::thread::available_parallelism().map(NonZeroUsize::get).unwrap_or(1).min(count.max(1));
    if threads <= 1 || count < 8 {
        return (0..count).map(f).collect();
    }
    let mut out = vec![0.0; count];
    let chunk = count.div_ceil(threads);
    std::thread::scope(|scope| {
        for (c, slot) in out.chunks_mut(chunk).enumerate() {
            let f = &f;
            scope.spawn(move || {
                for (i, v) in slot.iter_mut().enumerate() {
                    *v = f(c * chunk + i);
                }
            });
        }
    });
    out
}

/// Hierarchical bootstrap of the pooled mean of `groups` (one slice per
/// seed): each resample draws as many seeds as there are, with replacement,
/// then for each drawn seed as many of its values as it has, with
/// replacement, and takes the mean of everything drawn. Returns the
/// resampled means (NaN when there is no data).
pub fn hierarchical_bootstrap(groups: &[&[f64]], resamples: usize, seed: u64, key: u64) -> Vec<f64> {
    let k = groups.len();
    if k == 0 || groups.iter().all(|g| g.is_empty()) {
        return vec![f64::NAN; resamples];
    }
    par_map(resamples, |r| {
        let mut rng = Rng::stream(seed, key, r as u64);
        let mut sum = 0.0;
        let mut count = 0usize;
        for _ in 0..k {
            let g = groups[rng.below(k)];
            let m = g.len();
            if m == 0 {
                continue;
            }
            let mut s = 0.0;
            for _ in 0..m {
                s += g[rng.below(m)];
            }
            sum += s;
            count += m;
        }
        // A resample that drew only empty seeds: fall back to NaN, dropped by the interval.
        if count == 0 { f64::NAN } else { sum / count as f64 }
    })
}

/// Percentile interval of resampled statistics (type-7 quantiles, NaNs
/// ignored). Consumes the vector's order.
pub fn percentile_interval(resampled: &mut Vec<f64>, level: f64) -> (f64, f64) {
    resampled.retain(|v| !v.is_nan());
    let lo = quantile_in_place(resampled, (1.0 - level) / 2.0);
    let hi = super::describe::quantile_sorted(resampled, (1.0 + level) / 2.0);
    (lo, hi)
}

/// Paired sign-flip permutation test of mean(diffs) = 0. Each permutation
/// flips the sign of every difference with probability 1/2 (swaps the arms
/// within the pair). Returns the permuted means; see [`permutation_p`].
pub fn sign_flip_means(diffs: &[f64], permutations: usize, seed: u64, key: u64) -> Vec<f64> {
    let n = diffs.len();
    if n == 0 {
        return vec![f64::NAN; permutations];
    }
    par_map(permutations, |r| {
        let mut rng = Rng::stream(seed, key, r as u64);
        let mut sum = 0.0;
        for chunk in diffs.chunks(64) {
            let bits = rng.next_u64();
            for (j, d) in chunk.iter().enumerate() {
                // Flip the sign bit where the random bit is set.
                sum += f64::from_bits(d.to_bits() ^ (((bits >> j) & 1) << 63));
            }
        }
        sum / n as f64
    })
}

/// Two-sample permutation test of mean(treatment) - mean(control): the
/// group labels are shuffled over the pooled values. Returns the permuted
/// differences; see [`permutation_p`].
pub fn label_permutation_diffs(
    treatment: &[f64],
    control: &[f64],
    permutations: usize,
    seed: u64,
    key: u64,
) -> Vec<f64> {
    let (n1, n2) = (treatment.len(), control.len());
    if n1 == 0 || n2 == 0 {
        return vec![f64::NAN; permutations];
    }
    let pooled: Vec<f64> = treatment.iter().chain(control).copied().collect();
    let total: f64 = pooled.iter().sum();
    par_map(permutations, |r| {
        let mut rng = Rng::stream(seed, key, r as u64);
        // A partial Fisher-Yates shuffle picks the n1 "treated" values.
        let mut idx: Vec<u32> = (0..pooled.len() as u32).collect();
        let mut sum_t = 0.0;
        for i in 0..n1 {
            let j = i + rng.below(idx.len() - i);
            idx.swap(i, j);
            sum_t += pooled[idx[i] as usize];
        }
        sum_t / n1 as f64 - (total - sum_t) / n2 as f64
    })
}

/// Two-sided Monte Carlo p-value: (1 + #{|T*| >= |T|}) / (R + 1), which is
/// never 0 and is exact-valid for a Monte Carlo test.
pub fn permutation_p(observed: f64, permuted: &[f64]) -> f64 {
    if observed.is_nan() || permuted.is_empty() {
        return f64::NAN;
    }
    let threshold = observed.abs() * (1.0 - 1e-12);
    let valid: Vec<&f64> = permuted.iter().filter(|v| !v.is_nan()).collect();
    let extreme = valid.iter().filter(|v| v.abs() >= threshold).count();
    (1 + extreme) as f64 / (1 + valid.len()) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::describe::{mean, variance};

    #[test]
    fn bootstrap_is_deterministic_and_centred() {
        let a: Vec<f64> = (0..200).map(|i| (i % 13) as f64).collect();
        let b: Vec<f64> = (0..200).map(|i| (i % 7) as f64 + 1.0).collect();
        let groups = [a.as_slice(), b.as_slice()];
        let r1 = hierarchical_bootstrap(&groups, 500, 9, 1);
        let r2 = hierarchical_bootstrap(&groups, 500, 9, 1);
        assert_eq!(r1, r2);
        let pooled = (a.iter().sum::<f64>() + b.iter().sum::<f64>()) / 400.0;
        assert!((mean(&r1) - pooled).abs() < 0.5, "{} vs {pooled}", mean(&r1));
        assert_ne!(r1, hierarchical_bootstrap(&groups, 500, 10, 1));
    }

    #[test]
    fn single_level_bootstrap_variance_matches_theory() {
        // One seed: the bootstrap variance of the mean is (n-1)/n * s^2 / n.
        let xs: Vec<f64> = (0..400).map(|i| ((i * 37) % 101) as f64).collect();
        let reps = hierarchical_bootstrap(&[&xs], 4000, 1, 2);
        let theory = variance(&xs) * (399.0 / 400.0) / 400.0;
        let got = variance(&reps);
        assert!((got / theory - 1.0).abs() < 0.1, "{got} vs {theory}");
    }

    #[test]
    fn sign_flips_detect_a_shift_and_not_noise() {
        let shifted: Vec<f64> = (0..300).map(|i| 1.0 + ((i * 17) % 11) as f64 - 5.0).collect();
        let obs = mean(&shifted);
        let p = permutation_p(obs, &sign_flip_means(&shifted, 2000, 3, 4));
        assert!(p < 0.01, "{p}");
        let symmetric: Vec<f64> = (0..300).map(|i| if i % 2 == 0 { 3.0 } else { -3.0 }).collect();
        let p0 = permutation_p(mean(&symmetric), &sign_flip_means(&symmetric, 2000, 3, 4));
        assert!(p0 > 0.5, "{p0}");
    }

    #[test]
    fn percentile_interval_drops_nans() {
        let mut v = vec![f64::NAN, 1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile_interval(&mut v, 0.5), (1.75, 3.25));
    }
}
