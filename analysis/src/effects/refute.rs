//! Refuters, after DoWhy: re-estimate the effect on deliberately altered
//! data and check that it behaves as a real effect should.
//!
//! - Placebo treatment: the treatment labels are permuted (within each pair
//!   when the data are paired, so the permutation respects the design) and
//!   the effect re-estimated, `sims` times. A real estimator's placebo
//!   effects centre on zero: the refuter passes when 0 lies inside the
//!   central 95% of the placebo estimates.
//! - Random common cause: an independent noise confounder (mean 0, variance
//!   1) is added to the adjustment set, `sims` times. Passes when the mean
//!   re-estimate is within 0.1 standard errors of the original.
//! - Data subset: the effect is re-estimated on random 90% subsets of the
//!   units (pairs or rows), `sims` times. Passes when the mean subset
//!   estimate is within 0.1 standard errors of the original (or within
//!   three Monte Carlo standard errors of that mean, when few simulations
//!   make it noisier than that) and their spread is at most one standard
//!   error (about a third is expected).

use crate::stats::describe::{mean, quantile_in_place, std_dev};
use crate::stats::resample::par_map;
use crate::stats::rng::Rng;

/// What the refuters need from an estimator: its estimate on altered data.
pub trait Reestimate: Sync {
    /// Pairs (paired layout) or rows.
    fn units(&self) -> usize;
    fn paired(&self) -> bool;
    /// The 0/1 treatment of each row (unpaired layout only).
    fn treatment(&self) -> Vec<bool>;
    fn rows(&self) -> usize;
    /// Paired: `flip[i]` swaps the labels of pair `i`. Unpaired: `flip` is
    /// the new treatment indicator per row.
    fn relabelled(&self, flip: &[bool]) -> f64;
    fn with_confounder(&self, z: &[f64]) -> f64;
    fn without(&self, dropped: &[usize]) -> f64;
}

