//! The backdoor adjustment: OLS of the outcome on the treatment indicator
//! plus confounders over the rows of both arms (what DoWhy's
//! `backdoor.linear_regression` fits), and fast re-estimation of the
//! treatment coefficient for the refuters from sufficient statistics.

use crate::stats::ols::{Cholesky, OlsError, OlsFit, ols};

/// The rows of a regression: outcome, 0/1 treatment, confounders. When
/// `pairs` is Some(n), the layout is paired: rows `0..n` are the control
/// rows and `n..2n` the treatment rows, pair `i` being rows `i` and `n + i`.
#[derive(Debug, Clone)]
pub struct LinearDesign {
    pub y: Vec<f64>,
    pub t: Vec<f64>,
    pub w: Vec<Vec<f64>>,
    pub pairs: Option<usize>,
    /// Uncentred sums over [1, t, w...]: x'x (row-major) and x'y.
    xtx: Vec<f64>,
    xty: Vec<f64>,
}

impl LinearDesign {
    pub fn new(y: Vec<f64>, t: Vec<f64>, w: Vec<Vec<f64>>, pairs: Option<usize>) -> Self {
        let p = w.len() + 2;
        let mut xtx = vec![0.0; p * p];
        let mut xty = vec![0.0; p];
        let mut x = vec![0.0; p];
        for i in 0..y.len() {
            x[0] = 1.0;
            x[1] = t[i];
            for (j, col) in w.iter().enumerate() {
                x[2 + j] = col[i];
            }
            for a in 0..p {
                xty[a] += x[a] * y[i];
                for b in 0..=a {
                    xtx[a * p + b] += x[a] * x[b];
                }
            }
        }
        for a in 0..p {
            for b in 0..a {
                xtx[b * p + a] = xtx[a * p + b];
            }
        }
        Self { y, t, w, pairs, xtx, xty }
    }

    pub fn rows(&self) -> usize {
        self.y.len()
    }

    /// The exact fit (centred, with a residual pass): the reported estimate.
    pub fn fit(&self) -> Result<OlsFit, OlsError> {
        let mut cols: Vec<&[f64]> = vec![&self.t];
        cols.extend(self.w.iter().map(Vec::as_slice));
        ols(&self.y, &cols)
    }

    fn p(&self) -> usize {
        self.w.len() + 2
    }

    /// Treatment coefficient from uncentred sums over [1, t, w..., extra...].
    fn coefficient(xtx: &[f64], xty: &[f64], p: usize) -> f64 {
        let n = xtx[0];
        if !(n > 0.0) {
            return f64::NAN;
        }
        let q = p - 1;
        let mut c = vec![0.0; q * q];
        let mut r = vec![0.0; q];
        for a in 1..p {
            r[a - 1] = xty[a] - xtx[a * p] * xty[0] / n;
            for b in 1..p {
                c[(a - 1) * q + (b - 1)] = xtx[a * p + b] - xtx[a * p] * xtx[b * p] / n;
            }
        }
        match Cholesky::new(&c, q) {
            Ok(chol) => chol.solve(&r)[0],
            Err(_) => f64::NAN,
        }
    }

    /// Treatment coefficient with the treatment relabelled. Paired layout:
    /// `flip[i]` swaps the arms of pair `i`. Otherwise `flip` is the new
    /// treatment indicator of every row (a permutation of `t`).
    pub fn relabelled(&self, flip: &[bool]) -> f64 {
        let p = self.p();
        let mut xtx = self.xtx.clone();
        let mut xty = self.xty.clone();
        let k = self.w.len();
        let mut tw = vec![0.0; k];
        let mut ty = 0.0;
        let mut tt = 0.0;
        match self.pairs {
            Some(n) => {
                for i in 0..n {
                    let row = if flip[i] { i } else { n + i };
                    ty += self.y[row];
                    for j in 0..k {
                        tw[j] += self.w[j][row];
                    }
                }
                tt = n as f64;
            }
            None => {
                for (row, &treated) in flip.iter().enumerate() {
                    if treated {
                        tt += 1.0;
                        ty += self.y[row];
                        for j in 0..k {
                            tw[j] += self.w[j][row];
                        }
                    }
                }
            }
        }
        xtx[p] = tt;
        xtx[1] = tt;
        xtx[p + 1] = tt;
        for j in 0..k {
            xtx[p + 2 + j] = tw[j];
            xtx[(2 + j) * p + 1] = tw[j];
        }
        xty[1] = ty;
        Self::coefficient(&xtx, &xty, p)
    }

