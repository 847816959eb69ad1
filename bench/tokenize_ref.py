#!/usr/bin/env python3
"""The code-whitespace recipe of seed 002 in Python -- lowercase, spaces
around ()[]{}:,.=+-*/, split on whitespace -- timed like
data/benches/tokenize.rs: both sides of every pair, best of --repeats passes,
file reading excluded. Written the way a Python pipeline would (one
str.translate, one split), not a character loop.

    python bench/tokenize_ref.py PAIRS.jsonl [--repeats 5]
"""

import argparse
import json
import time

SPECIAL = "()[]{}:,.=+-*/"
TABLE = str.maketrans({c: f" {c} " for c in SPECIAL})


def tokenize(text):
    return text.lower().translate(TABLE).split()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pairs")
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    with open(a.pairs) as f:
        pairs = [(p["docstring"], p["code"]) for p in map(json.loads, f)]
    best, tokens = float("inf"), 0
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        n = 0
        for doc, code in pairs:
            n += len(tokenize(doc)) + len(tokenize(code))
        best = min(best, time.perf_counter() - t0)
        tokens = n
    print(f"tokenize pairs={len(pairs)} tokens={tokens} best_s={best:.4f} pairs_per_s={len(pairs) / best:.0f}")


if __name__ == "__main__":
    main()
