//! Closed-form trainable-parameter counts, one per architecture.
//!
//! The planner uses these to place architectures inside complexity buckets
//! without torch; the worker's models must have exactly these counts (a
//! worker test compares them with the VarStore over a spread of sizes).
//! Embedding tables and the output projection are sized to the configured
//! vocabulary sizes, not to the vocabulary a data set happens to fill, so the
//! count is known before any data is read.
//!
//! Recurrent layers follow torch's convention of two bias vectors per gate
//! block (`b_ih` and `b_hh`).

use crate::job::{ModelSpec, RecurrentSpec, TransformerSpec};

/// Parameter count split by component, for plan tables and reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParamBreakdown {
    pub embeddings: u64,
    pub encoder: u64,
    pub bridge: u64,
    pub attention: u64,
    pub decoder: u64,
    pub output: u64,
}

impl ParamBreakdown {
    pub fn total(&self) -> u64 {
        self.embeddings + self.encoder + self.bridge + self.attention + self.decoder + self.output
    }
}

/// Trainable parameters of `model` with the given vocabulary sizes.
pub fn trainable_params(model: &ModelSpec, source_vocab: u32, target_vocab: u32) -> u64 {
    breakdown(model, source_vocab, target_vocab).total()
}

pub fn breakdown(model: &ModelSpec, source_vocab: u32, target_vocab: u32) -> ParamBreakdown {
    let (vs, vt) = (source_vocab as u64, target_vocab as u64);
    match model {
        ModelSpec::Rnn(r) => recurrent(r, 1, false, vs, vt, None),
        ModelSpec::Gru(r) => recurrent(r, 3, false, vs, vt, None),
        ModelSpec::Lstm(r) => recurrent(r, 4, true, vs, vt, None),
        ModelSpec::LstmAttention(a) => {
            let r = RecurrentSpec {
                embedding_dim: a.embedding_dim,
                hidden_dim: a.hidden_dim,
                layers: a.layers,
                dropout: a.dropout,
                bidirectional: a.bidirectional,
                feed_context: false,
            };
            recurrent(&r, 4, true, vs, vt, Some(a.attention_dim as u64))
        }
        ModelSpec::Transformer(t) => transformer(t, vs, vt),
    }
}

/// One recurrent layer, one direction: input-hidden and hidden-hidden weights
/// plus their two bias vectors, for `gates` gate blocks.
fn recurrent_layer(gates: u64, input: u64, hidden: u64) -> u64 {
    gates * hidden * (input + hidden + 2)
}

fn linear(input: u64, output: u64) -> u64 {
    input * output + output
}

fn recurrent(
    r: &RecurrentSpec,
    gates: u64,
    has_cell: bool,
    vs: u64,
    vt: u64,
    attention_dim: Option<u64>,
) -> ParamBreakdown {
    let (e, h, layers) = (r.embedding_dim as u64, r.hidden_dim as u64, r.layers as u64);
    let dirs: u64 = if r.bidirectional { 2 } else { 1 };
    let enc_out = dirs * h;

    let encoder: u64 = (0..layers).map(|l| dirs * recurrent_layer(gates, if l == 0 { e } else { enc_out }, h)).sum();
    // A bidirectional encoder's two final states are bridged to the decoder's
    // width; the cell state of an LSTM has a bridge of its own.
    let bridge = if dirs == 2 { linear(2 * h, h) * if has_cell { 2 } else { 1 } } else { 0 };
    let (attention, decoder_input) = match attention_dim {
        Some(a) => (linear(h + enc_out, a) + a, e + enc_out),
        None if r.feed_context => (0, e + h),
        None => (0, e),
    };
    let decoder: u64 = (0..layers).map(|l| recurrent_layer(gates, if l == 0 { decoder_input } else { h }, h)).sum();
    ParamBreakdown { embeddings: vs * e + vt * e, encoder, bridge, attention, decoder, output: linear(h, vt) }
}