    /// Treatment coefficient with one more confounder, `z` (one value per row).
    pub fn with_confounder(&self, z: &[f64]) -> f64 {
        let p = self.p();
        let q = p + 1;
        let mut xtx = vec![0.0; q * q];
        let mut xty = vec![0.0; q];
        for a in 0..p {
            xty[a] = self.xty[a];
            for b in 0..p {
                xtx[a * q + b] = self.xtx[a * p + b];
            }
        }
        let mut zx = vec![0.0; q];
        let mut zy = 0.0;
        for (i, &zi) in z.iter().enumerate() {
            zx[0] += zi;
            zx[1] += zi * self.t[i];
            for (j, col) in self.w.iter().enumerate() {
                zx[2 + j] += zi * col[i];
            }
            zx[p] += zi * zi;
            zy += zi * self.y[i];
        }
        for a in 0..q {
            xtx[p * q + a] = zx[a];
            xtx[a * q + p] = zx[a];
        }
        xty[p] = zy;
        Self::coefficient(&xtx, &xty, q)
    }

    /// Treatment coefficient without the given units (pairs in the paired
    /// layout, rows otherwise).
    pub fn without(&self, dropped: &[usize]) -> f64 {
        let p = self.p();
        let mut xtx = self.xtx.clone();
        let mut xty = self.xty.clone();
        let mut x = vec![0.0; p];
        let mut remove = |row: usize, xtx: &mut Vec<f64>, xty: &mut Vec<f64>| {
            x[0] = 1.0;
            x[1] = self.t[row];
            for (j, col) in self.w.iter().enumerate() {
                x[2 + j] = col[row];
            }
            for a in 0..p {
                xty[a] -= x[a] * self.y[row];
                for b in 0..p {
                    xtx[a * p + b] -= x[a] * x[b];
                }
            }
        };
        for &unit in dropped {
            match self.pairs {
                Some(n) => {
                    remove(unit, &mut xtx, &mut xty);
                    remove(n + unit, &mut xtx, &mut xty);
                }
                None => remove(unit, &mut xtx, &mut xty),
            }
        }
        Self::coefficient(&xtx, &xty, p)
    }

    /// Units the refuters resample: pairs, or rows.
    pub fn units(&self) -> usize {
        self.pairs.unwrap_or(self.y.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn design(pairs: bool) -> LinearDesign {
        let n = 40;
        let w1: Vec<f64> = (0..n).map(|i| ((i * 7) % 13) as f64).collect();
        let w2: Vec<f64> = (0..n).map(|i| ((i * 5) % 11) as f64 + 2.0).collect();
        let noise = |i: usize| (((i * 31) % 17) as f64 - 8.0) / 4.0;
        let mut y = Vec::new();
        let mut t = Vec::new();
        let mut a = Vec::new();
        let mut b = Vec::new();
        for arm in 0..2 {
            for i in 0..n {
                y.push(10.0 + 2.5 * arm as f64 + 0.3 * w1[i] - 0.2 * w2[i] + noise(i + arm * n));
                t.push(arm as f64);
                a.push(w1[i]);
                b.push(w2[i] + if pairs { 0.0 } else { arm as f64 * 0.5 * ((i % 3) as f64) });
            }
        }
        LinearDesign::new(y, t, vec![a, b], pairs.then_some(n))
    }

    #[test]
    fn sufficient_statistics_agree_with_the_exact_fit() {
        for paired in [true, false] {
            let d = design(paired);
            let exact = d.fit().unwrap().coef[1];
            let identity: Vec<bool> = if paired { vec![false; 40] } else { d.t.iter().map(|&v| v == 1.0).collect() };
            assert!((d.relabelled(&identity) - exact).abs() < 1e-9);
            assert!((d.without(&[]) - exact).abs() < 1e-9);
        }
    }

    #[test]
    fn relabelling_and_dropping_match_refits() {
        let d = design(true);
        let n = 40;
        let flip: Vec<bool> = (0..n).map(|i| i % 3 == 0).collect();
        let mut y = d.y.clone();
        let mut w: Vec<Vec<f64>> = d.w.clone();
        for i in 0..n {
            if flip[i] {
                y.swap(i, n + i);
                for col in &mut w {
                    col.swap(i, n + i);
                }
            }
        }
        let refit = LinearDesign::new(y, d.t.clone(), w, Some(n)).fit().unwrap().coef[1];
        assert!((d.relabelled(&flip) - refit).abs() < 1e-9);

        let dropped = [1usize, 5, 7];
        let keep: Vec<usize> = (0..2 * n).filter(|r| !dropped.contains(&(r % n))).collect();
        let pick = |v: &[f64]| keep.iter().map(|&r| v[r]).collect::<Vec<_>>();
        let sub = LinearDesign::new(pick(&d.y), pick(&d.t), d.w.iter().map(|c| pick(c)).collect(), None);
        assert!((d.without(&dropped) - sub.fit().unwrap().coef[1]).abs() < 1e-9);

        let z: Vec<f64> = (0..2 * n).map(|i| ((i * 13) % 7) as f64 - 3.0).collect();
        let mut w3 = d.w.clone();
        w3.push(z.clone());
        let with_z = LinearDesign::new(d.y.clone(), d.t.clone(), w3, Some(n)).fit().unwrap().coef[1];
        assert!((d.with_confounder(&z) - with_z).abs() < 1e-9);
    }
}
