//! Power of the two-sided paired t test over seeds, and the number of seeds
//! a study needs, as statsmodels' `TTestPower().solve_power(effect_size=D/S,
//! alpha=alpha, power=power, alternative="two-sided")` solves it:
//!
//! ```text
//! power(n) = P(T' > t_{1-alpha/2, n-1}) + P(T' < t_{alpha/2, n-1}),
//! T' ~ noncentral t(df = n - 1, noncentrality = (D / S) sqrt(n))
//! ```
//!
//! The noncentral t distribution function is Lenth's series (Applied
//! Statistics algorithm AS 243) over regularised incomplete beta functions.

use statrs::distribution::{ContinuousCDF, Normal};
use statrs::function::beta::beta_reg;
use statrs::function::gamma::ln_gamma;

use super::dist::t_quantile;

/// P(T <= t) for the noncentral t with `df` degrees of freedom and
/// noncentrality `nc`.
pub fn noncentral_t_cdf(t: f64, df: f64, nc: f64) -> f64 {
    if df.is_nan() || df <= 0.0 || t.is_nan() || nc.is_nan() {
        return f64::NAN;
    }
    if t < 0.0 {
        return 1.0 - noncentral_t_cdf(-t, df, -nc);
    }
    let normal = Normal::standard();
    let base = normal.cdf(-nc);
    if t == 0.0 {
        return base;
    }
    let x = t * t / (t * t + df);
    let half = nc * nc / 2.0;
    let mut sum = 0.0;
    if half == 0.0 {
        // Only the j = 0 term survives: the central t.
        sum += beta_reg(0.5, df / 2.0, x);
        return (base + 0.5 * sum).clamp(0.0, 1.0);
    }
    let ln_half = half.ln();
    let ln_abs_nc = nc.abs().ln();
    let sign = nc.signum();
    // The Poisson weights peak at j = half; sum well past it, then until the
    // terms vanish.
    let peak = half.ceil() as usize;
    let mut j = 0usize;
    loop {
        let jf = j as f64;
        let ln_p = -half + jf * ln_half - ln_gamma(jf + 1.0);
        let ln_q = ln_abs_nc - half + jf * ln_half - std::f64::consts::LN_2 / 2.0 - ln_gamma(jf + 1.5);
        let term = ln_p.exp() * beta_reg(jf + 0.5, df / 2.0, x) + sign * ln_q.exp() * beta_reg(jf + 1.0, df / 2.0, x);
        sum += term;
        if (j > peak && term.abs() < 1e-17) || j > peak + 100_000 {
            break;
        }
        j += 1;
    }
    (base + 0.5 * sum).clamp(0.0, 1.0)
}

/// Power of the two-sided one-sample (paired) t test of `n` units at
/// standardised effect `effect_size` = D / S.
pub fn paired_t_power(effect_size: f64, n: f64, alpha: f64) -> f64 {
    let df = n - 1.0;
    if df.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    let nc = effect_size * n.sqrt();
    let upper = t_quantile(1.0 - alpha / 2.0, df);
    let lower = t_quantile(alpha / 2.0, df);
    (1.0 - noncentral_t_cdf(upper, df, nc)) + noncentral_t_cdf(lower, df, nc)
}

/// The number of units a paired study needs, as a real number (statsmodels'
/// root) and rounded up to whole seeds (at least 2: one seed has no interval).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampleSize {
    pub exact: f64,
    pub seeds: u64,
}

/// Largest seed count searched: beyond it the effect is practically undetectable.
pub const MAX_SEEDS: f64 = 1e7;

/// Solve `paired_t_power(effect_size, n, alpha) = power` for n. None when
/// the effect is zero, not finite, or needs more than [`MAX_SEEDS`] seeds.
pub fn seeds_needed(effect_size: f64, alpha: f64, power: f64) -> Option<SampleSize> {
    let es = effect_size.abs();
    if !(es > 0.0 && es.is_finite()) {
        return None;
    }
    let reached = |n: f64| paired_t_power(es, n, alpha) >= power;
    // Bracket the root between whole numbers by doubling, then bisect.
    let mut hi = 2.0;
    while !reached(hi) {
        hi *= 2.0;
        if hi > MAX_SEEDS {
            return None;
        }
    }
    let mut lo = if hi == 2.0 { 1.0 + 1e-9 } else { hi / 2.0 };
    if reached(lo) {
        return Some(SampleSize { exact: lo, seeds: 2 });
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if reached(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
        if hi - lo < 1e-10 * hi {
            break;
        }
    }
    let exact = 0.5 * (lo + hi);
    // The smallest whole n whose power reaches the target: power rises with n.
    let mut seeds = exact.ceil().max(2.0);
    if seeds - 1.0 >= 2.0 && reached(seeds - 1.0) {
        seeds -= 1.0;
    }
    Some(SampleSize { exact, seeds: seeds as u64 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noncentral_t_matches_scipy() {
        // scipy (bench/requirements.txt): stats.nct.cdf(t, df, nc)
        let pinned = [
            (1.5, 4.0, 1.0, 0.6403408655900471),
            (-0.5, 9.0, 0.7, 0.11931123865523842),
            (2.776445105197799, 4.0, 2.0, 0.6641890696361938),
            (0.0, 3.0, 1.2, 0.11506967022170833),
        ];
        for (t, df, nc, want) in pinned {
            let got = noncentral_t_cdf(t, df, nc);
            assert!((got - want).abs() < 1e-9, "nct.cdf({t}, {df}, {nc}) = {got}, scipy {want}");
        }
        // nc = 0 is the central t.
        let central = noncentral_t_cdf(2.0, 5.0, 0.0);
        assert!((central - 0.9490302605850709).abs() < 1e-10, "{central}");
    }

    #[test]
    fn power_rises_with_seeds() {
        let a = paired_t_power(1.0, 5.0, 0.05);
        let b = paired_t_power(1.0, 10.0, 0.05);
        assert!(a < b && b < 1.0, "{a} {b}");
        // No effect: the power is the level.
        assert!((paired_t_power(0.0, 8.0, 0.05) - 0.05).abs() < 1e-9);
    }

    #[test]
    fn zero_effect_needs_no_finite_study() {
        assert_eq!(seeds_needed(0.0, 0.05, 0.8), None);
        assert_eq!(seeds_needed(f64::NAN, 0.05, 0.8), None);
        assert_eq!(seeds_needed(100.0, 0.05, 0.8).unwrap().seeds, 2, "never fewer than two seeds");
    }
}
