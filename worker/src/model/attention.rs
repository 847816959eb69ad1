//! LSTM encoder-decoder with Bahdanau (additive) attention, the shape
//! documented on `AttentionSpec`: at each step the top decoder layer's
//! previous hidden state `s` scores every encoder output `h_j` with
//! `v^T tanh(W [s; h_j] + b)`, the softmax over real source positions
//! weighs the outputs into a context, and `[embedding; context]` is the
//! decoder's input.
//!
//! The attention query depends on the previous step, so the decoder steps
//! one token at a time even under full teacher forcing. To keep each step
//! cheap it runs the LSTM cells itself on the `weight_ih_l0`... variables of
//! its recurrent stack (the same numbers torch's fused call computes):
//! everything that does not change across steps is done once per batch —
//! the encoder side of the attention, the input projection of all
//! ground-truth embeddings in one matrix product, the transposed and merged
//! weights — and `s` is multiplied by the attention weights and by the top
//! layer's recurrent weights in a single product.

use super::layers::{CellKind, RecurrentStack, embedding, linear};
use super::recurrent::Encoder;
use super::{DecoderState, Memory, RecState, StepOut};
use intervene_proto::job::AttentionSpec;
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

/// Parameter-derived tensors of one batch's decoding.
#[derive(Debug)]
pub struct Cells {
    /// `[E, 4H]`: layer 0's input weights on the embedding.
    w_emb: Tensor,
    /// `[D*H, 4H]`: layer 0's input weights on the context.
    w_ctx: Tensor,
    /// `[4H]`: layer 0's two biases summed.
    bias0: Tensor,
    /// `[H, A + 4H]`: the query half of W and the top layer's recurrent
    /// weights, transposed side by side.
    top: Tensor,
    /// `[A, 1]`.
    v: Tensor,
    /// `[H, 4H]` recurrent weights of the layers below the top.
    hh: Vec<Tensor>,
    /// `[H, 4H]` input weights and `[4H]` summed biases of layers 1...
    ih: Vec<(Tensor, Tensor)>,
}

impl Cells {
    pub fn shallow_clone(&self) -> Cells {
        Cells {
            w_emb: self.w_emb.shallow_clone(),
            w_ctx: self.w_ctx.shallow_clone(),
            bias0: self.bias0.shallow_clone(),
            top: self.top.shallow_clone(),
            v: self.v.shallow_clone(),
            hh: self.hh.iter().map(Tensor::shallow_clone).collect(),
            ih: self.ih.iter().map(|(w, b)| (w.shallow_clone(), b.shallow_clone())).collect(),
        }
    }
}

#[derive(Debug)]
pub struct AttentionSeq2Seq {
    encoder: Encoder,
    embedding: nn::Embedding,
    /// W: (H + D*H) -> A with bias; its first H input columns act on `s`.
    score_w: nn::Linear,
    /// v: A -> 1, no bias.
    score_v: nn::Linear,
    decoder: RecurrentStack,
    output: nn::Linear,
    embedding_dim: i64,
    hidden: i64,
    encoder_dim: i64,
    attention_dim: i64,
    dropout: f64,
}

/// torch's LSTM cell on precomputed gates (i, f, g, o).
fn lstm_cell(gates: &Tensor, c: &Tensor) -> (Tensor, Tensor) {
    let g = gates.chunk(4, 1);
    let c = g[1].sigmoid() * c + g[0].sigmoid() * g[2].tanh();
    let h = g[3].sigmoid() * c.tanh();
    (h, c)
}

impl AttentionSeq2Seq {
    pub fn new(p: nn::Path, a: &AttentionSpec, source_vocab: i64, target_vocab: i64) -> Self {
        let (e, h, l, att) = (a.embedding_dim as i64, a.hidden_dim as i64, a.layers as i64, a.attention_dim as i64);
        let encoder = Encoder::new(&p / "encoder", CellKind::Lstm, source_vocab, e, h, l, a.bidirectional, a.dropout);
        let encoder_dim = encoder.output_dim(h);
        let dp = &p / "decoder";
        AttentionSeq2Seq {
            encoder,
            embedding: embedding(&dp / "embedding", target_vocab, e, 1.0),
            score_w: linear(&dp / "attention" / "W", h + encoder_dim, att, true),
            score_v: linear(&dp / "attention" / "v", att, 1, false),
            decoder: RecurrentStack::new(&dp / "rnn", CellKind::Lstm, e + encoder_dim, h, l, false, a.dropout),
            output: linear(&dp / "output", h, target_vocab, true),
            embedding_dim: e,
            hidden: h,
            encoder_dim,
            attention_dim: att,
            dropout: a.dropout,
        }
    }

