#!/usr/bin/env python3
"""Learning-curve parity: the PyTorch port of seq2seq_eager.py trained with
the recipe of `intervene train`, on the same file and split, reading the
same study file.

    # The fixed split: pairs mined by `intervene data mine`, filtered to the
    # study's length limits, shuffled with --seed and cut into the study's
    # train/valid/test sizes (the `partition` column of split = "published").
    python bench/reference/parity.py data STUDY.toml MINED.parquet [--seed 0]

    # The validation loss of intervene's trained weights, computed by the port.
    python bench/reference/parity.py valid-loss STUDY.toml CHECKPOINT_DIR

    # One training run of the control arm; writes its curve as JSON.
    python bench/reference/parity.py train STUDY.toml --seed S --out CURVE.json [--threads 1] [--set KNOB=VALUE]
        [--same-init]

--set changes one knob of the recipe (e.g. learning_rate=1e-3): a negative
control, to see bench/check_parity.py fail on a recipe that differs.
--same-init draws the initial weights as the worker does from the same seed
(intervene_init below). With one batch per epoch (batch_size >= train) and
dropout 0, nothing random is left, and the two sides should then train the
same weights step for step: bench/parity-exact-study.toml, the exact check.

bench/check_parity.py compares the curves with those of `intervene train`;
bench/parity.sh runs everything.

What is reproduced, and where the worker does it:
- data (data/src/prepare.rs, split.rs, vocab.rs): the code-whitespace
  tokenizer on both sides (bench/tokenize_ref.py); pairs over
  max_source_len / max_target_len dropped before the split (overlong =
  "drop") or truncated after the vocabularies are built ("truncate"); the
  published partitions; one vocabulary per side from the train split's
  tokens: PAD, SOS, EOS, UNK, then the vocab_size - 4 most frequent tokens,
  ties by the token's string, no minimum frequency; unknown tokens as UNK;
  embedding and output layers sized to the configured vocab_size.
- batches (worker/src/train/batch.rs): source + EOS, SOS + target,
  target + EOS, PAD 0, rows sorted by decreasing source length (stable); an
  epoch is one shuffle cut into batches (the last one smaller);
  validation batches are the split sorted by source length.
- training (worker/src/train/mod.rs, schedule.rs): Adam (betas 0.9/0.999,
  eps 1e-8) with L2 weight decay (torch.optim.Adam's, as tch's), the
  linear warm-up lr * (step + 1) / warmup_steps, global L2 clipping to
  gradient_clip, the teacher-forcing schedule (one coin per decoder step
  for the whole batch), the token-mean cross-entropy ignoring PAD; after
  each epoch the validation loss with dropout off and full teacher forcing,
  summed over tokens and divided by the split's target tokens (EOS counted);
  early stopping on it when early_stopping_patience > 0.
Seeds: torch.manual_seed(seed) before the model is built (initialisation,
dropout); data order and coins from random.Random(seed). The worker uses
torch's generator for the same things and ChaCha streams for the order and
coins, so the two sides start from different weights and see the data in a
different order: that is the seed noise the comparison is measured against.
"""

import argparse
import json
import math
import os
import random
import sys
import time
import tomllib
from collections import Counter

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
from seq2seq_eager import EOS, PAD, SOS, Attention, forward  # noqa: E402
from tokenize_ref import tokenize  # noqa: E402

UNK = 3
SPECIALS = ["<PAD>", "<SOS>", "<EOS>", "<UNK>"]
PARTITIONS = {"train": "train", "valid": "valid", "validation": "valid", "dev": "valid", "test": "test"}


# ---- the study file ------------------------------------------------------------


