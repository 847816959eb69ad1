//! rnn, gru and lstm encoder-decoders (the shape documented on
//! `RecurrentSpec`): the encoder's final state, bridged when bidirectional,
//! is the decoder's initial state and the only context it gets; with
//! `feed_context` its top layer is also concatenated to the decoder's input
//! at every step.

use super::layers::{CellKind, RecState, RecurrentStack, embedding, linear};
use super::{DecoderState, Memory, StepOut};
use intervene_proto::job::RecurrentSpec;
use tch::Tensor;
use tch::nn::{self, Module};

/// Source embedding, the recurrent encoder and the bridges to the decoder.
/// Shared with the attention model.
#[derive(Debug)]
pub struct Encoder {
    embedding: nn::Embedding,
    rnn: RecurrentStack,
    bridge_h: Option<nn::Linear>,
    bridge_c: Option<nn::Linear>,
    dropout: f64,
}

impl Encoder {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        p: nn::Path,
        kind: CellKind,
        vocab: i64,
        embedding_dim: i64,
        hidden: i64,
        layers: i64,
        bidirectional: bool,
        dropout: f64,
    ) -> Encoder {
        let emb = embedding(&p / "embedding", vocab, embedding_dim, 1.0);
        let rnn = RecurrentStack::new(&p / "rnn", kind, embedding_dim, hidden, layers, bidirectional, dropout);
        let (bridge_h, bridge_c) = if bidirectional {
            let c = (kind == CellKind::Lstm).then(|| linear(&p / "bridge_c", 2 * hidden, hidden, true));
            (Some(linear(&p / "bridge_h", 2 * hidden, hidden, true)), c)
        } else {
            (None, None)
        };
        Encoder { embedding: emb, rnn, bridge_h, bridge_c, dropout }
    }

    /// Width of the encoder outputs (D * H).
    pub fn output_dim(&self, hidden: i64) -> i64 {
        self.rnn.directions() * hidden
    }

    /// Outputs `[B, S, D*H]`, the decoder's initial state and the source
    /// masks.
    pub fn forward_t(&self, src: &Tensor, lengths: &Tensor, train: bool) -> (Tensor, RecState, Tensor, Tensor) {
        let x = self.embedding.forward(src).dropout(self.dropout, train);
        let (outputs, last) = self.rnn.forward_packed(&x, lengths, train);
        let state = match (&self.bridge_h, last) {
            (None, last) => last,
            (Some(bh), RecState::Single(h)) => RecState::Single(bridge(&h, bh)),
            (Some(bh), RecState::Lstm(h, c)) => {
                let bc = self.bridge_c.as_ref().unwrap_or(bh);
                RecState::Lstm(bridge(&h, bh), bridge(&c, bc))
            }
        };
        let padding = src.eq(crate::PAD);
        let valid = padding.logical_not();
        (outputs, state, valid, padding)
    }
}

/// `[layers * 2, B, H]` -> `tanh(Linear([fwd; bwd]))` `[layers, B, H]`.
fn bridge(state: &Tensor, lin: &nn::Linear) -> Tensor {
    let (l2, b, h) = state.size3().expect("recurrent states are 3-d");
    state.view([l2 / 2, 2, b, h]).transpose(1, 2).reshape([l2 / 2, b, 2 * h]).apply(lin).tanh()
}

#[derive(Debug)]
pub struct RecurrentSeq2Seq {
    encoder: Encoder,
    embedding: nn::Embedding,
    decoder: RecurrentStack,
    output: nn::Linear,
    dropout: f64,
    feed_context: bool,
}

impl RecurrentSeq2Seq {
    pub fn new(p: nn::Path, kind: CellKind, r: &RecurrentSpec, source_vocab: i64, target_vocab: i64) -> Self {
        let (e, h, l) = (r.embedding_dim as i64, r.hidden_dim as i64, r.layers as i64);
        let encoder = Encoder::new(&p / "encoder", kind, source_vocab, e, h, l, r.bidirectional, r.dropout);
        let dp = &p / "decoder";
        let input = if r.feed_context { e + h } else { e };
        RecurrentSeq2Seq {
            encoder,
            embedding: embedding(&dp / "embedding", target_vocab, e, 1.0),
            decoder: RecurrentStack::new(&dp / "rnn", kind, input, h, l, false, r.dropout),
            output: linear(&dp / "output", h, target_vocab, true),
            dropout: r.dropout,
            feed_context: r.feed_context,
        }
    }

