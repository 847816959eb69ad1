use super::*;
use crate::decode;
use crate::test_support::torch_lock;
use intervene_proto::job::{AttentionSpec, Batching, DecodeSpec, ModelSpec, RecurrentSpec, ScheduledSampling};
use std::sync::atomic::AtomicBool;

/// Target = source reversed, over tokens 4..12.
fn reverse_task(n: usize, seed: u64) -> Corpus {
    use rand::Rng;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut c = Corpus::default();
    for _ in 0..n {
        let len = rng.gen_range(2..6);
        let s: Vec<i64> = (0..len).map(|_| rng.gen_range(4..12)).collect();
        c.targets.push(s.iter().rev().copied().collect());
        c.sources.push(s);
    }
    c
}

fn spec(epochs: u32) -> TrainSpec {
    TrainSpec {
        batch_size: 16,
        epochs,
        learning_rate: 1e-2,
        weight_decay: 0.0,
        warmup_steps: 5,
        gradient_clip: 1.0,
        teacher_forcing: 1.0,
        scheduled_sampling: ScheduledSampling::None,
        teacher_forcing_min: 0.0,
        sampling_k: 1.0,
        early_stopping_patience: 0,
        batching: Default::default(),
    }
}

fn attention() -> ModelSpec {
    ModelSpec::LstmAttention(AttentionSpec {
        embedding_dim: 16,
        hidden_dim: 32,
        layers: 1,
        dropout: 0.0,
        bidirectional: true,
        attention_dim: 16,
    })
}

fn run(model_spec: &ModelSpec, train_spec: &TrainSpec, seed: u64) -> (nn::VarStore, Model, Result<TrainOutcome>) {
    tch::manual_seed(seed as i64);
    let vs = nn::VarStore::new(Device::Cpu);
    let model = Model::new(model_spec, vs.root(), 12, 12, 16).unwrap();
    let (train, valid) = (reverse_task(256, 1), reverse_task(64, 2));
    let cancel = AtomicBool::new(false);
    let mut reports = 0;
    let mut progress = |_p: pb::Progress| reports += 1;
    let out = fit(&model, &vs, train_spec, &train, &valid, seed, Device::Cpu, Hooks::new(&mut progress, &cancel));
    assert!(out.is_err() || reports >= train_spec.epochs.min(1) as usize);
    (vs, model, out)
}

#[test]
fn learns_to_reverse_and_keeps_the_best_epoch() {
    let _g = torch_lock();
    let (_vs, model, out) = run(&attention(), &spec(12), 3);
    let out = out.unwrap();
    assert_eq!(out.epochs_run, 12);
    assert_eq!(out.curves.len(), 12);
    let first = &out.curves[0];
    let best = out.curves.iter().map(|c| c.valid_loss).fold(f64::INFINITY, f64::min);
    assert!(best < first.valid_loss * 0.3, "valid loss {} -> {best}", first.valid_loss);
    assert_eq!(out.best_valid_loss, best);
    assert_eq!(out.curves[out.best_epoch as usize - 1].valid_loss, best);
    // The restored weights are the best epoch's.
    let valid = reverse_task(64, 2);
    assert!((corpus_loss(&model, &valid, 16, Device::Cpu) - best).abs() < 1e-6);
    // And they decode the task.
    let test = reverse_task(32, 4);
    let mut right = 0;
    for idx in length_sorted_batches(&test, 16) {
        let b = make_batch(&test, &idx, Device::Cpu);
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let got = decode::decode(&model, &b.src, &b.lengths, &DecodeSpec::Greedy { max_len: 8 }, &mut rng);
        right += b.order.iter().zip(&got).filter(|(i, g)| &test.targets[**i] == *g).count();
    }
    assert!(right >= 24, "{right}/32 reversed");
    assert!(out.tokens_per_second > 0.0 && out.steps == 12 * 16);
    assert!(out.curves[0].learning_rate == 1e-2 && out.curves[0].teacher_forcing == 1.0);
}

#[test]
fn same_seed_same_run_other_seed_other_run() {
    let _g = torch_lock();
    let mut s = spec(2);
    s.teacher_forcing = 0.7;
    s.scheduled_sampling = ScheduledSampling::Linear;
    s.teacher_forcing_min = 0.2;
    let gru = ModelSpec::Gru(RecurrentSpec {
        embedding_dim: 8,
        hidden_dim: 16,
        layers: 2,
        dropout: 0.3,
        bidirectional: true,
        feed_context: false,
    });
    let losses = |seed| -> Vec<(f64, f64)> {
        let out = run(&gru, &s, seed).2.unwrap();
        out.curves.iter().map(|c| (c.train_loss, c.valid_loss)).collect()
    };
    let a = losses(11);
    assert_eq!(a, losses(11));
    assert_ne!(a, losses(12));
}