class Recipe:
    """The knobs of the study's control arm that this port implements, with
    the defaults of docs/study-files.md; anything else is refused rather than
    silently trained differently."""

    def __init__(self, path):
        with open(path, "rb") as f:
            s = tomllib.load(f)
        self.path = path
        d, m, t = s.get("data", {}), s.get("model", {}), s.get("train", {})
        self.seeds = s.get("study", {}).get("seeds", [])
        src = d.get("source", {})
        need = lambda ok, what: ok or sys.exit(f"parity.py: {path}: {what}")  # noqa: E731
        need(src.get("kind") == "parquet", 'data.source must be { kind = "parquet", path = ... }')
        self.data_path = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(path)), src["path"]))
        need(d.get("split") == "published", 'data.split must be "published"')
        need(d.get("tokenizer") == "code-whitespace", 'data.tokenizer must be "code-whitespace"')
        self.sizes = {"train": d["train"], "valid": d["valid"], "test": d["test"]}
        self.source_vocab_size = d.get("source_vocab_size", d.get("vocab_size"))
        self.target_vocab_size = d.get("target_vocab_size", d.get("vocab_size"))
        need(self.source_vocab_size == self.target_vocab_size, "the port has one vocabulary size for both sides")
        self.vocab_size = self.source_vocab_size
        self.max_source_len, self.max_target_len = d["max_source_len"], d["max_target_len"]
        self.overlong = d.get("overlong", "truncate")
        need(self.overlong in ("drop", "truncate"), "data.overlong must be drop or truncate")
        need(m.get("arch") == "lstm-attention", 'model.arch must be "lstm-attention"')
        self.embedding_dim, self.hidden_dim = m["embedding_dim"], m["hidden_dim"]
        self.layers = m.get("layers", 1)
        self.bidirectional = m.get("bidirectional", False)
        self.attention_dim = m.get("attention_dim", self.hidden_dim)
        self.dropout = m.get("dropout", 0.0)
        self.batch_size, self.epochs, self.learning_rate = t["batch_size"], t["epochs"], t["learning_rate"]
        self.weight_decay = t.get("weight_decay", 0.0)
        self.warmup_steps = t.get("warmup_steps", 0)
        self.gradient_clip = t.get("gradient_clip", 1.0)
        self.teacher_forcing = t.get("teacher_forcing", 1.0)
        self.scheduled_sampling = t.get("scheduled_sampling", "none")
        need(self.scheduled_sampling in ("none", "linear", "inverse-sigmoid"), "unknown train.scheduled_sampling")
        self.teacher_forcing_min = t.get("teacher_forcing_min", 0.0)
        self.sampling_k = t.get("sampling_k", 1000.0)
        self.patience = t.get("early_stopping_patience", 0)

    def lr(self, step):
        """worker/src/train/schedule.rs: learning_rate (0-based step)."""
        w = self.warmup_steps
        return self.learning_rate if w == 0 or step >= w else self.learning_rate * (step + 1) / w

    def tf(self, step, total):
        """worker/src/train/schedule.rs: teacher_forcing."""
        start, low = self.teacher_forcing, self.teacher_forcing_min
        if self.scheduled_sampling == "linear":
            return start + (low - start) * min(step / max(total, 1), 1.0)
        if self.scheduled_sampling == "inverse-sigmoid":
            k = self.sampling_k
            return low + (start - low) * k / (k + math.exp(step / k))
        return start


# ---- data ----------------------------------------------------------------------


def read_pairs(path):
    import pyarrow.parquet as pq

    cols = pq.read_table(path).to_pydict()
    n = len(cols["docstring"])
    return [{k: cols[k][i] for k in cols} for i in range(n)]


def fits(r, pair):
    return len(tokenize(pair["docstring"])) <= r.max_source_len and len(tokenize(pair["code"])) <= r.max_target_len


