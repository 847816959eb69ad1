//! Nucleus (top-p) sampling with temperature (Holtzman et al. 2020; the
//! sampling Codex was evaluated with): at every step the smallest set of
//! most probable tokens whose probability reaches `top_p` is kept,
//! renormalised and sampled from.
//!
//! The uniform draws come from the job's seeded ChaCha generator on the host
//! (`B` floats per step) and pick a token by inverse CDF on the device, so a
//! sample depends only on the job's seed, not on torch's global generator
//! that other threads may reseed.

use super::{Decoded, Stop, rows_until_eos};
use crate::model::Model;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use tch::{Kind, Tensor};

/// Samples one token per row from `logits` `[B, V]` given uniforms `u`
/// `[B]` in [0, 1).
pub fn sample_top_p(logits: &Tensor, top_p: f64, temperature: f64, u: &Tensor) -> Tensor {
    let probs = (logits / temperature).softmax(-1, Kind::Float);
    let (sorted, index) = probs.sort(-1, true);
    let before = sorted.cumsum(-1, Kind::Float) - &sorted;
    // A token is kept while the mass before it is below top_p: the first
    // token always, and the one that crosses the threshold.
    let kept = sorted.where_self(&before.lt(top_p), &sorted.zeros_like());
    let cdf = kept.cumsum(-1, Kind::Float);
    let total = cdf.select(-1, -1).unsqueeze(-1);
    let target = u.unsqueeze(-1) * total;
    let vocab = logits.size()[1];
    let choice = cdf.lt_tensor(&target).sum_dim_intlist(-1, true, Kind::Int64).clamp_max(vocab - 1);
    index.gather(-1, &choice, false).squeeze_dim(-1)
}

pub fn top_p_sample(
    model: &Model,
    src: &Tensor,
    lengths: &Tensor,
    top_p: f64,
    temperature: f64,
    max_len: i64,
    rng: &mut ChaCha8Rng,
) -> Vec<Vec<i64>> {
    run(model, src, lengths, top_p, temperature, max_len, rng, Stop::WhenFinished).rows
}

#[allow(clippy::too_many_arguments)]
pub(super) fn run(
    model: &Model,
    src: &Tensor,
    lengths: &Tensor,
    top_p: f64,
    temperature: f64,
    max_len: i64,
    rng: &mut ChaCha8Rng,
    stop: Stop,
) -> Decoded {
    let (memory, mut state) = model.encode(src, lengths, false);
    let batch = src.size()[0];
    let device = src.device();
    let mut tokens = Tensor::full([batch], crate::SOS, (Kind::Int64, device));
    let mut finished = Tensor::zeros([batch], (Kind::Bool, device));
    let mut generated = Vec::with_capacity(max_len as usize);
    let mut draws = vec![0f32; batch as usize];
    for _ in 0..max_len {
        let out = model.step(&memory, &state, &tokens, false);
        for d in draws.iter_mut() {
            *d = rng.r#gen::<f32>();
        }
        let u = Tensor::from_slice(&draws).to_device(device);
        let next =
            sample_top_p(&model.project(&out.features), top_p, temperature, &u).masked_fill(&finished, crate::PAD);
        finished = finished.logical_or(&next.eq(crate::EOS));
        generated.push(next.shallow_clone());
        state = out.state;
        tokens = next;
        if stop == Stop::WhenFinished && finished.all().int64_value(&[]) != 0 {
            break;
        }
    }
    let steps = generated.len();
    if generated.is_empty() {
        return Decoded { rows: vec![Vec::new(); batch as usize], steps };
    }
    Decoded { rows: rows_until_eos(&Tensor::stack(&generated, 1)), steps }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn logits(probs: &[f32]) -> Tensor {
        Tensor::from_slice(probs).log().unsqueeze(0)
    }

    fn pick(probs: &[f32], top_p: f64, u: f32) -> i64 {
        sample_top_p(&logits(probs), top_p, 1.0, &Tensor::from_slice(&[u])).int64_value(&[0])
    }

    #[test]
    fn inverse_cdf_over_the_nucleus() {
        // Sorted: 2 (0.5), 0 (0.3), 3 (0.15), 1 (0.05).
        let p = [0.3, 0.05, 0.5, 0.15];
        // top_p 0.7 keeps {2, 0} (mass before 0 is 0.5 < 0.7), renormalised
        // to 0.625 / 0.375.
        assert_eq!(pick(&p, 0.7, 0.0), 2);
        assert_eq!(pick(&p, 0.7, 0.6), 2);
        assert_eq!(pick(&p, 0.7, 0.63), 0);
        assert_eq!(pick(&p, 0.7, 0.999), 0);
        // top_p 1 keeps everything: the tail is reachable.
        assert_eq!(pick(&p, 1.0, 0.97), 1);
        // A tiny top_p is greedy.
        assert_eq!(pick(&p, 1e-6, 0.99), 2);
    }

    #[test]
    fn frequencies_follow_the_renormalised_nucleus() {
        let p = [0.3f32, 0.05, 0.5, 0.15];
        let n = 4000;
        let l = logits(&p).repeat([n, 1]);
        let mut rng = <ChaCha8Rng as rand::SeedableRng>::seed_from_u64(9);
        let u: Vec<f32> = (0..n).map(|_| rng.r#gen()).collect();
        let s = sample_top_p(&l, 0.9, 1.0, &Tensor::from_slice(&u));
        let counts: Vec<i64> = (0..4).map(|k| s.eq(k).sum(Kind::Int64).int64_value(&[])).collect();
        // Nucleus {2, 0, 3} of mass 0.95: token 1 never appears.
        assert_eq!(counts[1], 0);
        let share = |k: usize| counts[k] as f64 / n as f64;
        assert!((share(2) - 0.5 / 0.95).abs() < 0.03, "{counts:?}");
        assert!((share(0) - 0.3 / 0.95).abs() < 0.03, "{counts:?}");
        let _ = Device::Cpu;
    }

    #[test]
    fn temperature_sharpens() {
        let p = [0.3f32, 0.05, 0.5, 0.15];
        // At a very low temperature the top token has all the mass.
        let s = sample_top_p(&logits(&p), 1.0, 0.01, &Tensor::from_slice(&[0.99f32]));
        assert_eq!(s.int64_value(&[0]), 2);
    }
}
