use super::*;
use crate::test_support::torch_lock;
use intervene_proto::job::{AttentionSpec, ModelSpec, RecurrentSpec, TransformerSpec};
use rand::SeedableRng;
use tch::{Device, nn};

const V: u32 = 6;

fn models() -> Vec<ModelSpec> {
    vec![
        ModelSpec::Gru(RecurrentSpec {
            embedding_dim: 6,
            hidden_dim: 8,
            layers: 2,
            dropout: 0.2,
            bidirectional: true,
            feed_context: false,
        }),
        // Beams reorder the fixed context with the state.
        ModelSpec::Lstm(RecurrentSpec {
            embedding_dim: 6,
            hidden_dim: 8,
            layers: 1,
            dropout: 0.2,
            bidirectional: false,
            feed_context: true,
        }),
        ModelSpec::LstmAttention(AttentionSpec {
            embedding_dim: 6,
            hidden_dim: 8,
            layers: 1,
            dropout: 0.2,
            bidirectional: true,
            attention_dim: 5,
        }),
        ModelSpec::Transformer(TransformerSpec {
            d_model: 8,
            heads: 2,
            ff_dim: 16,
            encoder_layers: 1,
            decoder_layers: 2,
            dropout: 0.2,
        }),
    ]
}

fn build(spec: &ModelSpec, seed: i64) -> (nn::VarStore, Model) {
    tch::manual_seed(seed);
    let vs = nn::VarStore::new(Device::Cpu);
    let model = Model::new(spec, vs.root(), 9, V, 32).unwrap();
    // Random weights put little mass on EOS; sharpen them so sequences end
    // at different lengths.
    tch::no_grad(|| {
        for mut v in vs.trainable_variables() {
            let _ = v.g_mul_scalar_(3.0);
        }
    });
    (vs, model)
}

fn sources() -> (Tensor, Tensor) {
    let src = Tensor::from_slice(&[4i64, 5, 6, 7, 2, 8, 5, 2, 0, 0, 6, 2, 0, 0, 0]).view([3, 5]);
    (src, Tensor::from_slice(&[5i64, 3, 2]))
}

fn one(src: &Tensor, i: i64, len: i64) -> (Tensor, Tensor) {
    (src.narrow(0, i, 1).narrow(1, 0, len), Tensor::from_slice(&[len]))
}

#[test]
fn batched_decoding_equals_one_at_a_time() {
    let _g = torch_lock();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    for spec in models() {
        let (_vs, model) = build(&spec, 5);
        let (src, lengths) = sources();
        for dspec in
            [DecodeSpec::Greedy { max_len: 7 }, DecodeSpec::Beam { beam_size: 3, length_penalty: 0.6, max_len: 7 }]
        {
            let all = decode(&model, &src, &lengths, &dspec, &mut rng);
            for (i, len) in [(0, 5), (1, 3), (2, 2)] {
                let (s, l) = one(&src, i, len);
                assert_eq!(decode(&model, &s, &l, &dspec, &mut rng)[0], all[i as usize], "{spec:?} {dspec:?} row {i}");
            }
        }
    }
}

#[test]
fn beam_of_one_and_tiny_nucleus_are_greedy() {
    let _g = torch_lock();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    for spec in models() {
        let (_vs, model) = build(&spec, 6);
        let (src, lengths) = sources();
        let greedy = decode(&model, &src, &lengths, &DecodeSpec::Greedy { max_len: 9 }, &mut rng);
        let beam1 = decode(
            &model,
            &src,
            &lengths,
            &DecodeSpec::Beam { beam_size: 1, length_penalty: 0.0, max_len: 9 },
            &mut rng,
        );
        let nucleus =
            decode(&model, &src, &lengths, &DecodeSpec::TopP { top_p: 1e-6, temperature: 1.0, max_len: 9 }, &mut rng);
        assert_eq!(greedy, beam1, "{spec:?}");
        assert_eq!(greedy, nucleus, "{spec:?}");
        assert!(greedy.iter().all(|row| row.len() <= 9));
    }
}

