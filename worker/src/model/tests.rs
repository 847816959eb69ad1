use super::*;
use intervene_proto::job::{AttentionSpec, RecurrentSpec, TransformerSpec};
use intervene_proto::params;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind};

fn rec(e: u32, h: u32, layers: u32, bidirectional: bool) -> RecurrentSpec {
    RecurrentSpec { embedding_dim: e, hidden_dim: h, layers, dropout: 0.1, bidirectional, feed_context: false }
}

fn att(e: u32, h: u32, layers: u32, bidirectional: bool, a: u32) -> AttentionSpec {
    AttentionSpec { embedding_dim: e, hidden_dim: h, layers, dropout: 0.1, bidirectional, attention_dim: a }
}

fn tf(d: u32, heads: u32, ff: u32, enc: u32, dec: u32) -> TransformerSpec {
    TransformerSpec { d_model: d, heads, ff_dim: ff, encoder_layers: enc, decoder_layers: dec, dropout: 0.1 }
}

/// A spread of sizes per architecture: widths, depths, both directions,
/// odd numbers that would expose a swapped dimension.
fn spread() -> Vec<ModelSpec> {
    let mut specs = Vec::new();
    for &(e, h, l, bi) in &[(4, 3, 1, false), (8, 16, 2, true), (7, 5, 3, true), (32, 64, 1, true), (16, 8, 2, false)] {
        specs.push(ModelSpec::Rnn(rec(e, h, l, bi)));
        specs.push(ModelSpec::Gru(rec(e, h, l, bi)));
        specs.push(ModelSpec::Lstm(rec(e, h, l, bi)));
        specs.push(ModelSpec::LstmAttention(att(e, h, l, bi, h + 3)));
        // The decoder that reads the encoder's final state at every step.
        let fed = RecurrentSpec { feed_context: true, ..rec(e, h, l, bi) };
        specs.push(ModelSpec::Rnn(fed.clone()));
        specs.push(ModelSpec::Lstm(fed));
    }
    for &(d, heads, ff, enc, dec) in &[(8, 2, 16, 1, 1), (12, 3, 20, 2, 3), (32, 4, 64, 3, 1), (16, 1, 7, 1, 2)] {
        specs.push(ModelSpec::Transformer(tf(d, heads, ff, enc, dec)));
    }
    specs
}

fn trainable(vs: &nn::VarStore) -> u64 {
    vs.trainable_variables().iter().map(|t| t.numel() as u64).sum()
}

#[test]
fn parameter_counts_match_the_closed_form_for_every_arch_and_size() {
    for spec in spread() {
        for (vs_size, vt_size) in [(11u32, 13u32), (50, 7)] {
            let vs = nn::VarStore::new(Device::Cpu);
            let _model = Model::new(&spec, vs.root(), vs_size, vt_size, 64).unwrap();
            assert_eq!(
                trainable(&vs),
                params::trainable_params(&spec, vs_size, vt_size),
                "{spec:?} with vocabularies {vs_size}/{vt_size}"
            );
        }
    }
}

#[test]
fn invalid_specs_are_refused_with_the_knob_named() {
    let vs = nn::VarStore::new(Device::Cpu);
    let err = Model::new(&ModelSpec::Transformer(tf(10, 3, 8, 1, 1)), vs.root(), 20, 20, 8).err().unwrap();
    assert!(err.to_string().contains("heads"), "{err}");
    let err = Model::new(&ModelSpec::Gru(rec(4, 0, 1, false)), vs.root(), 20, 20, 8).err().unwrap();
    assert!(err.to_string().contains("hidden_dim"), "{err}");
    let err = Model::new(&ModelSpec::Lstm(rec(4, 4, 1, false)), vs.root(), 3, 20, 8).err().unwrap();
    assert!(err.to_string().contains("vocabulary"), "{err}");
}

/// A batch: lengths 5 and 3 (sorted), targets of 4 steps.
fn batch() -> (Tensor, Tensor, Tensor) {
    let src = Tensor::from_slice(&[5i64, 6, 7, 8, 2, 9, 5, 2, 0, 0]).view([2, 5]);
    let lengths = Tensor::from_slice(&[5i64, 3]);
    let inputs = Tensor::from_slice(&[1i64, 5, 6, 7, 1, 8, 9, 2]).view([2, 4]);
    (src, lengths, inputs)
}

