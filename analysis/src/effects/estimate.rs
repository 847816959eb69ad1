//! The estimates of one row: one comparison, one outcome, one stratum.
//!
//! - [`SeedLevel`], the headline: one paired difference per training run
//!   (seed), a t interval on k - 1 degrees of freedom and the exact
//!   whole-seed sign-flip p-value. With one seed there is no interval over
//!   training runs, and none is printed.
//! - [`ExampleLevel`]: the per-example differences pooled over seeds, the
//!   paired t interval over example pairs (scipy's `ttest_rel` on the pairs)
//!   and a bootstrap of examples within each seed. Both describe the
//!   uncertainty over test examples for these particular trained models.
//! - [`Adjusted`]: the regression adjustment for pre-treatment covariates,
//!   standard errors clustered by seed (see `adjust`).

use std::ops::Range;

use super::adjust::LinearDesign;
use crate::stats::describe::mean;
use crate::stats::permute::sign_flip_test;
use crate::stats::resample::{percentile_interval, stratified_bootstrap};
use crate::stats::ttest::{cohens_d_paired, paired_t};

/// Knobs of the estimators.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Confidence level of every interval, e.g. 0.95.
    pub level: f64,
    pub resamples: usize,
    /// Random sign vectors of the permutation test when there are too many
    /// seeds to enumerate (more than 16).
    pub permutations: usize,
    /// Random relabellings of the placebo refuter beyond 12 seeds; 0 skips the refuters.
    pub refuter_sims: usize,
    pub seed: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self { level: 0.95, resamples: 2000, permutations: 2000, refuter_sims: 100, seed: 0 }
    }
}

/// The headline: paired t over per-seed values. NaN where it cannot be computed.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedLevel {
    pub n: usize,
    pub control_mean: f64,
    pub treatment_mean: f64,
    pub ate: f64,
    pub se: f64,
    pub df: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub p: f64,
    /// Whole-seed sign-flip p-value, and whether all 2^k flips were enumerated.
    pub p_perm: f64,
    pub perm_exact: bool,
    pub cohens_d: f64,
    /// Per-seed differences and control values, kept for strata, refuters and power.
    pub diffs: Vec<f64>,
    pub control: Vec<f64>,
}

impl SeedLevel {
    pub fn empty() -> Self {
        let nan = f64::NAN;
        Self {
            n: 0,
            control_mean: nan,
            treatment_mean: nan,
            ate: nan,
            se: nan,
            df: nan,
            ci_low: nan,
            ci_high: nan,
            p: nan,
            p_perm: nan,
            perm_exact: false,
            cohens_d: nan,
            diffs: Vec::new(),
            control: Vec::new(),
        }
    }

    /// Paired t and the whole-seed permutation test across seeds of
    /// per-seed (treatment, control) values.
    pub fn from_pairs(treatment: &[f64], control: &[f64], settings: &Settings, key: u64) -> Self {
        if treatment.is_empty() {
            return Self::empty();
        }
        let diffs: Vec<f64> = treatment.iter().zip(control).map(|(t, c)| t - c).collect();
        let t = paired_t(&diffs, settings.level);
        let flips = sign_flip_test(&diffs, &[], settings.permutations, settings.seed, key ^ 0x5045_524D);
        Self {
            n: diffs.len(),
            control_mean: mean(control),
            treatment_mean: mean(treatment),
            ate: t.estimate,
            se: t.se,
            df: t.df,
            ci_low: t.ci_low,
            ci_high: t.ci_high,
            p: t.p,
            // One seed: the only flips are the identity and its mirror, p = 1 says nothing.
            p_perm: if diffs.len() < 2 { f64::NAN } else { flips.p },
            perm_exact: flips.exact,
            cohens_d: cohens_d_paired(&diffs),
            diffs,
            control: control.to_vec(),
        }
    }
}

/// Per-example outcomes paired by (seed, example id): the uncertainty over
/// test examples for these trained models.
#[derive(Debug, Clone, PartialEq)]
pub struct ExampleLevel {
    pub n_pairs: usize,
    pub n_seeds: usize,
    pub control_mean: f64,
    pub treatment_mean: f64,
    pub ate: f64,
    /// Paired t over the example pairs.
    pub se: f64,
    pub df: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub p: f64,
    /// Percentile interval of the bootstrap of examples within each seed.
    pub boot_low: f64,
    pub boot_high: f64,
    pub cohens_d: f64,
    /// Bootstrap means, kept to combine strata.
    pub bootstrap: Vec<f64>,
}

