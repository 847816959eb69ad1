#!/usr/bin/env python3
"""PyTorch eager counterpart of `cargo bench -p intervene-worker --bench throughput`.

The same architectures with the same shapes and parameter counts as the
worker's models (rnn/gru/lstm with packed bidirectional encoders and tanh
bridges, Bahdanau lstm-attention, post-norm transformer), the same random
batches' shapes, and the same measurements: target tokens per second of
training steps at teacher forcing 1.0 and 0.5, greedy-decoded sequences per
second, and beam-search (beam 5) sequences per second for the recurrent
models. The algorithms match the worker's (one fused decoder call at
teacher forcing 1.0 where the architecture allows it, one output projection
over all steps), so a difference measures the framework, not the method.

    . scripts/env.sh
    python bench/reference/seq2seq_eager.py [--small] [--dim D] [--batch B] [--steps N] [--threads N] [--device cpu|cuda:N] [ARCH...]

On a GPU every tensor is made there (torch.set_default_device) and each
timing ends with a synchronisation, as the Rust bench's host read-back.
"""

import argparse
import math
import random
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

PAD, SOS, EOS = 0, 1, 2


class Encoder(nn.Module):
    def __init__(self, cell, vocab, e, h, layers, bi, dropout):
        super().__init__()
        self.embedding = nn.Embedding(vocab, e, padding_idx=PAD)
        rnn = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}[cell]
        self.rnn = rnn(e, h, layers, batch_first=True, bidirectional=bi, dropout=dropout if layers > 1 else 0.0)
        self.cell, self.bi, self.dropout = cell, bi, dropout
        if bi:
            self.bridge_h = nn.Linear(2 * h, h)
            self.bridge_c = nn.Linear(2 * h, h) if cell == "lstm" else None

    def bridge(self, s, lin):
        l2, b, h = s.shape
        return torch.tanh(lin(s.view(l2 // 2, 2, b, h).transpose(1, 2).reshape(l2 // 2, b, 2 * h)))

    def forward(self, src, lengths):
        x = F.dropout(self.embedding(src), self.dropout, self.training)
        # Packing wants the lengths on the host whatever the device.
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True)
        out, last = self.rnn(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=src.shape[1])
        if self.bi:
            if self.cell == "lstm":
                last = (self.bridge(last[0], self.bridge_h), self.bridge(last[1], self.bridge_c))
            else:
                last = self.bridge(last, self.bridge_h)
        return out, last, src.eq(PAD)


class Recurrent(nn.Module):
    def __init__(self, cell, vocab, e, h, layers, bi, dropout):
        super().__init__()
        self.encoder = Encoder(cell, vocab, e, h, layers, bi, dropout)
        self.embedding = nn.Embedding(vocab, e, padding_idx=PAD)
        rnn = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}[cell]
        self.rnn = rnn(e, h, layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)
        self.output = nn.Linear(h, vocab)
        self.dropout = dropout

    def encode(self, src, lengths):
        out, state, pad = self.encoder(src, lengths)
        return (out, pad), state

    def step(self, memory, state, tokens):
        x = F.dropout(self.embedding(tokens), self.dropout, self.training).unsqueeze(1)
        out, state = self.rnn(x, state)
        return F.dropout(out.squeeze(1), self.dropout, self.training), state

    def teacher_forced(self, memory, state, inputs):
        x = F.dropout(self.embedding(inputs), self.dropout, self.training)
        out, _ = self.rnn(x, state)
        return F.dropout(out, self.dropout, self.training)


class Attention(nn.Module):
    def __init__(self, vocab, e, h, layers, bi, dropout, a):
        super().__init__()
        self.encoder = Encoder("lstm", vocab, e, h, layers, bi, dropout)
        d = (2 if bi else 1) * h
        self.embedding = nn.Embedding(vocab, e, padding_idx=PAD)
        self.W = nn.Linear(h + d, a)
        self.v = nn.Linear(a, 1, bias=False)
        self.rnn = nn.LSTM(e + d, h, layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)
        self.output = nn.Linear(h, vocab)
        self.h, self.dropout = h, dropout

    def encode(self, src, lengths):
        out, state, pad = self.encoder(src, lengths)
        keys = F.linear(out, self.W.weight[:, self.h:], self.W.bias)
        return (out, keys, pad), state

    def step(self, memory, state, tokens):
        out_enc, keys, pad = memory
        s = state[0][-1]
        q = (s @ self.W.weight[:, : self.h].t()).unsqueeze(1)
        energy = self.v(torch.tanh(keys + q)).squeeze(-1).masked_fill(pad, float("-inf"))
        w = torch.softmax(energy, -1)
        ctx = torch.bmm(w.unsqueeze(1), out_enc)
        x = torch.cat([F.dropout(self.embedding(tokens), self.dropout, self.training).unsqueeze(1), ctx], 2)
        out, state = self.rnn(x, state)
        return F.dropout(out.squeeze(1), self.dropout, self.training), state

    teacher_forced = None


class Transformer(nn.Module):
    def __init__(self, vocab, d, heads, ff, enc, dec, dropout):
        super().__init__()
        self.src_embedding = nn.Embedding(vocab, d, padding_idx=PAD)
        self.tgt_embedding = nn.Embedding(vocab, d, padding_idx=PAD)
        self.core = nn.Transformer(d, heads, enc, dec, ff, dropout, batch_first=True)
        self.output = nn.Linear(d, vocab)
        self.d, self.dropout = d, dropout
        pos = torch.arange(512).unsqueeze(1)
        freq = torch.exp(torch.arange(0, d, 2) * (-math.log(10000.0) / d))
        pe = torch.zeros(512, d)
        pe[:, 0::2] = torch.sin(pos * freq)
        pe[:, 1::2] = torch.cos(pos * freq)
        self.register_buffer("pe", pe)

    def embed(self, table, ids):
        x = table(ids) * math.sqrt(self.d) + self.pe[: ids.shape[1]]
        return F.dropout(x, self.dropout, self.training)

    def encode(self, src, lengths):
        pad = src.eq(PAD)
        mem = self.core.encoder(self.embed(self.src_embedding, src), src_key_padding_mask=pad)
        return (mem, pad), None

    def teacher_forced(self, memory, state, inputs):
        mem, pad = memory
        t = inputs.shape[1]
        causal = nn.Transformer.generate_square_subsequent_mask(t, device=inputs.device)
        return self.core.decoder(self.embed(self.tgt_embedding, inputs), mem, tgt_mask=causal, tgt_is_causal=True,
                                 memory_key_padding_mask=pad)

    def step(self, memory, state, tokens):
        # No cache in nn.TransformerDecoder: re-decode the prefix.
        prefix = tokens.unsqueeze(1) if state is None else torch.cat([state, tokens.unsqueeze(1)], 1)
        out = self.teacher_forced(memory, None, prefix)
        return out[:, -1], prefix


def forward(model, src, lengths, inputs, tf, rng):
    memory, state = model.encode(src, lengths)
    if (tf >= 1.0 or isinstance(model, Transformer)) and model.teacher_forced is not None:
        return model.output(model.teacher_forced(memory, state, inputs))
    feats, inp = [], inputs[:, 0]
    for t in range(inputs.shape[1]):
        f, state = model.step(memory, state, inp)
        if t + 1 < inputs.shape[1]:
            if rng.random() < tf:
                inp = inputs[:, t + 1]
            else:
                with torch.no_grad():
                    inp = model.output(f).argmax(-1)
        feats.append(f)
    return model.output(torch.stack(feats, 1))


@torch.no_grad()
def greedy(model, src, lengths, max_len):
    memory, state = model.encode(src, lengths)
    tokens = torch.full((src.shape[0],), SOS, dtype=torch.long)
    finished = torch.zeros(src.shape[0], dtype=torch.bool)
    out = []
    for _ in range(max_len):
        f, state = model.step(memory, state, tokens)
        nxt = model.output(f).argmax(-1).masked_fill(finished, PAD)
        finished |= nxt.eq(EOS)
        out.append(nxt)
        tokens = nxt
        if finished.all():
            break
    return torch.stack(out, 1)


BEAM = 5  # as the Rust bench


def select_state(state, idx, dim):
    """Rows `idx` of a decoder state along its batch dimension."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.index_select(dim, idx) for s in state)
    return state.index_select(dim, idx)


@torch.no_grad()
def beam_search(model, src, lengths, k, length_penalty, max_len):
    """The worker's batched beam search (worker/src/decode/beam.rs), step for
    step; returns the best hypotheses and the number of steps run."""
    memory, state = model.encode(src, lengths)
    b = src.shape[0]
    expand = torch.arange(b).repeat_interleave(k)
    memory = tuple(m.index_select(0, expand) for m in memory)
    state = select_state(state, expand, 1)
    scores = torch.full((b, k), float("-inf"))
    scores[:, 0] = 0.0
    lens = torch.zeros(b, k)
    finished = torch.zeros(b, k, dtype=torch.bool)
    tokens = torch.full((b * k,), SOS, dtype=torch.long)
    base = (torch.arange(b) * k).unsqueeze(1)
    history, parents = [], []
    for _ in range(max_len):
        f, state = model.step(memory, state, tokens)
        logp = torch.log_softmax(model.output(f), -1)
        v = logp.shape[-1]
        logp = logp.view(b, k, v)
        frozen = torch.full((v,), float("-inf"))
        frozen[PAD] = 0.0
        logp = torch.where(finished.unsqueeze(-1), frozen.expand_as(logp), logp)
        candidates = scores.unsqueeze(-1) + logp
        new_lens = torch.where(finished, lens, lens + 1)
        rank = candidates / new_lens.pow(length_penalty).unsqueeze(-1)
        _, picked = rank.view(b, k * v).topk(k, -1)
        frm, nxt = picked.div(v, rounding_mode="floor"), picked.remainder(v)
        scores = candidates.view(b, k * v).gather(1, picked)
        lens = new_lens.gather(1, frm)
        finished = finished.gather(1, frm) | nxt.eq(EOS)
        state = select_state(state, (base + frm).view(-1), 1)
        tokens = nxt.view(-1)
        history.append(nxt)
        parents.append(frm)
        if finished.all():
            break
    best = (scores / lens.clamp_min(1).pow(length_penalty)).argmax(-1)
    tok, par = torch.stack(history).tolist(), torch.stack(parents).tolist()
    out = []
    for i in range(b):
        j, rev = int(best[i]), []
        for t in range(len(history) - 1, -1, -1):
            rev.append(tok[t][i][j])
            j = par[t][i][j]
        out.append(rev[::-1])
    return out, len(history)


def batch(rng, n, vocab):
    pairs = []
    for _ in range(n):
        s, t = rng.randrange(5, 50), rng.randrange(10, 80)
        pairs.append(([rng.randrange(4, vocab) for _ in range(s)], [rng.randrange(4, vocab) for _ in range(t)]))
    pairs.sort(key=lambda p: -len(p[0]))
    S, T = max(len(p[0]) for p in pairs) + 1, max(len(p[1]) for p in pairs) + 1
    src = torch.full((n, S), PAD)
    inp, tgt = torch.full((n, T), PAD), torch.full((n, T), PAD)
    for i, (x, y) in enumerate(pairs):
        src[i, : len(x)] = torch.tensor(x)
        src[i, len(x)] = EOS
        inp[i, 0] = SOS
        inp[i, 1 : len(y) + 1] = torch.tensor(y)
        tgt[i, : len(y)] = torch.tensor(y)
        tgt[i, len(y)] = EOS
    lengths = torch.tensor([len(x) + 1 for x, _ in pairs])
    return src, lengths, inp, tgt, sum(len(y) + 1 for _, y in pairs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--small", action="store_true")
    ap.add_argument("--dim", type=int)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("archs", nargs="*")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        ap.error(f"--device {a.device}: torch sees no CUDA device")
    torch.set_default_device(device)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    e = h = a.dim or (64 if a.small else 256)
    vocab = 1000 if a.small else 5000
    builders = {
        "rnn": lambda: Recurrent("rnn", vocab, e, h, 2, True, 0.3),
        "gru": lambda: Recurrent("gru", vocab, e, h, 2, True, 0.3),
        "lstm": lambda: Recurrent("lstm", vocab, e, h, 2, True, 0.3),
        "lstm-attention": lambda: Attention(vocab, e, h, 2, True, 0.3, h),
        "transformer": lambda: Transformer(vocab, h, 8, 2 * h, 3, 3, 0.1),  # transformer-python.toml
    }
    print(f"threads {torch.get_num_threads()}  small {a.small}  steps {a.steps}  device {a.device}")
    rng = random.Random(0)
    for name, build in builders.items():
        if a.archs and name not in a.archs:
            continue
        torch.manual_seed(0)
        model = build()
        opt = torch.optim.Adam(model.parameters(), 1e-3)
        params = sum(p.numel() for p in model.parameters() if p.requires_grad)
        line = f"{name:15}  params {params:9}"
        for tf in (1.0, 0.5):
            if tf < 1 and name == "transformer":
                continue
            model.train()
            tokens, secs = 0, 0.0
            for step in range(a.steps + 1):
                src, lengths, inp, tgt, ntok = batch(rng, a.batch, vocab)
                t0 = time.perf_counter()
                logits = forward(model, src, lengths, inp, tf, rng)
                loss = F.cross_entropy(logits.reshape(-1, vocab), tgt.reshape(-1), ignore_index=PAD)
                opt.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                loss.item()
                sync()
                if step > 0:
                    secs += time.perf_counter() - t0
                    tokens += ntok
            line += f"  train tf={tf}: {tokens / secs:8.0f} tok/s"
        model.eval()
        with torch.no_grad():  # no EOS: every decode runs its 80 steps, as in the Rust bench
            model.output.bias[EOS] = -1e9
        src, lengths, _, _, _ = batch(rng, a.batch, vocab)
        best = float("inf")
        for _ in range(3):  # best of three, as the Rust bench
            t0 = time.perf_counter()
            steps = greedy(model, src, lengths, 80).shape[1]
            sync()
            best = min(best, time.perf_counter() - t0)
        line += f"  greedy: {src.shape[0] / best:7.1f} seq/s ({steps} steps)"
        if name != "transformer":  # no decoder cache in nn.TransformerDecoder
            best = float("inf")
            for _ in range(3):
                t0 = time.perf_counter()
                _, steps = beam_search(model, src, lengths, BEAM, 1.0, 80)
                sync()
                best = min(best, time.perf_counter() - t0)
            line += f"  beam{BEAM}: {src.shape[0] / best:7.1f} seq/s ({steps} steps)"
        print(line)


if __name__ == "__main__":
    main()
