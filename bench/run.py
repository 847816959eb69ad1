#!/usr/bin/env python3
"""Runs every comparison of issue 7 and rewrites BENCHMARKS.md.

Called by bench/run.sh, which builds the binaries first and passes their
paths; see that file for the flags. Every number in BENCHMARKS.md comes from
the output of the commands listed beside it; nothing is typed in by hand.
"""

import argparse
import datetime
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = sys.executable

# Sizes per mode. Full: the sizes issue 7 names.
SIZES = {
    "full": {
        "train_args": ["--steps", "5"],
        "recurrent_batch": 64,
        "transformer_batch": 32,
        "lease_workers": "10,100,1000",
        "lease_jobs": 100_000,
        "lease_seconds": 30,
        "example_rows": 1_000_000,
        "pairs": 100_000,
    },
    "quick": {
        "train_args": ["--small", "--steps", "2"],
        "recurrent_batch": 16,
        "transformer_batch": 16,
        "lease_workers": "10,100,1000",
        "lease_jobs": 4_000,
        "lease_seconds": 5,
        "example_rows": 100_000,
        "pairs": 10_000,
    },
}
RECURRENT = ["rnn", "gru", "lstm", "lstm-attention"]


def rel(path):
    return os.path.relpath(path, ROOT)


# Bench executables sit under hashed names in cargo's build directory; the
# report names them by the cargo command that runs them.
CARGO_NAMES = {}


def show(cmd):
    if cmd and cmd[0] in CARGO_NAMES:
        return CARGO_NAMES[cmd[0]] + " " + " ".join(shlex.quote(c) for c in [rel(x) if x.startswith(ROOT) else x for x in cmd[1:]])
    return " ".join(shlex.quote(rel(c) if os.path.isabs(c) and c.startswith(ROOT) else c) for c in cmd)


def run(cmd, log):
    """Runs cmd from the repository root; returns (stdout, seconds). Fails loudly."""
    print(f"$ {show(cmd)}", flush=True)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    secs = time.perf_counter() - t0
    log.write(f"$ {show(cmd)}\n{p.stdout}{p.stderr}\n")
    log.flush()
    if p.returncode != 0:
        sys.exit(f"bench: `{show(cmd)}` exited with {p.returncode}:\n{p.stderr[-3000:]}")
    return p.stdout, secs


def machine():
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    torch_version = subprocess.run(
        [PY, "-c", "import torch; print(torch.__version__)"], capture_output=True, text=True
    ).stdout.strip()
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load": open("/proc/loadavg").read().split()[:3],
        "torch": torch_version,
        "rustc": rustc,
        "python": platform.python_version(),
        "commit": commit.stdout.strip() + (" (with uncommitted changes)" if dirty else ""),
        "os": platform.platform(),
    }


# ---- training and decoding -------------------------------------------------

LINE = re.compile(r"^(\S+)\s+(.*)$")
TRAIN = re.compile(r"train tf=([0-9.]+):\s+([0-9.]+) tok/s")
GREEDY = re.compile(r"greedy:\s+([0-9.]+) seq/s")


def parse_throughput(text):
    """{arch: {"train tf=1": tok/s, "train tf=0.5": tok/s, "greedy": seq/s}}"""
    out = {}
    for line in text.splitlines():
        m = LINE.match(line.strip())
        if not m or m.group(1) not in RECURRENT + ["transformer"]:
            continue
        row = {}
        for tf, v in TRAIN.findall(m.group(2)):
            row[f"train tf={float(tf):g}"] = float(v)
        g = GREEDY.search(m.group(2))
        if g:
            row["greedy"] = float(g.group(1))
        out[m.group(1)] = row
    return out


def median_runs(cmd, repeats, log):
    runs = [parse_throughput(run(cmd, log)[0]) for _ in range(repeats)]
    merged = {}
    for arch in runs[0]:
        merged[arch] = {k: statistics.median(r[arch][k] for r in runs) for k in runs[0][arch]}
    return merged


