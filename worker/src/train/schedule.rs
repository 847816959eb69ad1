//! Learning-rate warm-up and the teacher-forcing schedules of `TrainSpec`,
//! as functions of the 0-based step.

use crate::error::{JobError, Result};
use intervene_proto::job::{ScheduledSampling, TrainSpec};

/// Linear warm-up from 0 to the base rate: step `s` (0-based) runs at
/// `lr * (s + 1) / warmup` until the warm-up is over.
pub fn learning_rate(spec: &TrainSpec, step: u64) -> f64 {
    let warmup = spec.warmup_steps as u64;
    if warmup == 0 || step >= warmup {
        spec.learning_rate
    } else {
        spec.learning_rate * (step + 1) as f64 / warmup as f64
    }
}

/// Probability of feeding the ground truth at step `step` of
/// `total_steps`.
pub fn teacher_forcing(spec: &TrainSpec, step: u64, total_steps: u64) -> f64 {
    let (start, min) = (spec.teacher_forcing, spec.teacher_forcing_min);
    match spec.scheduled_sampling {
        ScheduledSampling::None => start,
        ScheduledSampling::Linear => {
            let progress = (step as f64 / total_steps.max(1) as f64).min(1.0);
            start + (min - start) * progress
        }
        ScheduledSampling::InverseSigmoid => {
            let k = spec.sampling_k;
            min + (start - min) * k / (k + (step as f64 / k).exp())
        }
    }
}

/// Checks the training knobs a run cannot start with.
pub fn validate(spec: &TrainSpec) -> Result<()> {
    let bad = |m: String| Err(JobError::InvalidSpec(m));
    if spec.batch_size == 0 {
        return bad("train.batch_size must be at least 1; got 0".into());
    }
    if spec.epochs == 0 {
        return bad("train.epochs must be at least 1; got 0".into());
    }
    if !(spec.learning_rate > 0.0 && spec.learning_rate.is_finite()) {
        return bad(format!("train.learning_rate must be a positive number; got {}", spec.learning_rate));
    }
    if !(spec.weight_decay >= 0.0 && spec.weight_decay.is_finite()) {
        return bad(format!("train.weight_decay must be 0 or positive; got {}", spec.weight_decay));
    }
    if !(spec.gradient_clip >= 0.0 && spec.gradient_clip.is_finite()) {
        return bad(format!("train.gradient_clip must be 0 (off) or positive; got {}", spec.gradient_clip));
    }
    for (name, v) in [("teacher_forcing", spec.teacher_forcing), ("teacher_forcing_min", spec.teacher_forcing_min)] {
        if !(0.0..=1.0).contains(&v) {
            return bad(format!("train.{name} must be in [0, 1]; got {v}"));
        }
    }
    if spec.scheduled_sampling == ScheduledSampling::InverseSigmoid
        && !(spec.sampling_k >= 1.0 && spec.sampling_k.is_finite())
    {
        return bad(format!(
            "train.sampling_k must be at least 1 for inverse-sigmoid sampling; got {}",
            spec.sampling_k
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(s: ScheduledSampling) -> TrainSpec {
        TrainSpec {
            batch_size: 8,
            epochs: 2,
            learning_rate: 1e-3,
            weight_decay: 0.0,
            warmup_steps: 4,
            gradient_clip: 1.0,
            teacher_forcing: 0.9,
            scheduled_sampling: s,
            teacher_forcing_min: 0.1,
            sampling_k: 10.0,
            early_stopping_patience: 3,
            batching: Default::default(),
        }
    }

    #[test]
    fn warmup_is_linear_then_flat() {
        let s = spec(ScheduledSampling::None);
        let lr: Vec<f64> = (0..6).map(|i| learning_rate(&s, i)).collect();
        assert_eq!(lr, [2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3, 1e-3]);
        let mut s = s;
        s.warmup_steps = 0;
        assert_eq!(learning_rate(&s, 0), 1e-3);
    }

    #[test]
    fn schedules_run_from_start_towards_min() {
        let none = spec(ScheduledSampling::None);
        assert_eq!(teacher_forcing(&none, 500, 1000), 0.9);
        let lin = spec(ScheduledSampling::Linear);
        assert_eq!(teacher_forcing(&lin, 0, 1000), 0.9);
        assert!((teacher_forcing(&lin, 500, 1000) - 0.5).abs() < 1e-12);
        assert!((teacher_forcing(&lin, 1000, 1000) - 0.1).abs() < 1e-12);
        let inv = spec(ScheduledSampling::InverseSigmoid);
        // k / (k + exp(0)) = 10 / 11 at step 0.
        assert!((teacher_forcing(&inv, 0, 1000) - (0.1 + 0.8 * 10.0 / 11.0)).abs() < 1e-12);
        let late = teacher_forcing(&inv, 100, 1000);
        assert!(late > 0.1 && late < 0.11, "{late}");
        let mut prev = 1.0;
        for step in (0..200).step_by(10) {
            let v = teacher_forcing(&inv, step, 1000);
            assert!(v <= prev);
            prev = v;
        }
    }

    #[test]
    fn bad_knobs_are_named() {
        let mut s = spec(ScheduledSampling::InverseSigmoid);
        s.sampling_k = 0.5;
        assert!(validate(&s).unwrap_err().to_string().contains("sampling_k"));
        let mut s = spec(ScheduledSampling::None);
        s.teacher_forcing = 1.5;
        assert!(validate(&s).unwrap_err().to_string().contains("teacher_forcing"));
        assert!(validate(&spec(ScheduledSampling::Linear)).is_ok());
    }
}
