//! Paired and Welch t intervals, and Cohen's d.

use super::describe::{mean, variance};
use super::dist::{t_quantile, t_two_sided_p};

/// A mean (of paired differences, or a difference of means) with its t
/// interval. Fields are NaN where they cannot be computed (fewer than two
/// values: no spread, so no interval).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TInterval {
    pub n: usize,
    pub estimate: f64,
    pub se: f64,
    pub df: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub p: f64,
}

impl TInterval {
    fn from_parts(n: usize, estimate: f64, se: f64, df: f64, level: f64) -> Self {
        let q = t_quantile(0.5 + level / 2.0, df);
        let (ci_low, ci_high, p) = if se > 0.0 {
            (estimate - q * se, estimate + q * se, t_two_sided_p(estimate / se, df))
        } else if se == 0.0 {
            // Every difference identical: the interval collapses on the estimate.
            (estimate, estimate, if estimate == 0.0 { 1.0 } else { 0.0 })
        } else {
            (f64::NAN, f64::NAN, f64::NAN)
        };
        Self { n, estimate, se, df, ci_low, ci_high, p }
    }
}

/// Paired t: the mean of `diffs` with a `level` (e.g. 0.95) interval, as
/// `scipy.stats.ttest_rel(treatment, control).confidence_interval(level)`.
pub fn paired_t(diffs: &[f64], level: f64) -> TInterval {
    let n = diffs.len();
    let m = mean(diffs);
    let se = (variance(diffs) / n as f64).sqrt();
    TInterval::from_parts(n, m, se, n as f64 - 1.0, level)
}

/// Welch's t for mean(treatment) - mean(control), as
/// `scipy.stats.ttest_ind(treatment, control, equal_var=False)`.
pub fn welch_t(treatment: &[f64], control: &[f64], level: f64) -> TInterval {
    let (n1, n2) = (treatment.len() as f64, control.len() as f64);
    let (v1, v2) = (variance(treatment) / n1, variance(control) / n2);
    let se = (v1 + v2).sqrt();
    let df = (v1 + v2).powi(2) / (v1 * v1 / (n1 - 1.0) + v2 * v2 / (n2 - 1.0));
    TInterval::from_parts(treatment.len() + control.len(), mean(treatment) - mean(control), se, df, level)
}

/// Paired Cohen's d (d_z): mean difference over the standard deviation of the differences.
pub fn cohens_d_paired(diffs: &[f64]) -> f64 {
    let sd = variance(diffs).sqrt();
    if sd > 0.0 { mean(diffs) / sd } else { f64::NAN }
}

/// Cohen's d for independent groups, with the pooled standard deviation.
pub fn cohens_d_pooled(treatment: &[f64], control: &[f64]) -> f64 {
    let (n1, n2) = (treatment.len() as f64, control.len() as f64);
    let pooled = (((n1 - 1.0) * variance(treatment) + (n2 - 1.0) * variance(control)) / (n1 + n2 - 2.0)).sqrt();
    if pooled > 0.0 { (mean(treatment) - mean(control)) / pooled } else { f64::NAN }
}

/// A weighted sum of independent estimates with its t interval, degrees of
/// freedom by Welch-Satterthwaite. Used for the bucket-stratified average of
/// inter-model effects. `parts` are (weight, estimate, se, df).
pub fn weighted_t(parts: &[(f64, f64, f64, f64)], level: f64, n: usize) -> TInterval {
    let estimate: f64 = parts.iter().map(|(w, e, _, _)| w * e).sum();
    let var: f64 = parts.iter().map(|(w, _, se, _)| (w * se).powi(2)).sum();
    let denom: f64 = parts.iter().map(|(w, _, se, df)| (w * se).powi(4) / df).sum();
    let df = if denom > 0.0 { var * var / denom } else { f64::NAN };
    TInterval::from_parts(n, estimate, var.sqrt(), df, level)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paired_t_matches_scipy() {
        // scipy 1.16.3: r = stats.ttest_rel([3.1, 4.2, 5.0, 4.4], [2.0, 3.9, 4.1, 3.0])
        // r.pvalue = 0.028338939372548815, r.confidence_interval(0.95) =
        // (0.18575167654928604, 1.6642483234507144)
        let t = [3.1, 4.2, 5.0, 4.4];
        let c = [2.0, 3.9, 4.1, 3.0];
        let d: Vec<f64> = t.iter().zip(&c).map(|(a, b)| a - b).collect();
        let r = paired_t(&d, 0.95);
        assert!((r.estimate - 0.925).abs() < 1e-12);
        assert_eq!(r.df, 3.0);
        assert!((r.ci_low - 0.18575167654928604).abs() < 1e-10, "{r:?}");
        assert!((r.ci_high - 1.6642483234507144).abs() < 1e-10, "{r:?}");
        assert!((r.p - 0.028338939372548815).abs() < 1e-10, "{r:?}");
    }

    #[test]
    fn one_value_has_no_interval() {
        let r = paired_t(&[1.0], 0.95);
        assert_eq!(r.estimate, 1.0);
        assert!(r.ci_low.is_nan() && r.p.is_nan());
    }

    #[test]
    fn identical_differences_collapse() {
        let r = paired_t(&[2.0, 2.0, 2.0], 0.95);
        assert_eq!((r.ci_low, r.ci_high, r.p), (2.0, 2.0, 0.0));
    }

    #[test]
    fn effect_sizes() {
        assert!((cohens_d_paired(&[1.0, 2.0, 3.0]) - 2.0).abs() < 1e-12);
        assert!((cohens_d_pooled(&[2.0, 3.0, 4.0], &[1.0, 2.0, 3.0]) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn weighted_t_of_one_part_is_that_part() {
        let r = weighted_t(&[(1.0, 2.0, 0.5, 4.0)], 0.95, 5);
        assert!((r.ci_high - (2.0 + 2.7764451051977987 * 0.5)).abs() < 1e-10);
    }
}
