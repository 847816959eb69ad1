//! What changed between two plans of the same study: the answer to "why was
//! my resubmission refused".

use std::collections::BTreeMap;

use serde_json::Value;

use super::Plan;

/// One line per difference, e.g. `seeds: [1, 2] -> [1, 2, 3]`,
/// `+ arm lr/learning_rate=0.01`, `~ arm control: model.hidden_dim: 256 -> 512`.
/// Empty when the plans run the same jobs.
pub fn diff(old: &Plan, new: &Plan) -> Vec<String> {
    let mut out = Vec::new();
    if old.seeds != new.seeds {
        out.push(format!("seeds: {:?} -> {:?}", old.seeds, new.seeds));
    }
    if old.outcomes != new.outcomes {
        out.push(format!("outcomes: {:?} -> {:?}", old.outcomes, new.outcomes));
    }
    if old.max_attempts != new.max_attempts {
        out.push(format!("max_attempts: {} -> {}", old.max_attempts, new.max_attempts));
    }
    for arm in &old.arms {
        if new.arm(&arm.name).is_none() {
            out.push(format!("- arm {}", arm.name));
        }
    }
    for arm in &new.arms {
        let Some(before) = old.arm(&arm.name) else {
            out.push(format!("+ arm {}", arm.name));
            continue;
        };
        if before.jobs == arm.jobs && before.compare_to == arm.compare_to {
            continue;
        }
        // Compare the resolved specification of the first seed both have.
        let first = |p: &Plan, a: &super::Arm| a.jobs.first().and_then(|(_, id)| p.job(id)).map(|j| flatten(&j.spec));
        let (Some(a), Some(b)) = (first(old, before), first(new, arm)) else { continue };
        let mut fields = Vec::new();
        for (k, v) in &b {
            match a.get(k) {
                Some(old_v) if old_v == v => {}
                Some(old_v) => fields.push(format!("{k}: {old_v} -> {v}")),
                None => fields.push(format!("{k}: (unset) -> {v}")),
            }
        }
        for (k, v) in &a {
            if !b.contains_key(k) {
                fields.push(format!("{k}: {v} -> (unset)"));
            }
        }
        if fields.is_empty() && before.compare_to != arm.compare_to {
            fields.push(format!("compare_to: {:?} -> {:?}", before.compare_to, arm.compare_to));
        }
        if !fields.is_empty() {
            out.push(format!("~ arm {}: {}", arm.name, fields.join("; ")));
        }
    }
    out
}

/// `{"model": {"hidden_dim": 256}}` -> `model.hidden_dim = 256`, minus the seed.
fn flatten(spec: &intervene_proto::JobSpec) -> BTreeMap<String, String> {
    fn walk(prefix: &str, v: &Value, out: &mut BTreeMap<String, String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    let p = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    walk(&p, v, out);
                }
            }
            other => {
                out.insert(prefix.to_string(), other.to_string());
            }
        }
    }
    let mut out = BTreeMap::new();
    if let Ok(v) = serde_json::to_value(spec) {
        walk("", &v, &mut out);
    }
    out.remove("seed");
    out
}