fn transformer(t: &TransformerSpec, vs: u64, vt: u64) -> ParamBreakdown {
    let (m, f) = (t.d_model as u64, t.ff_dim as u64);
    let attention = 4 * linear(m, m); // q, k, v and output projections
    let feed_forward = linear(m, f) + linear(f, m);
    let layer_norm = 2 * m;
    let encoder_layer = attention + feed_forward + 2 * layer_norm;
    let decoder_layer = 2 * attention + feed_forward + 3 * layer_norm;
    ParamBreakdown {
        embeddings: vs * m + vt * m,
        encoder: t.encoder_layers as u64 * encoder_layer + layer_norm,
        bridge: 0,
        attention: 0,
        decoder: t.decoder_layers as u64 * decoder_layer + layer_norm,
        output: linear(m, vt),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::AttentionSpec;

    fn rec(e: u32, h: u32, layers: u32, bidirectional: bool) -> RecurrentSpec {
        RecurrentSpec { embedding_dim: e, hidden_dim: h, layers, dropout: 0.0, bidirectional, feed_context: false }
    }

    #[test]
    fn tiny_rnn_by_hand() {
        // E=2, H=3, 1 layer, unidirectional, Vs=5, Vt=7.
        // embeddings 5*2 + 7*2 = 24; encoder 3*(2+3+2) = 21; decoder 21;
        // output 3*7+7 = 28.
        let m = ModelSpec::Rnn(rec(2, 3, 1, false));
        assert_eq!(trainable_params(&m, 5, 7), 24 + 21 + 21 + 28);
    }

    #[test]
    fn bidirectional_lstm_by_hand() {
        // E=4, H=2, 2 layers, bidirectional, Vs=Vt=10.
        let m = ModelSpec::Lstm(rec(4, 2, 2, true));
        let b = breakdown(&m, 10, 10);
        assert_eq!(b.embeddings, 80);
        // layer 0: 2 dirs * 4*2*(4+2+2) = 128; layer 1 input 4: 2 * 4*2*(4+2+2) = 128
        assert_eq!(b.encoder, 256);
        // hidden and cell bridges, each 4*2+2
        assert_eq!(b.bridge, 20);
        // layer 0 input 4: 4*2*(4+2+2) = 64; layer 1 input 2: 4*2*(2+2+2) = 48
        assert_eq!(b.decoder, 112);
        assert_eq!(b.output, 30);
        assert_eq!(b.total(), 80 + 256 + 20 + 112 + 30);
    }

    #[test]
    fn a_fed_context_widens_only_the_first_decoder_layer() {
        // E=4, H=2, 2 layers, unidirectional gru: decoder layer 0 reads
        // [embedding; context], 4 + 2 = 6 wide: 3*2*(6+2+2) = 60; layer 1
        // is unchanged, 3*2*(2+2+2) = 36.
        let plain = breakdown(&ModelSpec::Gru(rec(4, 2, 2, false)), 10, 10);
        let fed = breakdown(&ModelSpec::Gru(RecurrentSpec { feed_context: true, ..rec(4, 2, 2, false) }), 10, 10);
        assert_eq!(plain.decoder, 3 * 2 * (4 + 2 + 2) + 36);
        assert_eq!(fed.decoder, 60 + 36);
        assert_eq!(fed.total() - plain.total(), 3 * 2 * 2);
    }

    #[test]
    fn attention_adds_scorer_and_wider_decoder_input() {
        let a = ModelSpec::LstmAttention(AttentionSpec {
            embedding_dim: 4,
            hidden_dim: 2,
            layers: 1,
            dropout: 0.0,
            bidirectional: true,
            attention_dim: 3,
        });
        let b = breakdown(&a, 10, 10);
        // W: (2 + 4) -> 3 with bias = 21, v: 3
        assert_eq!(b.attention, 24);
        // decoder layer 0 input 4 + 4 = 8: 4*2*(8+2+2)
        assert_eq!(b.decoder, 96);
    }

    #[test]
    fn transformer_matches_torch_nn_transformer_shape() {
        // torch.nn.Transformer(d_model=8, nhead=2, num_encoder_layers=1,
        // num_decoder_layers=1, dim_feedforward=16) has 1,536 parameters
        // (it has no embeddings or output projection); checked with torch 2.11.
        let t = ModelSpec::Transformer(TransformerSpec {
            d_model: 8,
            heads: 2,
            ff_dim: 16,
            encoder_layers: 1,
            decoder_layers: 1,
            dropout: 0.1,
        });
        let b = breakdown(&t, 3, 5);
        assert_eq!(b.encoder + b.decoder, 1536);
        assert_eq!(b.embeddings, 3 * 8 + 5 * 8);
        assert_eq!(b.output, 8 * 5 + 5);
    }

    #[test]
    fn count_grows_with_width() {
        let mut prev = 0;
        for h in [8, 16, 64, 256, 1024] {
            let n = trainable_params(&ModelSpec::Gru(rec(32, h, 2, true)), 100, 100);
            assert!(n > prev);
            prev = n;
        }
    }
}
