#!/usr/bin/env python3
"""Writes N seeded synthetic (docstring, code) pairs as JSON lines, the input
of the tokenizer benchmark (data/benches/tokenize.rs, bench/tokenize_ref.py).

    python bench/gen_pairs.py OUT.jsonl [--pairs 100000] [--seed 0]
"""

import argparse
import json
import random

VERBS = ["Return", "Compute", "Find", "Count", "Build", "Parse", "Check", "Merge", "Sort", "Filter"]
NOUNS = ["items", "values", "keys", "lines", "nodes", "words", "pairs", "rows", "tokens", "paths"]
ADJ = ["largest", "unique", "sorted", "nested", "empty", "valid", "first", "last", "total", "average"]


def pair(rng):
    v, n, a = rng.choice(VERBS), rng.choice(NOUNS), rng.choice(ADJ)
    x, y = rng.choice(NOUNS), rng.choice(NOUNS)
    doc = f"{v} the {a} {n} of the given {x}. Uses {y}[i] + 1 when (i * 2) / 3 >= {rng.randint(0, 99)}."
    body = []
    for i in range(rng.randint(2, 8)):
        k = rng.randint(0, 9)
        body.append(
            rng.choice(
                [
                    f"    {y}_{i} = {{'{n}': {x}[{k}:{k + 2}], 'n': len({x}) * {k} - 1}}",
                    f"    for {n[0]} in range(len({x})):\n        total += {x}[{n[0]}] / {k + 1}",
                    f"    if {x}.get('{a}', {k}) == {k}:\n        return sorted({x}, key=lambda t: t[{k % 3}])",
                    f"    result.append(({x}[{k}], {y}.{a}({k}, {n}={k * 3})))",
                ]
            )
        )
    code = f"def {v.lower()}_{a}_{n}({x}, {y}=None):\n    total, result = 0, []\n" + "\n".join(body)
    code += "\n    return total + len(result)"
    return {"docstring": doc, "code": code}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--pairs", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    with open(a.out, "w") as f:
        for _ in range(a.pairs):
            f.write(json.dumps(pair(rng)) + "\n")


if __name__ == "__main__":
    main()
