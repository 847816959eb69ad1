//! Train / valid / test membership, deterministic from `split_seed`.
//!
//! Membership never depends on the mutation or the model: a control arm and
//! its mutated arms see the same test examples, which is what pairs their
//! per-example outcomes.

use intervene_proto::job::{DataSpec, SplitMode};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};
use crate::pair::Pair;

/// Indices into the pairs, in the order examples are presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitIndices {
    pub train: Vec<usize>,
    pub valid: Vec<usize>,
    pub test: Vec<usize>,
}

/// `eligible[i]` is false for pairs dropped before sizes are taken
/// (overlong pairs under `overlong = "drop"`); `dropped` is their count, for
/// the error message.
pub fn split(pairs: &[Pair], eligible: &[bool], dropped: usize, data: &DataSpec) -> Result<SplitIndices> {
    let sizes = [data.train as usize, data.valid as usize, data.test as usize];
    let dropped_note = if dropped > 0 {
        format!(" after dropping {dropped} overlong pairs (data.overlong = \"drop\"; \"truncate\" keeps them)")
    } else {
        String::new()
    };
    match data.split {
        SplitMode::Random => {
            let mut order: Vec<usize> = (0..pairs.len()).filter(|&i| eligible[i]).collect();
            let need: usize = sizes.iter().sum();
            if order.len() < need {
                return Err(Error::Split(format!(
                    "asked for train {} + valid {} + test {} = {need} pairs, but the data set has {} pairs{dropped_note}",
                    sizes[0],
                    sizes[1],
                    sizes[2],
                    order.len()
                )));
            }
            order.shuffle(&mut ChaCha8Rng::seed_from_u64(data.split_seed));
            let test = order[sizes[0] + sizes[1]..need].to_vec();
            let valid = order[sizes[0]..sizes[0] + sizes[1]].to_vec();
            order.truncate(sizes[0]);
            Ok(SplitIndices { train: order, valid, test })
        }
        SplitMode::Published => {
            let mut parts: [Vec<usize>; 3] = Default::default();
            for (i, pair) in pairs.iter().enumerate() {
                let Some(name) = pair.partition.as_deref() else {
                    return Err(Error::Split(format!(
                        "split = \"published\" needs a partition for every pair, but pair {} has none (use split = \"random\")",
                        pair.id
                    )));
                };
                let slot = match name {
                    "train" => 0,
                    "valid" | "validation" | "dev" => 1,
                    "test" => 2,
                    other => {
                        return Err(Error::Split(format!(
                            "pair {}: partition \"{other}\" is not train, valid (validation, dev) or test",
                            pair.id
                        )));
                    }
                };
                if eligible[i] {
                    parts[slot].push(i);
                }
            }
            let names = ["train", "valid", "test"];
            for (k, part) in parts.iter_mut().enumerate() {
                if part.len() < sizes[k] {
                    return Err(Error::Split(format!(
                        "asked for {} {} pairs, but the published \"{}\" partition has {}{dropped_note}",
                        sizes[k],
                        names[k],
                        names[k],
                        part.len()
                    )));
                }
                part.shuffle(&mut ChaCha8Rng::seed_from_u64(data.split_seed.wrapping_add(k as u64)));
                part.truncate(sizes[k]);
            }
            let [train, valid, test] = parts;
            Ok(SplitIndices { train, valid, test })
        }
        SplitMode::ByPackage => by_package(pairs, eligible, sizes, data.split_seed, &dropped_note),
    }
}

/// The package a pair belongs to for `split = "by-package"`: its `repo`
/// (the package of a python-env pair, the repository of a CodeSearchNet
/// one), else the top folder or module of its path, else the pair itself.
pub fn package_of(pair: &Pair) -> &str {
    if let Some(repo) = pair.repo.as_deref().filter(|r| !r.is_empty()) {
        return repo;
    }
    match pair.path.as_deref().and_then(|p| p.split('/').next()).filter(|p| !p.is_empty()) {
        Some(top) => top.strip_suffix(".py").unwrap_or(top),
        None => &pair.id,
    }
}

