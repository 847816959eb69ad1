//! Bucket-stratified averages of inter-model effects.
//!
//! An inter intervention compares architectures inside complexity buckets;
//! the same pair of architectures (say lstm against rnn) has one effect per
//! bucket. Their average over buckets is the stratified estimator
//! sum_b w_b * ATE_b with w_b = n_b / sum n_b, n_b being the bucket's paired
//! observations at that level (seeds for the seed level, example pairs for
//! the example level, regression rows for the adjusted estimate). With every
//! job finished the buckets are the same size and the weights are equal.
//!
//! Intervals: seed level (the headline), example level and adjusted, a t
//! interval with the standard error sqrt(sum w_b^2 se_b^2) and
//! Welch-Satterthwaite degrees of freedom; the example-level bootstrap, the
//! percentile interval of the weighted sum of the buckets' resamples. The
//! permutation test flips whole seeds of every bucket independently (each
//! bucket's runs were randomised on their own): the statistic is
//! sum_b w_b mean_s(d_bs), so seed s of bucket b weighs w_b / k_b.

use std::collections::BTreeMap;

use super::EffectRow;
use super::design::Design;
use super::estimate::{Adjusted, ExampleLevel, SeedLevel, Settings};
use crate::stats::permute::sign_flip_test;
use crate::stats::resample::percentile_interval;
use crate::stats::rng::stable_hash;
use crate::stats::ttest::weighted_t;

/// The label of a stratified row's bucket column.
pub const STRATIFIED: &str = "all (stratified)";

fn weights(ns: &[usize]) -> Vec<f64> {
    let total: usize = ns.iter().sum();
    ns.iter().map(|&n| if total > 0 { n as f64 / total as f64 } else { 0.0 }).collect()
}

pub fn bucket_averages(rows: &[EffectRow], design: &Design, settings: &Settings) -> Vec<EffectRow> {
    let level = settings.level;
    let arch_of = |arm: &str| design.arm(arm).and_then(|a| a.arch.clone()).unwrap_or_else(|| arm.to_string());
    // (intervention, treatment arch, control arch, outcome, stratum) -> row indices
    let mut groups: BTreeMap<(String, String, String, String, String), Vec<usize>> = BTreeMap::new();
    for (i, r) in rows.iter().enumerate() {
        if r.kind != intervene_proto::tables::KIND_INTER || r.bucket.is_none() {
            continue;
        }
        let key = (
            r.intervention.clone(),
            arch_of(&r.arm),
            arch_of(&r.compare_to),
            r.outcome.clone(),
            r.stratum.clone().unwrap_or_default(),
        );
        groups.entry(key).or_default().push(i);
    }
    let mut out = Vec::new();
    for ((intervention, t_arch, c_arch, outcome, stratum), members) in groups {
        let parts: Vec<&EffectRow> = members.iter().map(|&i| &rows[i]).collect();
        let buckets: Vec<String> = parts.iter().filter_map(|r| r.bucket.clone()).collect();

        let unit = format!("strata\u{1f}{intervention}\u{1f}{t_arch}\u{1f}{c_arch}\u{1f}{outcome}\u{1f}{stratum}");
        let (seed, ws) = seed_average(&parts, settings, &unit);
        let (example, we) = example_average(&parts, level);
        let adjusted = adjusted_average(&parts, level);

        let mut flags = vec![format!(
            "average over buckets {} (weights {})",
            buckets.join(", "),
            we.iter()
                .chain(if we.is_empty() { ws.iter() } else { [].iter() })
                .map(|w| format!("{w:.3}"))
                .collect::<Vec<_>>()
                .join(", ")
        )];
        for r in &parts {
            for f in &r.flags {
                flags.push(format!("{}: {f}", r.bucket.as_deref().unwrap_or("?")));
            }
        }
        out.push(EffectRow {
            outcome,
            arm: t_arch,
            compare_to: c_arch,
            kind: intervene_proto::tables::KIND_INTER.into(),
            intervention,
            bucket: Some(STRATIFIED.into()),
            stratum: if stratum.is_empty() { None } else { Some(stratum) },
            seed,
            example,
            adjusted,
            refutations: None,
            p_t_holm: f64::NAN,
            p_perm_holm: f64::NAN,
            flags,
        });
    }
    out
}

