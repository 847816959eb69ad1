//! The training loop: Adam with L2 weight decay, linear warm-up, global L2
//! gradient clipping, cross-entropy ignoring PAD, teacher forcing on a
//! schedule, validation after every epoch, early stopping on the validation
//! loss and the best epoch's weights restored at the end. Batches are random
//! or bucketed by length (`TrainSpec::batching`, see `batch`).
//!
//! The loss is read back from the device in groups (every step on the CPU,
//! where it costs nothing, every few steps on CUDA), so a NaN or infinite
//! loss is reported with the step that produced it without a host sync per
//! step.

pub mod batch;
pub mod schedule;

pub use batch::{Batch, Corpus, bucketed_batches, epoch_batches, length_sorted_batches, make_batch, shuffled_batches};

use crate::error::{JobError, Result};
use crate::model::Model;
use intervene_proto::job::TrainSpec;
use intervene_proto::pb;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tch::nn::{self, OptimizerConfig};
use tch::{Device, Kind, Reduction, Tensor};

/// How often progress is reported within an epoch, at the most.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// Mean cross-entropy over non-PAD targets.
pub fn loss(logits: &Tensor, targets: &Tensor, reduction: Reduction) -> Tensor {
    let vocab = logits.size()[2];
    logits.view([-1, vocab]).cross_entropy_loss::<Tensor>(&targets.view([-1]), None, reduction, crate::PAD, 0.0)
}

/// Global L2 norm clipping of all gradients, without reading the norm back
/// to the host (as `torch.nn.utils.clip_grad_norm_`).
pub fn clip_grad_norm(variables: &[Tensor], max_norm: f64) {
    tch::no_grad(|| {
        let grads: Vec<Tensor> = variables.iter().map(Tensor::grad).filter(Tensor::defined).collect();
        if grads.is_empty() {
            return;
        }
        let norms: Vec<Tensor> = grads.iter().map(|g| g.norm()).collect();
        let total = Tensor::stack(&norms, 0).norm();
        let scale = (max_norm / (total + 1e-6)).clamp_max(1.0);
        for mut g in grads {
            let _ = g.g_mul_(&scale);
        }
    })
}

/// Token-weighted mean loss of a split with full teacher forcing, train =
/// false.
pub fn corpus_loss(model: &Model, corpus: &Corpus, batch_size: usize, device: Device) -> f64 {
    tch::no_grad(|| {
        let mut rng = ChaCha8Rng::seed_from_u64(0); // unused at teacher forcing 1
        let (mut sum, mut tokens) = (0.0, 0u64);
        for idx in length_sorted_batches(corpus, batch_size) {
            let b = make_batch(corpus, &idx, device);
            let logits = model.forward_t(&b.src, &b.lengths, &b.inputs, 1.0, &mut rng, false);
            sum += loss(&logits, &b.targets, Reduction::Sum).double_value(&[]);
            tokens += b.target_tokens;
        }
        if tokens == 0 { f64::NAN } else { sum / tokens as f64 }
    })
}

#[derive(Debug, Clone)]
pub struct TrainOutcome {
    pub curves: Vec<pb::CurvePoint>,
    pub best_valid_loss: f64,
    pub best_epoch: u32,
    pub epochs_run: u32,
    pub early_stopped: bool,
    pub steps: u64,
    pub train_seconds: f64,
    /// Target tokens per second of the optimisation steps.
    pub tokens_per_second: f64,
}

/// What the loop reports to and is stopped by.
pub struct Hooks<'a> {
    pub progress: &'a mut dyn FnMut(pb::Progress),
    pub cancel: &'a AtomicBool,
    /// Least time between two reports within an epoch. Every epoch also
    /// ends with exactly one report, with its validation loss.
    pub report_every: Duration,
}

impl<'a> Hooks<'a> {
    /// Reports every [`PROGRESS_EVERY`] and at the end of each epoch.
    pub fn new(progress: &'a mut dyn FnMut(pb::Progress), cancel: &'a AtomicBool) -> Self {
        Hooks { progress, cancel, report_every: PROGRESS_EVERY }
    }
}

/// Losses of steps not yet read back.
struct PendingLosses {
    first_step: u64,
    losses: Vec<Tensor>,
    tokens: Vec<u64>,
}

