//! Greedy decoding: the most probable token at every step.

use super::{Decoded, Stop, rows_until_eos};
use crate::model::Model;
use tch::{Kind, Tensor};

pub fn greedy(model: &Model, src: &Tensor, lengths: &Tensor, max_len: i64) -> Vec<Vec<i64>> {
    run(model, src, lengths, max_len, Stop::WhenFinished).rows
}

pub(super) fn run(model: &Model, src: &Tensor, lengths: &Tensor, max_len: i64, stop: Stop) -> Decoded {
    let (memory, mut state) = model.encode(src, lengths, false);
    let batch = src.size()[0];
    let device = src.device();
    let mut tokens = Tensor::full([batch], crate::SOS, (Kind::Int64, device));
    let mut finished = Tensor::zeros([batch], (Kind::Bool, device));
    let mut generated = Vec::with_capacity(max_len as usize);
    for _ in 0..max_len {
        let out = model.step(&memory, &state, &tokens, false);
        let next = model.project(&out.features).argmax(-1, false).masked_fill(&finished, crate::PAD);
        finished = finished.logical_or(&next.eq(crate::EOS));
        generated.push(next.shallow_clone());
        state = out.state;
        tokens = next;
        // One host sync per step to stop early; the step itself costs far more.
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
