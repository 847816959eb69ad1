#!/usr/bin/env python3
"""Runs every comparison of issue 7 and rewrites BENCHMARKS.md (but for the
sections other scripts write, listed in KEPT, which it keeps as they are).

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
        "lease_paced": (1000, 5000, 20),
        "fleet_workers": 16,
        "fleet_runs": [(10_000, 1.0), (160, 10.0)],
        "example_rows": 1_000_000,
        "pairs": 100_000,
        "batching_train": 4_000,
    },
    "quick": {
        "train_args": ["--small", "--steps", "2"],
        "recurrent_batch": 16,
        "transformer_batch": 16,
        "lease_workers": "10,100,1000",
        "lease_jobs": 4_000,
        "lease_seconds": 5,
        "lease_paced": (1000, 5000, 5),
        "fleet_workers": 16,
        "fleet_runs": [(320, 1.0), (32, 10.0)],
        "example_rows": 100_000,
        "pairs": 10_000,
        "batching_train": 1_000,
    },
}
RECURRENT = ["rnn", "gru", "lstm", "lstm-attention"]
PARTS = ["train", "batching", "leases", "fleet", "analysis", "tokenize"]
# The heading each part's section of BENCHMARKS.md starts with.
HEADINGS = {
    "train": "## Training and greedy decoding",
    "batching": "## Training batches",
    "leases": "## Coordinator leases",
    "fleet": "## Fleet overhead",
    "analysis": "## Analysis",
    "tokenize": "## Data: code-whitespace tokenization",
}


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
DECODE = re.compile(r"(greedy|beam\d+):\s+([0-9.]+) seq/s(?: \((\d+) steps\))?")
MEASURES = ["train tf=1", "train tf=0.5", "greedy", "beam5"]


def parse_throughput(text):
    """{arch: {"train tf=1": tok/s, "train tf=0.5": tok/s, "greedy": seq/s, "greedy steps": n, "beam5": ...}}"""
    out = {}
    for line in text.splitlines():
        m = LINE.match(line.strip())
        if not m or m.group(1) not in RECURRENT + ["transformer"]:
            continue
        row = {}
        for tf, v in TRAIN.findall(m.group(2)):
            row[f"train tf={float(tf):g}"] = float(v)
        for kind, v, steps in DECODE.findall(m.group(2)):
            row[kind] = float(v)
            if steps:
                row[f"{kind} steps"] = float(steps)
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


# ---- training batches --------------------------------------------------------

BATCHING_STUDY = os.path.join(ROOT, "bench/batching.toml")
# (batching, arm of bench/batching.toml)
BATCHING_ARMS = [("random", "control"), ("bucketed", "batching/batching=bucketed")]
TRAIN_LINE = re.compile(
    r"^train\s+([0-9.]+) s, ([0-9.]+) target tokens/s, ([0-9.]+) s of optimisation steps per epoch \(([0-9.]+) s CPU\)",
    re.M,
)
BATCHES_LINE = re.compile(
    r"^batches\s+([a-z]+): ([0-9,]+) target tokens in ([0-9,]+) padded slots \([0-9.]+% real\), "
    r"([0-9,]+) source tokens in ([0-9,]+) ",
    re.M,
)
EPOCHS_LINE = re.compile(r"^epochs\s+(\d+) \(best \d+, valid loss ([0-9.]+)", re.M)
BLEU_LINE = re.compile(r"^bleu\s+([0-9.]+)", re.M)


def batching_studies(work, train):
    """(overlong, study file): bench/batching.toml as written (overlong pairs
    truncated), and a copy whose overlong pairs are dropped, as the quickstart
    and the CPU architecture study do. Copies live beside the work files and
    name the venv by its absolute path."""
    with open(BATCHING_STUDY) as t:
        template = t.read()
    studies = []
    for overlong in ("truncate", "drop"):
        if overlong == "truncate" and train == 4_000:
            studies.append((overlong, BATCHING_STUDY))
            continue
        path = os.path.join(work, f"batching-{overlong}.toml")
        text = template.replace("train = 4000", f"train = {train}").replace(
            'overlong = "truncate"', f'overlong = "{overlong}"'
        )
        with open(path, "w") as f:
            f.write(text.replace('python = "../.venv"', f'python = "{os.path.join(ROOT, ".venv")}"'))
        studies.append((overlong, path))
    return studies


def batching(a, sizes, log):
    """`intervene train` of the two arms of bench/batching.toml (and of its
    copy that drops overlong pairs), one after the other (random, bucketed,
    random, ...), each `a.repeats` times; every figure is parsed from what the
    binary prints."""
    work = os.path.join(a.work, "batching")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    studies = batching_studies(work, sizes["batching_train"])
    runs = {(o, name): [] for o, _ in studies for name, _ in BATCHING_ARMS}
    cmds, loads = [], [open("/proc/loadavg").read().split()[0]]
    for overlong, study in studies:
        for rep in range(a.repeats):
            for name, arm in BATCHING_ARMS:
                out_dir = os.path.join(work, f"{overlong}-{name}-{{}}")
                cmd = [a.intervene, "train", study, "--arm", arm, "--seed", "1", "--threads", str(a.threads),
                       "--out", out_dir.format(rep + 1)]  # fmt: skip
                out, wall = run(cmd, log)
                loads.append(open("/proc/loadavg").read().split()[0])
                m_train, m_batches = TRAIN_LINE.search(out), BATCHES_LINE.search(out)
                m_epochs, m_bleu = EPOCHS_LINE.search(out), BLEU_LINE.search(out)
                if not (m_train and m_batches and m_epochs and m_bleu) or m_batches.group(1) != name:
                    sys.exit(f"bench: `{show(cmd)}` printed no train/batches/epochs/bleu lines for {name}:\n{out}")
                runs[(overlong, name)].append({
                    "train_s": float(m_train.group(1)),
                    "step_s": float(m_train.group(3)),
                    "cpu_s": float(m_train.group(4)),
                    "real": int(m_batches.group(2).replace(",", "")),
                    "padded": int(m_batches.group(3).replace(",", "")),
                    "source": int(m_batches.group(4).replace(",", "")),
                    "padded_source": int(m_batches.group(5).replace(",", "")),
                    "valid_loss": float(m_epochs.group(2)),
                    "bleu": float(m_bleu.group(1)),
                    "wall": wall,
                })  # fmt: skip
                if rep == 0:
                    cmds.append(show(cmd[:-1] + [out_dir.format("N")]))
    rows = {}
    for key, rs in runs.items():
        same = {(r["real"], r["padded"], r["source"], r["padded_source"], r["valid_loss"], r["bleu"]) for r in rs}
        if len(same) != 1:
            sys.exit(f"bench: the repeats of {key} differ in tokens, loss or BLEU: {sorted(same)}")
        # The fastest run: on a shared machine the others were slowed down.
        rows[key] = dict(rs[0], step_s=min(r["step_s"] for r in rs), train_s=min(r["train_s"] for r in rs),
                         cpu_s=min(r["cpu_s"] for r in rs), step_all=[r["step_s"] for r in rs],
                         cpu_all=[r["cpu_s"] for r in rs])  # fmt: skip
    return {"rows": rows, "train": sizes["batching_train"], "loads": loads,
            "studies": [(o, rel(p)) for o, p in studies]}, cmds  # fmt: skip


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
    workers, rate, seconds = sizes["lease_paced"]
    paced = [a.leases, "--workers", str(workers), "--jobs", str(sizes["lease_jobs"]), "--seconds", str(seconds),
             "--rate", str(rate)]  # fmt: skip
    text, _ = run(paced, log)
    rows += [dict(KV.findall(line)) for line in text.splitlines() if line.startswith("leases ")]
    return rows, [show(cmd), show(paced)]


# ---- fleet overhead ------------------------------------------------------------

FLEET_TOKEN = "bench-fleet-token-0123456789abcdef"
FLEET_STUDY = os.path.join(ROOT, "bench/tiny-study.toml")


def fleet_run(a, log, workers, jobs, job_s):
    """The real coordinator and `workers` real `intervene worker` processes whose
    trainer sleeps `job_s` per job (--fake-train); returns the measured figures."""
    import sqlite3
    import csv
    import io
    import signal

    work = os.path.join(a.work, f"fleet-{jobs}x{job_s:g}")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    state = os.path.join(work, "state")
    study = os.path.join(work, "fleet.toml")
    with open(study, "w") as f:
        with open(FLEET_STUDY) as t:
            f.write(t.read().replace("@NAME@", "fleet").replace("@SEEDS@", str(list(range(1, jobs + 1)))))
    env = dict(os.environ, INTERVENE_TOKEN=FLEET_TOKEN, INTERVENE_LOG="warn")
    errs = open(os.path.join(work, "processes.log"), "w")
    coord_cmd = [a.intervene, "coordinator", "--listen", "127.0.0.1:0", "--state", state]
    coord = subprocess.Popen(coord_cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=errs, text=True)
    url = next(w for w in coord.stdout.readline().split() if w.startswith("http://"))
    submit = [a.intervene, "submit", study, "--coordinator", url]
    p = subprocess.run(submit, cwd=ROOT, env=env, capture_output=True, text=True)
    log.write(f"$ {show(submit)}\n{p.stdout}{p.stderr}\n")
    if p.returncode != 0:
        coord.kill()
        sys.exit(f"bench: `{show(submit)}` exited with {p.returncode}:\n{p.stderr[-3000:]}")
    worker_cmd = [a.intervene, "worker", "--coordinator", url, "--fake-train", f"{job_s:g}"]
    print(f"$ {show(coord_cmd)} & {workers} x {show(worker_cmd)}", flush=True)
    t0 = time.time()
    procs = [
        subprocess.Popen(worker_cmd + ["--name", f"w{i:02}", "--cache-dir", os.path.join(work, f"cache-{i}")],
                         cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=errs)  # fmt: skip
        for i in range(workers)
    ]
    ledger = os.path.join(state, "ledger.sqlite")
    deadline = t0 + 3 * jobs * job_s / workers + 120
    try:
        while True:
            time.sleep(0.25)
            with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True) as db:
                done = db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'succeeded'").fetchone()[0]
            if done == jobs:
                break
            dead = [q for q in procs + [coord] if q.poll() is not None]
            if dead or time.time() > deadline:
                sys.exit(f"bench: fleet run stopped at {done}/{jobs} jobs "
                         f"({'a process exited' if dead else 'timed out'}; see {rel(errs.name)})")  # fmt: skip
        t_end = time.time()
    finally:
        for q in procs:
            q.send_signal(signal.SIGTERM)
        for q in procs:
            try:
                q.wait(timeout=30)
            except subprocess.TimeoutExpired:
                q.kill()
        coord.send_signal(signal.SIGTERM)
        try:
            coord.wait(timeout=30)
        except subprocess.TimeoutExpired:
            coord.kill()
    with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True) as db:
        attempts = db.execute("SELECT COUNT(*) FROM attempts").fetchone()[0]
        spans = db.execute(
            "SELECT worker_id, job_id, leased_at_ms, ended_at_ms FROM attempts WHERE outcome = 'succeeded'"
        ).fetchall()
    query = [a.intervene, "query", "fleet", "--state", state,
             "SELECT job_id, train_seconds FROM runs", "--format", "csv"]  # fmt: skip
    out, _ = run(query, log)
    train = {r["job_id"]: float(r["train_seconds"]) for r in csv.DictReader(io.StringIO(out))}
    # Per worker: from its first lease to its last result, so process start
    # and the wait for the slowest worker at the end do not count.
    per_worker = {}
    for worker, job, leased, ended in spans:
        w = per_worker.setdefault(worker, [leased, ended, 0.0])
        w[0], w[1] = min(w[0], leased), max(w[1], ended)
        w[2] += train[job]
    span_s = sum((e - l) / 1000 for l, e, _ in per_worker.values())
    train_s = sum(t for _, _, t in per_worker.values())
    wall = t_end - t0
    ideal = jobs * job_s / workers
    return {
        "workers": workers,
        "jobs": jobs,
        "job_s": job_s,
        "attempts": attempts,
        "rows": len(train),
        "wall": wall,
        "ideal": ideal,
        "overhead": wall / ideal - 1,
        "outside": 1 - train_s / span_s,
        "per_job_ms": (span_s - train_s) / jobs * 1000,
    }, f"{show(coord_cmd)}; {show(submit)}; {workers} x {show(worker_cmd)} --name wNN --cache-dir DIR"


def fleet(a, sizes, log):
    rows, cmds = [], []
    for jobs, job_s in sizes["fleet_runs"]:
        r, cmd = fleet_run(a, log, sizes["fleet_workers"], jobs, job_s)
        rows.append(r)
        cmds.append(cmd)
    return rows, cmds


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


def work(row, k):
    """Throughput to compare: for decoding, sequences x decoder steps per
    second, so a side that stopped early (every sequence emitted EOS) is not
    credited for doing less."""
    return row[k] * row.get(f"{k} steps", 1.0)


def cell(row, k):
    """A throughput cell; decoding shows the decoder steps it ran."""
    if k.startswith("train"):
        return f"{row[k]:.0f}"
    steps = row.get(f"{k} steps")
    return f"{row[k]:.1f}" + (f" ({steps:.0f} steps)" if steps else "")


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
            "Training: target tokens/s over the timed steps (first step excluded); greedy and beam search "
            "(beam 5, length penalty 1, recurrent models): sequences/s, best of 3, up to 80 steps. Ratio = ours / PyTorch (above 1: we are faster).\n"
        )
        L.append("| arch | batch | train tf=1 ours | PyTorch | ratio | train tf=0.5 ours | PyTorch | ratio "
                 "| greedy ours (seq/s) | PyTorch | ratio | beam 5 ours (seq/s) | PyTorch | ratio |")  # fmt: skip
        L.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for arch, (batch, o, r) in rows.items():
            cells = [arch, str(batch)]
            for k in MEASURES:
                if k in o and k in r:
                    cells += [cell(o, k), cell(r, k), ratio(work(o, k), work(r, k))]
                else:
                    cells += ["-", "-", "-"]
            L.append("| " + " | ".join(cells) + " |")
        worst = [
            min(work(o, k) / work(r, k) for k in MEASURES if k in o and k in r)
            for arch, (_, o, r) in rows.items()
            if arch in RECURRENT and o and r
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
            "\nDecoding: the models are untrained and each framework initialises its own weights, so EOS is "
            "made impossible on both sides (its output bias set to -1e9) and every decode runs the same 80 steps "
            "(shown beside each figure). PyTorch's `nn.TransformerDecoder` has no cache and re-decodes the "
            "prefix each step (that is the eager reference as written), which explains most of the transformer "
            "greedy ratio.\n"
        )
        L.append(
            "Why training ratios at teacher forcing 1 sit near 1: there the rnn, gru and lstm encoder and decoder "
            "are one fused libtorch call each on both sides (the same `at::lstm`-style kernels), so only the "
            "per-call overhead around them differs; the gap opens where a loop runs per decoder step (teacher "
            "forcing below 1, attention, decoding).\n"
        )
        L.append("Not measured: GPU runs and the share of GPU peak (no GPU was lent to this run).\n")
    if "batching" in results:
        r, cmds = results["batching"]
        rows = r["rows"]
        L.append(f"## Training batches: random vs bucketed by length (sizes {mode(a, 'batching')})\n")
        L.append(
            f"`intervene train` of the two arms of `{rel(BATCHING_STUDY)}` on real mined data "
            f"(python-env: the project's `.venv`, standard library and site-packages; {r['train']:,} train pairs, "
            "BPE vocabulary 2000, at most 32 docstring and 64 code tokens): a 1-layer lstm-attention (embedding 64, "
            f"hidden 96), batch 64, 2 epochs, `--threads {a.threads}`, seed 1. The arms differ only in `[train] "
            "batching`. *truncate*: the study as written, longer pairs cut to the limits; *drop*: the same study "
            "with `overlong = \"drop\"` (as the quickstart and the CPU architecture study), longer pairs left out "
            "before the split. Every figure is parsed from what the binary printed (its `train`, `batches`, `epochs` "
            "and `bleu` lines; the curves table records the same per epoch). *Tokens*: the ids plus EOS of an "
            "epoch's rows (the target ones are what the loss is computed on); *padded slots*: rows x longest row, "
            "summed over the epoch's batches; *real*: tokens / padded slots. *CPU* and *wall*: seconds of an epoch's "
            "optimisation steps (validation excluded), as the process's CPU time (all threads) and as wall time; "
            f"each the fastest of {a.repeats} run(s) of the arm, run one after the other (random, bucketed, random, "
            "...), never at the same time. On this shared machine the CPU time is the steps' own work; the wall "
            "time also counts the time other processes held the cores. Ratios are bucketed / random in the same "
            "run (below 1: bucketing saves).\n"
        )
        L.append("| overlong | batching | target tokens | padded target slots | real | vs random "
                 "| source tokens | padded source slots | real | vs random | best valid loss | BLEU |")  # fmt: skip
        L.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for overlong, _ in r["studies"]:
            rnd = rows[(overlong, "random")]
            for name in ("random", "bucketed"):
                x = rows[(overlong, name)]
                L.append(
                    f"| {overlong} | {name} | {x['real']:,} | {x['padded']:,} | {100 * x['real'] / x['padded']:.1f}% | "
                    f"{ratio(x['padded'], rnd['padded'])} | {x['source']:,} | {x['padded_source']:,} | "
                    f"{100 * x['source'] / x['padded_source']:.1f}% | {ratio(x['padded_source'], rnd['padded_source'])} | "
                    f"{x['valid_loss']:.4f} | {x['bleu']:.2f} |"
                )  # fmt: skip
        L.append("")
        L.append("| overlong | batching | CPU per epoch (s) | all runs | vs random | wall per epoch (s) | all runs "
                 "| vs random |")  # fmt: skip
        L.append("|---|---|---|---|---|---|---|---|")
        for overlong, _ in r["studies"]:
            rnd = rows[(overlong, "random")]
            for name in ("random", "bucketed"):
                x = rows[(overlong, name)]
                L.append(
                    f"| {overlong} | {name} | {x['cpu_s']:.1f} | {', '.join(f'{t:.1f}' for t in x['cpu_all'])} | "
                    f"{ratio(x['cpu_s'], rnd['cpu_s'])} | {x['step_s']:.1f} | "
                    f"{', '.join(f'{t:.1f}' for t in x['step_all'])} | {ratio(x['step_s'], rnd['step_s'])} |"
                )  # fmt: skip
        summary = []
        for overlong, _ in r["studies"]:
            rnd, bkt = rows[(overlong, "random")], rows[(overlong, "bucketed")]
            pct = lambda k: 100 * (1 - bkt[k] / rnd[k])  # noqa: E731
            summary.append(
                f"*{overlong}*: bucketing cuts the padded target slots by {pct('padded'):.1f}% "
                f"({rnd['padded']:,} to {bkt['padded']:,} per epoch for the same {rnd['real']:,} target tokens), "
                f"the padded source slots by {pct('padded_source'):.1f}%, and the CPU time of an epoch's "
                f"optimisation steps by {pct('cpu_s'):.1f}% ({rnd['cpu_s']:.1f} s to {bkt['cpu_s']:.1f} s)."
            )
        L.append("\n" + " ".join(summary) + "\n")
        share = {o: rows[(o, "random")]["real"] / rows[(o, "random")]["padded"] for o, _ in r["studies"]}
        if len(share) == 2 and share["truncate"] > 0.9 > share["drop"]:
            L.append(
                f"Truncated at 64 tokens, the code targets average "
                f"{rows[('truncate', 'random')]['real'] / r['train'] - 1:.1f} tokens (plus EOS), so random batches "
                f"are already {100 * share['truncate']:.0f}% real target tokens and there is little to save on that "
                f"side; with overlong pairs dropped they average {rows[('drop', 'random')]['real'] / r['train'] - 1:.1f}"
                f", spread over the whole range, and a random batch is {100 * share['drop']:.0f}% real.\n"
            )
        L.append(
            "Pools are sorted by target length and then by docstring length, so the docstrings of a batch are "
            "grouped too (the more so the more targets share a length, as when most are cut at 64). Step time "
            "depends on both sides: the encoder runs over the padded docstrings, and the attention decoder scores "
            "every padded source position at every padded target step.\n"
        )
        L.append(
            f"The machine was shared: another engineer's training runs used its {os.cpu_count()} cores at the "
            f"same time (1-minute load average before and after each run: {', '.join(r['loads'])}), so the wall "
            "times are noisy and even the CPU times (caches and cores were shared) only indicative; the token "
            "counts, losses and BLEU are exact and the same in every repeat (checked).\n"
        )
        L.append("Commands:\n")
        L += [f"    {c}" for c in cmds]
        L.append("")
    if "leases" in results:
        rows, cmds = results["leases"]
        L.append(f"## Coordinator leases over loopback gRPC (sizes {mode(a, 'leases')})\n")
        L.append(
            "The real `intervene coordinator` (SQLite ledger) with a study of "
            f"{rows[0]['jobs'] if rows else '?'} queued jobs; N simulated workers, one gRPC connection each, "
            "loop Lease -> Complete (a small result: metrics and no examples). Leases/s counts completed "
            "Lease+Complete cycles. Latencies as the client sees them. Clients run on the same machine as the "
            "coordinator and take part of its cores.\n\n"
            "*closed*: every worker starts its next cycle as soon as the last is answered, which measures the most "
            "leases per second the coordinator sustains; in a closed loop every call waits behind the other "
            "workers' calls (latency = workers / throughput), so its latencies grow with the fleet by "
            "construction. *paced*: the fleet starts R cycles per second in all (each worker one every "
            "workers/R seconds, staggered), the way real workers arrive between jobs: the latency at that load.\n"
        )
        L.append("| mode | workers | jobs queued | leases/s | Lease p50 (ms) | Lease p99 (ms) "
                 "| Complete p50 (ms) | Complete p99 (ms) | coordinator CPU (cores) | RSS (MiB) | peak RSS (MiB) "
                 "| errors |")  # fmt: skip
        L.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            shape = f"paced {float(r['rate']):.0f}/s" if r.get("mode") == "paced" else "closed"
            L.append(
                f"| {shape} | {r['workers']} | {r['jobs']} | {float(r['leases_per_s']):.0f} | "
                f"{r['lease_p50_ms']} | {r['lease_p99_ms']} | {r['complete_p50_ms']} | {r['complete_p99_ms']} | "
                f"{r['coord_cpu_cores']} | {r['coord_rss_mib']} | {r['coord_peak_rss_mib']} | {r['errors']} |"
            )
        closed = [float(r["leases_per_s"]) for r in rows if r.get("mode") != "paced"]
        paced = [r for r in rows if r.get("mode") == "paced" and r["workers"] == "1000"]
        if closed and paced:
            r = paced[0]
            ok = (float(r["leases_per_s"]) >= 0.98 * float(r["rate"]) and float(r["rate"]) >= 5000
                  and float(r["lease_p99_ms"]) < 10)  # fmt: skip
            L.append(
                f"\nTarget (>= 5,000 leases/s, p99 < 10 ms at 1,000 workers): {verdict(ok)} "
                f"(most in a closed loop: {max(closed):.0f}/s; paced at {float(r['rate']):.0f}/s with 1,000 "
                f"workers: {float(r['leases_per_s']):.0f}/s achieved, Lease p99 {r['lease_p99_ms']} ms).\n"
            )
        L.append("Commands:\n")
        L += [f"    {c}" for c in cmds]
        L.append("")
    if "fleet" in results:
        rows, cmds = results["fleet"]
        L.append(f"## Fleet overhead (sizes {mode(a, 'fleet')})\n")
        L.append(
            "The real `intervene coordinator` and real `intervene worker` processes on this machine, each worker "
            "training by sleeping a fixed time per job (`--fake-train`, a hidden testing flag), so every second "
            "beyond the sleeps is the fleet's own: leases, data set fetch and check, heartbeats, result upload, "
            "the ledger and the tables. *Wall*: from starting the workers (process start, libtorch load, "
            "registration included) to the last job recorded; *ideal*: jobs x seconds per job / workers. "
            "*Outside training*: the share of each worker's time, from its first lease to its last result (the "
            "ledger's attempts), not spent in the trainer (train_seconds of the runs table); *per job*: that "
            "time divided by the jobs.\n"
        )
        L.append("| workers | jobs | s per job | wall (s) | ideal (s) | overhead (wall / ideal - 1) "
                 "| outside training | per job (ms) | attempts |")  # fmt: skip
        L.append("|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            L.append(
                f"| {r['workers']} | {r['jobs']} | {r['job_s']:g} | {r['wall']:.1f} | {r['ideal']:.1f} | "
                f"{100 * r['overhead']:.1f}% | {100 * r['outside']:.2f}% | {r['per_job_ms']:.0f} | {r['attempts']} |"
            )
        ten = [r for r in rows if r["job_s"] >= 10]
        if ten:
            L.append(f"\nTarget (fleet overhead under 1% for 10-second jobs, as the share of a worker's time "
                     f"outside training): {verdict(ten[0]['outside'] < 0.01)}.\n")  # fmt: skip
        ray = [r for r in rows if r["job_s"] == 1.0]
        if ray:
            r = ray[0]
            L.append(
                f"Beside Ray Tune's published figure for 10,000 one-second trials on 16 CPUs (about 14% overhead): "
                f"ours {100 * r['overhead']:.1f}% for {r['jobs']:,} one-second jobs on {r['workers']} workers"
                + (f" (fewer jobs than Ray's 10,000: quick sizes)" if r["jobs"] < 10_000 else "")
                + f", on a {os.cpu_count()}-core machine rather than 16 CPUs (the sleeping workers need little "
                "CPU; the coordinator and 16 worker processes share the cores).\n"
            )
        L.append("Commands:\n")
        L += [f"    {c}" for c in cmds]
        L.append("")
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
    text = "\n".join(L) + "\n"
    path = os.path.join(ROOT, "BENCHMARKS.md")
    kept = kept_sections(path)
    if set(results) != set(PARTS) and os.path.exists(path):
        text = merge_report(strip_kept(open(path).read()), text, a, m, load_end, started, elapsed)
    with open(path, "w") as f:
        f.write(text + "".join("\n" + k for k in kept))


def split_report(text):
    """(everything before the first part's section, {part: its section's text})."""
    starts = []
    for i, line in enumerate(text.splitlines(keepends=True)):
        for part, heading in HEADINGS.items():
            if line.startswith(heading):
                starts.append((i, part))
    lines = text.splitlines(keepends=True)
    if not starts:
        return text, {}
    pre = "".join(lines[: starts[0][0]])
    sections = {}
    for k, (i, part) in enumerate(starts):
        end = starts[k + 1][0] if k + 1 < len(starts) else len(lines)
        sections[part] = "".join(lines[i:end])
    return pre, sections


def merge_report(old, new, a, m, load_end, started, elapsed):
    """A run of some parts (`--only`) replaces their sections and keeps the
    rest of the report, header and machine included, as it was; each new
    section says which run measured it."""
    old_pre, old_sections = split_report(old)
    _, new_sections = split_report(new)
    out = [old_pre]
    for part in PARTS:
        if part in new_sections:
            heading, _, body = new_sections[part].partition("\n\n")
            out.append(
                f"{heading}\n\nMeasured by `{a.invocation}` on {started:%Y-%m-%d %H:%M} UTC ({elapsed / 60:.1f} min), "
                f"commit {m['commit']}, Rust profile {a.profile}, torch {m['torch']}; load average (1/5/15 min) at start "
                f"{' '.join(m['load'])}, at end {' '.join(load_end)}. The other sections are from the run named at "
                f"the top.\n\n{body}"
            )
        elif part in old_sections:
            out.append(old_sections[part])
    return "".join(out)


# Sections of BENCHMARKS.md written by other scripts, kept as they are.
KEPT = [
    "## Learning-curve parity with a PyTorch port",  # bench/parity.sh (bench/check_parity.py --report)
    "## GPU check (bench/gpu-check.sh)",  # bench/gpu-check.sh --update-benchmarks
]


def kept_sections(path):
    """The KEPT sections of the current file, each up to the next level-2 heading."""
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        return []
    out = []
    for title in KEPT:
        start = text.find("\n" + title + "\n")
        if start >= 0:
            end = text.find("\n## ", start + 1)
            out.append(text[start + 1 : end + 1 if end >= 0 else len(text)].rstrip("\n") + "\n")
    return out


def strip_kept(text):
    """`text` without its KEPT sections (they are appended again at the end)."""
    for title in KEPT:
        start = text.find("\n" + title + "\n")
        if start >= 0:
            end = text.find("\n## ", start + 1)
            text = text[: start + 1] + (text[end + 1 :] if end >= 0 else "")
    return text


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", default="", help="comma-separated parts run at the quick sizes")
    ap.add_argument("--profile", required=True)
    ap.add_argument("--repeats", type=int, required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--only", default=",".join(PARTS))
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
    if a.quick - set(PARTS):
        sys.exit(f"bench: --quick: unknown part(s) {sorted(a.quick - set(PARTS))}; parts: {', '.join(PARTS)}")
    unknown = only - set(PARTS)
    if unknown:
        sys.exit(f"bench: --only: unknown part(s) {sorted(unknown)}; parts: {', '.join(PARTS)}")
    os.makedirs(a.work, exist_ok=True)
    started = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.perf_counter()
    m = machine()
    results = {}
    with open(os.path.join(a.work, "run.log"), "w") as log:
        for part, fn in [("tokenize", tokenize), ("analysis", analysis), ("leases", leases), ("fleet", fleet),
                         ("train", training), ("batching", batching)]:  # fmt: skip
            if part in only:
                results[part] = fn(a, SIZES[mode(a, part)], log)
    load_end = open("/proc/loadavg").read().split()[:3]
    write_report(a, m, load_end, results, started, time.perf_counter() - t0)
    print(f"wrote {rel(os.path.join(ROOT, 'BENCHMARKS.md'))} (raw output: {rel(os.path.join(a.work, 'run.log'))})")


if __name__ == "__main__":
    main()