#[test]
fn sampling_is_seeded() {
    let _g = torch_lock();
    let (_vs, model) = build(&models()[1], 7);
    let (src, lengths) = sources();
    let spec = DecodeSpec::TopP { top_p: 0.95, temperature: 1.5, max_len: 8 };
    let a = decode(&model, &src, &lengths, &spec, &mut ChaCha8Rng::seed_from_u64(1));
    let b = decode(&model, &src, &lengths, &spec, &mut ChaCha8Rng::seed_from_u64(1));
    assert_eq!(a, b);
    let differs = (2..20).any(|s| decode(&model, &src, &lengths, &spec, &mut ChaCha8Rng::seed_from_u64(s)) != a);
    assert!(differs, "different seeds should sample differently at temperature 1.5");
}

/// Log-probability of generating `seq` (a full hypothesis: ending with EOS
/// or `max_len` long) for source row `i`.
fn sequence_logp(model: &Model, src: &Tensor, lengths: &Tensor, seq: &[i64]) -> f64 {
    tch::no_grad(|| {
        let (memory, mut state) = model.encode(src, lengths, false);
        let mut input = Tensor::from_slice(&[crate::SOS]);
        let mut total = 0.0;
        for &tok in seq {
            let out = model.step(&memory, &state, &input, false);
            total += model.project(&out.features).log_softmax(-1, Kind::Float).double_value(&[0, tok]);
            state = out.state;
            input = Tensor::from_slice(&[tok]);
        }
        total
    })
}

/// Every hypothesis of at most `max_len` tokens: the ones ending at their
/// first EOS, and the `max_len`-long ones without EOS.
fn all_hypotheses(max_len: usize) -> Vec<Vec<i64>> {
    let mut done = Vec::new();
    let mut open: Vec<Vec<i64>> = vec![Vec::new()];
    for _ in 0..max_len {
        let mut next = Vec::new();
        for prefix in &open {
            for tok in 0..V as i64 {
                let mut s = prefix.clone();
                s.push(tok);
                if tok == crate::EOS { done.push(s) } else { next.push(s) }
            }
        }
        open = next;
    }
    done.extend(open);
    done
}

#[test]
fn a_wide_beam_finds_the_exact_best_hypothesis() {
    let _g = torch_lock();
    let max_len = 3;
    let hyps = all_hypotheses(max_len);
    for spec in models() {
        let (_vs, model) = build(&spec, 8);
        let (src, _) = sources();
        let (s, l) = one(&src, 1, 3);
        let scored: Vec<(Vec<i64>, f64)> = hyps.iter().map(|h| (h.clone(), sequence_logp(&model, &s, &l, h))).collect();
        for alpha in [0.0, 1.0] {
            let best = scored
                .iter()
                .max_by(|a, b| {
                    let ra = a.1 / (a.0.len() as f64).powf(alpha);
                    let rb = b.1 / (b.0.len() as f64).powf(alpha);
                    ra.total_cmp(&rb)
                })
                .unwrap();
            // Beam width V^max_len keeps every prefix: the search is exhaustive.
            let dspec =
                DecodeSpec::Beam { beam_size: V.pow(max_len as u32), length_penalty: alpha, max_len: max_len as u32 };
            let got = decode(&model, &s, &l, &dspec, &mut ChaCha8Rng::seed_from_u64(0));
            assert_eq!(got[0], cut(&best.0), "{spec:?} alpha {alpha}");
        }
    }
}

#[test]
fn attention_maps_have_a_row_per_token() {
    let _g = torch_lock();
    for spec in models() {
        let (_vs, model) = build(&spec, 9);
        let (src, _) = sources();
        let (s, l) = one(&src, 0, 5);
        let map = attention_map(&model, &s, &l, &[4, 5, 3]);
        match &spec {
            ModelSpec::Gru(_) | ModelSpec::Lstm(_) => assert!(map.is_none()),
            _ => {
                let map = map.unwrap();
                assert_eq!(map.size(), [3, 5]);
                let sums = map.sum_dim_intlist(-1, false, Kind::Float);
                assert!(sums.allclose(&Tensor::ones([3], (Kind::Float, Device::Cpu)), 1e-5, 1e-5, false));
            }
        }
    }
}

