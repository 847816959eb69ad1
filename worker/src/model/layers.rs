//! Building blocks shared by the architectures: linear and embedding layers
//! initialised as PyTorch initialises them, and a stack of recurrent layers
//! that runs as one fused libtorch call (cuDNN on CUDA) with the train flag
//! given per call.

use tch::nn::{self, Init};
use tch::{Device, Kind, Tensor};

/// PyTorch's `nn.Linear` initialisation: weight and bias uniform in
/// ±1/sqrt(fan_in). (tch's default Kaiming bound is √6 times wider.)
pub fn linear(p: nn::Path, input: i64, output: i64, bias: bool) -> nn::Linear {
    let bound = 1.0 / (input as f64).sqrt();
    let init = Init::Uniform { lo: -bound, up: bound };
    nn::linear(p, input, output, nn::LinearConfig { ws_init: init, bs_init: Some(init), bias })
}

/// An embedding table whose padding row gets no gradient.
pub fn embedding(p: nn::Path, vocab: i64, dim: i64, stdev: f64) -> nn::Embedding {
    let config = nn::EmbeddingConfig {
        ws_init: Init::Randn { mean: 0.0, stdev },
        padding_idx: crate::PAD,
        ..Default::default()
    };
    nn::embedding(p, vocab, dim, config)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellKind {
    /// Elman network with tanh.
    Tanh,
    Gru,
    Lstm,
}

impl CellKind {
    fn gates(self) -> i64 {
        match self {
            CellKind::Tanh => 1,
            CellKind::Gru => 3,
            CellKind::Lstm => 4,
        }
    }
}

/// Hidden state of a recurrent stack, each `[layers * directions, B, H]`.
#[derive(Debug)]
pub enum RecState {
    Single(Tensor),
    Lstm(Tensor, Tensor),
}

impl RecState {
    /// The hidden state (not the LSTM cell).
    pub fn h(&self) -> &Tensor {
        match self {
            RecState::Single(h) | RecState::Lstm(h, _) => h,
        }
    }

    pub fn index_select(&self, batch_index: &Tensor) -> RecState {
        match self {
            RecState::Single(h) => RecState::Single(h.index_select(1, batch_index)),
            RecState::Lstm(h, c) => RecState::Lstm(h.index_select(1, batch_index), c.index_select(1, batch_index)),
        }
    }

    pub fn shallow_clone(&self) -> RecState {
        match self {
            RecState::Single(h) => RecState::Single(h.shallow_clone()),
            RecState::Lstm(h, c) => RecState::Lstm(h.shallow_clone(), c.shallow_clone()),
        }
    }
}

/// `layers` recurrent layers of one cell kind, optionally bidirectional,
/// with dropout between layers (as torch.nn.LSTM's `dropout`). Variables are
/// named as torch names them (`weight_ih_l0_reverse`, ...), each direction
/// with two bias vectors.
#[derive(Debug)]
pub struct RecurrentStack {
    kind: CellKind,
    weights: Vec<Tensor>,
    hidden: i64,
    layers: i64,
    bidirectional: bool,
    dropout: f64,
}

impl RecurrentStack {
    pub fn new(
        p: nn::Path,
        kind: CellKind,
        input: i64,
        hidden: i64,
        layers: i64,
        bidirectional: bool,
        dropout: f64,
    ) -> RecurrentStack {
        let dirs = if bidirectional { 2 } else { 1 };
        let gate_dim = kind.gates() * hidden;
        // torch.nn.RNN/GRU/LSTM: every weight uniform in ±1/sqrt(hidden).
        let bound = 1.0 / (hidden as f64).sqrt();
        let init = Init::Uniform { lo: -bound, up: bound };
        let mut weights = Vec::with_capacity((layers * dirs * 4) as usize);
        for layer in 0..layers {
            let layer_input = if layer == 0 { input } else { hidden * dirs };
            for dir in 0..dirs {
                let suffix = if dir == 1 { "_reverse" } else { "" };
                weights.push(p.var(&format!("weight_ih_l{layer}{suffix}"), &[gate_dim, layer_input], init));
                weights.push(p.var(&format!("weight_hh_l{layer}{suffix}"), &[gate_dim, hidden], init));
                weights.push(p.var(&format!("bias_ih_l{layer}{suffix}"), &[gate_dim], init));
                weights.push(p.var(&format!("bias_hh_l{layer}{suffix}"), &[gate_dim], init));
            }
        }
        if p.device().is_cuda() && tch::Cuda::cudnn_is_available() {
            let mode = match kind {
                CellKind::Tanh => 1, // cudnn RNN_TANH
                CellKind::Lstm => 2,
                CellKind::Gru => 3,
            };
            // Lays the weights out in one buffer so cuDNN does not copy them
            // on every call.
            let _ = tch::no_grad(|| {
                Tensor::internal_cudnn_rnn_flatten_weight(
                    &weights,
                    4,
                    input,
                    mode,
                    hidden,
                    0,
                    layers,
                    true,
                    bidirectional,
                )
            });
        }
        RecurrentStack { kind, weights, hidden, layers, bidirectional, dropout }
    }

    pub fn directions(&self) -> i64 {
        if self.bidirectional { 2 } else { 1 }
    }

    pub fn zero_state(&self, batch: i64, device: Device) -> RecState {
        let z = Tensor::zeros([self.layers * self.directions(), batch, self.hidden], (Kind::Float, device));
        match self.kind {
            CellKind::Lstm => RecState::Lstm(z.shallow_clone(), z),
            _ => RecState::Single(z),
        }
    }

    /// Runs the whole stack over a padded batch-first sequence `[B, T, I]`.
    pub fn forward_t(&self, input: &Tensor, state: &RecState, train: bool) -> (Tensor, RecState) {
        let p = self.dropout;
        let (layers, bi) = (self.layers, self.bidirectional);
        match (self.kind, state) {
            (CellKind::Lstm, RecState::Lstm(h, c)) => {
                let (out, h, c) = input.lstm(&[h, c], &self.weights_ref(), true, layers, p, train, bi, true);
                (out, RecState::Lstm(h, c))
            }
            (CellKind::Gru, RecState::Single(h)) => {
                let (out, h) = input.gru(h, &self.weights, true, layers, p, train, bi, true);
                (out, RecState::Single(h))
            }
            (CellKind::Tanh, RecState::Single(h)) => {
                let (out, h) = input.rnn_tanh(h, &self.weights, true, layers, p, train, bi, true);
                (out, RecState::Single(h))
            }
            _ => unreachable!("recurrent state built by zero_state or a bridge of the same cell kind"),
        }
    }

    /// Runs the stack over a padded batch whose sequences have the given
    /// lengths (CPU int64, sorted in decreasing order), packing them so the
    /// backward direction starts at each sequence's own last token and the
    /// final state is taken there. Returns outputs `[B, T, D*H]` (zero past
    /// each length) and the final state.
    pub fn forward_packed(&self, input: &Tensor, lengths: &Tensor, train: bool) -> (Tensor, RecState) {
        let (batch, time) = (input.size()[0], input.size()[1]);
        let state = self.zero_state(batch, input.device());
        let (data, batch_sizes) = input.internal_pack_padded_sequence(lengths, true);
        let (p, layers, bi) = (self.dropout, self.layers, self.bidirectional);
        let (out, state) = match (self.kind, &state) {
            (CellKind::Lstm, RecState::Lstm(h, c)) => {
                let (out, h, c) =
                    Tensor::lstm_data(&data, &batch_sizes, &[h, c], &self.weights_ref(), true, layers, p, train, bi);
                (out, RecState::Lstm(h, c))
            }
            (CellKind::Gru, RecState::Single(h)) => {
                let (out, h) = Tensor::gru_data(&data, &batch_sizes, h, &self.weights, true, layers, p, train, bi);
                (out, RecState::Single(h))
            }
            (CellKind::Tanh, RecState::Single(h)) => {
                let (out, h) = Tensor::rnn_tanh_data(&data, &batch_sizes, h, &self.weights, true, layers, p, train, bi);
                (out, RecState::Single(h))
            }
            _ => unreachable!("zero_state matches the cell kind"),
        };
        let (padded, _) = Tensor::internal_pad_packed_sequence(&out, &batch_sizes, true, 0.0, time);
        (padded, state)
    }

    /// `(weight_ih, weight_hh, bias_ih, bias_hh)` of one layer's forward
    /// direction, for models that run the cells themselves.
    pub fn layer_weights(&self, layer: i64) -> [&Tensor; 4] {
        let at = (layer * self.directions() * 4) as usize;
        [&self.weights[at], &self.weights[at + 1], &self.weights[at + 2], &self.weights[at + 3]]
    }

    pub fn layers(&self) -> i64 {
        self.layers
    }

    fn weights_ref(&self) -> Vec<&Tensor> {
        self.weights.iter().collect()
    }
}

/// Sinusoidal positions ("Attention is all you need" §3.5): `[len, dim]`.
pub fn sinusoid_table(len: i64, dim: i64, device: Device) -> Tensor {
    let pos = Tensor::arange(len, (Kind::Float, device)).unsqueeze(1);
    let i = Tensor::arange_start_step(0, dim, 2, (Kind::Float, device));
    let freq = (i * (-(10000f64.ln()) / dim as f64)).exp();
    let angles = pos * freq.unsqueeze(0); // [len, ceil(dim / 2)]
    let table = Tensor::zeros([len, dim], (Kind::Float, device));
    let half = dim / 2;
    let _ = table.slice(1, 0, dim, 2).copy_(&angles.sin());
    let _ = table.slice(1, 1, dim, 2).copy_(&angles.cos().narrow(1, 0, half));
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sinusoids_alternate_sin_and_cos() {
        let t = sinusoid_table(3, 4, Device::Cpu);
        let at = |p: i64, i: i64| t.double_value(&[p, i]);
        assert!((at(0, 0) - 0.0).abs() < 1e-6 && (at(0, 1) - 1.0).abs() < 1e-6);
        assert!((at(2, 0) - 2f64.sin()).abs() < 1e-6);
        assert!((at(2, 3) - (2.0 / 100f64).cos()).abs() < 1e-6);
    }

    #[test]
    fn packed_final_state_ignores_padding() {
        let vs = nn::VarStore::new(Device::Cpu);
        let stack = RecurrentStack::new(vs.root() / "rnn", CellKind::Lstm, 3, 5, 2, true, 0.0);
        let x = Tensor::randn([2, 4, 3], (Kind::Float, Device::Cpu));
        // The second sequence has 2 real steps; garbage after them must not
        // change its outputs or final state.
        let lengths = Tensor::from_slice(&[4i64, 2]);
        let (out_a, st_a) = stack.forward_packed(&x, &lengths, false);
        let x2 = x.copy();
        let _ = x2.get(1).narrow(0, 2, 2).fill_(7.0);
        let (out_b, st_b) = stack.forward_packed(&x2, &lengths, false);
        assert!(out_a.allclose(&out_b, 1e-6, 1e-6, false));
        assert!(st_a.h().allclose(st_b.h(), 1e-6, 1e-6, false));
        // Alone, the short sequence gives the same final state.
        let (_, st_c) = stack.forward_packed(&x.narrow(0, 1, 1).narrow(1, 0, 2), &Tensor::from_slice(&[2i64]), false);
        assert!(st_a.h().narrow(1, 1, 1).allclose(st_c.h(), 1e-5, 1e-5, false));
        assert_eq!(out_a.size(), [2, 4, 10]);
    }
}
