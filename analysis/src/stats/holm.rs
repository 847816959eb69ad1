//! Holm's step-down correction for multiple comparisons.

/// Holm-adjusted p-values, in the input order, as
/// `statsmodels.stats.multitest.multipletests(p, method="holm")[1]`.
/// NaN entries (comparisons without a p-value) stay NaN and do not count
/// towards the number of comparisons.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..p.len()).filter(|&i| !p[i].is_nan()).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let m = order.len();
    let mut adjusted = vec![f64::NAN; p.len()];
    let mut running = 0.0f64;
    for (rank, &i) in order.iter().enumerate() {
        let value = ((m - rank) as f64 * p[i]).min(1.0);
        running = running.max(value);
        adjusted[i] = running;
    }
    adjusted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_statsmodels() {
        // multipletests([0.01, 0.04, 0.03, 0.005, 0.5], method="holm")[1]
        // = [0.04, 0.09, 0.09, 0.025, 0.5]
        let got = holm(&[0.01, 0.04, 0.03, 0.005, 0.5]);
        let want = [0.04, 0.09, 0.09, 0.025, 0.5];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-12, "{got:?}");
        }
    }

    #[test]
    fn nans_are_kept_out() {
        let got = holm(&[f64::NAN, 0.02, 0.04]);
        assert!(got[0].is_nan());
        assert!((got[1] - 0.04).abs() < 1e-12 && (got[2] - 0.04).abs() < 1e-12);
    }
}
