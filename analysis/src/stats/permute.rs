//! The sign-flip permutation test over whole units (training runs).
//!
//! In a paired study the randomised thing is which of the two arms a seed's
//! pair of runs belongs to, so under the null hypothesis of no effect the
//! sign of every per-seed difference is exchangeable. The test statistic is
//! the weighted sum `T = sum_i w_i d_i` of the unit differences; its null
//! distribution is that of `sum_i s_i w_i d_i` over the 2^k sign vectors `s`.
//!
//! With k <= [`EXACT_UNITS`] units every sign vector is enumerated, so the
//! p-value is exact and lives on the grid of multiples of 2^-k (with 3 seeds
//! the smallest two-sided p is 2/8 = 0.25: three runs per arm cannot reject
//! at 5%, and the test says so). Above that, `permutations` sign vectors
//! are drawn at random and the Monte Carlo p-value (1 + extreme) / (1 + R)
//! is reported.

use super::resample::{par_map, permutation_p};
use super::rng::Rng;

/// Units up to which all 2^k sign vectors are enumerated.
pub const EXACT_UNITS: usize = 16;

/// A permutation p-value and whether it was enumerated exactly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlipTest {
    pub p: f64,
    pub exact: bool,
}

/// Two-sided sign-flip p-value of `sum w_i d_i = 0`. `weights` may be empty
/// (all ones). NaN for no units.
pub fn sign_flip_test(diffs: &[f64], weights: &[f64], permutations: usize, seed: u64, key: u64) -> FlipTest {
    let k = diffs.len();
    if k == 0 || diffs.iter().any(|d| !d.is_finite()) {
        return FlipTest { p: f64::NAN, exact: false };
    }
    let w = |i: usize| weights.get(i).copied().unwrap_or(1.0);
    let terms: Vec<f64> = (0..k).map(|i| w(i) * diffs[i]).collect();
    let observed: f64 = terms.iter().sum();
    // Ties within rounding count as extreme: an identity flip must always count.
    let threshold = observed.abs() * (1.0 - 1e-12);
    if k <= EXACT_UNITS {
        let total = 1usize << k;
        let mut extreme = 0usize;
        for mask in 0..total {
            let mut s = 0.0;
            for (i, t) in terms.iter().enumerate() {
                s += if mask >> i & 1 == 1 { -t } else { *t };
            }
            if s.abs() >= threshold {
                extreme += 1;
            }
        }
        return FlipTest { p: extreme as f64 / total as f64, exact: true };
    }
    let permuted = par_map(permutations, |r| {
        let mut rng = Rng::stream(seed, key, r as u64);
        let mut s = 0.0;
        for chunk in terms.chunks(64) {
            let bits = rng.next_u64();
            for (j, t) in chunk.iter().enumerate() {
                s += if bits >> j & 1 == 1 { -t } else { *t };
            }
        }
        s
    });
    FlipTest { p: permutation_p(observed, &permuted), exact: false }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_seeds_of_one_sign_give_a_quarter() {
        let t = sign_flip_test(&[1.0, 2.0, 3.0], &[], 100, 1, 2);
        assert!(t.exact);
        assert_eq!(t.p, 0.25);
    }

    #[test]
    fn exact_p_counts_every_sign_vector() {
        // |1 + 2 - 3| = 0: every flip is at least as extreme.
        assert_eq!(sign_flip_test(&[1.0, 2.0, -3.0], &[], 100, 1, 2).p, 1.0);
        // 10 seeds all positive and distinct: only the identity and the full flip reach |T|.
        let d: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(sign_flip_test(&d, &[], 100, 1, 2).p, 2.0 / 1024.0);
        // Weights change the statistic: with weight 0 the last unit cannot matter.
        assert_eq!(sign_flip_test(&[1.0, 1.0, 100.0], &[1.0, 1.0, 0.0], 100, 1, 2).p, 0.5);
    }

    #[test]
    fn many_units_use_monte_carlo() {
        let d: Vec<f64> = (0..40).map(|i| 1.0 + (i % 5) as f64).collect();
        let t = sign_flip_test(&d, &[], 999, 3, 4);
        assert!(!t.exact);
        assert_eq!(t.p, 1.0 / 1000.0);
        let sym: Vec<f64> = (0..40).map(|i| if i % 2 == 0 { 1.0 } else { -1.0 }).collect();
        assert!(sign_flip_test(&sym, &[], 999, 3, 4).p > 0.9);
        assert!(sign_flip_test(&[], &[], 10, 0, 0).p.is_nan());
    }
}
