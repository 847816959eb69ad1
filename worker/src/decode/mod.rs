//! Decoding, outside the models: greedy, beam search and nucleus (top-p)
//! sampling over a whole batch at once, under `no_grad` with train = false.
//! Every strategy returns the generated target ids of each source without
//! SOS, EOS or padding, and stops as soon as every sequence of the batch
//! has emitted EOS (every hypothesis, for beam search): a finished sequence
//! only ever continues with PAD, so the steps left could not change it.

mod beam;
mod greedy;
mod sampling;

use crate::error::{JobError, Result};
use crate::model::Model;
use intervene_proto::job::DecodeSpec;
use rand_chacha::ChaCha8Rng;
use tch::{Kind, Tensor};

pub use beam::beam_search;
pub use greedy::greedy;
pub use sampling::top_p_sample;

/// When a decoding loop ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// At `max_len` or as soon as every sequence has emitted EOS.
    WhenFinished,
    /// At `max_len` only: tests check that stopping early changes nothing.
    #[cfg_attr(not(test), allow(dead_code))]
    AtMaxLen,
}

/// The ids a loop generated for each source, and the steps it ran.
#[derive(Debug)]
struct Decoded {
    rows: Vec<Vec<i64>>,
    /// Read by the tests of early stopping.
    #[cfg_attr(not(test), allow(dead_code))]
    steps: usize,
}

/// Checks the decoding knobs a model cannot run with.
pub fn validate(spec: &DecodeSpec) -> Result<()> {
    let bad = |m: String| Err(JobError::InvalidSpec(m));
    if spec.max_len() == 0 {
        return bad("decode.max_len must be at least 1; got 0".into());
    }
    match *spec {
        DecodeSpec::Greedy { .. } => Ok(()),
        DecodeSpec::Beam { beam_size, length_penalty, .. } => {
            if beam_size == 0 {
                return bad("decode.beam_size must be at least 1; got 0".into());
            }
            if !length_penalty.is_finite() {
                return bad(format!("decode.length_penalty must be a finite number; got {length_penalty}"));
            }
            Ok(())
        }
        DecodeSpec::TopP { top_p, temperature, .. } => {
            if !(top_p > 0.0 && top_p <= 1.0) {
                return bad(format!("decode.top_p must be in (0, 1]; got {top_p}"));
            }
            if !(temperature > 0.0 && temperature.is_finite()) {
                return bad(format!("decode.temperature must be a positive number; got {temperature}"));
            }
            Ok(())
        }
    }
}

/// Decodes a batch (`src` `[B, S]`, `lengths` `[B]` on the CPU in
/// decreasing order) with the strategy of `spec`. `rng` drives sampling.
pub fn decode(model: &Model, src: &Tensor, lengths: &Tensor, spec: &DecodeSpec, rng: &mut ChaCha8Rng) -> Vec<Vec<i64>> {
    tch::no_grad(|| match *spec {
        DecodeSpec::Greedy { max_len } => greedy(model, src, lengths, max_len as i64),
        DecodeSpec::Beam { beam_size, length_penalty, max_len } => {
            beam_search(model, src, lengths, beam_size as i64, length_penalty, max_len as i64)
        }
        DecodeSpec::TopP { top_p, temperature, max_len } => {
            top_p_sample(model, src, lengths, top_p, temperature, max_len as i64, rng)
        }
    })
}

/// `[B, T]` generated ids (PAD after a finished sequence) -> per row the ids
/// before the first EOS.
fn rows_until_eos(generated: &Tensor) -> Vec<Vec<i64>> {
    let (b, t) = generated.size2().expect("generated ids are [B, T]");
    let flat: Vec<i64> = Vec::<i64>::try_from(generated.to_kind(Kind::Int64).to_device(tch::Device::Cpu).view([-1]))
        .expect("int64 tensor converts to Vec<i64>");
    (0..b as usize).map(|i| cut(&flat[i * t as usize..(i + 1) * t as usize])).collect()
}

fn cut(row: &[i64]) -> Vec<i64> {
    row.iter().take_while(|&&id| id != crate::EOS).copied().filter(|&id| id != crate::PAD && id != crate::SOS).collect()
}

/// Attention of the model over the source `[S]` for each generated token of
/// one example (`src` `[1, S]`): the decoder is fed SOS and then `tokens`,
/// which reproduces the states it had while generating them. Returns
/// `[tokens.len(), S]`, or `None` for models without attention.
pub fn attention_map(model: &Model, src: &Tensor, lengths: &Tensor, tokens: &[i64]) -> Option<Tensor> {
    if !model.has_attention() || tokens.is_empty() {
        return None;
    }
    tch::no_grad(|| {
        let (memory, mut state) = model.encode(src, lengths, false);
        let device = src.device();
        let mut input = Tensor::from_slice(&[crate::SOS]).to_device(device);
        let mut rows = Vec::with_capacity(tokens.len());
        for &tok in tokens {
            let out = model.step(&memory, &state, &input, false);
            rows.push(out.attention?.squeeze_dim(0));
            state = out.state;
            input = Tensor::from_slice(&[tok]).to_device(device);
        }
        Some(Tensor::stack(&rows, 0))
    })
}

#[cfg(test)]
mod tests;