    fn cells(&self) -> Cells {
        let layers = self.decoder.layers();
        let [w_ih0, _, b_ih0, b_hh0] = self.decoder.layer_weights(0);
        let [_, w_hh_top, _, _] = self.decoder.layer_weights(layers - 1);
        let w_s = self.score_w.ws.narrow(1, 0, self.hidden);
        Cells {
            w_emb: w_ih0.narrow(1, 0, self.embedding_dim).tr(),
            w_ctx: w_ih0.narrow(1, self.embedding_dim, self.encoder_dim).tr(),
            bias0: b_ih0 + b_hh0,
            top: Tensor::cat(&[&w_s, w_hh_top], 0).tr(),
            v: self.score_v.ws.tr(),
            hh: (0..layers - 1).map(|l| self.decoder.layer_weights(l)[1].tr()).collect(),
            ih: (1..layers)
                .map(|l| {
                    let [w_ih, _, b_ih, b_hh] = self.decoder.layer_weights(l);
                    (w_ih.tr(), b_ih + b_hh)
                })
                .collect(),
        }
    }

    pub fn encode(&self, src: &Tensor, lengths: &Tensor, train: bool) -> (Memory, DecoderState) {
        let (outputs, state, valid, padding) = self.encoder.forward_t(src, lengths, train);
        // The encoder half of W [s; h_j] + b does not change across steps.
        let w_h = self.score_w.ws.narrow(1, self.hidden, self.encoder_dim);
        let keys = outputs.linear(&w_h, self.score_w.bs.as_ref());
        let RecState::Lstm(h, c) = state else { unreachable!("the attention encoder is an LSTM") };
        let layers = h.unbind(0).into_iter().zip(c.unbind(0)).collect();
        let memory = Memory {
            outputs,
            keys: Some(keys),
            cross: Vec::new(),
            valid,
            padding,
            cells: Some(self.cells()),
            context: None,
        };
        (memory, DecoderState::Cells(layers))
    }

    /// One step from layer 0's embedding-side gates `[B, 4H]` (bias
    /// included): attention, the stacked cells, the dropped-out top output.
    fn cell_step(
        &self,
        cells: &Cells,
        memory: &Memory,
        layers: &[(Tensor, Tensor)],
        embedded: &Tensor,
        train: bool,
    ) -> (Tensor, Vec<(Tensor, Tensor)>, Tensor) {
        let keys = memory.keys.as_ref().expect("attention memories carry keys");
        let n = layers.len();
        let top = layers[n - 1].0.matmul(&cells.top); // [B, A + 4H]
        let query = top.narrow(1, 0, self.attention_dim).unsqueeze(1);
        let energy = (keys + query).tanh().matmul(&cells.v).squeeze_dim(-1); // [B, S]
        let weights = energy.masked_fill(&memory.padding, f64::NEG_INFINITY).softmax(-1, Kind::Float);
        let context = weights.unsqueeze(1).bmm(&memory.outputs).squeeze_dim(1); // [B, D*H]
        let mut next = Vec::with_capacity(n);
        let mut below: Option<Tensor> = None;
        for (l, (h, c)) in layers.iter().enumerate() {
            let hh =
                if l == n - 1 { top.narrow(1, self.attention_dim, 4 * self.hidden) } else { h.matmul(&cells.hh[l]) };
            let gates = match &below {
                None => (embedded + hh).addmm(&context, &cells.w_ctx),
                Some(x) => {
                    let (w_ih, bias) = &cells.ih[l - 1];
                    (hh + bias).addmm(x, w_ih)
                }
            };
            let (h, c) = lstm_cell(&gates, c);
            // torch's stacked LSTM drops out between layers, not after the top.
            below = Some(if l + 1 < n { h.dropout(self.dropout, train) } else { h.shallow_clone() });
            next.push((h, c));
        }
        let features = next[n - 1].0.dropout(self.dropout, train);
        (features, next, weights)
    }