impl PendingLosses {
    /// Reads the losses back; fails on the first non-finite one. Returns
    /// (token-weighted sum, tokens, last loss).
    fn flush(&mut self) -> Result<(f64, u64, f64)> {
        if self.losses.is_empty() {
            return Ok((0.0, 0, f64::NAN));
        }
        let values = Vec::<f64>::try_from(Tensor::stack(&self.losses, 0).to_kind(Kind::Double).to_device(Device::Cpu))?;
        let (mut sum, mut tokens, mut last) = (0.0, 0, f64::NAN);
        for (i, (&v, &n)) in values.iter().zip(&self.tokens).enumerate() {
            if !v.is_finite() {
                return Err(JobError::Diverged { step: self.first_step + i as u64, loss: v });
            }
            sum += v * n as f64;
            tokens += n;
            last = v;
        }
        self.first_step += values.len() as u64;
        self.losses.clear();
        self.tokens.clear();
        Ok((sum, tokens, last))
    }
}

/// CPU time of this process, all its threads, in seconds. On a shared
/// machine it counts the work of the steps, where wall time also counts the
/// time other processes held the cores.
fn process_cpu_seconds() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec, which `ts` is.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0.0;
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

fn snapshot(vs: &nn::VarStore) -> HashMap<String, Tensor> {
    tch::no_grad(|| vs.variables().into_iter().map(|(name, t)| (name, t.copy())).collect())
}

fn restore(vs: &nn::VarStore, saved: &HashMap<String, Tensor>) {
    tch::no_grad(|| {
        for (name, mut t) in vs.variables() {
            if let Some(s) = saved.get(&name) {
                t.copy_(s);
            }
        }
    })
}

