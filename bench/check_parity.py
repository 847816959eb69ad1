#!/usr/bin/env python3
"""Learning-curve parity check: `intervene train` against the PyTorch port
(bench/reference/parity.py), in three parts.

    python bench/check_parity.py --study STUDY --ours DIR --ref CURVE.json... [--alpha 0.05]
        [--exact-study STUDY --exact-ours DIR --exact-ref CURVE.json...] [--tolerance 1e-4]
        [--negative CURVE.json...] [--negative-exact CURVE.json...]
        [--report BENCHMARKS.md --commands FILE --invocation CMD --load-start "L1 L5 L15" --started T --elapsed S]

DIR is the --out folder of `intervene train` (its curves/, runs/ and
checkpoints/; every control-arm job in it is one seed); each CURVE.json is
one seed of the port.

1. Exact (--exact-*): a study where nothing random separates the sides (one
   batch per epoch, dropout 0, the port drawing its initial weights as the
   worker does: parity.py train --same-init), run with the same seeds on
   both. Every epoch's train and validation loss must agree within
   --tolerance (absolute): the forward pass, loss, Adam with L2 weight decay,
   warm-up and clipping compute the same numbers.
2. Same weights: the port's validation loss of each of intervene's trained
   checkpoints of the main study must equal intervene's own within
   --tolerance (the forward pass, framing, vocabulary and validation loss).
3. Over seeds (--ours/--ref): the main study trained independently, each
   side drawing its own initial weights, dropout masks and data order. Per
   epoch, Welch's t for the difference of the mean validation losses (port
   minus intervene), the training run as the unit, Welch-Satterthwaite
   degrees of freedom, Bonferroni over the E epochs: an epoch fails when its
   two-sided p-value is below alpha / E; its interval is the (1 - alpha / E)
   Welch interval. With 3 seeds a side there are 2 to 4 degrees of freedom
   and the intervals are wide: a difference smaller than their half-width
   can pass unnoticed, and the half-widths say how large a disagreement the
   run rules out. The epochs are the same runs, so they are not independent
   evidence.
Before 1 and 3, both sides must have built the same vocabularies (token for
token, from intervene's checkpoints), the same number of trainable
parameters, and trained on as many pairs for as many epochs.

--negative / --negative-exact: parts 3 / 1 against port runs trained with a
deliberately changed recipe (parity.py train --set), reported beside them;
they do not change the exit status. Part 1 fails on any change to the
recipe that alters the arithmetic; part 3, with 3 seeds a side, only on a
change whose effect is larger than the seed noise (it missed a learning
rate a third of the study's: see BENCHMARKS.md).

Exits 1 when any of parts 1 to 3 fails. With --report, the section
"Learning-curve parity with a PyTorch port" of that file is replaced (or
appended); bench/run.py, which rewrites the rest of BENCHMARKS.md, keeps it.
"""

import argparse
import datetime
import glob
import json
import math
import os
import statistics
import sys

import pyarrow.parquet as pq
from scipy import stats

HERE = os.path.dirname(os.path.abspath(__file__))
SECTION = "## Learning-curve parity with a PyTorch port"


def read_ours(folder):
    """{seed: {"curve": [(epoch, valid, train)], "run": {...}, "vocab": (src, tgt), "checkpoint": dir}}."""
    curves = pq.read_table(os.path.join(folder, "curves")).to_pylist()
    runs = pq.read_table(os.path.join(folder, "runs")).to_pylist()
    out = {}
    for run in runs:
        if run["arm"] != "control":
            continue
        ckpt = os.path.join(folder, "checkpoints", run["job_id"])
        vocab = []
        for side in ("source", "target"):
            with open(os.path.join(ckpt, f"{side}_vocab.json")) as f:
                vocab.append(json.load(f)["idx2word"])
        points = sorted((c["epoch"], c["valid_loss"], c["train_loss"]) for c in curves
                        if c["job_id"] == run["job_id"] and c["arm"] == "control")  # fmt: skip
        out[run["seed"]] = {"curve": points, "run": run, "vocab": tuple(vocab), "checkpoint": ckpt}
    return out


def read_ref(patterns):
    out = {}
    for p in sorted(p for pattern in patterns for p in glob.glob(pattern)):
        with open(p) as f:
            r = json.load(f)
        points = [(c["epoch"], c["valid_loss"], c["train_loss"]) for c in r["curves"]]
        out[r["seed"]] = {"curve": points, "run": r, "vocab": (r["source_vocab"], r["target_vocab"])}
    return out


def changed(ref):
    return sorted({c for v in ref.values() for c in v["run"].get("changed", [])})