    pub fn step(&self, memory: &Memory, state: &DecoderState, tokens: &Tensor, train: bool) -> StepOut {
        let DecoderState::Cells(layers) = state else { unreachable!("attention models carry per-layer cell states") };
        let cells = memory.cells.as_ref().expect("attention memories carry cells");
        let emb = self.embedding.forward(tokens).dropout(self.dropout, train);
        let embedded = cells.bias0.addmm(&emb, &cells.w_emb);
        let (features, layers, weights) = self.cell_step(cells, memory, layers, &embedded, train);
        StepOut { features, state: DecoderState::Cells(layers), attention: Some(weights) }
    }

    /// Features `[B, T, H]` for decoder inputs `[B, T]`: the ground truth
    /// where `gold[t]`, else the previous step's argmax (detached).
    pub fn scheduled(
        &self,
        memory: &Memory,
        state: &DecoderState,
        inputs: &Tensor,
        gold: &[bool],
        train: bool,
    ) -> Tensor {
        let DecoderState::Cells(initial) = state else { unreachable!("attention models carry per-layer cell states") };
        let cells = memory.cells.as_ref().expect("attention memories carry cells");
        let steps = inputs.size()[1];
        // Layer 0's input projection of every ground-truth token at once.
        let embedded = self.embedding.forward(inputs).dropout(self.dropout, train).matmul(&cells.w_emb) + &cells.bias0;
        let mut layers: Vec<(Tensor, Tensor)> =
            initial.iter().map(|(h, c)| (h.shallow_clone(), c.shallow_clone())).collect();
        let mut features = Vec::with_capacity(steps as usize);
        let mut predicted: Option<Tensor> = None;
        for t in 0..steps {
            let input = match (&predicted, gold[t as usize]) {
                (Some(tokens), false) => {
                    let emb = self.embedding.forward(tokens).dropout(self.dropout, train);
                    cells.bias0.addmm(&emb, &cells.w_emb)
                }
                _ => embedded.select(1, t),
            };
            let (f, next, _) = self.cell_step(cells, memory, &layers, &input, train);
            layers = next;
            if t + 1 < steps && !gold[t as usize + 1] {
                predicted = Some(tch::no_grad(|| self.project(&f).argmax(-1, false)));
            }
            features.push(f);
        }
        Tensor::stack(&features, 1)
    }

    pub fn project(&self, features: &Tensor) -> Tensor {
        features.apply(&self.output)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn explicit_cells_compute_what_the_fused_lstm_computes() {
        let vs = nn::VarStore::new(Device::Cpu);
        let stack = RecurrentStack::new(vs.root() / "rnn", CellKind::Lstm, 6, 5, 2, false, 0.0);
        let x = Tensor::randn([3, 1, 6], (Kind::Float, Device::Cpu));
        let h = Tensor::randn([2, 3, 5], (Kind::Float, Device::Cpu));
        let c = Tensor::randn([2, 3, 5], (Kind::Float, Device::Cpu));
        let (out, st) = stack.forward_t(&x, &RecState::Lstm(h.shallow_clone(), c.shallow_clone()), false);
        let mut input = x.squeeze_dim(1);
        for l in 0..2 {
            let [w_ih, w_hh, b_ih, b_hh] = stack.layer_weights(l);
            let gates = input.matmul(&w_ih.tr()) + h.get(l).matmul(&w_hh.tr()) + b_ih + b_hh;
            let (h1, c1) = lstm_cell(&gates, &c.get(l));
            let RecState::Lstm(fh, fc) = &st else { unreachable!() };
            assert!(h1.allclose(&fh.get(l), 1e-5, 1e-6, false));
            assert!(c1.allclose(&fc.get(l), 1e-5, 1e-6, false));
            input = h1;
        }
        assert!(input.allclose(&out.squeeze_dim(1), 1e-5, 1e-6, false));
    }
}
