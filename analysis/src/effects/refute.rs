//! Refuters, after DoWhy, rebuilt for a paired design whose unit of
//! replication is the training run. Each one tests something that can go
//! wrong in a study, and each can fail (analysis/tests/refuters.rs plants
//! the flaw each one catches):
//!
//! - **placebo** (whole-seed placebo treatment): the per-seed example
//!   differences are centred on the overall effect (so there is no effect
//!   left), then whole seeds are relabelled, treatment for control, over
//!   every sign vector (exactly up to 12 seeds, else `sims` random ones,
//!   leaving out the identity and the full flip). `effect` is the share of
//!   these placebos whose example-level interval excludes 0. Fails when it
//!   is above a quarter: training-run noise alone then makes the
//!   example-level interval look significant, so that interval must not be
//!   read as evidence about the intervention (the headline is over seeds).
//! - **dummy outcome**: a pre-treatment covariate (source or target length,
//!   `--confounders`) used as the outcome. The intervention cannot change
//!   it, so its paired effect must be 0. Fails when the arms were scored on
//!   different inputs (a mutation that rewrites the test split, examples
//!   paired on the wrong key). `effect` is the largest dummy effect, with
//!   its seed-level interval.
//! - **data subset** (leave one seed out): the headline estimate without
//!   each seed in turn. Fails when dropping one training run flips the sign
//!   of the effect: the conclusion then rests on that run. `low`/`high` are
//!   the smallest and largest leave-one-out estimates.
//! - **sensitivity** (unobserved confounder): a confounder that shifted
//!   every treatment run by `b` points would move the headline interval to
//!   0 when |b| reaches the distance from 0 to the interval. `effect` is that
//!   distance, `low` the same in standard deviations of the control arm's
//!   seed-to-seed outcome. Fails when a bias under half a seed-to-seed
//!   standard deviation would erase the effect: any systematic difference
//!   between the arms' runs that small (hardware, library versions, a
//!   different data order) explains it. Not applicable (no verdict) when the
//!   interval already includes 0.
//!
//! The random-common-cause refuter of earlier versions is gone: in a paired
//! design an independent noise covariate cannot move the paired estimate,
//! so it passed by construction.

use super::estimate::SeedLevel;
use crate::stats::describe::{mean, std_dev};
use crate::stats::dist::t_quantile;
use crate::stats::rng::Rng;
use crate::stats::ttest::paired_t;

/// Seeds up to which the placebo enumerates every relabelling.
pub const PLACEBO_EXACT_SEEDS: usize = 12;
/// Largest share of whole-seed placebos allowed to look significant at the example level.
pub const PLACEBO_MAX_SHARE: f64 = 0.25;
/// Smallest bias, in control seed-to-seed standard deviations, that may be needed to erase an effect.
pub const SENSITIVITY_MIN_SD: f64 = 0.5;

#[derive(Debug, Clone, PartialEq)]
pub struct Refutation {
    pub effect: f64,
    pub low: f64,
    pub high: f64,
    /// None: the refuter could not run here (too few seeds, no covariate, nothing to refute).
    pub pass: Option<bool>,
}

impl Refutation {
    fn none() -> Self {
        Self { effect: f64::NAN, low: f64::NAN, high: f64::NAN, pass: None }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Refutations {
    pub placebo: Refutation,
    pub dummy_outcome: Refutation,
    pub data_subset: Refutation,
    pub sensitivity: Refutation,
}

impl Refutations {
    fn all(&self) -> [(&'static str, &Refutation); 4] {
        [
            ("placebo", &self.placebo),
            ("dummy outcome", &self.dummy_outcome),
            ("data subset", &self.data_subset),
            ("sensitivity", &self.sensitivity),
        ]
    }

    pub fn passed(&self) -> usize {
        self.all().iter().filter(|(_, r)| r.pass == Some(true)).count()
    }

    /// Refuters that gave a verdict.
    pub fn run(&self) -> usize {
        self.all().iter().filter(|(_, r)| r.pass.is_some()).count()
    }

    /// Names of the refuters that failed.
    pub fn failed(&self) -> Vec<&'static str> {
        self.all().iter().filter(|(_, r)| r.pass == Some(false)).map(|(n, _)| *n).collect()
    }

    /// "2/3 pass", or "-" when none could run.
    pub fn summary(&self) -> String {
        if self.run() == 0 { "-".into() } else { format!("{}/{} pass", self.passed(), self.run()) }
    }
}

/// What the refuters need from one row.
pub struct RefuteInput<'a> {
    /// The headline: per-seed differences, control values and interval.
    pub seed: &'a SeedLevel,
    /// Example differences, one slice per seed (empty without examples).
    pub groups: &'a [&'a [f64]],
    /// Per pre-treatment covariate: the per-seed mean of (treatment − control) covariate values.
    pub covariates: &'a [Vec<f64>],
    pub level: f64,
    pub sims: usize,
    pub rng_seed: u64,
    pub key: u64,
}

pub fn refute(input: &RefuteInput) -> Refutations {
    Refutations {
        placebo: placebo(input),
        dummy_outcome: dummy_outcome(input),
        data_subset: leave_one_seed_out(input.seed),
        sensitivity: sensitivity(input.seed),
    }
}

