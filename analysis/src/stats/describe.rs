//! Descriptive statistics on plain slices. Mean, variance and standard
//! deviation are `intervene_proto::stats`, re-exported here.

pub use intervene_proto::stats::{mean, std_dev, variance};

/// Quantile by linear interpolation between order statistics (numpy's
/// default, Hyndman-Fan type 7). Sorts `xs` in place; NaN if empty.
pub fn quantile_in_place(xs: &mut [f64], q: f64) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.sort_unstable_by(f64::total_cmp);
    quantile_sorted(xs, q)
}

/// Type-7 quantile of an already sorted slice.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let h = (sorted.len() - 1) as f64 * q.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = h.ceil() as usize;
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_match_numpy() {
        // numpy.quantile([1, 2, 3, 4], [0.025, 0.5, 0.975]) = [1.075, 2.5, 3.925]
        let mut xs = vec![4.0, 1.0, 3.0, 2.0];
        assert!((quantile_in_place(&mut xs, 0.025) - 1.075).abs() < 1e-12);
        assert!((quantile_sorted(&xs, 0.5) - 2.5).abs() < 1e-12);
        assert!((quantile_sorted(&xs, 0.975) - 3.925).abs() < 1e-12);
        assert_eq!(quantile_sorted(&[3.0], 0.9), 3.0);
    }
}
