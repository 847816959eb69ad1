//! Ordinary least squares with an intercept, as statsmodels' `OLS(y,
//! add_constant(X)).fit()` (non-robust standard errors, t intervals on the
//! residual degrees of freedom). This is the estimator behind DoWhy's
//! `backdoor.linear_regression`.
//!
//! Columns are centred before the cross-products are formed, so the normal
//! equations stay well conditioned (lengths of 20-50 tokens next to a 0/1
//! treatment would otherwise square a condition number in the thousands).

use super::dist::{t_quantile, t_two_sided_p};

#[derive(Debug, Clone, PartialEq)]
pub struct OlsFit {
    /// Intercept first, then one coefficient per column, in order.
    pub coef: Vec<f64>,
    pub se: Vec<f64>,
    pub n: usize,
    pub df_resid: f64,
    pub rss: f64,
}

impl OlsFit {
    /// Two-sided `level` interval of coefficient `i` (0 = intercept).
    pub fn interval(&self, i: usize, level: f64) -> (f64, f64) {
        let q = t_quantile(0.5 + level / 2.0, self.df_resid);
        (self.coef[i] - q * self.se[i], self.coef[i] + q * self.se[i])
    }

    pub fn p_value(&self, i: usize) -> f64 {
        t_two_sided_p(self.coef[i] / self.se[i], self.df_resid)
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OlsError {
    #[error("{n} observations are too few for {p} coefficients")]
    TooFewRows { n: usize, p: usize },
    #[error("column {column} is constant or a linear combination of the others")]
    Collinear { column: usize },
    #[error("{clusters} cluster(s): cluster-robust standard errors need at least two")]
    TooFewClusters { clusters: usize },
    #[error("column {column} has {len} values, expected {n}")]
    Ragged { column: usize, len: usize, n: usize },
}

/// Fit `y ~ 1 + columns[0] + columns[1] + ...`.
pub fn ols(y: &[f64], columns: &[&[f64]]) -> Result<OlsFit, OlsError> {
    let n = y.len();
    let p = columns.len();
    for (j, c) in columns.iter().enumerate() {
        if c.len() != n {
            return Err(OlsError::Ragged { column: j, len: c.len(), n });
        }
    }
    if n <= p + 1 {
        return Err(OlsError::TooFewRows { n, p: p + 1 });
    }
    let nf = n as f64;
    let y_mean = y.iter().sum::<f64>() / nf;
    let means: Vec<f64> = columns.iter().map(|c| c.iter().sum::<f64>() / nf).collect();

    // Centred cross-products, one pass over the rows.
    let mut xtx = vec![0.0; p * p];
    let mut xty = vec![0.0; p];
    let mut centred = vec![0.0; p];
    for i in 0..n {
        for j in 0..p {
            centred[j] = columns[j][i] - means[j];
        }
        let yc = y[i] - y_mean;
        for j in 0..p {
            xty[j] += centred[j] * yc;
            for k in 0..=j {
                xtx[j * p + k] += centred[j] * centred[k];
            }
        }
    }
    for j in 0..p {
        for k in 0..j {
            xtx[k * p + j] = xtx[j * p + k];
        }
    }
    let chol = Cholesky::new(&xtx, p).map_err(|column| OlsError::Collinear { column })?;
    let slopes = chol.solve(&xty);
    let intercept = y_mean - slopes.iter().zip(&means).map(|(b, m)| b * m).sum::<f64>();

    let mut rss = 0.0;
    for i in 0..n {
        let mut fitted = intercept;
        for j in 0..p {
            fitted += slopes[j] * columns[j][i];
        }
        let r = y[i] - fitted;
        rss += r * r;
    }
    let df_resid = (n - p - 1) as f64;
    let sigma2 = rss / df_resid;
    let inv = chol.inverse();
    let mut se = Vec::with_capacity(p + 1);
    // Var(intercept) = sigma^2 (1/n + mean' (Xc'Xc)^-1 mean).
    let mut quad = 0.0;
    for j in 0..p {
        for k in 0..p {
            quad += means[j] * inv[j * p + k] * means[k];
        }
    }
    se.push((sigma2 * (1.0 / nf + quad)).sqrt());
    for j in 0..p {
        se.push((sigma2 * inv[j * p + j]).sqrt());
    }
    let mut coef = Vec::with_capacity(p + 1);
    coef.push(intercept);
    coef.extend(slopes);
    Ok(OlsFit { coef, se, n, df_resid, rss })
}

/// `y ~ 1 + columns...` with cluster-robust standard errors of the slopes,
/// as statsmodels' `OLS(...).fit(cov_type="cluster", cov_kwds={"groups":
/// clusters}, use_t=True)`: the sandwich `(X'X)^-1 (sum_g s_g s_g') (X'X)^-1`
/// with `s_g` the sum of `x_i e_i` over cluster `g`, scaled by
/// `G/(G-1) (n-1)/(n-p)`, and t intervals on `G - 1` degrees of freedom.
/// The slopes are those of [`ols`]; by Frisch-Waugh-Lovell the slope block
/// of the sandwich needs only the centred columns, so the intercept's
/// standard error is not computed (NaN).
pub fn ols_clustered(y: &[f64], columns: &[&[f64]], clusters: &[usize]) -> Result<OlsFit, OlsError> {
    let mut fit = ols(y, columns)?;
    let n = y.len();
    let p = columns.len();
    if clusters.len() != n {
        return Err(OlsError::Ragged { column: p, len: clusters.len(), n });
    }
    let groups = clusters.iter().copied().max().map_or(0, |m| m + 1);
    let used: std::collections::BTreeSet<usize> = clusters.iter().copied().collect();
    let g = used.len();
    if g < 2 {
        return Err(OlsError::TooFewClusters { clusters: g });
    }
    let nf = n as f64;
    let means: Vec<f64> = columns.iter().map(|c| c.iter().sum::<f64>() / nf).collect();
    let mut xtx = vec![0.0; p * p];
    let mut scores = vec![0.0; groups * p];
    for i in 0..n {
        let fitted = fit.coef[0] + columns.iter().zip(&fit.coef[1..]).map(|(c, b)| b * c[i]).sum::<f64>();
        let e = y[i] - fitted;
        for j in 0..p {
            let xj = columns[j][i] - means[j];
            scores[clusters[i] * p + j] += xj * e;
            for k in 0..p {
                xtx[j * p + k] += xj * (columns[k][i] - means[k]);
            }
        }
    }
    let chol = Cholesky::new(&xtx, p).map_err(|column| OlsError::Collinear { column })?;
    let inv = chol.inverse();
    let mut meat = vec![0.0; p * p];
    for c in 0..groups {
        let s = &scores[c * p..(c + 1) * p];
        for j in 0..p {
            for k in 0..p {
                meat[j * p + k] += s[j] * s[k];
            }
        }
    }
    let gf = g as f64;
    let scale = gf / (gf - 1.0) * (nf - 1.0) / (nf - (p + 1) as f64);
    fit.se[0] = f64::NAN;
    for j in 0..p {
        // (inv * meat * inv)[j][j]
        let mut v = 0.0;
        for a in 0..p {
            for b in 0..p {
                v += inv[j * p + a] * meat[a * p + b] * inv[b * p + j];
            }
        }
        fit.se[j + 1] = (scale * v).sqrt();
    }
    fit.df_resid = gf - 1.0;
    Ok(fit)
}

/// Cholesky factor `L` (row-major, lower) of a symmetric positive definite matrix.
#[derive(Debug, Clone)]
pub struct Cholesky {
    l: Vec<f64>,
    p: usize,
}

impl Cholesky {
    /// Fails with the index of the first column whose pivot vanishes
    /// (relative to its diagonal), i.e. a column that is constant or a
    /// linear combination of the earlier ones.
    pub fn new(a: &[f64], p: usize) -> Result<Self, usize> {
        let mut l = vec![0.0; p * p];
        for j in 0..p {
            let mut d = a[j * p + j];
            for k in 0..j {
                d -= l[j * p + k] * l[j * p + k];
            }
            if !(d > 1e-10 * a[j * p + j].abs()) || !(a[j * p + j] > 0.0) {
                return Err(j);
            }
            let d = d.sqrt();
            l[j * p + j] = d;
            for i in j + 1..p {
                let mut s = a[i * p + j];
                for k in 0..j {
                    s -= l[i * p + k] * l[j * p + k];
                }
                l[i * p + j] = s / d;
            }
        }
        Ok(Self { l, p })
    }

    pub fn solve(&self, b: &[f64]) -> Vec<f64> {
        let p = self.p;
        let mut z = b.to_vec();
        for i in 0..p {
            for k in 0..i {
                z[i] -= self.l[i * p + k] * z[k];
            }
            z[i] /= self.l[i * p + i];
        }
        for i in (0..p).rev() {
            for k in i + 1..p {
                z[i] -= self.l[k * p + i] * z[k];
            }
            z[i] /= self.l[i * p + i];
        }
        z
    }

    pub fn inverse(&self) -> Vec<f64> {
        let p = self.p;
        let mut inv = vec![0.0; p * p];
        let mut e = vec![0.0; p];
        for j in 0..p {
            e.iter_mut().for_each(|v| *v = 0.0);
            e[j] = 1.0;
            let col = self.solve(&e);
            for i in 0..p {
                inv[i * p + j] = col[i];
            }
        }
        inv
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_exact_linear_relation() {
        let x1: Vec<f64> = (0..20).map(|i| i as f64).collect();
        let x2: Vec<f64> = (0..20).map(|i| ((i * 7) % 5) as f64).collect();
        let y: Vec<f64> = x1.iter().zip(&x2).map(|(a, b)| 3.0 + 2.0 * a - 0.5 * b).collect();
        let fit = ols(&y, &[&x1, &x2]).unwrap();
        for (got, want) in fit.coef.iter().zip([3.0, 2.0, -0.5]) {
            assert!((got - want).abs() < 1e-10, "{:?}", fit.coef);
        }
        assert!(fit.rss < 1e-18);
    }

    #[test]
    fn matches_statsmodels() {
        // statsmodels 0.14.5: OLS(y, add_constant(np.column_stack([x1, x2]))).fit()
        // params = [1.135416666666666, 0.6854166666666673, 0.25208333333333355]
        // bse    = [0.2754599478515352, 0.121805238818795, 0.12180523881879504]
        let x1 = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let x2 = [2.0, 1.0, 4.0, 3.0, 6.0, 5.0];
        let y = [2.1, 2.9, 4.2, 4.8, 6.3, 6.2];
        let fit = ols(&y, &[&x1, &x2]).unwrap();
        let params = [1.135416666666666, 0.6854166666666673, 0.25208333333333355];
        let bse = [0.2754599478515352, 0.121805238818795, 0.12180523881879504];
        for i in 0..3 {
            assert!((fit.coef[i] - params[i]).abs() < 1e-10, "{fit:?}");
            assert!((fit.se[i] - bse[i]).abs() < 1e-10, "{fit:?}");
        }
        assert_eq!(fit.df_resid, 3.0);
    }

    #[test]
    fn clustered_matches_statsmodels() {
        // statsmodels: OLS(y, add_constant(column_stack([x1, x2]))).fit(cov_type="cluster",
        //   cov_kwds={"groups": g}, use_t=True): bse[1:] = [0.1527005657608641, 0.12559991374652962],
        //   df_resid_inference = 3, conf_int(0.05)[1] = [0.19590139377756177, 1.167824096418519]
        let x1 = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
        let x2 = [2.0, 1.0, 4.0, 3.0, 6.0, 5.0, 8.0, 9.0];
        let y = [2.1, 2.9, 4.2, 4.8, 6.3, 6.2, 7.9, 8.4];
        let g = [0, 0, 1, 1, 2, 2, 3, 3];
        let fit = ols_clustered(&y, &[&x1, &x2], &g).unwrap();
        assert!((fit.coef[1] - 0.6818627450980403).abs() < 1e-10, "{fit:?}");
        assert!((fit.se[1] - 0.1527005657608641).abs() < 1e-10, "{fit:?}");
        assert!((fit.se[2] - 0.12559991374652962).abs() < 1e-10, "{fit:?}");
        assert_eq!(fit.df_resid, 3.0);
        let (lo, hi) = fit.interval(1, 0.95);
        assert!((lo - 0.19590139377756177).abs() < 1e-9 && (hi - 1.167824096418519).abs() < 1e-9);
        assert_eq!(ols_clustered(&y, &[&x1], &[0; 8]), Err(OlsError::TooFewClusters { clusters: 1 }));
    }

    #[test]
    fn collinear_and_short_inputs_are_errors() {
        let x1 = [1.0, 2.0, 3.0, 4.0];
        let x2 = [2.0, 4.0, 6.0, 8.0];
        let c = [5.0; 4];
        let y = [1.0, 3.0, 2.0, 5.0];
        assert_eq!(ols(&y, &[&x1, &x2]), Err(OlsError::Collinear { column: 1 }));
        assert_eq!(ols(&y, &[&c]), Err(OlsError::Collinear { column: 0 }));
        assert_eq!(ols(&y[..2], &[&x1[..2]]), Err(OlsError::TooFewRows { n: 2, p: 2 }));
    }
}
