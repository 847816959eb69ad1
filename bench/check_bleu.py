#!/usr/bin/env python3
"""Re-checks `intervene score --metric bleu` against the real sacrebleu.

Generates seeded hypothesis/reference files that stress the 13a tokenizer
(code punctuation, numbers with periods and commas, dashes after digits,
XML entities, Unicode, empty lines), scores them with the intervene binary
and with sacrebleu (`corpus_bleu` and, per line, `sentence_bleu`), and fails
when any pair differs by 1e-4 or more.

    . scripts/env.sh
    pip install sacrebleu          # once, into the project venv
    cargo build --bin intervene
    python bench/check_bleu.py [--bin target/debug/intervene] [--cases 400] [--seed 0]
"""

import argparse
import os
import random
import subprocess
import sys
import tempfile

try:
    import sacrebleu
except ImportError:
    sys.exit("sacrebleu is not installed: `pip install sacrebleu` into the project venv")

WORDS = [
    "def", "return", "self", "x", "y", "values", "max", "min", "len", "range", "for", "in", "if", "else",
    "None", "True", "import", "os.path", "foo_bar", "café", "naïve", "ValueError", "print", "list", "dict",
]
SYMBOLS = list("()[]{}:,.=+-*/<>!&|%@^~'\"#$?;_`\\") + ["==", "!=", ">=", "<=", "->", "**", "//", "&amp;", "&lt;", "&gt;", "&quot;", "—", "“", "”"]
NUMBERS = ["0", "1", "3.14", "1,000", "10-20", "2.", ".5", "-1", "42"]


def line(rng: random.Random) -> str:
    if rng.random() < 0.04:
        return ""
    parts = []
    for _ in range(rng.randint(1, 18)):
        r = rng.random()
        if r < 0.5:
            parts.append(rng.choice(WORDS))
        elif r < 0.8:
            parts.append(rng.choice(SYMBOLS))
        else:
            parts.append(rng.choice(NUMBERS))
    sep = rng.choice([" ", "", " ", "  "])
    return sep.join(parts)


def mutate(rng: random.Random, ref: str) -> str:
    tokens = ref.split(" ")
    out = []
    for t in tokens:
        r = rng.random()
        if r < 0.1:
            continue
        if r < 0.2:
            out.append(rng.choice(WORDS + SYMBOLS))
        out.append(t)
    return " ".join(out)


def score(binary: str, metric: str, hyp: str, ref: str, per_line: bool) -> list:
    cmd = [binary, "score", "--metric", metric, "--hyp", hyp, "--ref", ref]
    if per_line:
        cmd.append("--per-line")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [float(x) for x in out.split()]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--bin", default=os.path.join(root, "target", "debug", "intervene"))
    ap.add_argument("--cases", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    rng = random.Random(args.seed)
    refs = [line(rng) for _ in range(args.cases)]
    hyps = [mutate(rng, r) if rng.random() < 0.9 else line(rng) for r in refs]
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        hyp_path, ref_path = os.path.join(tmp, "hyp.txt"), os.path.join(tmp, "ref.txt")
        with open(hyp_path, "w", encoding="utf-8") as f:
            f.write("\n".join(hyps) + "\n")
        with open(ref_path, "w", encoding="utf-8") as f:
            f.write("\n".join(refs) + "\n")
        ours = score(args.bin, "bleu", hyp_path, ref_path, False)[0]
        theirs = sacrebleu.corpus_bleu(hyps, [refs]).score
        print(f"corpus BLEU: intervene {ours:.6f}  sacrebleu {theirs:.6f}")
        if abs(ours - theirs) >= 1e-4:
            failures += 1
        ours_lines = score(args.bin, "bleu", hyp_path, ref_path, True)
        for i, (h, r, o) in enumerate(zip(hyps, refs, ours_lines)):
            t = sacrebleu.sentence_bleu(h, [r]).score
            if abs(o - t) >= 1e-4:
                failures += 1
                print(f"line {i + 1}: intervene {o:.6f} sacrebleu {t:.6f}\n  hyp {h!r}\n  ref {r!r}")
        print(f"sentence BLEU: {len(ours_lines)} lines compared")
    print("OK" if failures == 0 else f"{failures} disagreement(s)")
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
