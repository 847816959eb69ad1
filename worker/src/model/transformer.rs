//! Encoder-decoder Transformer as documented on `TransformerSpec` (the
//! post-norm layout of torch.nn.Transformer, with final norms): embeddings
//! scaled by sqrt(d_model) plus sinusoidal positions, ReLU feed-forward,
//! dropout after attention weights, sublayers and the input sum.
//!
//! Greedy, beam and sampling decode one token at a time with a cache of
//! each layer's self-attention keys and values, and cross-attention keys and
//! values computed once per source in [`Memory::cross`].

use super::layers::{embedding, linear, sinusoid_table};
use super::{DecoderState, Memory, StepOut};
use intervene_proto::job::TransformerSpec;
use tch::nn::{self, Init, Module};
use tch::{Device, Kind, Tensor};

#[derive(Debug)]
struct MultiHeadAttention {
    q: nn::Linear,
    k: nn::Linear,
    v: nn::Linear,
    o: nn::Linear,
    heads: i64,
    head_dim: i64,
    dropout: f64,
}

impl MultiHeadAttention {
    fn new(p: nn::Path, d_model: i64, heads: i64, dropout: f64) -> Self {
        // torch.nn.MultiheadAttention: Xavier-uniform projections, zero
        // input-projection biases.
        let bound = (6.0 / (2 * d_model) as f64).sqrt();
        let config = nn::LinearConfig {
            ws_init: Init::Uniform { lo: -bound, up: bound },
            bs_init: Some(Init::Const(0.0)),
            bias: true,
        };
        MultiHeadAttention {
            q: nn::linear(&p / "q", d_model, d_model, config),
            k: nn::linear(&p / "k", d_model, d_model, config),
            v: nn::linear(&p / "v", d_model, d_model, config),
            o: linear(&p / "o", d_model, d_model, true),
            heads,
            head_dim: d_model / heads,
            dropout,
        }
    }

    /// `[B, T, d_model]` -> `[B, heads, T, head_dim]`.
    fn split(&self, x: &Tensor) -> Tensor {
        let (b, t, _) = x.size3().expect("attention inputs are [B, T, d_model]");
        x.view([b, t, self.heads, self.head_dim]).transpose(1, 2)
    }

    fn merge(&self, x: &Tensor) -> Tensor {
        let (b, _, t, _) = x.size4().expect("attention outputs are [B, heads, T, head_dim]");
        x.transpose(1, 2).reshape([b, t, self.heads * self.head_dim])
    }

    fn keys_values(&self, x: &Tensor) -> (Tensor, Tensor) {
        (self.split(&x.apply(&self.k)), self.split(&x.apply(&self.v)))
    }

    /// Attention of `query` `[B, Tq, d]` over projected keys/values; `mask`
    /// `[B, 1, 1, Tk]` true where attending is allowed.
    fn attend(
        &self,
        query: &Tensor,
        k: &Tensor,
        v: &Tensor,
        mask: Option<&Tensor>,
        causal: bool,
        train: bool,
    ) -> Tensor {
        let q = self.split(&query.apply(&self.q));
        let p = if train { self.dropout } else { 0.0 };
        let out = Tensor::scaled_dot_product_attention(&q, k, v, mask, p, causal, None, false);
        self.merge(&out).apply(&self.o)
    }

    /// As `attend` without dropout, also returning the weights averaged over
    /// heads `[B, Tq, Tk]`.
    fn attend_with_weights(&self, query: &Tensor, k: &Tensor, v: &Tensor, padding: &Tensor) -> (Tensor, Tensor) {
        let q = self.split(&query.apply(&self.q));
        let scores = q.matmul(&k.transpose(-2, -1)) / (self.head_dim as f64).sqrt();
        let weights =
            scores.masked_fill(&padding.unsqueeze(1).unsqueeze(1), f64::NEG_INFINITY).softmax(-1, Kind::Float);
        let out = self.merge(&weights.matmul(v)).apply(&self.o);
        (out, weights.mean_dim(1, false, Kind::Float))
    }
}

#[derive(Debug)]
struct FeedForward {
    up: nn::Linear,
    down: nn::Linear,
    dropout: f64,
}

impl FeedForward {
    fn new(p: nn::Path, d_model: i64, ff: i64, dropout: f64) -> Self {
        FeedForward { up: linear(&p / "up", d_model, ff, true), down: linear(&p / "down", ff, d_model, true), dropout }
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        x.apply(&self.up).relu().dropout(self.dropout, train).apply(&self.down)
    }
}