def same_training(ours, ref):
    """The reasons the two sides did not train the same thing (empty: none)."""
    problems = []
    everyone = [("intervene", s, v) for s, v in ours.items()] + [("pytorch", s, v) for s, v in ref.items()]
    first = everyone[0]
    for side, seed, v in everyone[1:]:
        for k, name in enumerate(("source", "target")):
            a, b = first[2]["vocab"][k], v["vocab"][k]
            if a != b:
                diff = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
                problems.append(f"{name} vocabulary of {side} seed {seed} differs from {first[0]} seed {first[1]}'s "
                                f"({len(b)} vs {len(a)} tokens, first difference at id {diff})")  # fmt: skip
    facts = {}
    for seed, v in ours.items():
        r = v["run"]
        facts[("intervene", seed)] = (r["trainable_params"], r["train_examples"], r["valid_examples"], len(v["curve"]))
    for seed, v in ref.items():
        r = v["run"]
        facts[("pytorch", seed)] = (r["trainable_params"], r["train_pairs"], r["valid_pairs"], len(v["curve"]))
    if len(set(facts.values())) > 1:
        listed = "; ".join(f"{side} seed {seed}: {f[0]} parameters, {f[1]} train, {f[2]} valid, {f[3]} epochs"
                           for (side, seed), f in sorted(facts.items()))  # fmt: skip
        problems.append(f"the runs differ in size: {listed}")
    return problems


def not_same(problems):
    return ["The two sides did not train the same thing:", ""] + [f"- {p}" for p in problems]


# ---- 1. exact ----------------------------------------------------------------------


