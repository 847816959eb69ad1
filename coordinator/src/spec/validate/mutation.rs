//! [[mutation]]: a data operation, the side and splits it acts on, and its
//! levels.

use super::*;

const MUTATION_OPS: &[&str] =
    &["token-dropout", "local-shuffle", "truncate", "rename-identifiers", "label-noise", "subsample", "strip-comments"];
const SIDES: &[&str] = &["source", "target", "both"];
const SPLITS: &[&str] = &["train", "valid", "test"];

impl Validator<'_> {
    pub(super) fn mutation(&mut self, i: usize, raw: &RawMutation) -> Option<Intervention> {
        let key = format!("mutation[{i}]");
        let Some(op) = MUTATION_OPS.iter().find(|o| **o == raw.op) else {
            self.issue(format!("{key}.op"), unknown("mutation op", &raw.op, MUTATION_OPS));
            return None;
        };
        let before = self.issues.len();
        let side = self.side(&key, op, raw);
        let splits = self.splits(&key, op, raw);
        let levels = self.levels(&key, op, raw);
        if self.issues.len() > before {
            return None;
        }
        let levels = levels.into_iter().map(|op| MutationSpec { op, side, splits: splits.clone() }).collect();
        Some(Intervention::Mutation { name: raw.name.clone(), description: raw.description.clone(), index: i, levels })
    }

    /// The side an op acts on, where it has one.
    fn side(&mut self, key: &str, op: &str, raw: &RawMutation) -> Side {
        match (op, raw.side.as_deref()) {
            ("label-noise" | "subsample", Some(_)) => {
                self.issues.push(Issue::at_key(
                    format!("{key}.side"),
                    format!("{op} acts on whole pairs and has no side; remove `side`"),
                ));
                Side::Both
            }
            ("label-noise" | "subsample", None) => Side::Both,
            ("rename-identifiers" | "strip-comments", None | Some("target")) => Side::Target,
            ("rename-identifiers" | "strip-comments", Some(other)) => {
                self.issue(
                    format!("{key}.side"),
                    format!(
                        "{op} changes code, the target side; side = {other:?} is not accepted; accepted: \"target\""
                    ),
                );
                Side::Target
            }
            (_, None | Some("source")) => Side::Source,
            (_, Some("target")) => Side::Target,
            (_, Some("both")) => Side::Both,
            (_, Some(other)) => {
                self.issue(format!("{key}.side"), unknown("side", other, SIDES));
                Side::Source
            }
        }
    }

    /// The splits an op changes: the train split unless told.
    fn splits(&mut self, key: &str, op: &str, raw: &RawMutation) -> Vec<Split> {
        let mut splits = Vec::new();
        match &raw.splits {
            None => splits.push(Split::Train),
            Some(list) if list.is_empty() => {
                self.issue(format!("{key}.splits"), "no splits; accepted: any of train, valid, test")
            }
            Some(list) => {
                for (j, s) in list.iter().enumerate() {
                    let skey = format!("{key}.splits[{j}]");
                    let split = match s.as_str() {
                        "train" => Split::Train,
                        "valid" => Split::Valid,
                        "test" => Split::Test,
                        other => {
                            self.issue(skey, unknown("split", other, SPLITS));
                            continue;
                        }
                    };
                    if splits.contains(&split) {
                        self.issue(skey, format!("split {s} is listed twice"));
                    } else if op == "subsample" && split != Split::Train {
                        self.issue(skey, "subsample keeps a fraction of the train split only; accepted: [\"train\"]");
                    } else {
                        splits.push(split);
                    }
                }
            }
        }
        splits.sort();
        splits
    }

    /// The op's levels: one arm per value of its parameter.
    fn levels(&mut self, key: &str, op: &str, raw: &RawMutation) -> Vec<MutationOp> {
        // (parameter, integer?, check) of each op.
        type Check = fn(f64) -> bool;
        let param: Option<(&str, bool, Check, &str)> = match op {
            "token-dropout" | "rename-identifiers" => Some(("p", false, |x| x > 0.0 && x <= 1.0, "a number in (0, 1]")),
            "label-noise" => Some(("fraction", false, |x| x > 0.0 && x <= 1.0, "a number in (0, 1]")),
            "subsample" => Some(("fraction", false, |x| x > 0.0 && x < 1.0, "a number in (0, 1)")),
            "local-shuffle" => {
                Some(("window", true, |x| (2.0..=100_000.0).contains(&x), "an integer from 2 to 100000"))
            }
            "truncate" => Some(("max_tokens", true, |x| (1.0..=100_000.0).contains(&x), "an integer from 1 to 100000")),
            _ => None,
        };
        let mut levels = Vec::new();
        match (param, &raw.levels) {
            (None, Some(_)) => {
                self.issues
                    .push(Issue::at_key(format!("{key}.levels"), format!("{op} has no levels; remove `levels`")));
            }
            (None, None) => levels.push(MutationOp::StripComments),
            (Some(("p", _, _, _)), None) if op == "rename-identifiers" => {
                levels.push(MutationOp::RenameIdentifiers { p: 1.0 })
            }
            (Some((pname, ..)), None) => {
                self.issue(key, format!("{op} needs `levels = {{ {pname} = [...] }}`"));
            }
            (Some((pname, integer, check, accepted)), Some(map)) => {
                let misnamed = map.keys().any(|name| name != pname);
                for name in map.keys() {
                    if name != pname {
                        self.issues.push(Issue::at_key(
                            format!("{key}.levels.{name}"),
                            unknown(&format!("parameter of {op}"), name, &[pname]),
                        ));
                    }
                }
                match map.get(pname) {
                    // A misnamed parameter is the one mistake, already reported.
                    None if misnamed => {}
                    None => self.issue(format!("{key}.levels"), format!("{op} needs levels of `{pname}`")),
                    Some(values) if values.is_empty() => self.issue(
                        format!("{key}.levels.{pname}"),
                        format!("no levels; accepted: a non-empty list of {accepted}"),
                    ),
                    Some(values) => {
                        for (j, &x) in values.iter().enumerate() {
                            let lkey = format!("{key}.levels.{pname}[{j}]");
                            if !check(x) || (integer && x.fract() != 0.0) {
                                self.issue(lkey, format!("{pname} = {x} is out of range; accepted: {accepted}"));
                                continue;
                            }
                            let level = match op {
                                "token-dropout" => MutationOp::TokenDropout { p: x },
                                "rename-identifiers" => MutationOp::RenameIdentifiers { p: x },
                                "label-noise" => MutationOp::LabelNoise { fraction: x },
                                "subsample" => MutationOp::Subsample { fraction: x },
                                "local-shuffle" => MutationOp::LocalShuffle { window: x as u32 },
                                _ => MutationOp::Truncate { max_tokens: x as u32 },
                            };
                            if levels.contains(&level) {
                                self.issue(lkey, format!("{pname} = {x} is listed twice"));
                            } else {
                                levels.push(level);
                            }
                        }
                    }
                }
            }
        }
        levels
    }
}