fn layer_norm(p: nn::Path, d_model: i64) -> nn::LayerNorm {
    nn::layer_norm(p, vec![d_model], Default::default())
}

#[derive(Debug)]
struct EncoderLayer {
    attention: MultiHeadAttention,
    ff: FeedForward,
    norm1: nn::LayerNorm,
    norm2: nn::LayerNorm,
    dropout: f64,
}

impl EncoderLayer {
    fn forward_t(&self, x: &Tensor, mask: &Tensor, train: bool) -> Tensor {
        let (k, v) = self.attention.keys_values(x);
        let a = self.attention.attend(x, &k, &v, Some(mask), false, train);
        let x = (x + a.dropout(self.dropout, train)).apply(&self.norm1);
        let f = self.ff.forward_t(&x, train);
        (&x + f.dropout(self.dropout, train)).apply(&self.norm2)
    }
}

#[derive(Debug)]
struct DecoderLayer {
    self_attention: MultiHeadAttention,
    cross_attention: MultiHeadAttention,
    ff: FeedForward,
    norm1: nn::LayerNorm,
    norm2: nn::LayerNorm,
    norm3: nn::LayerNorm,
    dropout: f64,
}

impl DecoderLayer {
    /// `self_kv`: keys/values of this layer's inputs up to and including the
    /// current positions; `causal` when `x` holds several positions.
    #[allow(clippy::too_many_arguments)]
    fn forward_t(
        &self,
        x: &Tensor,
        self_kv: (&Tensor, &Tensor),
        cross_kv: (&Tensor, &Tensor),
        memory: &Memory,
        causal: bool,
        want_weights: bool,
        train: bool,
    ) -> (Tensor, Option<Tensor>) {
        let a = self.self_attention.attend(x, self_kv.0, self_kv.1, None, causal, train);
        let x = (x + a.dropout(self.dropout, train)).apply(&self.norm1);
        let (c, weights) = if want_weights {
            let (c, w) = self.cross_attention.attend_with_weights(&x, cross_kv.0, cross_kv.1, &memory.padding);
            (c, Some(w))
        } else {
            let mask = memory.valid.unsqueeze(1).unsqueeze(1);
            (self.cross_attention.attend(&x, cross_kv.0, cross_kv.1, Some(&mask), false, train), None)
        };
        let x = (&x + c.dropout(self.dropout, train)).apply(&self.norm2);
        let f = self.ff.forward_t(&x, train);
        ((&x + f.dropout(self.dropout, train)).apply(&self.norm3), weights)
    }
}

#[derive(Debug)]
pub struct Transformer {
    src_embedding: nn::Embedding,
    tgt_embedding: nn::Embedding,
    encoder: Vec<EncoderLayer>,
    encoder_norm: nn::LayerNorm,
    decoder: Vec<DecoderLayer>,
    decoder_norm: nn::LayerNorm,
    output: nn::Linear,
    positions: Tensor,
    d_model: i64,
    dropout: f64,
}

impl Transformer {
    pub fn new(p: nn::Path, t: &TransformerSpec, source_vocab: i64, target_vocab: i64, max_positions: i64) -> Self {
        let (m, heads, ff, dropout) = (t.d_model as i64, t.heads as i64, t.ff_dim as i64, t.dropout);
        // N(0, 1/d_model) so that after the sqrt(d_model) scale embeddings
        // and positions have comparable magnitude.
        let stdev = 1.0 / (m as f64).sqrt();
        let ep = &p / "encoder";
        let encoder = (0..t.encoder_layers)
            .map(|i| {
                let lp = &ep / format!("layer{i}");
                EncoderLayer {
                    attention: MultiHeadAttention::new(&lp / "self_attention", m, heads, dropout),
                    ff: FeedForward::new(&lp / "ff", m, ff, dropout),
                    norm1: layer_norm(&lp / "norm1", m),
                    norm2: layer_norm(&lp / "norm2", m),
                    dropout,
                }
            })
            .collect();
        let dp = &p / "decoder";
        let decoder = (0..t.decoder_layers)
            .map(|i| {
                let lp = &dp / format!("layer{i}");
                DecoderLayer {
                    self_attention: MultiHeadAttention::new(&lp / "self_attention", m, heads, dropout),
                    cross_attention: MultiHeadAttention::new(&lp / "cross_attention", m, heads, dropout),
                    ff: FeedForward::new(&lp / "ff", m, ff, dropout),
                    norm1: layer_norm(&lp / "norm1", m),
                    norm2: layer_norm(&lp / "norm2", m),
                    norm3: layer_norm(&lp / "norm3", m),
                    dropout,
                }
            })
            .collect();
        Transformer {
            src_embedding: embedding(&ep / "embedding", source_vocab, m, stdev),
            tgt_embedding: embedding(&dp / "embedding", target_vocab, m, stdev),
            encoder,
            encoder_norm: layer_norm(&ep / "norm", m),
            decoder,
            decoder_norm: layer_norm(&dp / "norm", m),
            output: linear(&dp / "output", m, target_vocab, true),
            positions: sinusoid_table(max_positions.max(1), m, p.device()),
            d_model: m,
            dropout,
        }
    }