fn placebo(input: &RefuteInput) -> Refutation {
    let groups: Vec<&[f64]> = input.groups.iter().copied().filter(|g| !g.is_empty()).collect();
    let k = groups.len();
    if k < 2 || input.sims == 0 {
        return Refutation::none();
    }
    // Sufficient statistics: flipping a whole seed flips the sign of its sum
    // of centred differences and leaves the sum of squares unchanged, so each
    // placebo's paired t costs O(k), not O(examples).
    let n: usize = groups.iter().map(|g| g.len()).sum();
    let nf = n as f64;
    let centre = groups.iter().flat_map(|g| g.iter()).sum::<f64>() / nf;
    let sums: Vec<f64> = groups.iter().map(|g| g.iter().map(|d| d - centre).sum()).collect();
    let squares: f64 = groups.iter().flat_map(|g| g.iter()).map(|d| (d - centre) * (d - centre)).sum();
    let q = t_quantile(0.5 + input.level / 2.0, nf - 1.0);
    let significant = |signs: &dyn Fn(usize) -> bool| -> bool {
        let m = sums.iter().enumerate().map(|(i, s)| if signs(i) { -s } else { *s }).sum::<f64>() / nf;
        let var = (squares - nf * m * m) / (nf - 1.0);
        let se = (var.max(0.0) / nf).sqrt();
        // As paired_t's interval: it excludes 0 when |mean| > q se.
        n >= 2 && m.abs() > q * se
    };
    let (hits, total) = if k <= PLACEBO_EXACT_SEEDS {
        // Masks 1..2^k - 1: every relabelling but the identity and the full flip.
        let masks = (1usize << k) - 1;
        let hits = (1..masks).filter(|&m| significant(&|i| m >> i & 1 == 1)).count();
        (hits, masks - 1)
    } else {
        let mut hits = 0;
        for s in 0..input.sims {
            let mut rng = Rng::stream(input.rng_seed, input.key ^ 0x706C_6163_6562_6F00, s as u64);
            let bits: Vec<bool> = (0..k).map(|_| rng.next_u64() >> 63 == 1).collect();
            hits += usize::from(significant(&|i| bits[i]));
        }
        (hits, input.sims)
    };
    let share = hits as f64 / total as f64;
    Refutation { effect: share, low: f64::NAN, high: f64::NAN, pass: Some(share <= PLACEBO_MAX_SHARE) }
}

fn dummy_outcome(input: &RefuteInput) -> Refutation {
    let mut worst: Option<Refutation> = None;
    for per_seed in input.covariates {
        let values: Vec<f64> = per_seed.iter().copied().filter(|v| v.is_finite()).collect();
        if values.is_empty() {
            continue;
        }
        let t = paired_t(&values, input.level);
        let scale = values.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        let zero = values.iter().all(|v| v.abs() <= 1e-9 * scale);
        let pass = zero || (values.len() >= 2 && t.ci_low <= 0.0 && 0.0 <= t.ci_high);
        let r = Refutation { effect: t.estimate, low: t.ci_low, high: t.ci_high, pass: Some(pass) };
        let replace = match &worst {
            None => true,
            Some(w) => (w.pass == Some(true) && !pass) || (w.pass == r.pass && r.effect.abs() > w.effect.abs()),
        };
        if replace {
            worst = Some(r);
        }
    }
    worst.unwrap_or_else(Refutation::none)
}

fn leave_one_seed_out(seed: &SeedLevel) -> Refutation {
    let d = &seed.diffs;
    let k = d.len();
    if k < 3 {
        return Refutation::none();
    }
    let total: f64 = d.iter().sum();
    let loo: Vec<f64> = d.iter().map(|x| (total - x) / (k - 1) as f64).collect();
    let low = loo.iter().copied().fold(f64::INFINITY, f64::min);
    let high = loo.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let full = seed.ate;
    let pass = if full > 0.0 {
        low > 0.0
    } else if full < 0.0 {
        high < 0.0
    } else {
        true
    };
    Refutation { effect: mean(&loo), low, high, pass: Some(pass) }
}

fn sensitivity(seed: &SeedLevel) -> Refutation {
    if !(seed.ci_low.is_finite() && seed.ci_high.is_finite()) {
        return Refutation::none();
    }
    let distance = if seed.ci_low > 0.0 {
        seed.ci_low
    } else if seed.ci_high < 0.0 {
        -seed.ci_high
    } else {
        0.0
    };
    let sd = std_dev(&seed.control);
    let in_sd = if sd > 0.0 { distance / sd } else { f64::INFINITY };
    let pass = if distance == 0.0 { None } else { Some(in_sd >= SENSITIVITY_MIN_SD) };
    Refutation { effect: distance, low: in_sd, high: f64::NAN, pass }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The placebo's O(k) paired t agrees with paired_t on the flipped data.
    #[test]
    fn placebo_sufficient_statistics_match_the_paired_t() {
        let mut rng = Rng::new(3);
        let groups: Vec<Vec<f64>> =
            (0..5).map(|g| (0..40).map(|_| g as f64 * 0.7 + 3.0 * (rng.uniform() - 0.5)).collect()).collect();
        let slices: Vec<&[f64]> = groups.iter().map(Vec::as_slice).collect();
        let seed = SeedLevel::empty();
        let input =
            RefuteInput { seed: &seed, groups: &slices, covariates: &[], level: 0.95, sims: 10, rng_seed: 0, key: 0 };
        let all: Vec<f64> = groups.iter().flatten().copied().collect();
        let centre = mean(&all);
        let mut hits = 0;
        for m in 1..31usize {
            let flipped: Vec<f64> = groups
                .iter()
                .enumerate()
                .flat_map(|(i, g)| {
                    let s = if m >> i & 1 == 1 { -1.0 } else { 1.0 };
                    g.iter().map(move |d| s * (d - centre))
                })
                .collect();
            let t = paired_t(&flipped, 0.95);
            hits += usize::from(t.ci_low > 0.0 || t.ci_high < 0.0);
        }
        let r = placebo(&input);
        assert!((r.effect - hits as f64 / 30.0).abs() < 1e-12, "{r:?} vs {hits}/30");
        assert!(hits > 0, "the seeds differ: some placebos look significant");
    }
}