/// The seed-level rows of the buckets averaged with weights by their seed
/// counts (the pooled t, and the sign-flip test over every bucket's seed
/// differences, keyed by `unit`); also the weights.
fn seed_average(parts: &[&EffectRow], settings: &Settings, unit: &str) -> (SeedLevel, Vec<f64>) {
    let level = settings.level;
    let seed_parts: Vec<&EffectRow> = parts.iter().copied().filter(|r| r.seed.n >= 2).collect();
    let ws = weights(&seed_parts.iter().map(|r| r.seed.n).collect::<Vec<_>>());
    let seed = if seed_parts.is_empty() {
        SeedLevel::empty()
    } else {
        let t = weighted_t(
            &seed_parts.iter().zip(&ws).map(|(r, w)| (*w, r.seed.ate, r.seed.se, r.seed.df)).collect::<Vec<_>>(),
            level,
            seed_parts.iter().map(|r| r.seed.n).sum(),
        );
        let mut units = Vec::new();
        let mut unit_weights = Vec::new();
        for (r, w) in seed_parts.iter().zip(&ws) {
            for d in &r.seed.diffs {
                units.push(*d);
                unit_weights.push(w / r.seed.diffs.len() as f64);
            }
        }
        let key = stable_hash(unit);
        let flips = sign_flip_test(&units, &unit_weights, settings.permutations, settings.seed, key);
        SeedLevel {
            n: t.n,
            control_mean: seed_parts.iter().zip(&ws).map(|(r, w)| w * r.seed.control_mean).sum(),
            treatment_mean: seed_parts.iter().zip(&ws).map(|(r, w)| w * r.seed.treatment_mean).sum(),
            ate: t.estimate,
            se: t.se,
            df: t.df,
            ci_low: t.ci_low,
            ci_high: t.ci_high,
            p: t.p,
            p_perm: flips.p,
            perm_exact: flips.exact,
            cohens_d: f64::NAN,
            diffs: Vec::new(),
            control: Vec::new(),
        }
    };
    (seed, ws)
}

/// The example-level rows averaged with weights by their pair counts, the
/// bootstrap replicates combined the same way; also the weights.
fn example_average(parts: &[&EffectRow], level: f64) -> (ExampleLevel, Vec<f64>) {
    let ex_parts: Vec<&EffectRow> = parts.iter().copied().filter(|r| r.example.n_pairs > 0).collect();
    let we = weights(&ex_parts.iter().map(|r| r.example.n_pairs).collect::<Vec<_>>());
    let example = if ex_parts.is_empty() {
        ExampleLevel::empty()
    } else {
        let combine = |pick: fn(&ExampleLevel) -> &Vec<f64>| -> Vec<f64> {
            let len = ex_parts.iter().map(|r| pick(&r.example).len()).min().unwrap_or(0);
            (0..len).map(|i| ex_parts.iter().zip(&we).map(|(r, w)| w * pick(&r.example)[i]).sum()).collect()
        };
        let bootstrap = combine(|e| &e.bootstrap);
        let t = weighted_t(
            &ex_parts.iter().zip(&we).map(|(r, w)| (*w, r.example.ate, r.example.se, r.example.df)).collect::<Vec<_>>(),
            level,
            ex_parts.iter().map(|r| r.example.n_pairs).sum(),
        );
        let mut sorted = bootstrap.clone();
        let (boot_low, boot_high) = percentile_interval(&mut sorted, level);
        ExampleLevel {
            n_pairs: t.n,
            n_seeds: ex_parts.iter().map(|r| r.example.n_seeds).max().unwrap_or(0),
            control_mean: ex_parts.iter().zip(&we).map(|(r, w)| w * r.example.control_mean).sum(),
            treatment_mean: ex_parts.iter().zip(&we).map(|(r, w)| w * r.example.treatment_mean).sum(),
            ate: t.estimate,
            se: t.se,
            df: t.df,
            ci_low: t.ci_low,
            ci_high: t.ci_high,
            p: t.p,
            boot_low,
            boot_high,
            cohens_d: f64::NAN,
            bootstrap,
        }
    };
    (example, we)
}

/// The regression-adjusted rows averaged with weights by their observations.
fn adjusted_average(parts: &[&EffectRow], level: f64) -> Adjusted {
    let adj_parts: Vec<&EffectRow> = parts.iter().copied().filter(|r| r.adjusted.n_obs > 0).collect();
    let wa = weights(&adj_parts.iter().map(|r| r.adjusted.n_obs).collect::<Vec<_>>());
    let adjusted = if adj_parts.is_empty() {
        Adjusted::empty()
    } else {
        let t = weighted_t(
            &adj_parts
                .iter()
                .zip(&wa)
                .map(|(r, w)| (*w, r.adjusted.ate, r.adjusted.se, r.adjusted.df))
                .collect::<Vec<_>>(),
            level,
            adj_parts.iter().map(|r| r.adjusted.n_obs).sum(),
        );
        Adjusted {
            n_obs: t.n,
            ate: t.estimate,
            se: t.se,
            df: t.df,
            ci_low: t.ci_low,
            ci_high: t.ci_high,
            p: t.p,
            clustered: adj_parts.iter().all(|r| r.adjusted.clustered),
        }
    };
    adjusted
}
