//! The seq2seq architectures of the studies, built from a [`ModelSpec`] on a
//! VarStore path.
//!
//! Every model is driven through the same four operations, so training and
//! every decoding strategy work for all of them:
//! - [`Model::encode`]: source ids -> [`Memory`] and the initial
//!   [`DecoderState`];
//! - [`Model::step`]: one decoder step for a batch of previous tokens ->
//!   features (the input of the output layer), the next state and, for
//!   attention models, the attention over the source;
//! - [`Model::project`]: features -> vocabulary logits;
//! - [`Model::forward_t`]: training/validation logits for a whole target with
//!   teacher forcing at a given ratio. At ratio 1 the recurrent decoder
//!   without attention and the transformer decoder run over the whole
//!   sequence in one call; otherwise it steps.
//!
//! Memory and state can be re-indexed along the batch (beam search).

mod attention;
mod layers;
mod recurrent;
mod transformer;

pub use layers::{CellKind, RecState};

use crate::error::{JobError, Result};
use intervene_proto::job::ModelSpec;
use rand::Rng;
use tch::{Tensor, nn};

/// What the decoder reads from the encoder, batch-first.
#[derive(Debug)]
pub struct Memory {
    /// Encoder outputs `[B, S, D]`.
    pub outputs: Tensor,
    /// Precomputed key side of Bahdanau attention `[B, S, A]`.
    pub keys: Option<Tensor>,
    /// Per transformer decoder layer, the projected cross-attention keys and
    /// values `[B, heads, S, head_dim]`.
    pub cross: Vec<(Tensor, Tensor)>,
    /// `[B, S]`, true at real source tokens.
    pub valid: Tensor,
    /// `[B, S]`, true at padding.
    pub padding: Tensor,
    /// The attention decoder's weights, prepared once per batch.
    pub cells: Option<attention::Cells>,
    /// `[B, H]`: the fixed context a recurrent decoder with `feed_context`
    /// reads at every step.
    pub context: Option<Tensor>,
}

impl Memory {
    pub fn index_select(&self, index: &Tensor) -> Memory {
        Memory {
            outputs: self.outputs.index_select(0, index),
            keys: self.keys.as_ref().map(|k| k.index_select(0, index)),
            cross: self.cross.iter().map(|(k, v)| (k.index_select(0, index), v.index_select(0, index))).collect(),
            valid: self.valid.index_select(0, index),
            padding: self.padding.index_select(0, index),
            cells: self.cells.as_ref().map(attention::Cells::shallow_clone),
            context: self.context.as_ref().map(|c| c.index_select(0, index)),
        }
    }
}

#[derive(Debug)]
pub enum DecoderState {
    Recurrent(RecState),
    /// Per layer `(h, c)`, each `[B, H]`, of decoders that run their cells
    /// one by one.
    Cells(Vec<(Tensor, Tensor)>),
    /// Self-attention keys and values of the tokens decoded so far, per
    /// layer `[B, heads, t, head_dim]`, and the next position.
    Transformer {
        position: i64,
        cache: Vec<(Tensor, Tensor)>,
    },
}

impl DecoderState {
    pub fn index_select(&self, index: &Tensor) -> DecoderState {
        match self {
            DecoderState::Recurrent(s) => DecoderState::Recurrent(s.index_select(index)),
            DecoderState::Cells(layers) => DecoderState::Cells(
                layers.iter().map(|(h, c)| (h.index_select(0, index), c.index_select(0, index))).collect(),
            ),
            DecoderState::Transformer { position, cache } => DecoderState::Transformer {
                position: *position,
                cache: cache.iter().map(|(k, v)| (k.index_select(0, index), v.index_select(0, index))).collect(),
            },
        }
    }
}

/// One decoder step's result.
#[derive(Debug)]
pub struct StepOut {
    /// `[B, F]`, the output layer's input.
    pub features: Tensor,
    pub state: DecoderState,
    /// `[B, S]` attention over the source (lstm-attention; the transformer's
    /// last layer cross-attention averaged over heads).
    pub attention: Option<Tensor>,
}

pub enum Model {
    Recurrent(recurrent::RecurrentSeq2Seq),
    Attention(attention::AttentionSeq2Seq),
    Transformer(transformer::Transformer),
}

impl Model {
    /// Builds the model's variables under `p`. `max_positions` bounds the
    /// sequence lengths a transformer's position table covers (longer ones
    /// get their positions computed on the fly).
    pub fn new(
        spec: &ModelSpec,
        p: nn::Path,
        source_vocab: u32,
        target_vocab: u32,
        max_positions: i64,
    ) -> Result<Model> {
        validate(spec, source_vocab, target_vocab)?;
        let (vs, vt) = (source_vocab as i64, target_vocab as i64);
        Ok(match spec {
            ModelSpec::Rnn(r) => Model::Recurrent(recurrent::RecurrentSeq2Seq::new(p, CellKind::Tanh, r, vs, vt)),
            ModelSpec::Gru(r) => Model::Recurrent(recurrent::RecurrentSeq2Seq::new(p, CellKind::Gru, r, vs, vt)),
            ModelSpec::Lstm(r) => Model::Recurrent(recurrent::RecurrentSeq2Seq::new(p, CellKind::Lstm, r, vs, vt)),
            ModelSpec::LstmAttention(a) => Model::Attention(attention::AttentionSeq2Seq::new(p, a, vs, vt)),
            ModelSpec::Transformer(t) => Model::Transformer(transformer::Transformer::new(p, t, vs, vt, max_positions)),
        })
    }