impl Reestimate for super::adjust::LinearDesign {
    fn units(&self) -> usize {
        super::adjust::LinearDesign::units(self)
    }
    fn paired(&self) -> bool {
        self.pairs.is_some()
    }
    fn treatment(&self) -> Vec<bool> {
        self.t.iter().map(|&v| v != 0.0).collect()
    }
    fn rows(&self) -> usize {
        super::adjust::LinearDesign::rows(self)
    }
    fn relabelled(&self, flip: &[bool]) -> f64 {
        super::adjust::LinearDesign::relabelled(self, flip)
    }
    fn with_confounder(&self, z: &[f64]) -> f64 {
        super::adjust::LinearDesign::with_confounder(self, z)
    }
    fn without(&self, dropped: &[usize]) -> f64 {
        super::adjust::LinearDesign::without(self, dropped)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Refutation {
    /// Mean re-estimate.
    pub effect: f64,
    /// Central 95% of the re-estimates.
    pub low: f64,
    pub high: f64,
    pub pass: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Refutations {
    pub placebo: Refutation,
    pub random_common_cause: Refutation,
    pub data_subset: Refutation,
}

impl Refutations {
    pub fn passed(&self) -> usize {
        [&self.placebo, &self.random_common_cause, &self.data_subset].iter().filter(|r| r.pass).count()
    }
}

fn summarise(mut estimates: Vec<f64>) -> (f64, f64, f64, f64) {
    estimates.retain(|v| v.is_finite());
    let m = mean(&estimates);
    let sd = std_dev(&estimates);
    let low = quantile_in_place(&mut estimates, 0.025);
    let high = crate::stats::describe::quantile_sorted(&estimates, 0.975);
    (m, sd, low, high)
}

/// Run the three refuters on `design`, whose original estimate is
/// `estimate` with standard error `se`. Streams derive from `seed` and `key`.
pub fn refute(design: &dyn Reestimate, estimate: f64, se: f64, sims: usize, seed: u64, key: u64) -> Refutations {
    let units = design.units();
    let rows = design.rows();
    let paired = design.paired();
    let treatment = if paired { Vec::new() } else { design.treatment() };

    let placebo = par_map(sims, |s| {
        let mut rng = Rng::stream(seed, key ^ 0x706C_6163_6562_6F00, s as u64);
        if paired {
            let flip: Vec<bool> = (0..units).map(|_| rng.next_u64() >> 63 == 1).collect();
            design.relabelled(&flip)
        } else {
            let mut labels = treatment.clone();
            rng.shuffle(&mut labels);
            design.relabelled(&labels)
        }
    });
    let (p_mean, _, p_low, p_high) = summarise(placebo);
    let placebo = Refutation { effect: p_mean, low: p_low, high: p_high, pass: p_low <= 0.0 && 0.0 <= p_high };

    let rcc = par_map(sims, |s| {
        let mut rng = Rng::stream(seed, key ^ 0x7263_6300, s as u64);
        let z: Vec<f64> = (0..rows).map(|_| rng.noise()).collect();
        design.with_confounder(&z)
    });
    let (r_mean, _, r_low, r_high) = summarise(rcc);
    let tolerance = 0.1 * se;
    let random_common_cause =
        Refutation { effect: r_mean, low: r_low, high: r_high, pass: (r_mean - estimate).abs() <= tolerance };

    let drop = units - (units * 9).div_ceil(10).min(units);
    let subset = par_map(sims, |s| {
        let mut rng = Rng::stream(seed, key ^ 0x7375_6273_6574, s as u64);
        // Floyd's algorithm: `drop` distinct units without a full shuffle.
        let mut chosen: std::collections::HashSet<usize, foldhash::fast::FixedState> =
            std::collections::HashSet::with_capacity_and_hasher(drop, Default::default());
        for j in units - drop..units {
            let r = rng.below(j + 1);
            if !chosen.insert(r) {
                chosen.insert(j);
            }
        }
        // Sorted: the set's order would change the floating-point sums, and
        // the same seed must give the same digits.
        let mut dropped: Vec<usize> = chosen.into_iter().collect();
        dropped.sort_unstable();
        design.without(&dropped)
    });
    let (s_mean, s_sd, s_low, s_high) = summarise(subset);
    let data_subset = Refutation {
        effect: s_mean,
        low: s_low,
        high: s_high,
        pass: (s_mean - estimate).abs() <= tolerance.max(3.0 * s_sd / (sims as f64).sqrt()) && s_sd <= se.max(0.0),
    };
    Refutations { placebo, random_common_cause, data_subset }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effects::adjust::LinearDesign;

    fn paired_design(effect: f64, n: usize) -> LinearDesign {
        let mut rng = Rng::new(5);
        let len: Vec<f64> = (0..n).map(|_| rng.below(50) as f64).collect();
        let mut y = Vec::new();
        let mut w = Vec::new();
        for arm in 0..2 {
            for i in 0..n {
                y.push(40.0 - 0.3 * len[i] + effect * arm as f64 + 8.0 * rng.noise());
                w.push(len[i]);
            }
        }
        let t = (0..2 * n).map(|r| if r < n { 0.0 } else { 1.0 }).collect();
        LinearDesign::new(y, t, vec![w], Some(n))
    }

    #[test]
    fn a_real_effect_passes_every_refuter() {
        let d = paired_design(3.0, 800);
        let fit = d.fit().unwrap();
        let r = refute(&d, fit.coef[1], fit.se[1], 100, 1, 2);
        assert!(r.placebo.pass, "{r:?}");
        assert!(r.placebo.effect.abs() < 0.3, "{r:?}");
        assert!(r.random_common_cause.pass, "{r:?}");
        assert!(r.data_subset.pass, "{r:?}");
        assert_eq!(r.passed(), 3);
    }

    #[test]
    fn the_same_seed_gives_the_same_digits() {
        // Non-integer values, so the order of the sums shows in the digits.
        let mut rng = Rng::new(11);
        let n = 3000;
        let w: Vec<f64> = (0..2 * n).map(|_| 1e3 * rng.noise()).collect();
        let y: Vec<f64> = (0..2 * n).map(|r| 1e4 * rng.noise() + (r >= n) as u8 as f64).collect();
        let t = (0..2 * n).map(|r| if r < n { 0.0 } else { 1.0 }).collect();
        let d = LinearDesign::new(y, t, vec![w], Some(n));
        let fit = d.fit().unwrap();
        let a = refute(&d, fit.coef[1], fit.se[1], 20, 7, 3);
        let b = refute(&d, fit.coef[1], fit.se[1], 20, 7, 3);
        // Bit for bit: the dropped units were once summed in hash-set order.
        assert_eq!(a.data_subset.effect.to_bits(), b.data_subset.effect.to_bits(), "{a:?} vs {b:?}");
        assert_eq!(a.random_common_cause.effect.to_bits(), b.random_common_cause.effect.to_bits());
        assert_eq!(a.placebo.effect.to_bits(), b.placebo.effect.to_bits());
    }

    /// An estimator that reports the treated rows' mean, not a difference:
    /// relabelling cannot make it vanish, so the placebo refuter must fail.
    struct TreatedMean(LinearDesign);

    impl Reestimate for TreatedMean {
        fn units(&self) -> usize {
            self.0.units()
        }
        fn paired(&self) -> bool {
            true
        }
        fn treatment(&self) -> Vec<bool> {
            Vec::new()
        }
        fn rows(&self) -> usize {
            self.0.rows()
        }
        fn relabelled(&self, flip: &[bool]) -> f64 {
            let n = self.0.units();
            mean(&(0..n).map(|i| self.0.y[if flip[i] { i } else { n + i }]).collect::<Vec<_>>())
        }
        fn with_confounder(&self, z: &[f64]) -> f64 {
            // Leaks the noise into the estimate: the common-cause refuter must catch it.
            self.relabelled(&vec![false; self.0.units()]) + 1.0 + mean(z)
        }
        fn without(&self, dropped: &[usize]) -> f64 {
            // Depends on which units were dropped: unstable.
            dropped.iter().map(|&u| u as f64).sum::<f64>() / 10.0
        }
    }

    #[test]
    fn broken_estimators_fail_the_refuters() {
        let d = TreatedMean(paired_design(3.0, 400));
        let n = d.units();
        let original = d.relabelled(&vec![false; n]);
        let r = refute(&d, original, 0.5, 100, 1, 2);
        assert!(!r.placebo.pass, "{r:?}");
        assert!(!r.random_common_cause.pass, "{r:?}");
        assert!(!r.data_subset.pass, "{r:?}");
        assert_eq!(r.passed(), 0);
    }

    #[test]
    fn unpaired_placebo_permutes_rows() {
        let mut d = paired_design(4.0, 300);
        d.pairs = None;
        let fit = d.fit().unwrap();
        let r = refute(&d, fit.coef[1], fit.se[1], 60, 3, 4);
        assert!(r.placebo.pass && r.placebo.effect.abs() < 0.5, "{r:?}");
    }
}
