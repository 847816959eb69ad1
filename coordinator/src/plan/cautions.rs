//! What a valid plan allows but a researcher probably did not mean, other
//! than schedules (those are in [`super::steps`]): a model too large for
//! any machine, and a mutation that changes the test split.

use intervene_proto::job::Split;

use super::Plan;
use super::buckets::thousands;
use crate::spec::{Intervention, Issue, Study};

/// Above this an arm's weights alone take 4 GB in float32, and training
/// with Adam four times that: usually a typo (`hidden_dim = 65536`).
pub const LARGE_MODEL_PARAMS: u64 = 1_000_000_000;

/// One warning per arm over [`LARGE_MODEL_PARAMS`], at the control's
/// [model] or at the intervention that builds the arm.
pub fn size_warnings(study: &Study, plan: &Plan) -> Vec<Issue> {
    let mut issues = Vec::new();
    for arm in plan.arms.iter().filter(|a| a.params > LARGE_MODEL_PARAMS) {
        let key = match &arm.intervention {
            None => "model".to_string(),
            Some(name) => match study.interventions.iter().find(|iv| iv.name() == name) {
                Some(iv) => iv.key(),
                None => continue,
            },
        };
        let gb = arm.params as f64 * 4.0 / 1e9;
        let what = if arm.changed.is_empty() { String::new() } else { format!(" ({})", arm.changed_text()) };
        issues.push(Issue::new(
            key,
            format!(
                "arm {}{what} has {} trainable parameters: {gb:.1} GB of float32 weights, about {:.0} GB to train \
                 with Adam; planned as written, but check the sizes",
                arm.name,
                thousands(arm.params),
                gb * 4.0
            ),
        ));
    }
    issues
}

/// A mutation of the test split changes what the arm is scored on, so its
/// effect is no longer the effect of training on mutated data alone.
pub fn test_split_warnings(study: &Study) -> Vec<Issue> {
    let mut issues = Vec::new();
    for iv in &study.interventions {
        let Intervention::Mutation { levels, .. } = iv else { continue };
        if levels.iter().any(|l| l.splits.contains(&Split::Test)) {
            issues.push(Issue::new(
                format!("{}.splits", iv.key()),
                "the test split is mutated too: this arm is scored on different test examples than the control, \
                 so its effect mixes training on mutated data with testing on it; remove \"test\" from splits \
                 unless that is the question",
            ));
        }
    }
    issues
}
