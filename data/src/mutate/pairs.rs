//! Pair-level mutations: which pairs are kept and which docstring goes with
//! which code. Selection ranks examples by a per-example uniform number, so
//! exactly `round(fraction * n)` pairs are chosen and an example's rank does
//! not depend on the others.

use intervene_proto::job::Side;

use super::{Counts, Draft, bump, uniform};

fn ranked(drafts: &[Draft], seed: u64, op: &str) -> Vec<usize> {
    let mut order: Vec<(f64, usize)> =
        drafts.iter().enumerate().map(|(i, d)| (uniform(seed, op, &d.id, "select"), i)).collect();
    order.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    order.into_iter().map(|(_, i)| i).collect()
}

fn share(fraction: f64, n: usize) -> usize {
    ((fraction * n as f64).round() as usize).min(n)
}

/// Misaligns a `fraction` of pairs: the chosen pairs pass their docstrings
/// (their code for side = target) round a cycle, so each gets another
/// pair's. Counts pairs whose text actually changed.
pub fn label_noise(drafts: &mut [Draft], fraction: f64, side: Side, seed: u64, counts: &mut Counts) {
    let chosen = ranked(drafts, seed, "label-noise");
    let chosen = &chosen[..share(fraction, drafts.len())];
    bump(counts, "pairs_selected", chosen.len() as u64);
    if chosen.len() < 2 {
        bump(counts, "pairs_relabelled", 0);
        return;
    }
    let text = |d: &Draft| if side == Side::Target { d.code.clone() } else { d.docstring.clone() };
    let texts: Vec<String> = chosen.iter().map(|&i| text(&drafts[i])).collect();
    let mut changed = 0u64;
    for (k, &i) in chosen.iter().enumerate() {
        let new = texts[(k + 1) % texts.len()].clone();
        changed += u64::from(new != texts[k]);
        if side == Side::Target {
            drafts[i].code = new;
        } else {
            drafts[i].docstring = new;
        }
    }
    bump(counts, "pairs_relabelled", changed);
}

/// Keeps `round(fraction * n)` of the drafts, in their original order.
pub fn subsample(drafts: &mut Vec<Draft>, fraction: f64, seed: u64, counts: &mut Counts) {
    let n = drafts.len();
    let mut keep = vec![false; n];
    for &i in &ranked(drafts, seed, "subsample")[..share(fraction, n)] {
        keep[i] = true;
    }
    let mut k = keep.iter();
    drafts.retain(|_| *k.next().unwrap_or(&false));
    bump(counts, "pairs_before", n as u64);
    bump(counts, "pairs_kept", drafts.len() as u64);
    bump(counts, "pairs_removed", (n - drafts.len()) as u64);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drafts(n: usize) -> Vec<Draft> {
        (0..n)
            .map(|i| Draft { id: format!("e{i}"), docstring: format!("doc {i}"), code: format!("code {i}") })
            .collect()
    }

    #[test]
    fn label_noise_swaps_exactly_the_fraction() {
        let mut counts = Counts::new();
        let mut d = drafts(100);
        label_noise(&mut d, 0.2, Side::Source, 3, &mut counts);
        let moved = d.iter().enumerate().filter(|(i, x)| x.docstring != format!("doc {i}")).count();
        assert_eq!(moved, 20);
        assert_eq!(counts["pairs_relabelled"], 20);
        assert!(d.iter().enumerate().all(|(i, x)| x.code == format!("code {i}")));
        // The docstrings are permuted, not invented.
        let mut docs: Vec<_> = d.iter().map(|x| x.docstring.clone()).collect();
        docs.sort();
        let mut orig: Vec<_> = drafts(100).into_iter().map(|x| x.docstring).collect();
        orig.sort();
        assert_eq!(docs, orig);
        let mut again = drafts(100);
        label_noise(&mut again, 0.2, Side::Source, 3, &mut Counts::new());
        assert_eq!(again, d);
        let mut other = drafts(100);
        label_noise(&mut other, 0.2, Side::Source, 4, &mut Counts::new());
        assert_ne!(other, d);
        let mut t = drafts(10);
        label_noise(&mut t, 1.0, Side::Target, 3, &mut Counts::new());
        assert!(t.iter().enumerate().all(|(i, x)| x.code != format!("code {i}") && x.docstring == format!("doc {i}")));
    }

    #[test]
    fn subsample_keeps_the_fraction_in_order() {
        let mut counts = Counts::new();
        let mut d = drafts(50);
        subsample(&mut d, 0.3, 1, &mut counts);
        assert_eq!(d.len(), 15);
        assert_eq!(counts["pairs_kept"], 15);
        assert_eq!(counts["pairs_removed"], 35);
        let idx: Vec<usize> = d.iter().map(|x| x.id[1..].parse().unwrap()).collect();
        assert!(idx.windows(2).all(|w| w[0] < w[1]));
        // An example's fate does not depend on the others being there.
        let mut bigger = drafts(60);
        subsample(&mut bigger, 1.0, 1, &mut Counts::new());
        assert_eq!(bigger.len(), 60);
    }
}