impl ExampleLevel {
    pub fn empty() -> Self {
        let nan = f64::NAN;
        Self {
            n_pairs: 0,
            n_seeds: 0,
            control_mean: nan,
            treatment_mean: nan,
            ate: nan,
            se: nan,
            df: nan,
            ci_low: nan,
            ci_high: nan,
            p: nan,
            boot_low: nan,
            boot_high: nan,
            cohens_d: nan,
            bootstrap: Vec::new(),
        }
    }
}

/// The regression-adjusted (backdoor) estimate.
#[derive(Debug, Clone, PartialEq)]
pub struct Adjusted {
    pub n_obs: usize,
    pub ate: f64,
    pub se: f64,
    pub df: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub p: f64,
    /// Whether the standard errors are clustered by seed.
    pub clustered: bool,
}

impl Adjusted {
    pub fn empty() -> Self {
        let nan = f64::NAN;
        Self { n_obs: 0, ate: nan, se: nan, df: nan, ci_low: nan, ci_high: nan, p: nan, clustered: false }
    }
}

/// Pairs of one comparison and outcome (and stratum), grouped by seed.
#[derive(Debug, Clone, Default)]
pub struct Paired {
    pub seeds: Vec<i64>,
    /// Row range of each seed in `t` / `c`.
    pub groups: Vec<Range<usize>>,
    pub t: Vec<f64>,
    pub c: Vec<f64>,
    /// Covariates per pair, treatment and control side (NaN = null).
    pub wt: Vec<Vec<f64>>,
    pub wc: Vec<Vec<f64>>,
    /// Pairs left out because the outcome was null on either side.
    pub null_pairs: usize,
}

impl Paired {
    /// Gather the pairs of rows `range` (sorted by seed) whose outcome is
    /// present on both sides, keeping only rows with `keep(row)`.
    pub fn gather(
        seed: &[i64],
        y_t: &[f64],
        y_c: &[f64],
        w_t: &[Vec<f64>],
        w_c: &[Vec<f64>],
        range: Range<usize>,
        keep: impl Fn(usize) -> bool,
    ) -> Self {
        let mut out = Paired { wt: vec![Vec::new(); w_t.len()], wc: vec![Vec::new(); w_c.len()], ..Default::default() };
        for row in range {
            if !keep(row) {
                continue;
            }
            if y_t[row].is_nan() || y_c[row].is_nan() {
                out.null_pairs += 1;
                continue;
            }
            if out.seeds.last() != Some(&seed[row]) {
                let at = out.t.len();
                if let Some(last) = out.groups.last_mut() {
                    last.end = at;
                }
                out.seeds.push(seed[row]);
                out.groups.push(at..at);
            }
            out.t.push(y_t[row]);
            out.c.push(y_c[row]);
            for j in 0..w_t.len() {
                out.wt[j].push(w_t[j][row]);
                out.wc[j].push(w_c[j][row]);
            }
        }
        if let Some(last) = out.groups.last_mut() {
            last.end = out.t.len();
        }
        out
    }

    pub fn len(&self) -> usize {
        self.t.len()
    }

    pub fn is_empty(&self) -> bool {
        self.t.is_empty()
    }

    /// Per-seed means of treatment and control.
    pub fn seed_means(&self) -> (Vec<f64>, Vec<f64>) {
        self.groups.iter().map(|g| (mean(&self.t[g.clone()]), mean(&self.c[g.clone()]))).unzip()
    }

    pub fn diffs(&self) -> Vec<f64> {
        self.t.iter().zip(&self.c).map(|(t, c)| t - c).collect()
    }

    /// Per covariate, the per-seed mean of (treatment − control) values
    /// over pairs where both are present: the dummy outcomes.
    pub fn covariate_shifts(&self) -> Vec<Vec<f64>> {
        (0..self.wt.len())
            .map(|j| {
                self.groups
                    .iter()
                    .map(|g| {
                        let d: Vec<f64> = g
                            .clone()
                            .filter(|&i| self.wt[j][i].is_finite() && self.wc[j][i].is_finite())
                            .map(|i| self.wt[j][i] - self.wc[j][i])
                            .collect();
                        mean(&d)
                    })
                    .collect()
            })
            .collect()
    }

