//! Beam search over a whole batch: `B * K` hypotheses advance together.
//!
//! A hypothesis is ranked by `log p / length^length_penalty`, length
//! counting its generated tokens including EOS. A finished hypothesis stays
//! in its beam with a frozen score and length (its only continuation is PAD
//! at log-probability 0), competing with the open ones under the same
//! normalisation; the search stops when every beam of every source is
//! finished or at `max_len`, and the best-ranked hypothesis wins.

use super::{Decoded, Stop};
use crate::model::Model;
use tch::{Device, IndexOp, Kind, Tensor};

pub fn beam_search(
    model: &Model,
    src: &Tensor,
    lengths: &Tensor,
    beam: i64,
    length_penalty: f64,
    max_len: i64,
) -> Vec<Vec<i64>> {
    run(model, src, lengths, beam, length_penalty, max_len, Stop::WhenFinished).rows
}

pub(super) fn run(
    model: &Model,
    src: &Tensor,
    lengths: &Tensor,
    beam: i64,
    length_penalty: f64,
    max_len: i64,
    stop: Stop,
) -> Decoded {
    let (memory, state) = model.encode(src, lengths, false);
    let batch = src.size()[0];
    let device = src.device();
    let expand = Tensor::arange(batch, (Kind::Int64, device)).repeat_interleave_self_int(beam, 0, None);
    let memory = memory.index_select(&expand);
    let mut state = state.index_select(&expand);

    // Only beam 0 is live at the start, so the first step does not pick the
    // same token K times.
    let mut scores = Tensor::full([batch, beam], f64::NEG_INFINITY, (Kind::Float, device));
    let _ = scores.i((.., 0)).fill_(0.0);
    let mut lens = Tensor::zeros([batch, beam], (Kind::Float, device));
    let mut finished = Tensor::zeros([batch, beam], (Kind::Bool, device));
    let mut tokens = Tensor::full([batch * beam], crate::SOS, (Kind::Int64, device));
    let base = (Tensor::arange(batch, (Kind::Int64, device)) * beam).unsqueeze(1);

    let mut history: Vec<Tensor> = Vec::new();
    let mut parents: Vec<Tensor> = Vec::new();
    for _ in 0..max_len {
        let out = model.step(&memory, &state, &tokens, false);
        let logp = model.project(&out.features).log_softmax(-1, Kind::Float);
        let vocab = logp.size()[1];
        let logp = logp.view([batch, beam, vocab]);
        // Finished beams: PAD at 0, everything else impossible.
        let frozen = Tensor::full([vocab], f64::NEG_INFINITY, (Kind::Float, device));
        let _ = frozen.i(crate::PAD).fill_(0.0);
        let logp = frozen.expand_as(&logp).where_self(&finished.unsqueeze(-1), &logp);
        let candidates = scores.unsqueeze(-1) + logp; // [B, K, V]
        let new_lens = lens.where_self(&finished, &(&lens + 1.0));
        let rank = &candidates / new_lens.pow_tensor_scalar(length_penalty).unsqueeze(-1);
        let (_, picked) = rank.view([batch, beam * vocab]).topk(beam, -1, true, true);
        let from = picked.divide_scalar_mode(vocab, "floor");
        let next = picked.remainder(vocab);
        scores = candidates.view([batch, beam * vocab]).gather(1, &picked, false);
        lens = new_lens.gather(1, &from, false);
        finished = finished.gather(1, &from, false).logical_or(&next.eq(crate::EOS));
        state = out.state.index_select(&(&base + &from).view([-1]));
        tokens = next.view([-1]);
        history.push(next);
        parents.push(from);
        if stop == Stop::WhenFinished && finished.all().int64_value(&[]) != 0 {
            break;
        }
    }
    let steps = history.len();
    if history.is_empty() {
        return Decoded { rows: vec![Vec::new(); batch as usize], steps };
    }
    let final_rank = &scores / lens.clamp_min(1.0).pow_tensor_scalar(length_penalty);
    let best = final_rank.argmax(-1, false);
    Decoded { rows: backtrack(&history, &parents, &best, batch as usize, beam as usize), steps }
}

fn host(t: &Tensor) -> Vec<i64> {
    Vec::<i64>::try_from(t.to_device(Device::Cpu).to_kind(Kind::Int64).view([-1])).expect("int64 tensor converts")
}

/// Follows parent pointers from each source's best final beam.
fn backtrack(history: &[Tensor], parents: &[Tensor], best: &Tensor, batch: usize, beam: usize) -> Vec<Vec<i64>> {
    let steps = history.len();
    let tok = host(&Tensor::stack(history, 0)); // [steps, B, K]
    let par = host(&Tensor::stack(parents, 0));
    let best = host(best);
    (0..batch)
        .map(|b| {
            let mut k = best[b] as usize;
            let mut rev = Vec::with_capacity(steps);
            for t in (0..steps).rev() {
                let at = (t * batch + b) * beam + k;
                rev.push(tok[at]);
                k = par[at] as usize;
            }
            rev.reverse();
            super::cut(&rev)
        })
        .collect()
}
