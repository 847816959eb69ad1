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
    }
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