def training(a, sizes, log):
    threads = ["--threads", str(a.threads)]
    groups = [(RECURRENT, sizes["recurrent_batch"]), (["transformer"], sizes["transformer_batch"])]
    rows, commands = {}, []
    for archs, batch in groups:
        args = sizes["train_args"] + ["--batch", str(batch)] + threads + archs
        ours_cmd = [a.throughput] + args
        ref_cmd = [PY, os.path.join(ROOT, "bench/reference/seq2seq_eager.py")] + args
        ours = median_runs(ours_cmd, a.repeats, log)
        ref = median_runs(ref_cmd, a.repeats, log)
        for arch in archs:
            rows[arch] = (batch, ours.get(arch, {}), ref.get(arch, {}))
        commands += [show(ours_cmd), show(ref_cmd)]
    return rows, commands


# ---- coordinator -------------------------------------------------------------

KV = re.compile(r"(\w+)=(\S+)")


def leases(a, sizes, log):
    cmd = [
        a.leases,
        "--workers",
        sizes["lease_workers"],
        "--jobs",
        str(sizes["lease_jobs"]),
        "--seconds",
        str(sizes["lease_seconds"]),
    ]
    text, _ = run(cmd, log)
    rows = [dict(KV.findall(line)) for line in text.splitlines() if line.startswith("leases ")]
    return rows, [show(cmd)]


# ---- analysis ----------------------------------------------------------------


def timed(cmd, repeats, log):
    times = []
    for _ in range(repeats):
        _, secs = run(cmd, log)
        times.append(secs)
    return statistics.median(times), times


def analysis(a, sizes, log):
    work = os.path.join(a.work, "analysis")
    os.makedirs(work, exist_ok=True)
    table = os.path.join(work, "examples.parquet")
    gen = [PY, os.path.join(ROOT, "bench/gen_examples.py"), table, "--rows", str(sizes["example_rows"])]
    run(gen, log)
    effects = [
        a.intervene, "effects", "--table", table, "--treatment", "arm", "--control", "control",
        "--outcome", "sentence_bleu", "--pair", "seed,example_id", "--cluster", "seed",
        "--resamples", "2000", "--permutations", "2000", "--refuter-sims", "100", "--format", "csv",
    ]  # fmt: skip
    effects_s, effects_all = timed(effects, a.repeats, log)
    # `intervene query` reads a study's result directory: lay the same table
    # out as the examples table of a study (arms from the analysis fixture).
    state = os.path.join(work, "state")
    study_dir = os.path.join(state, "results", "bench", "v1")
    os.makedirs(os.path.join(study_dir, "examples"), exist_ok=True)
    shutil.copy(table, os.path.join(study_dir, "examples", "all.parquet"))
    shutil.copy(
        os.path.join(ROOT, "analysis/tests/fixtures/state/results/pinned/v1/arms.parquet"),
        os.path.join(study_dir, "arms.parquet"),
    )
    sql = (
        "SELECT arm, COUNT(*) AS n, AVG(sentence_bleu) AS bleu, AVG(CAST(exact_match AS DOUBLE)) AS em "
        "FROM examples WHERE target_len > 20 GROUP BY arm ORDER BY arm"
    )
    query = [a.intervene, "query", "bench", "--state", state, sql, "--format", "csv"]
    query_s, query_all = timed(query, a.repeats, log)
    noop = [a.intervene, "query", "bench", "--state", state, "SELECT 1 AS one", "--format", "csv"]
    noop_s, _ = timed(noop, a.repeats, log)
    return {
        "rows": sizes["example_rows"],
        "effects_s": effects_s,
        "effects_all": effects_all,
        "query_s": query_s,
        "query_all": query_all,
        "noop_s": noop_s,
    }, [show(gen), show(effects), show(query), show(noop)]


# ---- data --------------------------------------------------------------------


