//! Training and greedy-decoding throughput of every architecture on random
//! batches shaped like the reference study's (seed 002: vocabularies of
//! 5000, sources up to 50 tokens, targets up to 80, batch 64).
//!
//!     cargo bench -p intervene-worker --bench throughput -- [--small] [--dim D] [--batch B] [--steps N] [--threads N] [--device cpu|cuda:N] [ARCH...]
//!
//! Prints each model's trainable parameters, target tokens per second of
//! optimisation steps (forward, backward, clipping, Adam) at teacher forcing
//! 1.0 and 0.5, and decoded sequences per second.
//! `bench/reference/seq2seq_eager.py` measures the same in PyTorch. Every
//! timed step ends by reading a value back to the host, so GPU timings
//! include the kernels, not only their launch.

use intervene_proto::job::{AttentionSpec, DecodeSpec, ModelSpec, RecurrentSpec, TransformerSpec};
use intervene_worker::decode;
use intervene_worker::model::Model;
use intervene_worker::train::{Corpus, clip_grad_norm, loss, make_batch};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Instant;
use tch::nn::{self, OptimizerConfig};
use tch::{Device, Reduction};

struct Args {
    small: bool,
    dim: Option<u32>,
    batch: usize,
    steps: usize,
    threads: Option<i32>,
    device: Device,
    archs: Vec<String>,
}

fn args() -> Args {
    let mut a =
        Args { small: false, dim: None, batch: 64, steps: 5, threads: None, device: Device::Cpu, archs: Vec::new() };
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        match x.as_str() {
            "--small" => a.small = true,
            "--dim" => a.dim = it.next().and_then(|v| v.parse().ok()),
            "--batch" => a.batch = it.next().and_then(|v| v.parse().ok()).unwrap_or(a.batch),
            "--steps" => a.steps = it.next().and_then(|v| v.parse().ok()).unwrap_or(a.steps),
            "--threads" => a.threads = it.next().and_then(|v| v.parse().ok()),
            "--device" => {
                let name = it.next().unwrap_or_default();
                a.device = intervene_worker::device::parse_device(&name).unwrap_or_else(|e| {
                    eprintln!("throughput: --device: {e}");
                    std::process::exit(2)
                });
            }
            "--bench" => {}
            other => a.archs.push(other.to_string()),
        }
    }
    a
}

fn specs(small: bool, dim: Option<u32>) -> Vec<(&'static str, ModelSpec)> {
    let (e, h) = match dim {
        Some(d) => (d, d),
        None if small => (64, 64),
        None => (256, 256),
    };
    let r = RecurrentSpec {
        embedding_dim: e,
        hidden_dim: h,
        layers: 2,
        dropout: 0.3,
        bidirectional: true,
        feed_context: false,
    };
    vec![
        ("rnn", ModelSpec::Rnn(r.clone())),
        ("gru", ModelSpec::Gru(r.clone())),
        ("lstm", ModelSpec::Lstm(r.clone())),
        (
            "lstm-attention",
            ModelSpec::LstmAttention(AttentionSpec {
                embedding_dim: e,
                hidden_dim: h,
                layers: 2,
                dropout: 0.3,
                bidirectional: true,
                attention_dim: h,
            }),
        ),
        (
            "transformer",
            ModelSpec::Transformer(TransformerSpec {
                // The shape of experiments/transformer-python.toml (d_model 256, ff 512).
                d_model: h,
                heads: 8,
                ff_dim: 2 * h,
                encoder_layers: 3,
                decoder_layers: 3,
                dropout: 0.1,
            }),
        ),
    ]
}

fn corpus(n: usize, vocab: i64, rng: &mut ChaCha8Rng) -> Corpus {
    let mut c = Corpus::default();
    for _ in 0..n {
        let s = rng.gen_range(5..50);
        let t = rng.gen_range(10..80);
        c.sources.push((0..s).map(|_| rng.gen_range(4..vocab)).collect());
        c.targets.push((0..t).map(|_| rng.gen_range(4..vocab)).collect());
    }
    c
}

/// Beam size of the beam-search measurement (as in bench/reference).
const BEAM: u32 = 5;

