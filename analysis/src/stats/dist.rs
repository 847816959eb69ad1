//! Student t quantiles and tail probabilities (statrs underneath).

use statrs::distribution::{Continuous, ContinuousCDF, Normal, StudentsT};

/// The `p` quantile of Student's t with `df` degrees of freedom; NaN when
/// `df` is not positive or `p` is outside (0, 1).
///
/// statrs inverts the regularised incomplete beta function; two Newton
/// steps on the CDF polish it, and above 1e5 degrees of freedom (where the
/// beta function itself loses digits) a Cornish-Fisher expansion takes over.
/// Agreement with scipy.stats.t.ppf to 1e-10 relative is tested.
pub fn t_quantile(p: f64, df: f64) -> f64 {
    if !(df > 0.0) || !(p > 0.0 && p < 1.0) {
        return f64::NAN;
    }
    if df > 1e5 {
        // The incomplete beta function loses digits here; the Cornish-Fisher
        // expansion around the normal quantile is exact to double precision.
        let z = normal_quantile(p);
        let (z2, v) = (z * z, df);
        return z
            + z * (z2 + 1.0) / (4.0 * v)
            + z * ((5.0 * z2 + 16.0) * z2 + 3.0) / (96.0 * v * v)
            + z * (((3.0 * z2 + 19.0) * z2 + 17.0) * z2 - 15.0) / (384.0 * v * v * v);
    }
    let Ok(t) = StudentsT::new(0.0, 1.0, df) else {
        return f64::NAN;
    };
    let mut x = t.inverse_cdf(p);
    if !x.is_finite() {
        x = normal_quantile(p);
    }
    for _ in 0..2 {
        let density = t.pdf(x);
        if density > 0.0 {
            x -= (t.cdf(x) - p) / density;
        }
    }
    x
}

/// Two-sided p-value of a t statistic.
pub fn t_two_sided_p(stat: f64, df: f64) -> f64 {
    if !(df > 0.0) || stat.is_nan() {
        return f64::NAN;
    }
    let Ok(t) = StudentsT::new(0.0, 1.0, df) else {
        return f64::NAN;
    };
    (2.0 * t.sf(stat.abs())).min(1.0)
}

pub fn normal_quantile(p: f64) -> f64 {
    Normal::standard().inverse_cdf(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    // scipy 1.16.3: stats.t.ppf(0.975, df) and 2 * stats.t.sf(2.5, df).
    const PINNED: &[(f64, f64, f64)] = &[
        (1.0, 12.706204736432095, 0.2422378831816867),
        (2.0, 4.302652729696142, 0.1296117202215108),
        (3.0, 3.182446305284263, 0.08770664700806555),
        (4.0, 2.7764451051977987, 0.06676654481198813),
        (9.0, 2.2621571628540993, 0.03386182768298571),
        (30.0, 2.0422724563012373, 0.018115649068066706),
        (1000.0, 1.9623390808264074, 0.012578567801090793),
        (5e4, 1.9600114310936796, 0.012422507811111596),
        (99_999.0, 1.9599877077718446, 0.012420919208445),
        (100_001.0, 1.959987707297379, 0.012420919176673388),
        (3e5, 1.9599718921421827, 0.012419860156604684),
        (2e6, 1.9599651706763745, 0.012419410076760827),
    ];

    #[test]
    fn quantiles_and_p_values_match_scipy() {
        for &(df, q, p) in PINNED {
            let got = t_quantile(0.975, df);
            assert!((got - q).abs() < 1e-10 * q.max(1.0), "df {df}: {got} vs {q}");
            assert!((t_quantile(0.025, df) + q).abs() < 1e-10 * q.max(1.0));
            let gp = t_two_sided_p(2.5, df);
            assert!((gp - p).abs() < 1e-10, "df {df}: {gp} vs {p}");
        }
    }

    #[test]
    fn degenerate_inputs_are_nan() {
        assert!(t_quantile(0.975, 0.0).is_nan());
        assert!(t_quantile(1.0, 3.0).is_nan());
        assert!(t_two_sided_p(f64::NAN, 3.0).is_nan());
    }
}
