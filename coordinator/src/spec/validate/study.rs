//! The [study] table: name, seeds, outcomes, attempts, the minimum effect;
//! and the names of interventions.

use super::*;

impl Validator<'_> {
    #[allow(clippy::type_complexity)]
    pub(super) fn study_meta(
        &mut self,
        raw: Option<&RawStudy>,
        tokenizer: Option<&str>,
    ) -> Option<(String, Option<String>, Vec<u64>, Vec<String>, u32)> {
        let raw = raw?;
        self.check_name(&raw.name, "study.name");
        if raw.seeds.is_empty() {
            self.issue("study.seeds", "the seed list is empty; accepted: one or more seeds, e.g. seeds = [1, 2, 3]");
        }
        let mut seen = BTreeSet::new();
        let mut seeds = Vec::new();
        for (i, &s) in raw.seeds.iter().enumerate() {
            if s < 0 {
                self.issue(format!("study.seeds[{i}]"), format!("seed {s} is negative; accepted: an integer >= 0"));
            } else if !seen.insert(s) {
                self.issue(
                    format!("study.seeds[{i}]"),
                    format!("seed {s} appears twice; every seed is run once per arm"),
                );
            } else {
                seeds.push(s as u64);
            }
        }
        let detokenizes = !matches!(tokenizer, Some("code-whitespace"));
        let outcomes = match &raw.outcomes {
            None => {
                let mut o: Vec<String> = ["bleu", "token_accuracy", "exact_match"].map(String::from).to_vec();
                if detokenizes {
                    o.push("syntax_valid".into());
                }
                o
            }
            Some(list) => {
                if list.is_empty() {
                    self.issue("study.outcomes", format!("no outcomes; accepted: any of {}", RUN_OUTCOMES.join(", ")));
                }
                let mut seen = BTreeSet::new();
                for (i, o) in list.iter().enumerate() {
                    let key = format!("study.outcomes[{i}]");
                    if !RUN_OUTCOMES.contains(&o.as_str()) {
                        self.issue(key, unknown("outcome", o, RUN_OUTCOMES));
                    } else if !seen.insert(o) {
                        self.issue(key, format!("outcome `{o}` is listed twice"));
                    } else if o == "syntax_valid" && !detokenizes {
                        self.issue(
                            key,
                            "syntax_valid needs a tokenizer whose output detokenizes to code; accepted with tokenizer = \"python-lexer\" or \"bpe\", not \"code-whitespace\"",
                        );
                    }
                }
                list.clone()
            }
        };
        let max_attempts = match raw.max_attempts {
            None => 3,
            Some(n) if (1..=100).contains(&n) => n as u32,
            Some(n) => {
                self.issue(
                    "study.max_attempts",
                    format!("max_attempts = {n} is out of range; accepted: an integer from 1 to 100"),
                );
                3
            }
        };
        Some((raw.name.clone(), raw.description.clone(), seeds, outcomes, max_attempts))
    }

    pub(super) fn minimum_effect(&mut self, raw: &RawStudy) -> Option<(f64, f64)> {
        let m = raw.minimum_effect?;
        let mut ok = true;
        for (key, value) in [("effect", m.effect), ("sd", m.sd)] {
            if !(value.is_finite() && value > 0.0) {
                self.issue(
                    format!("study.minimum_effect.{key}"),
                    format!("{key} = {value}; accepted: a positive number of outcome points, e.g. minimum_effect = {{ effect = 1.0, sd = 1.5 }}"),
                );
                ok = false;
            }
        }
        ok.then_some((m.effect, m.sd))
    }

    pub(super) fn intervention_name(&mut self, name: &str, key: &str, names: &mut BTreeMap<String, String>) {
        let key = format!("{key}.name");
        self.check_name(name, &key);
        if name == intervene_proto::tables::CONTROL_ARM {
            self.issue(key, "`control` names the control arm; choose another name");
        } else if let Some(first) = names.get(name) {
            self.issue(key, format!("intervention name `{name}` is already used by {first}; names must be unique"));
        } else {
            names.insert(name.to_string(), key.trim_end_matches(".name").to_string());
        }
    }
}