#[test]
fn bucketed_batching_pads_less_and_learns_as_well_and_is_seeded() {
    let _g = torch_lock();
    let random = spec(8);
    let bucketed = TrainSpec { batching: Batching::Bucketed, ..random.clone() };
    let r = run(&attention(), &random, 7).2.unwrap();
    let b = run(&attention(), &bucketed, 7).2.unwrap();
    assert_eq!((r.steps, b.steps), (8 * 16, 8 * 16), "the same steps either way");
    let real = reverse_task(256, 1).target_tokens();
    for (cr, cb) in r.curves.iter().zip(&b.curves) {
        assert_eq!((cr.target_tokens, cb.target_tokens), (real, real), "every example once an epoch");
        assert_eq!(cr.source_tokens, cb.source_tokens);
        assert!(cb.padded_target_tokens < cr.padded_target_tokens, "{cb:?} vs {cr:?}");
        assert!(cb.padded_target_tokens >= real && cb.step_seconds > 0.0 && cb.step_cpu_seconds > 0.0);
    }
    let last = |o: &TrainOutcome| o.curves.last().unwrap().valid_loss;
    assert!(last(&b) < 0.5 * b.curves[0].valid_loss, "{:?} {:?}", b.curves, r.curves);
    assert!(last(&b) < 1.5 * last(&r), "bucketed {} vs random {}", last(&b), last(&r));
    let again = run(&attention(), &bucketed, 7).2.unwrap();
    let losses = |o: &TrainOutcome| o.curves.iter().map(|c| (c.train_loss, c.valid_loss)).collect::<Vec<_>>();
    assert_eq!(losses(&again), losses(&b));
}

#[test]
fn every_step_is_reported_once_and_each_epoch_ends_with_its_validation() {
    let _g = torch_lock();
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    let model = Model::new(&attention(), vs.root(), 12, 12, 16).unwrap();
    let (train, valid) = (reverse_task(40, 1), reverse_task(8, 2));
    let cancel = AtomicBool::new(false);
    let mut seen = Vec::new();
    let mut progress = |p: pb::Progress| seen.push((p.epoch, p.step, p.steps_per_epoch, p.valid_loss));
    // Reporting as often as possible: within an epoch after every step.
    let hooks = Hooks { progress: &mut progress, cancel: &cancel, report_every: Duration::ZERO };
    let out = fit(&model, &vs, &spec(3), &train, &valid, 0, Device::Cpu, hooks).unwrap();
    // 40 examples in batches of 16: 3 steps an epoch, 9 in all.
    let steps: Vec<(u32, u64)> = seen.iter().map(|&(e, s, ..)| (e, s)).collect();
    let expected: Vec<(u32, u64)> = (1..=9u64).map(|s| ((s as u32 - 1) / 3 + 1, s)).collect();
    assert_eq!(steps, expected);
    assert!(seen.iter().all(|&(.., per_epoch, _)| per_epoch == 3));
    // The last step of an epoch is the epoch's report, after validation.
    for (epoch, curve) in (1..=3).zip(&out.curves) {
        let last = seen.iter().find(|&&(e, s, ..)| e == epoch && s == 3 * epoch as u64).unwrap();
        assert_eq!(last.3, curve.valid_loss);
    }
}

#[test]
fn a_nan_loss_ends_the_run_as_diverged_at_its_step() {
    let _g = torch_lock();
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    let model = Model::new(&attention(), vs.root(), 12, 12, 16).unwrap();
    // A poisoned output bias makes the very first loss NaN.
    let bias = vs.variables()["decoder.output.bias"].shallow_clone();
    tch::no_grad(|| {
        let _ = bias.get(5).fill_(f64::NAN);
    });
    let cancel = AtomicBool::new(false);
    let mut progress = |_p: pb::Progress| {};
    let (train, valid) = (reverse_task(64, 1), reverse_task(8, 2));
    let err = fit(&model, &vs, &spec(2), &train, &valid, 0, Device::Cpu, Hooks::new(&mut progress, &cancel));
    match err {
        Err(JobError::Diverged { step, loss }) => {
            assert_eq!(step, 1);
            assert!(loss.is_nan());
        }
        other => panic!("expected divergence, got {other:?}"),
    }
}

#[test]
fn cancellation_stops_before_the_next_batch() {
    let _g = torch_lock();
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    let model = Model::new(&attention(), vs.root(), 12, 12, 16).unwrap();
    let cancel = AtomicBool::new(true);
    let mut progress = |_p: pb::Progress| {};
    let (train, valid) = (reverse_task(32, 1), reverse_task(8, 2));
    let err = fit(&model, &vs, &spec(2), &train, &valid, 0, Device::Cpu, Hooks::new(&mut progress, &cancel));
    assert!(matches!(err, Err(JobError::Cancelled)));
}

#[test]
fn early_stopping_waits_for_patience() {
    let _g = torch_lock();
    let mut s = spec(30);
    s.early_stopping_patience = 2;
    // A learning rate so high the validation loss stops improving quickly.
    s.learning_rate = 0.3;
    let out = run(&attention(), &s, 6).2.unwrap();
    assert!(out.early_stopped, "{:?}", out.curves.iter().map(|c| c.valid_loss).collect::<Vec<_>>());
    assert_eq!(out.epochs_run, out.best_epoch + 2);
    assert!(out.epochs_run < 30);
}

#[test]
fn clipping_bounds_the_global_norm() {
    let _g = torch_lock();
    let a = Tensor::from_slice(&[3.0f32, 0.0]).set_requires_grad(true);
    let b = Tensor::from_slice(&[4.0f32]).set_requires_grad(true);
    let l = (&a * &a).sum(Kind::Float) / 2 + (&b * &b).sum(Kind::Float) / 2; // grads = values, norm 5
    l.backward();
    clip_grad_norm(&[a.shallow_clone(), b.shallow_clone()], 1.0);
    let norm = (a.grad().square().sum(Kind::Float) + b.grad().square().sum(Kind::Float)).sqrt().double_value(&[]);
    assert!((norm - 1.0).abs() < 1e-5, "{norm}");
    assert!((a.grad().double_value(&[0]) - 0.6).abs() < 1e-5);
    // Below the bound nothing changes.
    clip_grad_norm(&[a.shallow_clone(), b.shallow_clone()], 10.0);
    assert!((a.grad().double_value(&[0]) - 0.6).abs() < 1e-5);
}
