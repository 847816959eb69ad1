#!/usr/bin/env python3
"""Writes a seeded example-level result table for the analysis benchmark:
columns arm, seed, example_id, source_len, target_len, sentence_bleu,
exact_match (the layout of analysis/tests/fixtures/pinned_examples.csv),
`--rows` rows over --arms arms (the first is `control`) x --seeds seeds,
paired on (seed, example_id).

    python bench/gen_examples.py OUT.parquet [--rows 1000000] [--arms 2] [--seeds 10] [--seed 0]
"""

import argparse

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--arms", type=int, default=2)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    per_cell = a.rows // (a.arms * a.seeds)
    if per_cell < 1:
        raise SystemExit(f"--rows {a.rows} is fewer than --arms x --seeds = {a.arms * a.seeds}")
    rng = np.random.default_rng(a.seed)
    # One set of examples, shared by every arm and seed, so rows pair up.
    source_len = rng.integers(5, 50, per_cell)
    target_len = rng.integers(10, 80, per_cell)
    difficulty = rng.normal(0, 10, per_cell)
    cols = {k: [] for k in ["arm", "seed", "example_id", "source_len", "target_len", "sentence_bleu", "exact_match"]}
    for arm in range(a.arms):
        name = "control" if arm == 0 else f"arm{arm}"
        for s in range(a.seeds):
            bleu = np.clip(40 + 2.0 * arm - 0.2 * target_len + difficulty + rng.normal(0, 5, per_cell), 0, 100)
            cols["arm"].append(np.full(per_cell, name, dtype=object))
            cols["seed"].append(np.full(per_cell, s, dtype=np.int64))
            cols["example_id"].append(np.arange(per_cell, dtype=np.int64))
            cols["source_len"].append(source_len)
            cols["target_len"].append(target_len)
            cols["sentence_bleu"].append(bleu)
            cols["exact_match"].append(bleu > 95)
    table = pa.table({k: np.concatenate(v) for k, v in cols.items()})
    pq.write_table(table, a.out)
    print(f"wrote {table.num_rows} rows to {a.out}")


if __name__ == "__main__":
    main()