    /// Positions `start .. start + len`, `[len, d_model]`.
    fn positions(&self, start: i64, len: i64, device: Device) -> Tensor {
        if start + len <= self.positions.size()[0] {
            self.positions.narrow(0, start, len)
        } else {
            sinusoid_table(start + len, self.d_model, device).narrow(0, start, len)
        }
    }

    fn embed(&self, table: &nn::Embedding, ids: &Tensor, start: i64, train: bool) -> Tensor {
        let len = ids.size()[1];
        let x = table.forward(ids) * (self.d_model as f64).sqrt() + self.positions(start, len, ids.device());
        x.dropout(self.dropout, train)
    }

    pub fn encode(&self, src: &Tensor, train: bool) -> (Memory, DecoderState) {
        let padding = src.eq(crate::PAD);
        let valid = padding.logical_not();
        let mask = valid.unsqueeze(1).unsqueeze(1);
        let mut x = self.embed(&self.src_embedding, src, 0, train);
        for layer in &self.encoder {
            x = layer.forward_t(&x, &mask, train);
        }
        let outputs = x.apply(&self.encoder_norm);
        let cross = self.decoder.iter().map(|l| l.cross_attention.keys_values(&outputs)).collect();
        let b = src.size()[0];
        let (heads, hd) =
            self.decoder.first().map(|l| (l.self_attention.heads, l.self_attention.head_dim)).unwrap_or((1, 1));
        let empty = Tensor::zeros([b, heads, 0, hd], (Kind::Float, src.device()));
        let cache = self.decoder.iter().map(|_| (empty.shallow_clone(), empty.shallow_clone())).collect();
        let memory = Memory { outputs, keys: None, cross, valid, padding, cells: None, context: None };
        (memory, DecoderState::Transformer { position: 0, cache })
    }

    /// Decoder features `[B, T, d_model]` for the whole input at once, with
    /// a causal mask.
    pub fn teacher_forced(&self, memory: &Memory, inputs: &Tensor, train: bool) -> Tensor {
        let mut x = self.embed(&self.tgt_embedding, inputs, 0, train);
        for (layer, (ck, cv)) in self.decoder.iter().zip(&memory.cross) {
            let (k, v) = layer.self_attention.keys_values(&x);
            x = layer.forward_t(&x, (&k, &v), (ck, cv), memory, true, false, train).0;
        }
        x.apply(&self.decoder_norm)
    }

    pub fn step(&self, memory: &Memory, state: &DecoderState, tokens: &Tensor, train: bool) -> StepOut {
        let DecoderState::Transformer { position, cache } = state else {
            unreachable!("transformers carry transformer states")
        };
        let mut x = self.embed(&self.tgt_embedding, &tokens.unsqueeze(1), *position, train);
        let mut new_cache = Vec::with_capacity(cache.len());
        let mut attention = None;
        let last = self.decoder.len().saturating_sub(1);
        for (i, (layer, ((pk, pv), (ck, cv)))) in self.decoder.iter().zip(cache.iter().zip(&memory.cross)).enumerate() {
            let (k, v) = layer.self_attention.keys_values(&x);
            let k = Tensor::cat(&[pk, &k], 2);
            let v = Tensor::cat(&[pv, &v], 2);
            let (y, w) = layer.forward_t(&x, (&k, &v), (ck, cv), memory, false, i == last && !train, train);
            if let Some(w) = w {
                attention = Some(w.squeeze_dim(1));
            }
            new_cache.push((k, v));
            x = y;
        }
        let features = x.apply(&self.decoder_norm).squeeze_dim(1);
        StepOut { features, state: DecoderState::Transformer { position: position + 1, cache: new_cache }, attention }
    }

    pub fn project(&self, features: &Tensor) -> Tensor {
        features.apply(&self.output)
    }
}