def exact(ours, ref, tol):
    """Part 1: lines and whether it passes."""
    if not ours or set(ours) != set(ref):
        return [f"Exact check: intervene seeds {sorted(ours)} and port seeds {sorted(ref)} must be the same."], False
    problems = same_training(ours, ref)
    if problems:
        return not_same(problems), False
    if not all(v["run"].get("same_init") for v in ref.values()):
        return ["Exact check: the port runs must be trained with --same-init."], False
    lines = ["| seed | epoch | train loss intervene | port | difference | valid loss intervene | port | difference |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    worst, shown = 0.0, set()
    for seed in sorted(ours):
        theirs = {e: (v, t) for e, v, t in ref[seed]["curve"]}
        last = ours[seed]["curve"][-1][0]
        for e, v, t in ours[seed]["curve"]:
            pv, pt = theirs[e]
            worst = max(worst, abs(pv - v), abs(pt - t))
            if e in (1, 2, last) or e % 5 == 0:  # the table shows a few epochs; all are checked
                shown.add(e)
                lines.append(f"| {seed} | {e} | {t:.6f} | {pt:.6f} | {pt - t:+.1e} | {v:.6f} | {pv:.6f} | {pv - v:+.1e} |")
    ok = worst <= tol
    lines += ["", f"Largest difference over every epoch (the table shows epochs {', '.join(map(str, sorted(shown)))}): "
              f"{worst:.1e}, {'within' if ok else '**beyond**'} the tolerance {tol:g}."]  # fmt: skip
    return lines, ok


# ---- 2. same weights -----------------------------------------------------------------


def same_weights(study, ours, tol):
    """Part 2: the port's validation loss of intervene's checkpoints (the best epoch's weights)."""
    sys.path.insert(0, os.path.join(HERE, "reference"))
    from parity import checkpoint_valid_loss

    lines = ["| seed | best epoch | intervene's validation loss | the port's, same weights | difference |",
             "|---|---|---|---|---|"]  # fmt: skip
    ok = True
    for seed in sorted(ours):
        run = ours[seed]["run"]
        mine = checkpoint_valid_loss(study, ours[seed]["checkpoint"])
        d = mine - run["best_valid_loss"]
        ok &= abs(d) <= tol
        lines.append(f"| {seed} | {run['best_epoch']} | {run['best_valid_loss']:.6f} | {mine:.6f} | {d:+.1e} |")
    lines += ["", f"{'All within' if ok else '**Not all within**'} the tolerance {tol:g}."]
    return lines, ok


# ---- 3. over seeds -----------------------------------------------------------------


def welch(x, y, level):
    """Mean of y minus mean of x, its Welch interval at `level`, the p-value, the degrees of freedom."""
    mx, my = statistics.fmean(x), statistics.fmean(y)
    vx, vy = statistics.variance(x) / len(x), statistics.variance(y) / len(y)
    se = math.sqrt(vx + vy)
    d = my - mx
    if se == 0:
        return d, (d, d), (1.0 if d == 0 else 0.0), float("inf")
    df = (vx + vy) ** 2 / (vx**2 / (len(x) - 1) + vy**2 / (len(y) - 1))
    half = stats.t.ppf(0.5 + level / 2, df) * se
    p = 2 * stats.t.sf(abs(d) / se, df)
    return d, (d - half, d + half), p, df


def compare(ours, ref, alpha):
    """Rows per epoch, whether every epoch passes, the interval level."""
    epochs = sorted({e for v in list(ours.values()) + list(ref.values()) for e, _, _ in v["curve"]})
    level = 1 - alpha / len(epochs)
    rows, ok = [], True
    for e in epochs:
        x = [{ep: vl for ep, vl, _ in v["curve"]}[e] for v in ours.values()]
        y = [{ep: vl for ep, vl, _ in v["curve"]}[e] for v in ref.values()]
        d, (lo, hi), p, df = welch(x, y, level)
        passed = p >= alpha / len(epochs)
        ok &= passed
        rows.append({"epoch": e, "ours": x, "ref": y, "diff": d, "lo": lo, "hi": hi, "p": p, "df": df,
                     "pass": passed})  # fmt: skip
    return rows, ok, level


def fmt_side(values):
    m = statistics.fmean(values)
    return f"{m:.4f} ± {statistics.stdev(values):.4f} [{min(values):.4f}, {max(values):.4f}]"


def over_seeds(ours, ref, alpha):
    """Part 3: lines and whether it passes."""
    if len(ours) < 2 or len(ref) < 2:
        return [f"Over seeds: need at least 2 seeds a side; got {len(ours)} intervene and {len(ref)} port runs."], False
    problems = same_training(ours, ref)
    if problems:
        return not_same(problems), False
    rows, ok, level = compare(ours, ref, alpha)
    lines = [f"(The port runs changed the recipe: {', '.join(changed(ref))}.)", ""] if changed(ref) else []
    lines += [
        f"| epoch | intervene, seeds {', '.join(map(str, sorted(ours)))}: mean ± sd [min, max] "
        f"| port, seeds {', '.join(map(str, sorted(ref)))}: mean ± sd [min, max] "
        f"| difference (port - intervene) | relative | {100 * level:.1f}% Welch interval | df | p | within noise |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        rel = r["diff"] / statistics.fmean(r["ours"])
        lines.append(
            f"| {r['epoch']} | {fmt_side(r['ours'])} | {fmt_side(r['ref'])} | {r['diff']:+.4f} | {100 * rel:+.2f}% | "
            f"[{r['lo']:+.4f}, {r['hi']:+.4f}] | {r['df']:.1f} | {r['p']:.3f} | {'yes' if r['pass'] else '**no**'} |"
        )
    epochs = [r["epoch"] for r in rows]
    lines += ["", "Validation loss of every run:", "",
              "| side | seed | " + " | ".join(f"epoch {e}" for e in epochs) + " |",
              "|---|---|" + "---|" * len(epochs)]  # fmt: skip
    for side, runs in (("intervene", ours), ("port", ref)):
        for seed in sorted(runs):
            vals = {e: v for e, v, _ in runs[seed]["curve"]}
            lines.append(f"| {side} | {seed} | " + " | ".join(f"{vals[e]:.4f}" if e in vals else "-" for e in epochs)
                         + " |")  # fmt: skip
    worst = max(rows, key=lambda r: abs(r["diff"]))
    lines += ["", f"Largest difference: epoch {worst['epoch']}, {worst['diff']:+.4f} "
              f"({100 * worst['diff'] / statistics.fmean(worst['ours']):+.2f}%); widest interval half-width "
              f"{max((r['hi'] - r['lo']) / 2 for r in rows):.4f}. Welch t per epoch, Bonferroni over {len(rows)} "
              f"epochs, family-wise alpha {alpha:g}: "
              + ("**the curves agree within seed noise**." if ok else "**the curves disagree beyond seed noise**.")]  # fmt: skip
    return lines, ok


# ---- the report ------------------------------------------------------------------------


def replace_section(text, section):
    """`text` with its SECTION (up to the next level-2 heading) replaced by `section`, or `section` appended."""
    start = text.find("\n" + SECTION + "\n")
    if start < 0:
        return text.rstrip("\n") + "\n\n" + section
    end = text.find("\n## ", start + 1)
    return text[: start + 1] + section + ("\n" + text[end + 1 :] if end >= 0 else "")


def recipe_line(r):
    """The study's knobs in words."""
    layers = f"{r.layers} layer" + ("s" if r.layers > 1 else "")
    schedule = "no schedule" if r.scheduled_sampling == "none" else f"{r.scheduled_sampling} schedule"
    return ", ".join([
        f"{'bidirectional ' if r.bidirectional else ''}lstm-attention with {layers}",
        f"embedding {r.embedding_dim}, hidden {r.hidden_dim}, attention {r.attention_dim}, dropout {r.dropout:g}",
        f"{r.sizes['train']:,}/{r.sizes['valid']:,}/{r.sizes['test']:,} train/valid/test pairs",
        f"vocabularies of {r.vocab_size:,}",
        f"batch {r.batch_size}, {r.epochs} epochs",
        f"Adam at {r.learning_rate:g} with L2 weight decay {r.weight_decay:g}",
        f"{r.warmup_steps} warm-up steps" if r.warmup_steps else "no warm-up",
        f"clipping at {r.gradient_clip:g}",
        f"teacher forcing {r.teacher_forcing:g} ({schedule})",
        f"early stopping after {r.patience} epochs" if r.patience else "no early stopping",
    ])  # fmt: skip


def report(a, parts, ok):
    sys.path.insert(0, HERE)
    sys.path.insert(0, os.path.join(HERE, "reference"))
    from parity import Recipe
    from run import machine  # bench/run.py's Machine section

    m = machine()
    with open(a.commands) as f:
        commands = [line.rstrip("\n") for line in f if line.strip()]
    started = datetime.datetime.fromtimestamp(a.started, datetime.timezone.utc)
    r = Recipe(a.study)  # the length limits, shared by both studies
    L = [SECTION, ""]
    L.append(f"Written by `{a.invocation}` on {started:%Y-%m-%d %H:%M} UTC ({a.elapsed / 60:.1f} min); "
             "bench/run.sh leaves this section as it is. Do not edit by hand: rerun the script.\n")  # fmt: skip
    L.append(f"- CPU: {m['cpu']}, {m['cores']} logical cores ({m['os']})")
    L.append(f"- Load average (1/5/15 min) at start: {' '.join(a.load_start.split()[:3])}; at end: {' '.join(m['load'])}")
    L.append(f"- torch {m['torch']} (Python {m['python']}), {m['rustc']}, commit {m['commit']}")
    L.append("- intervene built with `cargo build --workspace --all-targets` (dev profile, optimised); "
             f"libtorch threads on both sides: {a.threads}; one training run at a time\n")  # fmt: skip
    L.append(
        "`intervene train` against the PyTorch port `bench/reference/parity.py`: the lstm-attention model of "
        "`bench/reference/seq2seq_eager.py` with the data preparation and training recipe of data/src and "
        "worker/src/train (its docstring lists what it reproduces). The port reads the same study file and the "
        "same Parquet file (`split = \"published\"`, code-whitespace tokens): functions mined from the venv's "
        f"torch package by `intervene data mine`, those within {r.max_source_len} docstring and "
        f"{r.max_target_len} code tokens, shuffled with a fixed seed and cut into the partitions (the `parity.py "
        "data` commands below). Before comparing, `bench/check_parity.py` checks that both sides built the same "
        "vocabularies token for token (from intervene's checkpoints), the same number of trainable parameters "
        "and the same split sizes.\n"
    )
    for title, lines, passed in parts:
        L += [f"### {title}", ""] + lines + [""]
    failed = [t for t, _, p in parts if not p]
    L.append("Conclusion: " + ("every part passes." if ok else f"**{'; '.join(failed)} failed.**"))
    L.append("\nCommands (bench/parity.sh runs them all):\n")
    L += [f"    {c}" for c in commands]
    section = "\n".join(L) + "\n"
    with open(a.report) as f:
        text = f.read()
    with open(a.report, "w") as f:
        f.write(replace_section(text, section))
    print(f"wrote the section \"{SECTION[3:]}\" of {a.report}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--study", required=True, help="the main study file")
    ap.add_argument("--ours", required=True, help="the --out folder of `intervene train` for the main study")
    ap.add_argument("--ref", nargs="+", required=True, help="curve JSON files of parity.py train, main study")
    ap.add_argument("--alpha", type=float, default=0.05, help="family-wise error rate over the epochs")
    ap.add_argument("--exact-study", help="the study of the exact check")
    ap.add_argument("--exact-ours", help="the --out folder of `intervene train` for it")
    ap.add_argument("--exact-ref", nargs="+", help="curve JSON files of parity.py train --same-init for it")
    ap.add_argument("--tolerance", type=float, default=1e-4, help="largest loss difference of parts 1 and 2")
    ap.add_argument("--negative", nargs="+", help="curve JSON files of port runs with a changed recipe (--set)")
    ap.add_argument("--negative-exact", nargs="+", help="the same for the exact study (--same-init --set)")
    ap.add_argument("--report", help="BENCHMARKS.md: write the parity section there")
    ap.add_argument("--commands", help="file of the commands that produced the runs, one a line (with --report)")
    ap.add_argument("--invocation", default="bench/parity.sh", help="the command line, for the report")
    ap.add_argument("--load-start", default="? ? ?", help="/proc/loadavg when the runs started")
    ap.add_argument("--started", type=float, default=0.0, help="Unix time when the runs started")
    ap.add_argument("--elapsed", type=float, default=0.0, help="seconds the runs took")
    ap.add_argument("--threads", default="1", help="libtorch threads of the runs, for the report")
    a = ap.parse_args()
    if a.report and not a.commands:
        sys.exit("check_parity.py: --report needs --commands")
    if bool(a.exact_ours) != bool(a.exact_ref) or bool(a.exact_ours) != bool(a.exact_study):
        sys.exit("check_parity.py: --exact-study, --exact-ours and --exact-ref go together")
    sys.path.insert(0, os.path.join(HERE, "reference"))
    from parity import Recipe

    parts = []
    if a.exact_ours:
        lines, ok = exact(read_ours(a.exact_ours), read_ref(a.exact_ref), a.tolerance)
        title = f"1. Exact: nothing random between the sides (`{a.exact_study}`)"
        intro = [
            f"{recipe_line(Recipe(a.exact_study))}. One batch per epoch, so the data order does not matter; "
            "dropout 0; the port draws its initial weights as the worker does, from the same seed "
            "(`--same-init`). The two sides should then compute the same weights step for step.",
            "",
        ]
        parts.append((title, intro + lines, ok))
    ours, ref = read_ours(a.ours), read_ref(a.ref)
    lines, ok = same_weights(a.study, ours, a.tolerance)
    intro = ["The port's validation loss with the weights of each `intervene train` checkpoint of the main "
             "study (its best epoch), against intervene's own.", ""]  # fmt: skip
    parts.append((f"{len(parts) + 1}. Same weights, same validation loss (`{a.study}`)", intro + lines, ok))
    lines, ok = over_seeds(ours, ref, a.alpha)
    intro = [
        f"{recipe_line(Recipe(a.study))}. Each side trains every seed of the study independently: initial "
        "weights, dropout masks and data order are drawn by each side its own way, which is the seed noise. "
        "Test: per epoch, Welch's t interval for the difference of the mean validation losses, the training run "
        f"as the unit, Bonferroni over the epochs (family-wise alpha {a.alpha:g}); within noise when the "
        "interval covers 0. With 3 seeds a side the intervals are wide: their half-widths are the size of "
        "disagreement this part rules out, and the epochs are the same runs, not independent evidence.",
        "",
    ]
    parts.append((f"{len(parts) + 1}. Over seeds (`{a.study}`)", intro + lines, ok))
    for title, lines, _ in parts:
        print(f"== {title}\n" + "\n".join(lines) + "\n")
    passed = all(p for _, _, p in parts)
    if a.negative_exact:
        if not a.exact_ours:
            sys.exit("check_parity.py: --negative-exact needs the exact check (--exact-ours ...)")
        neg = read_ref(a.negative_exact)
        lines, neg_ok = exact(read_ours(a.exact_ours), neg, a.tolerance)
        intro = [
            "Part 1 against port runs trained with a deliberately different recipe "
            f"(`--same-init --set {' --set '.join(changed(neg)) or '(nothing changed)'}`): "
            + ("it **passes**, which it should not." if neg_ok else "it fails, as it should."),
            "",
        ]  # fmt: skip
        parts.append(("Negative control, part 1", intro + lines, True))
        print("== Negative control, part 1\n" + "\n".join(intro + lines) + "\n")
    if a.negative:
        neg = read_ref(a.negative)
        lines, neg_ok = over_seeds(ours, neg, a.alpha)
        intro = [
            "Part 3 against port runs trained with a deliberately different recipe "
            f"(`--set {' --set '.join(changed(neg)) or '(nothing changed)'}`): "
            + ("it **passes**: with these seeds, a mismatch of this size is within seed noise and goes unnoticed "
               "by this part." if neg_ok else "it fails, as it should."),
            "",
        ]  # fmt: skip
        parts.append(("Negative control, part 3", intro + lines, True))
        print("== Negative control, part 3\n" + "\n".join(intro + lines) + "\n")
    print("parity: " + ("every part passes" if passed else "FAILED: " + ", ".join(t for t, _, p in parts if not p)))
    if a.report:
        report(a, parts, passed)
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()
