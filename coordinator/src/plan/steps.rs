//! How long each job trains, in optimisation steps, and the schedules that
//! do not fit in it.
//!
//! The trainer takes one step per batch of the shuffled train split, the
//! last batch of an epoch possibly short (`worker/src/train/batch.rs`), so a
//! job runs `ceil(train / batch_size) * epochs` steps, fewer only if early
//! stopping ends it. `train` is the requested split size, less what a
//! subsample mutation of the train split leaves out: an upper bound, since a
//! data set can hold fewer pairs than asked for.
//!
//! A warm-up as long as the run means the learning rate never reaches its
//! value (the shipped studies had 1,000 warm-up steps in runs of 700): an
//! error. An inverse-sigmoid sampling schedule whose midpoint comes after
//! the run barely moves teacher forcing: a warning.

use intervene_proto::job::{JobSpec, MutationOp, ScheduledSampling, Split, TrainSpec};

use super::Plan;
use crate::spec::{Intervention, Issue, Study};

/// Pairs the job trains on, at most.
pub fn train_pairs(spec: &JobSpec) -> u64 {
    let requested = spec.data.train as u64;
    match &spec.mutation {
        // The same rounding as the mutation (data/src/mutate/pairs.rs).
        Some(m) if m.splits.contains(&Split::Train) => match m.op {
            MutationOp::Subsample { fraction } => ((fraction * requested as f64).round() as u64).min(requested),
            _ => requested,
        },
        _ => requested,
    }
}

/// Optimisation steps of a run over `train` pairs.
pub fn steps_for(train: u64, spec: &TrainSpec) -> u64 {
    train.div_ceil(spec.batch_size.max(1) as u64) * spec.epochs as u64
}

/// Optimisation steps of a job (without early stopping).
pub fn optimisation_steps(spec: &JobSpec) -> u64 {
    steps_for(train_pairs(spec), &spec.train)
}

/// The step at which inverse-sigmoid sampling is halfway from
/// `teacher_forcing` to `teacher_forcing_min`: k / (k + exp(s / k)) = 1/2 at
/// s = k ln k. `None` for the other schedules (linear spans the run by
/// construction).
pub fn sampling_midpoint(spec: &TrainSpec) -> Option<u64> {
    (spec.scheduled_sampling == ScheduledSampling::InverseSigmoid && spec.teacher_forcing != spec.teacher_forcing_min)
        .then(|| (spec.sampling_k * spec.sampling_k.ln()).max(0.0).ceil() as u64)
}

/// The knobs whose change changes a run's length or warm-up.
const LENGTH_KNOBS: [&str; 3] = ["warmup_steps", "batch_size", "epochs"];
const SAMPLING_KNOBS: [&str; 5] = ["sampling_k", "scheduled_sampling", "batch_size", "epochs", "teacher_forcing"];

/// Where a problem of an arm is reported: the control's `[train]` key, or
/// the intervention key that changes `knobs`. `None` when the arm inherits
/// the problem from the control, which is reported once, there.
fn key_of(study: &Study, plan: &Plan, arm: usize, knobs: &[&str], train_key: &str) -> Option<String> {
    let arm = &plan.arms[arm];
    let Some(name) = &arm.intervention else { return Some(train_key.to_string()) };
    let iv = study.interventions.iter().find(|iv| iv.name() == name)?;
    match iv {
        Intervention::Intra { .. } => {
            let knob = arm.changed.iter().map(|(k, _)| k.as_str()).find(|k| knobs.contains(k))?;
            Some(format!("{}.vary.{knob}", iv.key()))
        }
        Intervention::Mutation { levels, .. }
            if levels.iter().any(|l| matches!(l.op, MutationOp::Subsample { .. })) =>
        {
            Some(format!("{}.levels.fraction", iv.key()))
        }
        _ => None,
    }
}

fn push_once(issues: &mut Vec<Issue>, key: String, message: String) {
    if !issues.iter().any(|i| i.key == key && i.message == message) {
        issues.push(Issue::new(key, message));
    }
}

/// Every arm whose warm-up is not shorter than its run, once per mistake.
pub fn warmup_errors(study: &Study, plan: &Plan) -> Vec<Issue> {
    let mut issues = Vec::new();
    for (i, arm) in plan.arms.iter().enumerate() {
        let Some(job) = arm.jobs.first().and_then(|(_, id)| plan.job(id)) else { continue };
        let t = &job.spec.train;
        let (train, steps) = (train_pairs(&job.spec), optimisation_steps(&job.spec));
        if t.warmup_steps == 0 || (t.warmup_steps as u64) < steps {
            continue;
        }
        // A mutation arm that keeps the control's length inherits its error.
        if arm.intervention.is_some() && steps == control_steps(plan) && t.warmup_steps == control_warmup(plan) {
            continue;
        }
        let Some(key) = key_of(study, plan, i, &LENGTH_KNOBS, "train.warmup_steps") else { continue };
        let whose = if arm.intervention.is_some() { format!("arm {}: ", arm.name) } else { String::new() };
        push_once(
            &mut issues,
            key,
            format!(
                "{whose}warmup_steps = {} is not shorter than the run's {steps} optimisation steps \
                 (ceil({train} train pairs / batch_size {}) x {} epochs), so the learning rate never reaches \
                 {}; accepted: warmup_steps below {steps}, e.g. {}",
                t.warmup_steps,
                t.batch_size,
                t.epochs,
                t.learning_rate,
                (steps / 10).max(1),
            ),
        );
    }
    issues
}