    /// Whether [`StepOut::attention`] is filled.
    pub fn has_attention(&self) -> bool {
        !matches!(self, Model::Recurrent(_))
    }

    /// `src` `[B, S]` int64 padded with PAD; `lengths` `[B]` int64 on the
    /// CPU, in decreasing order (recurrent encoders pack the batch).
    pub fn encode(&self, src: &Tensor, lengths: &Tensor, train: bool) -> (Memory, DecoderState) {
        match self {
            Model::Recurrent(m) => m.encode(src, lengths, train),
            Model::Attention(m) => m.encode(src, lengths, train),
            Model::Transformer(m) => m.encode(src, train),
        }
    }

    /// One step for previous tokens `[B]`.
    pub fn step(&self, memory: &Memory, state: &DecoderState, tokens: &Tensor, train: bool) -> StepOut {
        match self {
            Model::Recurrent(m) => m.step(memory, state, tokens, train),
            Model::Attention(m) => m.step(memory, state, tokens, train),
            Model::Transformer(m) => m.step(memory, state, tokens, train),
        }
    }

    pub fn project(&self, features: &Tensor) -> Tensor {
        match self {
            Model::Recurrent(m) => m.project(features),
            Model::Attention(m) => m.project(features),
            Model::Transformer(m) => m.project(features),
        }
    }

    /// Logits `[B, T, V]` for decoder inputs `[B, T]` (SOS then the target
    /// shifted right). At each step after the first the ground-truth input is
    /// fed with probability `teacher_forcing`, else the model's own previous
    /// argmax (detached); the coin is tossed once per step for the whole
    /// batch, from `rng` (not at all at ratio 1). Transformers always get the
    /// ground truth.
    pub fn forward_t(
        &self,
        src: &Tensor,
        lengths: &Tensor,
        inputs: &Tensor,
        teacher_forcing: f64,
        rng: &mut impl Rng,
        train: bool,
    ) -> Tensor {
        let (memory, state) = self.encode(src, lengths, train);
        let steps = inputs.size()[1] as usize;
        let all_gold = teacher_forcing >= 1.0 || matches!(self, Model::Transformer(_));
        let gold: Vec<bool> = (0..steps).map(|t| t == 0 || all_gold || rng.r#gen::<f64>() < teacher_forcing).collect();
        let features = match self {
            Model::Recurrent(m) => m.scheduled(&memory, &state, inputs, &gold, train),
            Model::Attention(m) => m.scheduled(&memory, &state, inputs, &gold, train),
            Model::Transformer(m) => m.teacher_forced(&memory, inputs, train),
        };
        // One output projection over all steps instead of one per step.
        self.project(&features)
    }
}

fn validate(spec: &ModelSpec, source_vocab: u32, target_vocab: u32) -> Result<()> {
    let bad = |m: String| Err(JobError::InvalidSpec(m));
    // PAD, SOS, EOS, UNK and at least one real token.
    if source_vocab < 5 || target_vocab < 5 {
        return bad(format!(
            "vocabulary sizes must be at least 5 (4 special tokens and one word); got source {source_vocab}, target {target_vocab}"
        ));
    }
    let dropout = spec.dropout();
    if !(0.0..1.0).contains(&dropout) {
        return bad(format!("model.dropout must be in [0, 1); got {dropout}"));
    }
    let positive =
        |name: &str, v: u32| if v == 0 { bad(format!("model.{name} must be at least 1; got 0")) } else { Ok(()) };
    match spec {
        ModelSpec::Rnn(r) | ModelSpec::Gru(r) | ModelSpec::Lstm(r) => {
            positive("embedding_dim", r.embedding_dim)?;
            positive("hidden_dim", r.hidden_dim)?;
            positive("layers", r.layers)
        }
        ModelSpec::LstmAttention(a) => {
            positive("embedding_dim", a.embedding_dim)?;
            positive("hidden_dim", a.hidden_dim)?;
            positive("layers", a.layers)?;
            positive("attention_dim", a.attention_dim)
        }
        ModelSpec::Transformer(t) => {
            positive("d_model", t.d_model)?;
            positive("heads", t.heads)?;
            positive("ff_dim", t.ff_dim)?;
            positive("encoder_layers", t.encoder_layers)?;
            positive("decoder_layers", t.decoder_layers)?;
            if t.d_model % t.heads != 0 {
                return bad(format!("model.heads ({}) must divide model.d_model ({})", t.heads, t.d_model));
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests;