#[test]
fn bad_decode_knobs_are_named() {
    let e = validate(&DecodeSpec::TopP { top_p: 0.0, temperature: 1.0, max_len: 5 }).unwrap_err();
    assert!(e.to_string().contains("top_p"));
    let e = validate(&DecodeSpec::TopP { top_p: 0.9, temperature: 0.0, max_len: 5 }).unwrap_err();
    assert!(e.to_string().contains("temperature"));
    let e = validate(&DecodeSpec::Beam { beam_size: 0, length_penalty: 1.0, max_len: 5 }).unwrap_err();
    assert!(e.to_string().contains("beam_size"));
    assert!(validate(&DecodeSpec::Greedy { max_len: 0 }).is_err());
}

/// Every strategy's loop, run until `stop`.
fn run_until(model: &Model, src: &Tensor, lengths: &Tensor, spec: &DecodeSpec, seed: u64, stop: Stop) -> Decoded {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    tch::no_grad(|| match *spec {
        DecodeSpec::Greedy { max_len } => greedy::run(model, src, lengths, max_len as i64, stop),
        DecodeSpec::Beam { beam_size, length_penalty, max_len } => {
            beam::run(model, src, lengths, beam_size as i64, length_penalty, max_len as i64, stop)
        }
        DecodeSpec::TopP { top_p, temperature, max_len } => {
            sampling::run(model, src, lengths, top_p, temperature, max_len as i64, &mut rng, stop)
        }
    })
}

const STRATEGIES: [DecodeSpec; 3] = [
    DecodeSpec::Greedy { max_len: 20 },
    DecodeSpec::Beam { beam_size: 3, length_penalty: 1.0, max_len: 20 },
    DecodeSpec::TopP { top_p: 0.9, temperature: 1.0, max_len: 20 },
];

/// Adds `by` to the output bias of EOS.
fn favour_eos(vs: &nn::VarStore, by: f64) {
    let vars = vs.variables();
    let (_, bias) = vars.iter().find(|(name, _)| name.ends_with("output.bias")).expect("an output layer with a bias");
    tch::no_grad(|| {
        let _ = bias.get(crate::EOS).g_add_scalar_(by);
    });
}

#[test]
fn a_model_that_emits_eos_first_stops_at_once_with_the_same_result() {
    let _g = torch_lock();
    for spec in models() {
        let (vs, model) = build(&spec, 10);
        favour_eos(&vs, 50.0);
        let (src, lengths) = sources();
        for dspec in STRATEGIES {
            let early = run_until(&model, &src, &lengths, &dspec, 3, Stop::WhenFinished);
            let full = run_until(&model, &src, &lengths, &dspec, 3, Stop::AtMaxLen);
            assert_eq!(early.rows, vec![Vec::<i64>::new(); 3], "{spec:?} {dspec:?}");
            assert_eq!(early.rows, full.rows, "{spec:?} {dspec:?}");
            assert_eq!(full.steps, 20);
            // Greedy and sampling end with the first token; beam search one
            // step later, when the runners-up of the first step end too.
            let expected = if matches!(dspec, DecodeSpec::Beam { .. }) { 2 } else { 1 };
            assert_eq!(early.steps, expected, "{spec:?} {dspec:?}");
        }
    }
}

#[test]
fn stopping_when_every_sequence_has_ended_changes_no_output() {
    let _g = torch_lock();
    // Decodes that stopped before max_len with rows of different lengths:
    // the ones where stopping could have changed something.
    let mut telling = 0;
    for spec in models() {
        for eos_bias in [0.0, 1.0] {
            let (vs, model) = build(&spec, 11);
            favour_eos(&vs, eos_bias);
            let (src, lengths) = sources();
            for dspec in STRATEGIES {
                for seed in 0..3 {
                    let early = run_until(&model, &src, &lengths, &dspec, seed, Stop::WhenFinished);
                    let full = run_until(&model, &src, &lengths, &dspec, seed, Stop::AtMaxLen);
                    assert_eq!(early.rows, full.rows, "{spec:?} {dspec:?} EOS bias {eos_bias} seed {seed}");
                    assert!(early.steps <= full.steps && full.steps == 20);
                    let mut lens: Vec<usize> = early.rows.iter().map(Vec::len).collect();
                    lens.dedup();
                    telling += usize::from(early.steps < 20 && lens.len() > 1);
                }
            }
        }
    }
    assert!(telling >= 10, "only {telling} of 54 decodes stopped early with rows of different lengths");
}
