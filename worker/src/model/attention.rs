//! LSTM encoder-decoder with Bahdanau (additive) attention, the shape
//! documented on `AttentionSpec`: at each step the top decoder layer's
//! previous hidden state `s` scores every encoder output `h_j` with
//! `v^T tanh(W [s; h_j] + b)`, the softmax over real source positions
//! weighs the outputs into a context, and `[embedding; context]` is the
//! decoder's input.

use super::layers::{CellKind, RecState, RecurrentStack, embedding, linear};
use super::recurrent::Encoder;
use super::{DecoderState, Memory, StepOut};
use intervene_proto::job::AttentionSpec;
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

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
    hidden: i64,
    encoder_dim: i64,
    dropout: f64,
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
            hidden: h,
            encoder_dim,
            dropout: a.dropout,
        }
    }

    pub fn encode(&self, src: &Tensor, lengths: &Tensor, train: bool) -> (Memory, DecoderState) {
        let (outputs, state, valid, padding) = self.encoder.forward_t(src, lengths, train);
        // The encoder half of W [s; h_j] + b does not change across steps.
        let w_h = self.score_w.ws.narrow(1, self.hidden, self.encoder_dim);
        let keys = outputs.linear(&w_h, self.score_w.bs.as_ref());
        let memory = Memory { outputs, keys: Some(keys), cross: Vec::new(), valid, padding };
        (memory, DecoderState::Recurrent(state))
    }

    /// Attention weights `[B, S]` for the previous top-layer state `s`
    /// `[B, H]`.
    fn attend(&self, memory: &Memory, s: &Tensor) -> Tensor {
        let keys = memory.keys.as_ref().expect("attention memories carry keys");
        let w_s = self.score_w.ws.narrow(1, 0, self.hidden);
        let query = s.matmul(&w_s.tr()).unsqueeze(1); // [B, 1, A]
        let energy = (keys + query).tanh().apply(&self.score_v).squeeze_dim(-1); // [B, S]
        energy.masked_fill(&memory.padding, f64::NEG_INFINITY).softmax(-1, Kind::Float)
    }

    pub fn step(&self, memory: &Memory, state: &DecoderState, tokens: &Tensor, train: bool) -> StepOut {
        let DecoderState::Recurrent(st) = state else { unreachable!("attention models carry recurrent states") };
        let top = st.h().get(-1);
        let weights = self.attend(memory, &top);
        let context = weights.unsqueeze(1).bmm(&memory.outputs); // [B, 1, D*H]
        let emb = self.embedding.forward(tokens).dropout(self.dropout, train).unsqueeze(1);
        let x = Tensor::cat(&[emb, context], 2);
        let (out, st): (Tensor, RecState) = self.decoder.forward_t(&x, st, train);
        let features = out.squeeze_dim(1).dropout(self.dropout, train);
        StepOut { features, state: DecoderState::Recurrent(st), attention: Some(weights) }
    }

    pub fn project(&self, features: &Tensor) -> Tensor {
        features.apply(&self.output)
    }
}