def make_split(a):
    """Writes the study's data file from mined pairs: deterministic given the
    mined file and --seed."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    r = Recipe(a.study)
    pairs = read_pairs(a.mined)
    eligible = sorted((p for p in pairs if fits(r, p) and p["docstring"].strip() and p["code"].strip()),
                      key=lambda p: p["id"])  # fmt: skip
    need = sum(r.sizes.values())
    if len(eligible) < need:
        sys.exit(f"parity.py: {a.mined}: {len(eligible)} of {len(pairs)} pairs fit the study's length limits; "
                 f"the study needs {need}")  # fmt: skip
    random.Random(a.seed).shuffle(eligible)
    rows, start = [], 0
    for part in ("train", "valid", "test"):
        for p in eligible[start : start + r.sizes[part]]:
            rows.append({**p, "partition": part})
        start += r.sizes[part]
    columns = ["id", "docstring", "code", "repo", "path", "func_name", "partition"]
    table = pa.table({c: pa.array([row.get(c) for row in rows], pa.string()) for c in columns})
    os.makedirs(os.path.dirname(os.path.abspath(r.data_path)), exist_ok=True)
    pq.write_table(table, r.data_path)
    print(f"wrote {len(rows)} pairs ({', '.join(f'{k} {v}' for k, v in r.sizes.items())}) to {r.data_path}; "
          f"{len(eligible)} of {len(pairs)} mined pairs fit the length limits")  # fmt: skip


class Vocab:
    def __init__(self, sequences, size):
        counts = Counter(tok for seq in sequences for tok in seq)
        ranked = sorted(((t, c) for t, c in counts.items() if t not in SPECIALS), key=lambda tc: (-tc[1], tc[0]))
        self.tokens = SPECIALS + [t for t, _ in ranked[: size - len(SPECIALS)]]
        self.index = {t: i for i, t in enumerate(self.tokens)}

    def encode(self, tokens):
        return [self.index.get(t, UNK) for t in tokens]


def prepare(r):
    """data/src/prepare.rs for this recipe (no mutation): (train, valid)
    as lists of (source ids, target ids), and the two vocabularies."""
    pairs = read_pairs(r.data_path)
    parts = {"train": [], "valid": [], "test": []}
    for p in pairs:
        part = PARTITIONS.get(p.get("partition"))
        if part is None:
            sys.exit(f"parity.py: {r.data_path}: pair {p['id']} has partition {p.get('partition')!r}")
        if r.overlong == "drop" and not fits(r, p):
            continue
        parts[part].append((tokenize(p["docstring"]), tokenize(p["code"])))
    for part, n in r.sizes.items():
        # intervene would take a seeded subset of a larger partition; this
        # port needs the file to hold exactly the study's sizes.
        if len(parts[part]) != n:
            sys.exit(f"parity.py: {r.data_path}: partition {part} has {len(parts[part])} usable pairs, "
                     f"the study asks for exactly {n}")  # fmt: skip
    src_vocab = Vocab((s for s, _ in parts["train"]), r.vocab_size)
    tgt_vocab = Vocab((t for _, t in parts["train"]), r.vocab_size)

    def encode(split):
        return [(src_vocab.encode(s[: r.max_source_len]), tgt_vocab.encode(t[: r.max_target_len])) for s, t in split]

    return encode(parts["train"]), encode(parts["valid"]), src_vocab, tgt_vocab


def make_batch(examples, idx):
    """worker/src/train/batch.rs: make_batch."""
    rows = sorted((examples[i] for i in idx), key=lambda e: -len(e[0]))  # stable, as sort_by_key
    b = len(rows)
    s = max(len(x) for x, _ in rows) + 1
    t = max(len(y) for _, y in rows) + 1
    src = torch.full((b, s), PAD, dtype=torch.long)
    inputs = torch.full((b, t), PAD, dtype=torch.long)
    targets = torch.full((b, t), PAD, dtype=torch.long)
    for row, (x, y) in enumerate(rows):
        src[row, : len(x)] = torch.tensor(x, dtype=torch.long)
        src[row, len(x)] = EOS
        inputs[row, 0] = SOS
        inputs[row, 1 : len(y) + 1] = torch.tensor(y, dtype=torch.long)
        targets[row, : len(y)] = torch.tensor(y, dtype=torch.long)
        targets[row, len(y)] = EOS
    lengths = torch.tensor([len(x) + 1 for x, _ in rows], dtype=torch.long)
    return src, lengths, inputs, targets, sum(len(y) + 1 for _, y in rows)


# ---- training ------------------------------------------------------------------


def loss_fn(logits, targets, reduction):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=PAD,
                           reduction=reduction)  # fmt: skip


@torch.no_grad()
def corpus_loss(model, examples, batch_size):
    """worker/src/train/mod.rs: corpus_loss."""
    model.eval()
    order = sorted(range(len(examples)), key=lambda i: -len(examples[i][0]))
    total, tokens = 0.0, 0
    rng = random.Random(0)  # unused at teacher forcing 1
    for k in range(0, len(order), batch_size):
        src, lengths, inputs, targets, n = make_batch(examples, order[k : k + batch_size])
        total += loss_fn(forward(model, src, lengths, inputs, 1.0, rng), targets, "sum").item()
        tokens += n
    return total / tokens if tokens else float("nan")


def intervene_init(model, r, seed):
    """Re-draws every weight the way the worker does: torch.manual_seed(seed),
    then the variables in the order worker/src/model/attention.rs creates
    them (tch's linear makes its bias before its weight; the encoder's
    bridge_c before bridge_h), embeddings from randn, everything else
    uniform in +-1/sqrt(fan_in) (recurrent weights: 1/sqrt(hidden)). With the
    same draws the two sides start from the same weights, PAD rows included
    (torch zeroes them, tch does not; they never reach a loss)."""
    h, d = r.hidden_dim, (2 if r.bidirectional else 1) * r.hidden_dim
    rnn = lambda prefix, lstm: [(f"{prefix}.{n}", 1 / math.sqrt(h)) for n, _ in lstm.named_parameters()]  # noqa: E731
    order = [("encoder.embedding.weight", None)] + rnn("encoder.rnn", model.encoder.rnn)
    if r.bidirectional:
        order += [(f"encoder.bridge_{k}.{w}", 1 / math.sqrt(2 * h)) for k in "ch" for w in ("bias", "weight")]
    order += [("embedding.weight", None), ("W.bias", 1 / math.sqrt(h + d)), ("W.weight", 1 / math.sqrt(h + d)),
              ("v.weight", 1 / math.sqrt(r.attention_dim))]  # fmt: skip
    order += rnn("rnn", model.rnn) + [("output.bias", 1 / math.sqrt(h)), ("output.weight", 1 / math.sqrt(h))]
    params = dict(model.named_parameters())
    if sorted(n for n, _ in order) != sorted(params):
        sys.exit(f"parity.py: the worker's variables {sorted(n for n, _ in order)} are not the port's {sorted(params)}")
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, bound in order:
            p = params[name]
            p.copy_(torch.randn(p.shape) if bound is None else torch.zeros(p.shape).uniform_(-bound, bound))


def train(a):
    r = Recipe(a.study)
    for knob in a.set or []:
        name, _, value = knob.partition("=")
        if not hasattr(r, name) or isinstance(getattr(r, name), (dict, list, str)):
            sys.exit(f"parity.py: --set {knob}: not a numeric knob of the recipe")
        setattr(r, name, type(getattr(r, name))(float(value)))
    if a.threads:
        torch.set_num_threads(a.threads)
    train_set, valid_set, src_vocab, tgt_vocab = prepare(r)
    torch.manual_seed(a.seed)
    model = Attention(r.vocab_size, r.embedding_dim, r.hidden_dim, r.layers, r.bidirectional, r.dropout,
                      r.attention_dim)  # fmt: skip
    if a.same_init:
        intervene_init(model, r, a.seed)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=r.learning_rate, betas=(0.9, 0.999), eps=1e-8, weight_decay=r.weight_decay)
    order_rng, coin_rng = random.Random(a.seed), random.Random(a.seed + 1_000_003)
    steps_per_epoch = math.ceil(len(train_set) / r.batch_size)
    total_steps = steps_per_epoch * r.epochs
    step, curves, best, since_best = 0, [], float("inf"), 0
    started = time.perf_counter()
    lr = tf = None
    for epoch in range(1, r.epochs + 1):
        model.train()
        idx = list(range(len(train_set)))
        order_rng.shuffle(idx)
        epoch_sum, epoch_tokens = 0.0, 0
        for k in range(0, len(idx), r.batch_size):
            lr, tf = r.lr(step), r.tf(step, total_steps)
            for g in opt.param_groups:
                g["lr"] = lr
            src, lengths, inputs, targets, n = make_batch(train_set, idx[k : k + r.batch_size])
            loss = loss_fn(forward(model, src, lengths, inputs, tf, coin_rng), targets, "mean")
            opt.zero_grad()
            loss.backward()
            if r.gradient_clip > 0:
                torch.nn.utils.clip_grad_norm_(params, r.gradient_clip)
            opt.step()
            step += 1
            v = loss.item()
            if not math.isfinite(v):
                sys.exit(f"parity.py: loss {v} at step {step}")
            epoch_sum += v * n
            epoch_tokens += n
        valid = corpus_loss(model, valid_set, r.batch_size)
        point = {"epoch": epoch, "step": step, "train_loss": epoch_sum / max(epoch_tokens, 1), "valid_loss": valid,
                 "learning_rate": lr, "teacher_forcing": tf, "seconds": time.perf_counter() - started}  # fmt: skip
        curves.append(point)
        print(f"seed {a.seed} epoch {epoch}/{r.epochs}: train {point['train_loss']:.4f} valid {valid:.4f} "
              f"({point['seconds']:.0f} s)", flush=True)  # fmt: skip
        if valid < best:
            best, since_best = valid, 0
        else:
            since_best += 1
            if r.patience > 0 and since_best >= r.patience:
                break
    out = {
        "side": "pytorch",
        "seed": a.seed,
        "study": os.path.abspath(a.study),
        "data": os.path.abspath(r.data_path),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "changed": a.set or [],
        "same_init": a.same_init,
        "trainable_params": sum(p.numel() for p in params),
        "train_pairs": len(train_set),
        "valid_pairs": len(valid_set),
        "valid_target_tokens": sum(len(y) + 1 for _, y in valid_set),
        "source_vocab": src_vocab.tokens,
        "target_vocab": tgt_vocab.tokens,
        "curves": curves,
    }
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1)


# ---- intervene's weights in the port ------------------------------------------------


def read_safetensors(path):
    """{name: float32 tensor} of a safetensors file (the format is an 8-byte
    header length, a JSON header, the raw data)."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            sys.exit(f"parity.py: {path}: {name} is {info['dtype']}, expected F32")
        lo, hi = info["data_offsets"]
        out[name] = torch.frombuffer(bytearray(data[lo:hi]), dtype=torch.float32).reshape(info["shape"])
    return out