    pub fn example_level(&self, settings: &Settings, key: u64) -> ExampleLevel {
        if self.is_empty() {
            return ExampleLevel::empty();
        }
        let diffs = self.diffs();
        let t = paired_t(&diffs, settings.level);
        let groups: Vec<&[f64]> = self.groups.iter().map(|g| &diffs[g.clone()]).collect();
        let bootstrap = stratified_bootstrap(&groups, settings.resamples, settings.seed, key);
        let mut sorted = bootstrap.clone();
        let (boot_low, boot_high) = percentile_interval(&mut sorted, settings.level);
        ExampleLevel {
            n_pairs: diffs.len(),
            n_seeds: self.seeds.len(),
            control_mean: mean(&self.c),
            treatment_mean: mean(&self.t),
            ate: t.estimate,
            se: t.se,
            df: t.df,
            ci_low: t.ci_low,
            ci_high: t.ci_high,
            p: t.p,
            boot_low,
            boot_high,
            cohens_d: cohens_d_paired(&diffs),
            bootstrap,
        }
    }

    /// The paired regression design over pairs whose control-side
    /// (pre-treatment) covariates are all present, clustered by seed; also
    /// returns how many pairs had a null covariate.
    pub fn design(&self) -> (LinearDesign, usize) {
        let k = self.wc.len();
        let complete: Vec<usize> = (0..self.len()).filter(|&i| (0..k).all(|j| self.wc[j][i].is_finite())).collect();
        let n = complete.len();
        let mut seed_of = vec![0usize; self.len()];
        for (g, range) in self.groups.iter().enumerate() {
            for i in range.clone() {
                seed_of[i] = g;
            }
        }
        let mut y = Vec::with_capacity(2 * n);
        y.extend(complete.iter().map(|&i| self.c[i]));
        y.extend(complete.iter().map(|&i| self.t[i]));
        let t: Vec<f64> = (0..2 * n).map(|r| if r < n { 0.0 } else { 1.0 }).collect();
        // Both rows of a pair carry the control example's covariates: the
        // treated example's may be a consequence of the treatment.
        let w =
            (0..k).map(|j| complete.iter().chain(&complete).map(|&i| self.wc[j][i]).collect::<Vec<f64>>()).collect();
        let clusters: Vec<usize> = complete.iter().chain(&complete).map(|&i| seed_of[i]).collect();
        (LinearDesign::new(y, t, w, Some(n), Some(clusters)), self.len() - n)
    }
}

/// Fit the adjusted estimate. Returns an error text for the row's flags
/// when the regression cannot be fitted.
pub fn adjust(design: &LinearDesign, settings: &Settings) -> (Adjusted, Option<String>) {
    match design.fit() {
        Ok(fit) => {
            let (ci_low, ci_high) = fit.interval(1, settings.level);
            let adjusted = Adjusted {
                n_obs: fit.n,
                ate: fit.coef[1],
                se: fit.se[1],
                df: fit.df_resid,
                ci_low,
                ci_high,
                p: fit.p_value(1),
                clustered: design.clustered(),
            };
            (adjusted, None)
        }
        Err(e) => (Adjusted::empty(), Some(format!("adjustment not fitted: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gather_groups_by_seed_and_counts_nulls() {
        let seed = [1, 1, 1, 2, 2, 3];
        let y_t = [1.0, f64::NAN, 3.0, 4.0, 5.0, 6.0];
        let y_c = [0.0, 0.0, 1.0, 1.0, f64::NAN, 2.0];
        let w = vec![vec![1.0; 6]];
        let p = Paired::gather(&seed, &y_t, &y_c, &w, &w, 0..6, |r| r != 5);
        assert_eq!(p.seeds, vec![1, 2]);
        assert_eq!(p.groups, vec![0..2, 2..3]);
        assert_eq!(p.t, vec![1.0, 3.0, 4.0]);
        assert_eq!(p.null_pairs, 2);
        let (t, c) = p.seed_means();
        assert_eq!(t, vec![2.0, 4.0]);
        assert_eq!(c, vec![0.5, 1.0]);
    }

    #[test]
    fn seed_level_of_one_seed_has_no_interval() {
        let s = SeedLevel::from_pairs(&[3.0], &[1.0], &Settings::default(), 0);
        assert_eq!(s.ate, 2.0);
        assert!(s.ci_low.is_nan() && s.p.is_nan() && s.p_perm.is_nan());
    }

    #[test]
    fn three_seeds_of_one_sign_have_an_exact_permutation_p_of_a_quarter() {
        let s = SeedLevel::from_pairs(&[3.0, 4.0, 5.5], &[1.0, 1.5, 2.0], &Settings::default(), 0);
        assert!(s.perm_exact);
        assert_eq!(s.p_perm, 0.25);
        assert_eq!(s.df, 2.0);
    }
}