#[test]
fn fused_teacher_forcing_equals_stepping() {
    let _guard = crate::test_support::torch_lock();
    tch::manual_seed(0);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    for spec in spread() {
        let vs = nn::VarStore::new(Device::Cpu);
        let model = Model::new(&spec, vs.root(), 12, 12, 16).unwrap();
        let (src, lengths, inputs) = batch();
        let fused = model.forward_t(&src, &lengths, &inputs, 1.0, &mut rng, false);
        assert_eq!(fused.size(), [2, 4, 12]);
        let (memory, mut state) = model.encode(&src, &lengths, false);
        let mut stepped = Vec::new();
        for t in 0..4 {
            let out = model.step(&memory, &state, &inputs.select(1, t), false);
            assert_eq!(out.attention.is_some(), model.has_attention(), "{spec:?}");
            if let Some(a) = &out.attention {
                // Rows are distributions over real source tokens only.
                let sums = a.sum_dim_intlist(-1, false, Kind::Float);
                assert!(sums.allclose(&Tensor::ones([2], (Kind::Float, Device::Cpu)), 1e-5, 1e-5, false));
                assert_eq!(a.double_value(&[1, 4]), 0.0);
            }
            stepped.push(model.project(&out.features));
            state = out.state;
        }
        let stepped = Tensor::stack(&stepped, 1);
        assert!(fused.allclose(&stepped, 1e-4, 1e-5, false), "{spec:?}: fused and stepped logits differ");
    }
}

#[test]
fn padding_does_not_change_a_sequence_result() {
    let _guard = crate::test_support::torch_lock();
    tch::manual_seed(1);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    for spec in spread() {
        let vs = nn::VarStore::new(Device::Cpu);
        let model = Model::new(&spec, vs.root(), 12, 12, 16).unwrap();
        let (src, lengths, inputs) = batch();
        let both = model.forward_t(&src, &lengths, &inputs, 1.0, &mut rng, false);
        let alone = model.forward_t(
            &src.narrow(0, 1, 1).narrow(1, 0, 3),
            &Tensor::from_slice(&[3i64]),
            &inputs.narrow(0, 1, 1),
            1.0,
            &mut rng,
            false,
        );
        assert!(both.narrow(0, 1, 1).allclose(&alone, 1e-4, 1e-5, false), "{spec:?}");
    }
}

#[test]
fn scheduled_sampling_feeds_predictions_and_trains() {
    let _guard = crate::test_support::torch_lock();
    tch::manual_seed(2);
    let vs = nn::VarStore::new(Device::Cpu);
    let model = Model::new(&ModelSpec::LstmAttention(att(8, 8, 1, true, 8)), vs.root(), 12, 12, 16).unwrap();
    let (src, lengths, inputs) = batch();
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let gold = model.forward_t(&src, &lengths, &inputs, 1.0, &mut rng, false);
    let free = model.forward_t(&src, &lengths, &inputs, 0.0, &mut rng, false);
    // The first step always sees SOS; later ones see other inputs.
    assert!(gold.select(1, 0).allclose(&free.select(1, 0), 1e-6, 1e-6, false));
    assert!(!gold.allclose(&free, 1e-6, 1e-6, false));
    // Gradients flow through the sampled path.
    let loss = free.view([-1, 12]).cross_entropy_for_logits(&inputs.view([-1]));
    loss.backward();
    let grads: f64 = vs.trainable_variables().iter().map(|v| v.grad().abs().sum(Kind::Float).double_value(&[])).sum();
    assert!(grads > 0.0);
}

#[test]
fn scheduled_sampling_equals_a_plain_step_loop_with_the_same_coins() {
    let _guard = crate::test_support::torch_lock();
    tch::manual_seed(4);
    for spec in spread().into_iter().filter(|s| !matches!(s, ModelSpec::Transformer(_))) {
        let vs = nn::VarStore::new(Device::Cpu);
        let model = Model::new(&spec, vs.root(), 12, 12, 16).unwrap();
        let (src, lengths, inputs) = batch();
        for (ratio, seed) in [(0.5, 1u64), (0.3, 2), (0.0, 3)] {
            let fast = model.forward_t(&src, &lengths, &inputs, ratio, &mut ChaCha8Rng::seed_from_u64(seed), false);
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let gold: Vec<bool> = (0..4).map(|t| t == 0 || rng.r#gen::<f64>() < ratio).collect();
            let (memory, mut state) = model.encode(&src, &lengths, false);
            let mut input = inputs.select(1, 0);
            let mut logits = Vec::new();
            for t in 0..4 {
                let out = model.step(&memory, &state, &input, false);
                let l = model.project(&out.features);
                if t + 1 < 4 {
                    input = if gold[t + 1] { inputs.select(1, t as i64 + 1) } else { l.argmax(-1, false) };
                }
                logits.push(l);
                state = out.state;
            }
            let slow = Tensor::stack(&logits, 1);
            assert!(fast.allclose(&slow, 1e-4, 1e-5, false), "{spec:?} at ratio {ratio}, coins {gold:?}");
        }
    }
}
