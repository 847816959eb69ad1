//! Flat paired tables with a seed-level random effect, for the calibration
//! tests of the headline interval: arms `control` and `treated`, `seeds`
//! training runs each, `examples` test examples per run.
//!
//! ```text
//! y(control, s, i) = base + difficulty_i + u_s + e_{c,s,i}
//! y(treated, s, i) = base + difficulty_i + u_s + effect + v_s + e_{t,s,i}
//! ```
//!
//! with `u_s ~ N(0, shared_sd)` what the two arms' runs of one seed share
//! (the data order, the initialisation), `v_s ~ N(0, seed_sd)` how the
//! effect itself varies between training runs (the seed-level spread), and
//! `e ~ N(0, noise_sd)` the example noise. The planted effect is `effect`;
//! the effect for these particular trained models is `effect + mean_s v_s`
//! ([`PairedStudy::conditional_effect`]), which is what the example-level
//! intervals estimate. `source_len` is a pre-treatment covariate; with
//! `shift_treated_len` the treated rows' lengths differ (a mutation that
//! rewrote the test split), which the dummy-outcome refuter must catch.

use polars::prelude::*;

use super::normal;
use crate::error::{PolarsContext, Result};
use crate::stats::rng::Rng;

#[derive(Debug, Clone)]
pub struct PairedSim {
    pub seeds: usize,
    pub examples: usize,
    pub effect: f64,
    pub seed_sd: f64,
    pub shared_sd: f64,
    pub noise_sd: f64,
    pub difficulty_sd: f64,
    pub base: f64,
    /// Added to the treated rows' `source_len`.
    pub shift_treated_len: f64,
    /// Per-seed extra effect, by seed index (a planted outlier run).
    pub seed_offsets: Vec<f64>,
    pub rng_seed: u64,
}

impl PairedSim {
    /// The issue's design: planted effect 1.0, seed-level spread 1.5, example noise 3.
    pub fn new(seeds: usize, examples: usize, rng_seed: u64) -> Self {
        Self {
            seeds,
            examples,
            effect: 1.0,
            seed_sd: 1.5,
            shared_sd: 2.0,
            noise_sd: 3.0,
            difficulty_sd: 5.0,
            base: 40.0,
            shift_treated_len: 0.0,
            seed_offsets: Vec::new(),
            rng_seed,
        }
    }
}

/// A simulated study's table and what was planted in it.
#[derive(Debug, Clone)]
pub struct PairedStudy {
    pub table: DataFrame,
    /// v_s per seed: the treated runs' deviation from the planted effect.
    pub seed_effects: Vec<f64>,
    pub effect: f64,
}

impl PairedStudy {
    /// The effect for these trained models: planted + the mean seed deviation.
    pub fn conditional_effect(&self) -> f64 {
        self.effect + self.seed_effects.iter().sum::<f64>() / self.seed_effects.len().max(1) as f64
    }
}

impl PairedSim {
    /// Columns `arm`, `seed`, `example_id`, `y`, `source_len`.
    pub fn study(&self) -> Result<PairedStudy> {
        let mut rng = Rng::new(self.rng_seed);
        let difficulty: Vec<f64> = (0..self.examples).map(|_| normal(&mut rng) * self.difficulty_sd).collect();
        let length: Vec<i64> = (0..self.examples).map(|_| 1 + rng.below(60) as i64).collect();
        let n = 2 * self.seeds * self.examples;
        let (mut arm, mut seed, mut id, mut y, mut len) =
            (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n), Vec::new());
        let mut seed_effects = Vec::with_capacity(self.seeds);
        for s in 0..self.seeds {
            let u = normal(&mut rng) * self.shared_sd;
            let v = normal(&mut rng) * self.seed_sd + self.seed_offsets.get(s).copied().unwrap_or(0.0);
            seed_effects.push(v);
            for (name, shift, len_shift) in
                [("control", 0.0, 0.0), ("treated", self.effect + v, self.shift_treated_len)]
            {
                for i in 0..self.examples {
                    arm.push(name);
                    seed.push(s as i64 + 1);
                    id.push(i as i64);
                    y.push(self.base + difficulty[i] + u + shift + normal(&mut rng) * self.noise_sd);
                    len.push(length[i] as f64 + len_shift);
                }
            }
        }
        let table = DataFrame::new(
            n,
            vec![
                Column::new("arm".into(), arm),
                Column::new("seed".into(), seed),
                Column::new("example_id".into(), id),
                Column::new("y".into(), y),
                Column::new("source_len".into(), len),
            ],
        )
        .ctx(|| "simulating a paired table".into())?;
        Ok(PairedStudy { table, seed_effects, effect: self.effect })
    }
}