/// Trains `model` (whose variables live in `vs`) and leaves the weights of
/// the epoch with the lowest validation loss in `vs`.
#[allow(clippy::too_many_arguments)]
pub fn fit(
    model: &Model,
    vs: &nn::VarStore,
    spec: &TrainSpec,
    train: &Corpus,
    valid: &Corpus,
    seed: u64,
    device: Device,
    hooks: Hooks<'_>,
) -> Result<TrainOutcome> {
    schedule::validate(spec)?;
    if train.is_empty() || valid.is_empty() {
        return Err(JobError::InvalidSpec(format!(
            "training needs examples in the train and valid splits; got {} and {}",
            train.len(),
            valid.len()
        )));
    }
    let Hooks { progress, cancel, report_every } = hooks;
    let batch_size = spec.batch_size as usize;
    let steps_per_epoch = train.len().div_ceil(batch_size) as u64;
    let total_steps = steps_per_epoch * spec.epochs as u64;
    let mut opt = nn::Adam { wd: spec.weight_decay, ..Default::default() }.build(vs, spec.learning_rate)?;
    let variables = vs.trainable_variables();
    // Data order and teacher-forcing coins: a stream of their own, so they
    // do not depend on how many numbers torch draws.
    let mut order_rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6f72_6465_72);
    let mut coin_rng = ChaCha8Rng::seed_from_u64(seed ^ 0x636f_696e);
    let flush_every = if device.is_cuda() { 25 } else { 1 };

    let started = Instant::now();
    let mut step_seconds = 0.0;
    let mut trained_tokens = 0u64;
    let mut step = 0u64;
    let mut curves = Vec::new();
    let (mut best_loss, mut best_epoch, mut since_best) = (f64::INFINITY, 0u32, 0u32);
    let mut best = snapshot(vs);
    let mut epochs_run = 0;
    let mut early_stopped = false;
    let mut pending = PendingLosses { first_step: 1, losses: Vec::new(), tokens: Vec::new() };
    let (mut lr, mut tf) = (spec.learning_rate, spec.teacher_forcing);

    for epoch in 1..=spec.epochs {
        let (mut epoch_sum, mut epoch_tokens, mut last_loss) = (0.0, 0u64, f64::NAN);
        let (mut epoch_step_seconds, mut epoch_step_cpu) = (0.0, 0.0);
        let (mut epoch_target_tokens, mut epoch_padded, mut epoch_source, mut epoch_padded_source) = (0, 0, 0, 0);
        let mut last_report = Instant::now();
        let batches = epoch_batches(spec.batching, train, batch_size, &mut order_rng);
        let last_batch = batches.len();
        for (i, idx) in batches.into_iter().enumerate() {
            if cancel.load(Ordering::Relaxed) {
                return Err(JobError::Cancelled);
            }
            let (t0, cpu0) = (Instant::now(), process_cpu_seconds());
            lr = schedule::learning_rate(spec, step);
            tf = schedule::teacher_forcing(spec, step, total_steps);
            opt.set_lr(lr);
            let b = make_batch(train, &idx, device);
            let logits = model.forward_t(&b.src, &b.lengths, &b.inputs, tf, &mut coin_rng, true);
            let l = loss(&logits, &b.targets, Reduction::Mean);
            opt.zero_grad();
            l.backward();
            if spec.gradient_clip > 0.0 {
                clip_grad_norm(&variables, spec.gradient_clip);
            }
            opt.step();
            step += 1;
            pending.losses.push(l.detach());
            pending.tokens.push(b.target_tokens);
            trained_tokens += b.target_tokens;
            epoch_target_tokens += b.target_tokens;
            epoch_padded += b.padded_target_tokens;
            epoch_source += b.source_tokens;
            epoch_padded_source += b.padded_source_tokens;
            // The epoch's last step is reported once, after validation, not
            // here as well.
            let report = i + 1 < last_batch && last_report.elapsed() >= report_every;
            if report || pending.losses.len() >= flush_every {
                let (s, n, last) = pending.flush()?;
                epoch_sum += s;
                epoch_tokens += n;
                last_loss = last;
            }
            epoch_step_seconds += t0.elapsed().as_secs_f64();
            epoch_step_cpu += process_cpu_seconds() - cpu0;
            if report {
                last_report = Instant::now();
                progress(pb::Progress {
                    phase: pb::Phase::Training as i32,
                    epoch,
                    epochs: spec.epochs,
                    step,
                    steps_per_epoch,
                    train_loss: last_loss,
                    valid_loss: if best_loss.is_finite() { best_loss } else { f64::NAN },
                    epoch_end: false,
                });
            }
        }
        step_seconds += epoch_step_seconds;
        let (s, n, _) = pending.flush()?;
        epoch_sum += s;
        epoch_tokens += n;
        let train_loss = epoch_sum / epoch_tokens.max(1) as f64;
        let valid_loss = corpus_loss(model, valid, batch_size, device);
        if !valid_loss.is_finite() {
            return Err(JobError::Diverged { step, loss: valid_loss });
        }
        epochs_run = epoch;
        curves.push(pb::CurvePoint {
            epoch,
            step,
            train_loss,
            valid_loss,
            learning_rate: lr,
            teacher_forcing: tf,
            seconds: started.elapsed().as_secs_f64(),
            step_seconds: epoch_step_seconds,
            step_cpu_seconds: epoch_step_cpu,
            target_tokens: epoch_target_tokens,
            padded_target_tokens: epoch_padded,
            source_tokens: epoch_source,
            padded_source_tokens: epoch_padded_source,
        });
        progress(pb::Progress {
            phase: pb::Phase::Training as i32,
            epoch,
            epochs: spec.epochs,
            step,
            steps_per_epoch,
            train_loss,
            valid_loss,
            epoch_end: true,
        });
        if valid_loss < best_loss {
            best_loss = valid_loss;
            best_epoch = epoch;
            since_best = 0;
            best = snapshot(vs);
        } else {
            since_best += 1;
            if spec.early_stopping_patience > 0 && since_best >= spec.early_stopping_patience {
                early_stopped = epoch < spec.epochs;
                break;
            }
        }
    }
    restore(vs, &best);
    Ok(TrainOutcome {
        curves,
        best_valid_loss: best_loss,
        best_epoch,
        epochs_run,
        early_stopped,
        steps: step,
        train_seconds: started.elapsed().as_secs_f64(),
        tokens_per_second: if step_seconds > 0.0 { trained_tokens as f64 / step_seconds } else { 0.0 },
    })
}

#[cfg(test)]
mod tests;