/// Whole packages per split. Packages (in order of first appearance) are
/// shuffled with the seed; each goes to the first of test, valid, train
/// that it fits in whole, so the small splits are made of whole packages
/// and a package larger than them trains. Packages left over then top up a
/// split that is still short. Each split is finally shuffled and cut to its
/// size: the pairs cut off are unused, so no package spans two splits.
fn by_package(
    pairs: &[Pair],
    eligible: &[bool],
    sizes: [usize; 3],
    seed: u64,
    dropped_note: &str,
) -> Result<SplitIndices> {
    let mut groups: Vec<(&str, Vec<usize>)> = Vec::new();
    let mut slot: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (i, pair) in pairs.iter().enumerate().filter(|(i, _)| eligible[*i]) {
        let name = package_of(pair);
        let g = *slot.entry(name).or_insert_with(|| {
            groups.push((name, Vec::new()));
            groups.len() - 1
        });
        groups[g].1.push(i);
    }
    let available: usize = groups.iter().map(|(_, g)| g.len()).sum();
    let need: usize = sizes.iter().sum();
    if available < need {
        return Err(Error::Split(format!(
            "asked for train {} + valid {} + test {} = {need} pairs, but the data set has {available} pairs{dropped_note}",
            sizes[0], sizes[1], sizes[2]
        )));
    }
    groups.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    // Fill order: test, valid, train (indices into `sizes`).
    const ORDER: [usize; 3] = [2, 1, 0];
    let mut parts: [Vec<usize>; 3] = Default::default();
    let mut left = Vec::new();
    for (_, members) in groups {
        let whole = ORDER.into_iter().find(|&k| parts[k].len() + members.len() <= sizes[k]);
        let target = whole.or_else(|| (parts[0].len() < sizes[0]).then_some(0));
        match target {
            Some(k) => parts[k].extend(members),
            None => left.push(members),
        }
    }
    for members in left {
        if let Some(k) = ORDER.into_iter().find(|&k| parts[k].len() < sizes[k]) {
            parts[k].extend(members);
        }
    }
    let names = ["train", "valid", "test"];
    for (k, part) in parts.iter_mut().enumerate() {
        if part.len() < sizes[k] {
            return Err(Error::Split(format!(
                "split = \"by-package\": the {} split got {} of its {} pairs, because whole packages filled the \
                 others ({available} pairs in all){dropped_note}; ask for smaller splits or use split = \"random\"",
                names[k],
                part.len(),
                sizes[k]
            )));
        }
        part.shuffle(&mut ChaCha8Rng::seed_from_u64(seed.wrapping_add(k as u64 + 1)));
        part.truncate(sizes[k]);
    }
    let [train, valid, test] = parts;
    Ok(SplitIndices { train, valid, test })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::data_spec;

    fn pairs(n: usize) -> Vec<Pair> {
        (0..n)
            .map(|i| {
                let mut p = Pair::new(format!("p{i}"), "d", "c");
                p.partition = Some(["train", "valid", "test"][i % 3].to_string());
                p
            })
            .collect()
    }

    #[test]
    fn random_split_is_deterministic_disjoint_and_sized() {
        let ps = pairs(50);
        let spec = data_spec(20, 5, 5);
        let all = vec![true; 50];
        let a = split(&ps, &all, 0, &spec).unwrap();
        assert_eq!(a, split(&ps, &all, 0, &spec).unwrap());
        assert_eq!((a.train.len(), a.valid.len(), a.test.len()), (20, 5, 5));
        let mut seen: Vec<usize> = a.train.iter().chain(&a.valid).chain(&a.test).copied().collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 30);
        let mut other = spec.clone();
        other.split_seed += 1;
        assert_ne!(a, split(&ps, &all, 0, &other).unwrap());
    }

    #[test]
    fn too_few_pairs_says_how_many() {
        let ps = pairs(10);
        let mut eligible = vec![true; 10];
        eligible[0] = false;
        let e = split(&ps, &eligible, 1, &data_spec(8, 1, 1)).unwrap_err().to_string();
        assert!(
            e.contains("train 8 + valid 1 + test 1 = 10 pairs, but the data set has 9 pairs after dropping 1"),
            "{e}"
        );
    }

    /// `n` pairs in packages of the given sizes, named pkg0, pkg1, ...
    fn packaged(sizes: &[usize]) -> Vec<Pair> {
        let mut out = Vec::new();
        for (g, &n) in sizes.iter().enumerate() {
            for j in 0..n {
                let mut p = Pair::new(format!("g{g}-{j}"), "d", "c");
                p.repo = Some(format!("pkg{g}"));
                out.push(p);
            }
        }
        out
    }

    #[test]
    fn by_package_never_splits_a_package_and_is_seeded() {
        let ps = packaged(&[40, 3, 5, 2, 7, 1, 4, 6, 2, 30, 3, 5]);
        let mut spec = data_spec(60, 10, 10);
        spec.split = SplitMode::ByPackage;
        let all = vec![true; ps.len()];
        let s = split(&ps, &all, 0, &spec).unwrap();
        assert_eq!((s.train.len(), s.valid.len(), s.test.len()), (60, 10, 10));
        let pkgs = |idx: &[usize]| -> std::collections::BTreeSet<String> {
            idx.iter().map(|&i| package_of(&ps[i]).to_string()).collect()
        };
        let (tr, va, te) = (pkgs(&s.train), pkgs(&s.valid), pkgs(&s.test));
        assert!(tr.is_disjoint(&va) && tr.is_disjoint(&te) && va.is_disjoint(&te), "{tr:?} {va:?} {te:?}");
        // The two big packages do not fit in test or valid: they train.
        assert!(tr.contains("pkg0") && tr.contains("pkg9"), "{tr:?}");
        assert_eq!(s, split(&ps, &all, 0, &spec).unwrap());
        spec.split_seed = 7;
        assert_ne!(s, split(&ps, &all, 0, &spec).unwrap());
    }

    #[test]
    fn by_package_says_when_whole_packages_cannot_fill_a_split() {
        // Two packages of 10: test takes one, valid cannot be filled.
        let ps = packaged(&[10, 10]);
        let mut spec = data_spec(5, 5, 5);
        spec.split = SplitMode::ByPackage;
        let e = split(&ps, &[true; 20], 0, &spec).unwrap_err().to_string();
        assert!(e.contains("the valid split got 0 of its 5 pairs"), "{e}");
        let e = split(&packaged(&[3]), &[true; 3], 0, &spec).unwrap_err().to_string();
        assert!(e.contains("= 15 pairs, but the data set has 3 pairs"), "{e}");
    }

    #[test]
    fn the_package_is_the_repo_else_the_top_of_the_path() {
        let mut p = Pair::new("x", "d", "c");
        assert_eq!(package_of(&p), "x");
        p.path = Some("json/decoder.py".into());
        assert_eq!(package_of(&p), "json");
        p.path = Some("os.py".into());
        assert_eq!(package_of(&p), "os");
        p.repo = Some("numpy".into());
        assert_eq!(package_of(&p), "numpy");
    }

    #[test]
    fn published_split_uses_partitions() {
        let ps = pairs(30);
        let mut spec = data_spec(5, 5, 5);
        spec.split = SplitMode::Published;
        let s = split(&ps, &[true; 30], 0, &spec).unwrap();
        assert!(s.train.iter().all(|&i| ps[i].partition.as_deref() == Some("train")));
        assert!(s.test.iter().all(|&i| ps[i].partition.as_deref() == Some("test")));
        spec.valid = 11;
        let e = split(&ps, &[true; 30], 0, &spec).unwrap_err().to_string();
        assert!(e.contains("asked for 11 valid pairs, but the published \"valid\" partition has 10"), "{e}");
        let mut bare = pairs(3);
        bare[1].partition = None;
        assert!(split(&bare, &[true; 3], 0, &data_spec(1, 1, 1)).is_ok());
        let mut spec = data_spec(1, 1, 1);
        spec.split = SplitMode::Published;
        assert!(split(&bare, &[true; 3], 0, &spec).unwrap_err().to_string().contains("pair p1 has none"));
    }
}