fn control_job(plan: &Plan) -> Option<&JobSpec> {
    let control = plan.arms.iter().find(|a| a.intervention.is_none())?;
    control.jobs.first().and_then(|(_, id)| plan.job(id)).map(|j| &j.spec)
}

fn control_steps(plan: &Plan) -> u64 {
    control_job(plan).map_or(0, optimisation_steps)
}

fn control_warmup(plan: &Plan) -> u32 {
    control_job(plan).map_or(0, |s| s.train.warmup_steps)
}

/// Arms whose inverse-sigmoid sampling is still short of halfway when the
/// run ends, once per mistake.
pub fn sampling_warnings(study: &Study, plan: &Plan) -> Vec<Issue> {
    let mut issues = Vec::new();
    let control = control_job(plan).and_then(late_sampling);
    // Point at sampling_k where the file sets it, else at the schedule.
    let train_key =
        if study.control.knobs.contains_key("sampling_k") { "train.sampling_k" } else { "train.scheduled_sampling" };
    for (i, arm) in plan.arms.iter().enumerate() {
        let Some(job) = arm.jobs.first().and_then(|(_, id)| plan.job(id)) else { continue };
        let Some((midpoint, steps)) = late_sampling(&job.spec) else { continue };
        if arm.intervention.is_some() && control == Some((midpoint, steps)) {
            continue;
        }
        let Some(key) = key_of(study, plan, i, &SAMPLING_KNOBS, train_key) else { continue };
        let t = &job.spec.train;
        let whose = if arm.intervention.is_some() { format!("arm {}: ", arm.name) } else { String::new() };
        push_once(
            &mut issues,
            key,
            format!(
                "{whose}inverse-sigmoid sampling with sampling_k = {} is halfway from teacher_forcing {} to \
                 teacher_forcing_min {} only at step {midpoint} (k ln k), after the run's {steps} optimisation \
                 steps: teacher forcing stays near {} for the whole run; a sampling_k with k ln k below {steps} \
                 moves it, or scheduled_sampling = \"linear\" spans the run",
                t.sampling_k, t.teacher_forcing, t.teacher_forcing_min, t.teacher_forcing,
            ),
        );
    }
    issues
}

/// (midpoint, steps) when the sampling midpoint comes after the run.
fn late_sampling(spec: &JobSpec) -> Option<(u64, u64)> {
    let midpoint = sampling_midpoint(&spec.train)?;
    let steps = optimisation_steps(spec);
    (midpoint > steps).then_some((midpoint, steps))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn train(batch_size: u32, epochs: u32) -> TrainSpec {
        TrainSpec {
            batch_size,
            epochs,
            learning_rate: 1e-3,
            weight_decay: 0.0,
            warmup_steps: 0,
            gradient_clip: 1.0,
            teacher_forcing: 0.5,
            scheduled_sampling: ScheduledSampling::InverseSigmoid,
            teacher_forcing_min: 0.0,
            sampling_k: 1000.0,
            early_stopping_patience: 0,
            batching: Default::default(),
        }
    }

    #[test]
    fn steps_count_the_short_last_batch() {
        // The shipped rnn-architectures: 2,200 pairs, batch 64, 20 epochs.
        assert_eq!(steps_for(2200, &train(64, 20)), 35 * 20);
        assert_eq!(steps_for(2176, &train(64, 20)), 34 * 20);
        assert_eq!(steps_for(1, &train(64, 3)), 3);
        assert_eq!(steps_for(10_000, &train(64, 20)), 157 * 20);
    }

    #[test]
    fn inverse_sigmoid_midpoint_is_k_ln_k() {
        assert_eq!(sampling_midpoint(&train(64, 20)), Some(6908));
        let mut t = train(64, 20);
        t.sampling_k = 20.0;
        assert_eq!(sampling_midpoint(&t), Some(60));
        t.scheduled_sampling = ScheduledSampling::Linear;
        assert_eq!(sampling_midpoint(&t), None);
        t.scheduled_sampling = ScheduledSampling::InverseSigmoid;
        t.teacher_forcing_min = t.teacher_forcing;
        assert_eq!(sampling_midpoint(&t), None, "a constant schedule has no horizon");
    }
}