fn main() {
    let a = args();
    if let Some(t) = a.threads {
        tch::set_num_threads(t);
    }
    let vocab = if a.small { 1000 } else { 5000 };
    let batch = a.batch;
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let data = corpus(batch * (a.steps + 1), vocab, &mut rng);
    let device = a.device;
    println!(
        "threads {}  small {}  steps {}  device {}",
        tch::get_num_threads(),
        a.small,
        a.steps,
        intervene_worker::device::device_name(device)
    );
    for (name, spec) in specs(a.small, a.dim) {
        if !a.archs.is_empty() && !a.archs.iter().any(|x| x == name) {
            continue;
        }
        tch::manual_seed(0);
        let vs = nn::VarStore::new(device);
        let model = Model::new(&spec, vs.root(), vocab as u32, vocab as u32, 128).expect("valid spec");
        let mut opt = nn::Adam::default().build(&vs, 1e-3).expect("optimizer");
        let vars = vs.trainable_variables();
        let params: i64 = vars.iter().map(|v| v.numel() as i64).sum();
        let mut line = format!("{name:15}  params {params:9}");
        for tf in [1.0, 0.5] {
            if tf < 1.0 && name == "transformer" {
                continue;
            }
            let (mut tokens, mut secs) = (0u64, 0.0);
            for step in 0..=a.steps {
                let idx: Vec<usize> = (step * batch..(step + 1) * batch).collect();
                let b = make_batch(&data, &idx, device);
                let t0 = Instant::now();
                let logits = model.forward_t(&b.src, &b.lengths, &b.inputs, tf, &mut rng, true);
                let l = loss(&logits, &b.targets, Reduction::Mean);
                opt.zero_grad();
                l.backward();
                clip_grad_norm(&vars, 1.0);
                opt.step();
                let _ = l.double_value(&[]);
                if step > 0 {
                    // The first step warms allocators up.
                    secs += t0.elapsed().as_secs_f64();
                    tokens += b.target_tokens;
                }
            }
            line += &format!("  train tf={tf}: {:8.0} tok/s", tokens as f64 / secs);
        }
        // Untrained models tend to emit EOS within a few steps, at different
        // steps in each framework (each initialises its own weights), so the
        // two sides would decode different amounts. EOS is made impossible on
        // both sides: every decode runs its full 80 steps.
        tch::no_grad(|| {
            for (name, t) in vs.variables() {
                if name.ends_with("output.bias") {
                    let _ = t.get(intervene_worker::EOS).fill_(-1e9);
                }
            }
        });
        let idx: Vec<usize> = (0..batch).collect();
        let b = make_batch(&data, &idx, device);
        // Best of three: the first call also pays for lazy initialisation.
        let mut best = f64::INFINITY;
        let mut steps = 0;
        for _ in 0..3 {
            let t0 = Instant::now();
            let out = decode::decode(&model, &b.src, &b.lengths, &DecodeSpec::Greedy { max_len: 80 }, &mut rng);
            assert_eq!(out.len(), batch);
            best = best.min(t0.elapsed().as_secs_f64());
            // Decoder steps run: the longest output (EOS included) bounds them.
            steps = out.iter().map(|o| o.len() + 1).max().unwrap_or(0).min(80);
        }
        line += &format!("  greedy: {:7.1} seq/s ({steps} steps)", batch as f64 / best);
        // Beam search for the recurrent models only: the PyTorch reference's
        // transformer has no decoder cache, so its beam would measure that.
        if name != "transformer" {
            let spec = DecodeSpec::Beam { beam_size: BEAM, length_penalty: 1.0, max_len: 80 };
            let mut best = f64::INFINITY;
            let mut steps = 0;
            for _ in 0..3 {
                let t0 = Instant::now();
                let out = decode::decode(&model, &b.src, &b.lengths, &spec, &mut rng);
                assert_eq!(out.len(), batch);
                best = best.min(t0.elapsed().as_secs_f64());
                steps = out.iter().map(|o| o.len() + 1).max().unwrap_or(0).min(80);
            }
            line += &format!("  beam{BEAM}: {:7.1} seq/s ({steps} steps)", batch as f64 / best);
        }
        println!("{line}");
    }
}
