//! The regression adjustment: OLS of the outcome on the treatment indicator
//! plus pre-treatment covariates over the rows of both arms (the model of
//! DoWhy's `backdoor.linear_regression`), with standard errors clustered by
//! seed when the rows come from several training runs.
//!
//! Only pre-treatment covariates are adjusted for: in a paired design both
//! rows of a pair carry the *control* example's covariates, because a
//! mutation of the test split changes the treated example's own length, and
//! adjusting for a consequence of the treatment would bias the estimate.
//! With identical covariates on both rows of every pair, the treatment
//! coefficient equals the paired mean difference exactly (the covariates
//! are balanced between the arms by construction), so in a paired design
//! the adjustment cannot move the estimate; its interval differs only
//! through its standard error. That is why it is not the headline, and why
//! the terminal table shows it only with `--detail`.

use crate::stats::ols::{OlsError, OlsFit, ols, ols_clustered};

/// The rows of a regression: outcome, 0/1 treatment, covariates, and the
/// seed (cluster) index of each row when standard errors are clustered.
/// When `pairs` is Some(n), rows `0..n` are the control rows and `n..2n`
/// the treatment rows, pair `i` being rows `i` and `n + i`.
#[derive(Debug, Clone)]
pub struct LinearDesign {
    pub y: Vec<f64>,
    pub t: Vec<f64>,
    pub w: Vec<Vec<f64>>,
    pub pairs: Option<usize>,
    pub clusters: Option<Vec<usize>>,
}

impl LinearDesign {
    pub fn new(y: Vec<f64>, t: Vec<f64>, w: Vec<Vec<f64>>, pairs: Option<usize>, clusters: Option<Vec<usize>>) -> Self {
        Self { y, t, w, pairs, clusters }
    }

    pub fn rows(&self) -> usize {
        self.y.len()
    }

    /// The fit: clustered standard errors (G - 1 degrees of freedom) when
    /// the rows span two or more clusters, ordinary ones otherwise.
    pub fn fit(&self) -> Result<OlsFit, OlsError> {
        let mut cols: Vec<&[f64]> = vec![&self.t];
        cols.extend(self.w.iter().map(Vec::as_slice));
        match &self.clusters {
            Some(c) if c.iter().any(|&g| g != c[0]) => ols_clustered(&self.y, &cols, c),
            _ => ols(&self.y, &cols),
        }
    }

    /// Whether the fit is clustered.
    pub fn clustered(&self) -> bool {
        self.clusters.as_ref().is_some_and(|c| c.iter().any(|&g| g != c[0]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paired_rows_with_shared_covariates_give_the_paired_mean() {
        let n = 30;
        let w: Vec<f64> = (0..n).map(|i| ((i * 7) % 13) as f64).collect();
        let yc: Vec<f64> = (0..n).map(|i| 10.0 + 0.3 * w[i] + ((i * 31) % 17) as f64 / 4.0).collect();
        let yt: Vec<f64> = (0..n).map(|i| yc[i] + 2.0 + ((i * 11) % 5) as f64 / 3.0).collect();
        let y: Vec<f64> = yc.iter().chain(&yt).copied().collect();
        let t: Vec<f64> = (0..2 * n).map(|r| if r < n { 0.0 } else { 1.0 }).collect();
        let ww: Vec<f64> = w.iter().chain(&w).copied().collect();
        let clusters: Vec<usize> = (0..2 * n).map(|r| (r % n) / 10).collect();
        let d = LinearDesign::new(y, t, vec![ww], Some(n), Some(clusters));
        assert!(d.clustered());
        let fit = d.fit().unwrap();
        let paired = yt.iter().zip(&yc).map(|(a, b)| a - b).sum::<f64>() / n as f64;
        assert!((fit.coef[1] - paired).abs() < 1e-9, "{} vs {paired}", fit.coef[1]);
        assert_eq!(fit.df_resid, 2.0, "three clusters");
    }
}