def tokenize(a, sizes, log):
    pairs = os.path.join(a.work, "pairs.jsonl")
    gen = [PY, os.path.join(ROOT, "bench/gen_pairs.py"), pairs, "--pairs", str(sizes["pairs"])]
    run(gen, log)
    ours_cmd = [a.tokenize, pairs, "--repeats", "5"]
    ref_cmd = [PY, os.path.join(ROOT, "bench/tokenize_ref.py"), pairs, "--repeats", "5"]
    ours = dict(KV.findall(run(ours_cmd, log)[0]))
    ref = dict(KV.findall(run(ref_cmd, log)[0]))
    if ours.get("tokens") != ref.get("tokens"):
        sys.exit(f"bench: token counts differ: ours {ours.get('tokens')}, Python {ref.get('tokens')}")
    return {"ours": ours, "ref": ref}, [show(gen), show(ours_cmd), show(ref_cmd)]


# ---- report --------------------------------------------------------------------


def mode(a, part):
    return "quick" if part in a.quick else "full"


def ratio(x, y):
    return f"{x / y:.2f}x" if x and y else "n/a"


def verdict(ok):
    return "met" if ok else "**missed**"


def write_report(a, m, load_end, results, started, elapsed):
    L = []
    L.append("# Benchmarks\n")
    L.append(f"Written by `{a.invocation}` on {started:%Y-%m-%d %H:%M} UTC "
             f"({elapsed / 60:.1f} min). Do not edit by hand: rerun the script.\n")  # fmt: skip
    quick = sorted(a.quick & set(results))
    if quick:
        L.append(
            f"**Quick mode for {', '.join(quick)}: those sections use the small sizes they list, not the sizes "
            "of issue 7. The full-size run of them (`bench/run.sh`) is pending.**\n"
        )
    L.append("## Machine\n")
    L.append(f"- CPU: {m['cpu']}, {m['cores']} logical cores ({m['os']})")
    L.append(f"- Load average (1/5/15 min) at start: {' '.join(m['load'])}; at end: {' '.join(load_end)}")
    L.append(f"- torch {m['torch']} (Python {m['python']}), {m['rustc']}, commit {m['commit']}")
    L.append(f"- Rust binaries built with `cargo bench --profile {a.profile} --no-run --workspace`"
             + (" (dev profile: our crates at opt-level 1, dependencies at 3)" if a.profile == "dev" else ""))  # fmt: skip
    L.append(f"- Threads for libtorch on both sides: {a.threads}; repeats per measurement: {a.repeats} (median)\n")
    if max(float(m["load"][0]), float(load_end[0])) > (m["cores"] or 1):
        L.append(
            f"**The machine was loaded (1-minute load average above its {m['cores']} cores, other builds and tests "
            "running): timings, and ratios between runs that did not overlap, are unreliable.**\n"
        )
    if "train" in results:
        rows, cmds = results["train"]
        sizes = SIZES[mode(a, "train")]
        L.append("## Training and greedy decoding vs PyTorch eager (CPU)\n")
        L.append(
            f"Sizes {mode(a, 'train')}: `{' '.join(sizes['train_args'])}` "
            + ("(embedding/hidden 64, vocabulary 1000)" if "train" in a.quick else "(embedding/hidden 256, vocabulary 5000)")
            + "; transformer of transformer-python.toml (8 heads, ff 2x d_model, 3+3 layers). "
            "Training: target tokens/s over the timed steps (first step excluded); greedy: sequences/s, "
            "best of 3, up to 80 steps. Ratio = ours / PyTorch (above 1: we are faster).\n"
        )
        L.append("| arch | batch | train tf=1 ours | PyTorch | ratio | train tf=0.5 ours | PyTorch | ratio "
                 "| greedy ours (seq/s) | PyTorch | ratio |")  # fmt: skip
        L.append("|---|---|---|---|---|---|---|---|---|---|---|")
        for arch, (batch, o, r) in rows.items():
            cells = [arch, str(batch)]
            for k in ["train tf=1", "train tf=0.5", "greedy"]:
                if k in o and k in r:
                    cells += [f"{o[k]:.1f}" if k == "greedy" else f"{o[k]:.0f}",
                              f"{r[k]:.1f}" if k == "greedy" else f"{r[k]:.0f}", ratio(o[k], r[k])]  # fmt: skip
                else:
                    cells += ["-", "-", "-"]
            L.append("| " + " | ".join(cells) + " |")
        worst = [
            min(o[k] / r[k] for k in o if k in r) for arch, (_, o, r) in rows.items() if arch in RECURRENT and o and r
        ]
        L.append(
            f"\nTarget (recurrent models, training and decoding >= 1.2x): "
            f"{verdict(bool(worst) and min(worst) >= 1.2)} (lowest recurrent ratio {min(worst):.2f}x).\n"
            if worst
            else "\nTarget: not measured.\n"
        )
        L.append("Commands:\n")
        L += [f"    {c}" for c in cmds]
        L.append(
            "\nCaveats: greedy decoding stops once every sequence has emitted EOS, and the models are untrained, "
            "so the two sides may decode different numbers of steps: greedy ratios compare unequal work until "
            "both benches report decoded tokens. PyTorch's `nn.TransformerDecoder` has no cache and re-decodes the "
            "prefix each step (that is the eager reference as written), which explains most of the transformer "
            "greedy ratio.\n"
        )
        L.append("Not measured yet: beam decoding (neither bench has it), GPU runs and the share of GPU peak.\n")
    if "leases" in results:
        rows, cmds = results["leases"]
        L.append(f"## Coordinator leases over loopback gRPC (sizes {mode(a, 'leases')})\n")
        L.append(
            "The real `intervene coordinator` (SQLite ledger) with a study of "
            f"{rows[0]['jobs'] if rows else '?'} queued jobs; N simulated workers, one gRPC connection each, "
            "loop Lease -> Complete (empty result). Leases/s counts completed Lease+Complete cycles. "
            "Latencies as the client sees them. Clients run on the same machine as the coordinator.\n"
        )
        L.append("| workers | jobs queued | submit (s) | leases/s | Lease p50 (ms) | Lease p99 (ms) "
                 "| Complete p50 (ms) | Complete p99 (ms) | coordinator CPU (cores) | RSS (MiB) | peak RSS (MiB) "
                 "| errors |")  # fmt: skip
        L.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            L.append(
                f"| {r['workers']} | {r['jobs']} | {r['submit_s']} | {float(r['leases_per_s']):.0f} | "
                f"{r['lease_p50_ms']} | {r['lease_p99_ms']} | {r['complete_p50_ms']} | {r['complete_p99_ms']} | "
                f"{r['coord_cpu_cores']} | {r['coord_rss_mib']} | {r['coord_peak_rss_mib']} | {r['errors']} |"
            )
        big = [r for r in rows if r["workers"] == "1000"]
        if big:
            r = big[0]
            ok = float(r["leases_per_s"]) >= 5000 and float(r["lease_p99_ms"]) < 10
            L.append(f"\nTarget (>= 5,000 leases/s, p99 < 10 ms at 1,000 workers): {verdict(ok)}.\n")
        L.append("Command:\n")
        L += [f"    {c}" for c in cmds]
        L.append(
            "\nNot measured yet: fleet overhead with 10-second jobs, and the Ray Tune shape "
            "(10,000 one-second trials on 16 CPUs).\n"
        )
    if "analysis" in results:
        r, cmds = results["analysis"]
        L.append(f"## Analysis (sizes {mode(a, 'analysis')})\n")
        L.append(f"A generated table of {r['rows']:,} example rows (2 arms x 10 seeds, paired on seed and example). "
                 "Wall time of the whole `intervene` process, median of the repeats.\n")  # fmt: skip
        L.append("| command | median (s) | all runs (s) |")
        L.append("|---|---|---|")
        L.append(f"| `intervene effects --table` (bootstrap 2000, permutations 2000, refuters 100) | "
                 f"{r['effects_s']:.2f} | {', '.join(f'{t:.2f}' for t in r['effects_all'])} |")  # fmt: skip
        L.append(f"| `intervene query` (filter + group by over the table) | {r['query_s']:.2f} | "
                 f"{', '.join(f'{t:.2f}' for t in r['query_all'])} |")  # fmt: skip
        L.append(f"| `intervene query` `SELECT 1` (process start and study lookup) | {r['noop_s']:.2f} | |")
        if r["rows"] >= 1_000_000:
            L.append(f"\nTarget (effects on 1M rows < 5 s): {verdict(r['effects_s'] < 5)}.\n")
        else:
            L.append(f"\nTarget (effects on 1M rows < 5 s): not measured at 1M rows in this run.\n")
        L.append("Commands:\n")
        L += [f"    {c}" for c in cmds]
        L.append("")
    if "tokenize" in results:
        r, cmds = results["tokenize"]
        o, p = r["ours"], r["ref"]
        L.append(f"## Data: code-whitespace tokenization (sizes {mode(a, 'tokenize')})\n")
        L.append(f"{o['pairs']} generated (docstring, code) pairs, both sides, {o['tokens']} tokens "
                 "(same count on both sides, checked). Best of 5 passes, file reading excluded.\n")  # fmt: skip
        L.append("| | seconds | pairs/s |")
        L.append("|---|---|---|")
        L.append(f"| ours (`intervene_data::tokenize::whitespace`) | {o['best_s']} | {o['pairs_per_s']} |")
        L.append(f"| Python (`str.lower().translate().split()`) | {p['best_s']} | {p['pairs_per_s']} |")
        L.append(f"\nRatio ours / Python: {ratio(float(o['pairs_per_s']), float(p['pairs_per_s']))}.\n")
        L.append("Commands:\n")
        L += [f"    {c}" for c in cmds]
        L.append("")
    with open(os.path.join(ROOT, "BENCHMARKS.md"), "w") as f:
        f.write("\n".join(L) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", default="", help="comma-separated parts run at the quick sizes")
    ap.add_argument("--profile", required=True)
    ap.add_argument("--repeats", type=int, required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--only", default="train,leases,analysis,tokenize")
    ap.add_argument("--intervene", required=True)
    ap.add_argument("--throughput", required=True)
    ap.add_argument("--leases", required=True)
    ap.add_argument("--tokenize", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--invocation", required=True, help="the bench/run.sh command line, for the report")
    a = ap.parse_args()
    bench = f"cargo bench --profile {a.profile}"
    CARGO_NAMES[a.throughput] = f"{bench} -p intervene-worker --bench throughput --"
    CARGO_NAMES[a.leases] = f"{bench} --bench leases --"
    CARGO_NAMES[a.tokenize] = f"{bench} -p intervene-data --bench tokenize --"
    only = set(a.only.split(","))
    a.quick = set(p for p in a.quick.split(",") if p)
    if a.quick - {"train", "leases", "analysis", "tokenize"}:
        sys.exit(f"bench: --quick: unknown part(s) {sorted(a.quick)}; parts: train, leases, analysis, tokenize")
    unknown = only - {"train", "leases", "analysis", "tokenize"}
    if unknown:
        sys.exit(f"bench: --only: unknown part(s) {sorted(unknown)}; parts: train, leases, analysis, tokenize")
    os.makedirs(a.work, exist_ok=True)
    started = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.perf_counter()
    m = machine()
    results = {}
    with open(os.path.join(a.work, "run.log"), "w") as log:
        for part, fn in [("tokenize", tokenize), ("analysis", analysis), ("leases", leases), ("train", training)]:
            if part in only:
                results[part] = fn(a, SIZES[mode(a, part)], log)
    load_end = open("/proc/loadavg").read().split()[:3]
    write_report(a, m, load_end, results, started, time.perf_counter() - t0)
    print(f"wrote {rel(os.path.join(ROOT, 'BENCHMARKS.md'))} (raw output: {rel(os.path.join(a.work, 'run.log'))})")


if __name__ == "__main__":
    main()