    pub fn encode(&self, src: &Tensor, lengths: &Tensor, train: bool) -> (Memory, DecoderState) {
        let (outputs, state, valid, padding) = self.encoder.forward_t(src, lengths, train);
        // The top layer of the decoder's initial state, [B, H].
        let context = self.feed_context.then(|| state.h().select(0, -1));
        let memory = Memory { outputs, keys: None, cross: Vec::new(), valid, padding, cells: None, context };
        (memory, DecoderState::Recurrent(state))
    }

    pub fn step(&self, memory: &Memory, state: &DecoderState, tokens: &Tensor, train: bool) -> StepOut {
        let DecoderState::Recurrent(st) = state else { unreachable!("recurrent models carry recurrent states") };
        let x = self.embedding.forward(tokens).dropout(self.dropout, train).unsqueeze(1);
        let x = with_context(x, memory);
        let (out, st) = self.decoder.forward_t(&x, st, train);
        let features = out.squeeze_dim(1).dropout(self.dropout, train);
        StepOut { features, state: DecoderState::Recurrent(st), attention: None }
    }

    /// Features `[B, T, H]` and the final state for inputs `[B, T]`, in one
    /// fused call.
    fn run(&self, memory: &Memory, state: &RecState, inputs: &Tensor, train: bool) -> (Tensor, RecState) {
        let x = self.embedding.forward(inputs).dropout(self.dropout, train);
        let x = with_context(x, memory);
        let (out, state) = self.decoder.forward_t(&x, state, train);
        (out.dropout(self.dropout, train), state)
    }

    /// Features `[B, T, H]` for decoder inputs `[B, T]`: the ground truth
    /// where `gold[t]`, else the previous step's argmax (detached).
    ///
    /// Only a step fed with a prediction has to wait for the step before
    /// it, so each such step and the ground-truth steps after it run as one
    /// fused call: one call at full teacher forcing, about
    /// `1 + (1 - ratio) * T` calls below it.
    pub fn scheduled(
        &self,
        memory: &Memory,
        state: &DecoderState,
        inputs: &Tensor,
        gold: &[bool],
        train: bool,
    ) -> Tensor {
        let DecoderState::Recurrent(st) = state else { unreachable!("recurrent models carry recurrent states") };
        let steps = gold.len();
        let mut state = st.shallow_clone();
        let mut features = Vec::new();
        let mut predicted: Option<Tensor> = None;
        let mut t = 0;
        while t < steps {
            let mut end = t + 1;
            while end < steps && gold[end] {
                end += 1;
            }
            let gold_part = inputs.narrow(1, t as i64, (end - t) as i64);
            let segment = match (&predicted, gold[t]) {
                (Some(p), false) if end - t == 1 => p.unsqueeze(1),
                (Some(p), false) => Tensor::cat(&[p.unsqueeze(1), gold_part.narrow(1, 1, (end - t - 1) as i64)], 1),
                _ => gold_part,
            };
            let (f, next) = self.run(memory, &state, &segment, train);
            state = next;
            if end < steps {
                predicted = Some(tch::no_grad(|| self.project(&f.select(1, -1)).argmax(-1, false)));
            }
            features.push(f);
            t = end;
        }
        match features.len() {
            1 => features.swap_remove(0),
            _ => Tensor::cat(&features, 1),
        }
    }

    pub fn project(&self, features: &Tensor) -> Tensor {
        features.apply(&self.output)
    }
}

/// Decoder inputs `[B, T, E]`, with the fixed context (if any) appended to
/// every step: `[B, T, E + H]`.
fn with_context(x: Tensor, memory: &Memory) -> Tensor {
    match &memory.context {
        None => x,
        Some(c) => {
            let (b, steps) = (x.size()[0], x.size()[1]);
            let c = c.unsqueeze(1).expand([b, steps, c.size()[1]], false);
            Tensor::cat(&[x, c], 2)
        }
    }
}
