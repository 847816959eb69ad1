//! Resampling: the stratified bootstrap and the label permutation, on plain slices, parallel
//! over resamples. (Whole-seed sign flips are in [`super::permute`].)
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

/// Stratified bootstrap of the pooled mean of `groups` (one slice per
/// seed): each resample keeps every seed and draws, for each, as many of its
/// values as it has, with replacement. The seeds are held fixed, so the
/// spread is the uncertainty over test examples for these particular trained
/// models, not over training runs. Returns the resampled means (NaN when
/// there is no data).
pub fn stratified_bootstrap(groups: &[&[f64]], resamples: usize, seed: u64, key: u64) -> Vec<f64> {
    if groups.iter().all(|g| g.is_empty()) {
        return vec![f64::NAN; resamples];
    }
    par_map(resamples, |r| {
        let mut rng = Rng::stream(seed, key, r as u64);
        let mut sum = 0.0;
        let mut count = 0usize;
        for g in groups {
            let m = g.len();
            for _ in 0..m {
                sum += g[rng.below(m)];
            }
            count += m;
        }
        sum / count as f64
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
        let r1 = stratified_bootstrap(&groups, 500, 9, 1);
        let r2 = stratified_bootstrap(&groups, 500, 9, 1);
        assert_eq!(r1, r2);
        let pooled = (a.iter().sum::<f64>() + b.iter().sum::<f64>()) / 400.0;
        assert!((mean(&r1) - pooled).abs() < 0.5, "{} vs {pooled}", mean(&r1));
        assert_ne!(r1, stratified_bootstrap(&groups, 500, 10, 1));
    }

    #[test]
    fn single_level_bootstrap_variance_matches_theory() {
        // One seed: the bootstrap variance of the mean is (n-1)/n * s^2 / n.
        let xs: Vec<f64> = (0..400).map(|i| ((i * 37) % 101) as f64).collect();
        let reps = stratified_bootstrap(&[&xs], 4000, 1, 2);
        let theory = variance(&xs) * (399.0 / 400.0) / 400.0;
        let got = variance(&reps);
        assert!((got / theory - 1.0).abs() < 0.1, "{got} vs {theory}");
    }

    #[test]
    fn percentile_interval_drops_nans() {
        let mut v = vec![f64::NAN, 1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile_interval(&mut v, 0.5), (1.75, 3.25));
    }
}