# The worker's variable paths (worker/src/model/attention.rs) -> the port's.
RENAMES = [("encoder.", "encoder."), ("decoder.attention.", ""), ("decoder.", "")]


def checkpoint_valid_loss(study, checkpoint):
    """The port's validation loss with the weights of an `intervene train`
    checkpoint: the forward pass, framing, vocabulary and loss of both sides
    on the same weights, so it equals intervene's to float rounding."""
    r = Recipe(study)
    _, valid_set, _, _ = prepare(r)
    model = Attention(r.vocab_size, r.embedding_dim, r.hidden_dim, r.layers, r.bidirectional, r.dropout,
                      r.attention_dim)  # fmt: skip
    state = {}
    for name, t in read_safetensors(os.path.join(checkpoint, "model.safetensors")).items():
        prefix, new = next((p, n) for p, n in RENAMES if name.startswith(p))
        state[new + name[len(prefix) :]] = t
    model.load_state_dict(state, strict=True)
    return corpus_loss(model, valid_set, r.batch_size)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("data", help="write the study's data file from mined pairs")
    d.add_argument("study")
    d.add_argument("mined", help="Parquet written by `intervene data mine`")
    d.add_argument("--seed", type=int, default=0, help="shuffles the pairs before they are cut into partitions")
    t = sub.add_parser("train", help="train the control arm once")
    t.add_argument("study")
    t.add_argument("--seed", type=int, required=True)
    t.add_argument("--out", required=True, help="JSON file for the curve")
    t.add_argument("--threads", type=int)
    t.add_argument("--set", action="append", metavar="KNOB=VALUE", help="a deliberately different recipe")
    t.add_argument("--same-init", action="store_true", help="draw the initial weights as intervene does")
    v = sub.add_parser("valid-loss", help="the validation loss of an `intervene train` checkpoint, in the port")
    v.add_argument("study")
    v.add_argument("checkpoint", help="checkpoints/JOB_ID folder of `intervene train --out`")
    a = ap.parse_args()
    if a.cmd == "data":
        make_split(a)
    elif a.cmd == "train":
        train(a)
    else:
        print(f"{checkpoint_valid_loss(a.study, a.checkpoint):.6f}")


if __name__ == "__main__":
    main()
