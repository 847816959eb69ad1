//! The estimates of one row: one comparison, one outcome, one stratum.

use std::ops::Range;

use super::adjust::LinearDesign;
use super::refute::{Refutations, refute};
use crate::stats::describe::mean;
use crate::stats::resample::{hierarchical_bootstrap, percentile_interval, permutation_p, sign_flip_means};
use crate::stats::ttest::{cohens_d_paired, paired_t};

/// Knobs of the estimators.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Confidence level of every interval, e.g. 0.95.
    pub level: f64,
    pub resamples: usize,
    pub permutations: usize,
    /// Simulations per refuter; 0 skips the refuters.
    pub refuter_sims: usize,
    pub seed: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self { level: 0.95, resamples: 2000, permutations: 2000, refuter_sims: 100, seed: 0 }
    }
}

/// Paired t on per-seed outcomes. NaN where it cannot be computed.
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
    pub cohens_d: f64,
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
            cohens_d: nan,
        }
    }

    /// Paired t across seeds of per-seed (treatment, control) values.
    pub fn from_pairs(treatment: &[f64], control: &[f64], level: f64) -> Self {
        if treatment.is_empty() {
            return Self::empty();
        }
        let diffs: Vec<f64> = treatment.iter().zip(control).map(|(t, c)| t - c).collect();
        let t = paired_t(&diffs, level);
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
            cohens_d: cohens_d_paired(&diffs),
        }
    }
}

/// Per-example outcomes paired by (seed, example id).
#[derive(Debug, Clone, PartialEq)]
pub struct ExampleLevel {
    pub n_pairs: usize,
    pub n_seeds: usize,
    pub control_mean: f64,
    pub treatment_mean: f64,
    pub ate: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub p_perm: f64,
    pub cohens_d: f64,
    /// Bootstrap means and sign-flip means, kept to combine strata.
    pub bootstrap: Vec<f64>,
    pub permuted: Vec<f64>,
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
            ci_low: nan,
            ci_high: nan,
            p_perm: nan,
            cohens_d: nan,
            bootstrap: Vec::new(),
            permuted: Vec::new(),
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
}

impl Adjusted {
    pub fn empty() -> Self {
        let nan = f64::NAN;
        Self { n_obs: 0, ate: nan, se: nan, df: nan, ci_low: nan, ci_high: nan, p: nan }
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
    /// Confounders per pair, treatment and control side (NaN = null).
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

    pub fn example_level(&self, settings: &Settings, key: u64) -> ExampleLevel {
        if self.is_empty() {
            return ExampleLevel::empty();
        }
        let diffs: Vec<f64> = self.t.iter().zip(&self.c).map(|(t, c)| t - c).collect();
        let ate = mean(&diffs);
        let groups: Vec<&[f64]> = self.groups.iter().map(|g| &diffs[g.clone()]).collect();
        let bootstrap = hierarchical_bootstrap(&groups, settings.resamples, settings.seed, key);
        let mut sorted = bootstrap.clone();
        let (ci_low, ci_high) = percentile_interval(&mut sorted, settings.level);
        let permuted = sign_flip_means(&diffs, settings.permutations, settings.seed, key ^ 0x5045_524D);
        ExampleLevel {
            n_pairs: diffs.len(),
            n_seeds: self.seeds.len(),
            control_mean: mean(&self.c),
            treatment_mean: mean(&self.t),
            ate,
            ci_low,
            ci_high,
            p_perm: permutation_p(ate, &permuted),
            cohens_d: cohens_d_paired(&diffs),
            bootstrap,
            permuted,
        }
    }

    /// The paired regression design over pairs whose confounders are all
    /// present; also returns how many pairs had a null confounder.
    pub fn design(&self) -> (LinearDesign, usize) {
        let k = self.wt.len();
        let complete: Vec<usize> = (0..self.len())
            .filter(|&i| (0..k).all(|j| self.wt[j][i].is_finite() && self.wc[j][i].is_finite()))
            .collect();
        let n = complete.len();
        let mut y = Vec::with_capacity(2 * n);
        y.extend(complete.iter().map(|&i| self.c[i]));
        y.extend(complete.iter().map(|&i| self.t[i]));
        let t: Vec<f64> = (0..2 * n).map(|r| if r < n { 0.0 } else { 1.0 }).collect();
        let w = (0..k)
            .map(|j| {
                let mut col = Vec::with_capacity(2 * n);
                col.extend(complete.iter().map(|&i| self.wc[j][i]));
                col.extend(complete.iter().map(|&i| self.wt[j][i]));
                col
            })
            .collect();
        (LinearDesign::new(y, t, w, Some(n)), self.len() - n)
    }
}

/// Fit the adjusted estimate and, when asked, refute it. Returns an error
/// text for the row's flags when the regression cannot be fitted.
pub fn adjust_and_refute(
    design: &LinearDesign,
    settings: &Settings,
    key: u64,
) -> (Adjusted, Option<Refutations>, Option<String>) {
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
            };
            let refutations = (settings.refuter_sims > 0)
                .then(|| refute(design, adjusted.ate, adjusted.se, settings.refuter_sims, settings.seed, key));
            (adjusted, refutations, None)
        }
        Err(e) => (Adjusted::empty(), None, Some(format!("adjustment not fitted: {e}"))),
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
        let s = SeedLevel::from_pairs(&[3.0], &[1.0], 0.95);
        assert_eq!(s.ate, 2.0);
        assert!(s.ci_low.is_nan());
    }
}
