//! Numerical building blocks on plain `f64` slices: no Polars here, so the
//! hot loops stay simple and testable against scipy and statsmodels.

pub mod describe;
pub mod dist;
pub mod holm;
pub mod ols;
pub mod permute;
pub mod power;
pub mod resample;
pub mod rng;
pub mod ttest;
