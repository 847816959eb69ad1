#!/usr/bin/env python3
"""The GPU check of bench/gpu-check.sh (which sets the environment up and
calls this): one command for the few minutes a GPU machine is lent.

1. What torch sees: CUDA available, the device, torch and CUDA versions.
2. One quickstart job (experiments/quickstart.toml, arm control, seed 1)
   trained by the carried `intervene` binary on the CPU and on cuda:0; the
   GPU's metrics must agree with the CPU's within the tolerances below.
3. The throughput bench (worker/benches/throughput.rs) on the GPU beside the
   PyTorch eager reference (bench/reference/seq2seq_eager.py) on the GPU:
   the ratio per architecture, and each side's share of the GPU's peak.

Everything is written to OUT/rows.md (the BENCHMARKS.md section) and
OUT/report.json; --update-benchmarks replaces the section in BENCHMARKS.md.

--dry-run does the same on the CPU with small sizes (the quickstart job for
2 epochs, both runs on the CPU with the same thread count, which must then
agree exactly, and the benches with --small): it checks the plumbing, and CI
runs it. The exit status is 0 only when every check passed.
"""

import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEADING = "## GPU check (bench/gpu-check.sh)"

# A GPU sums in another order than the CPU, so its run drifts from the CPU's
# as a run of another seed would. The quickstart's 3 control seeds (README,
# "Measured") differ by up to about 1.2 BLEU and 0.03 in best validation
# loss (about 1%); the tolerances are about twice that.
TOL_BLEU = 2.5
TOL_VALID_LOSS_REL = 0.02

# Dense FP32 peak (non-tensor-core) by the name nvidia-smi gives, in TFLOPS
# (NVIDIA's data sheets): the jobs train in FP32.
PEAK_FP32_TFLOPS = [
    ("H200", 67.0),
    ("H100 PCIe", 51.0),
    ("H100", 67.0),
    ("A100", 19.5),
    ("L40S", 91.6),
    ("L4", 30.3),
    ("A10", 31.2),
    ("V100", 15.7),
]

SUMMARY = re.compile(r"^(bleu|codexglue_bleu|token_accuracy|exact_match|syntax_valid|test_loss|parameters)\s+(\S+)", re.M)
EPOCHS = re.compile(r"^epochs\s+(\d+) \(best (\d+), valid loss ([0-9.]+)", re.M)
TRAIN = re.compile(r"^train\s+([0-9.]+) s, ([0-9.]+) target tokens/s", re.M)
BENCH_LINE = re.compile(r"^(rnn|gru|lstm|lstm-attention|transformer)\s+params\s+(\d+)\s+(.*)$", re.M)
BENCH_TRAIN = re.compile(r"train tf=([0-9.]+):\s+([0-9.]+) tok/s")
BENCH_DECODE = re.compile(r"(greedy|beam\d+):\s+([0-9.]+) seq/s")


class Check:
    def __init__(self, deadline):
        self.deadline = deadline
        self.log = []
        self.failures = []

    def run(self, cmd, env=None, what=""):
        left = self.deadline - time.monotonic()
        if left < 5:
            raise SystemExit(f"gpu-check: out of time before {what or cmd[0]}")
        print(f"==> {what}: {' '.join(cmd)}", flush=True)
        t0 = time.monotonic()
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=left)
        self.log.append({"cmd": cmd, "rc": p.returncode, "seconds": round(time.monotonic() - t0, 1)})
        if p.returncode != 0:
            sys.stderr.write(p.stdout[-4000:] + p.stderr[-4000:])
            raise SystemExit(f"gpu-check: {what} failed (exit {p.returncode}): {' '.join(cmd)}")
        return p.stdout, time.monotonic() - t0

    def expect(self, ok, message):
        print(("ok    " if ok else "FAIL  ") + message, flush=True)
        if not ok:
            self.failures.append(message)


def torch_report(python):
    script = (
        "import json, torch\n"
        "ok = torch.cuda.is_available()\n"
        "print(json.dumps({'torch': torch.__version__, 'cuda': torch.version.cuda, 'available': ok,\n"
        "  'count': torch.cuda.device_count() if ok else 0,\n"
        "  'name': torch.cuda.get_device_name(0) if ok else '',\n"
        "  'memory_gib': round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1) if ok else 0}))\n"
    )
    out = subprocess.run([python, "-c", script], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def quickstart_copy(work, python, dry_run):
    """experiments/quickstart.toml with its data mined from `python`'s
    environment (the GPU machine has no .venv) and, in a dry run, 2 epochs."""
    text = open(os.path.join(ROOT, "experiments/quickstart.toml")).read()
    text, n = re.subn(r"^source = .*$", f'source = {{ kind = "python-env", python = "{python}" }}', text, flags=re.M)
    assert n == 1, "experiments/quickstart.toml: expected one `source =` line"
    if dry_run:
        text, n = re.subn(r"^epochs = \d+$", "epochs = 2", text, count=1, flags=re.M)
        assert n == 1, "experiments/quickstart.toml: expected an `epochs =` line"
    path = os.path.join(work, "quickstart.toml")
    with open(path, "w") as f:
        f.write(text)
    return path


def parse_train(text):
    m = {k: float(v) for k, v in SUMMARY.findall(text) if v.replace(".", "", 1).isdigit()}
    e = EPOCHS.search(text)
    t = TRAIN.search(text)
    if not e or not t or "bleu" not in m:
        raise SystemExit(f"gpu-check: cannot read the train summary:\n{text}")
    m.update(epochs=int(e.group(1)), best_valid_loss=float(e.group(3)), train_seconds=float(t.group(1)),
             tokens_per_second=float(t.group(2)))
    return m


def parse_bench(text):
    out = {}
    for arch, params, rest in BENCH_LINE.findall(text):
        row = {"params": int(params)}
        for tf, v in BENCH_TRAIN.findall(rest):
            row[f"train tf={float(tf):g}"] = float(v)
        for kind, v in BENCH_DECODE.findall(rest):
            row[kind] = float(v)
        out[arch] = row
    return out


def peak_tflops(name, given):
    if given:
        return given
    for key, v in PEAK_FP32_TFLOPS:
        if key in name:
            return v
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dry-run", action="store_true")
    ap.add_argument("--intervene", required=True)
    ap.add_argument("--throughput", required=True)
    ap.add_argument("--python", required=True, help="a python with torch 2.11 (its libs are the binaries')")
    ap.add_argument("--out", required=True, help="rows.md and report.json")
    ap.add_argument("--work", required=True, help="the jobs' tables and checkpoints (emptied first)")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--peak-tflops", type=float, help="the GPU's FP32 peak, when its name is not in the table")
    ap.add_argument("--minutes", type=float, default=5.0, help="the whole check's time limit")
    ap.add_argument("--update-benchmarks", action="store_true")
    ap.add_argument("--invocation", default="bench/gpu-check.sh")
    a = ap.parse_args()
    started = datetime.datetime.now(datetime.timezone.utc)
    chk = Check(time.monotonic() + 60 * a.minutes)
    os.makedirs(a.out, exist_ok=True)
    work = a.work
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)

    # 1. What torch sees.
    t = torch_report(a.python)
    print(f"torch {t['torch']} (CUDA {t['cuda']}): CUDA available {t['available']}, {t['count']} device(s), "
          f"cuda:0 {t['name'] or '-'} {t['memory_gib']} GiB", flush=True)
    device = "cpu" if a.dry_run else "cuda:0"
    if not a.dry_run:
        chk.expect(t["available"], "torch sees a CUDA device")
        if not t["available"]:
            raise SystemExit("gpu-check: no CUDA device; --dry-run checks the rest on the CPU")

    # 2. One quickstart job, CPU then the device.
    study = quickstart_copy(work, a.python, a.dry_run)
    runs = {}
    for side, dev in [("cpu", "cpu"), ("device", device)]:
        text, _ = chk.run([a.intervene, "train", study, "--arm", "control", "--seed", "1", "--device", dev,
                           "--threads", str(a.threads), "--out", os.path.join(work, side)],
                          what=f"quickstart job on {dev}")
        runs[side] = parse_train(text)
    cpu, dev = runs["cpu"], runs["device"]
    if a.dry_run:
        # Same device, same thread count: the job is a function of its id.
        for k in ["bleu", "token_accuracy", "best_valid_loss", "test_loss"]:
            chk.expect(cpu[k] == dev[k], f"dry run: {k} {cpu[k]} twice on the CPU")
    else:
        chk.expect(abs(cpu["bleu"] - dev["bleu"]) <= TOL_BLEU,
                   f"BLEU on {device} {dev['bleu']:.2f} vs CPU {cpu['bleu']:.2f} (tolerance {TOL_BLEU})")
        rel = abs(cpu["best_valid_loss"] - dev["best_valid_loss"]) / cpu["best_valid_loss"]
        chk.expect(rel <= TOL_VALID_LOSS_REL,
                   f"best valid loss on {device} {dev['best_valid_loss']:.4f} vs CPU {cpu['best_valid_loss']:.4f} "
                   f"({100 * rel:.2f}%, tolerance {100 * TOL_VALID_LOSS_REL:.0f}%)")
    chk.expect(cpu["parameters"] == dev["parameters"], f"parameters {int(cpu['parameters'])} on both")

    # 3. Throughput, ours and PyTorch eager, on the device.
    size = ["--small", "--steps", "2"] if a.dry_run else ["--steps", "5"]
    common = size + ["--threads", str(a.threads), "--device", device]
    ours_text, _ = chk.run([a.throughput] + common, what=f"throughput bench on {device}")
    ref_text, _ = chk.run([a.python, os.path.join(ROOT, "bench/reference/seq2seq_eager.py")] + common,
                          what=f"PyTorch eager reference on {device}")
    ours, ref = parse_bench(ours_text), parse_bench(ref_text)
    chk.expect(set(ours) == set(ref) and len(ours) == 5, f"both benches measured {sorted(ours)}")
    for arch in ours:
        if arch in ref:
            chk.expect(ours[arch]["params"] == ref[arch]["params"],
                       f"{arch}: {ours[arch]['params']} parameters on both sides")
    peak = None if a.dry_run else peak_tflops(t["name"], a.peak_tflops)

    report = {"started": started.isoformat(), "dry_run": a.dry_run, "device": device, "torch": t,
              "quickstart": runs, "throughput": {"ours": ours, "reference": ref}, "peak_fp32_tflops": peak,
              "commands": chk.log, "failures": chk.failures}
    with open(os.path.join(a.out, "report.json"), "w") as f:
        json.dump(report, f, indent=1)
    section = render(report, a.invocation)
    with open(os.path.join(a.out, "rows.md"), "w") as f:
        f.write(section)
    print("\n" + section)
    if a.update_benchmarks:
        update_benchmarks(section)
    if chk.failures:
        raise SystemExit(f"gpu-check: {len(chk.failures)} check(s) failed")
    print("gpu-check: every check passed")


def share(tokens_per_second, params, peak):
    """Training FLOP/s as 6 x parameters x target tokens/s (forward and
    backward of a dense model; it ignores attention's and the recurrences'
    own terms) over the FP32 peak."""
    if not peak or not tokens_per_second:
        return "-"
    return f"{100 * 6 * params * tokens_per_second / (peak * 1e12):.2f}%"


def render(r, invocation):
    t, dev = r["torch"], r["device"]
    what = "dry run on the CPU (plumbing only; no GPU figure)" if r["dry_run"] else f"{t['name']} ({t['memory_gib']} GiB)"
    L = [HEADING, ""]
    L.append(f"Measured by `{invocation}` on {r['started'][:16].replace('T', ' ')} UTC: {what}, torch {t['torch']} "
             f"(CUDA {t['cuda']}).")
    L.append("")
    L.append("One quickstart job (`intervene train experiments/quickstart.toml --arm control --seed 1`, data mined "
             "from the machine's python):")
    L.append("")
    L.append(f"| | CPU | {dev} |")
    L.append("|---|---:|---:|")
    q = r["quickstart"]
    for k in ["bleu", "token_accuracy", "syntax_valid", "best_valid_loss", "epochs", "train_seconds",
              "tokens_per_second"]:
        if k in q["cpu"]:
            L.append(f"| {k} | {q['cpu'][k]:g} | {q['device'][k]:g} |")
    L.append("")
    peak = r["peak_fp32_tflops"]
    L.append(f"Throughput on {dev} (`worker/benches/throughput.rs` and `bench/reference/seq2seq_eager.py`, training "
             f"target tokens/s at teacher forcing 1.0; share of the FP32 peak{f' of {peak:g} TFLOPS' if peak else ''} "
             "as 6 x parameters x tokens/s):")
    L.append("")
    L.append("| arch | parameters | ours tok/s | PyTorch tok/s | ours / PyTorch | ours, share of peak | PyTorch, share "
             "of peak | greedy seq/s ours / PyTorch |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    ours, ref = r["throughput"]["ours"], r["throughput"]["reference"]
    for arch in ["rnn", "gru", "lstm", "lstm-attention", "transformer"]:
        if arch not in ours or arch not in ref:
            continue
        o, p = ours[arch], ref[arch]
        ot, pt = o.get("train tf=1", 0), p.get("train tf=1", 0)
        L.append(f"| {arch} | {o['params']:,} | {ot:,.0f} | {pt:,.0f} | {ot / pt:.2f} | "
                 f"{share(ot, o['params'], peak)} | {share(pt, p['params'], peak)} | "
                 f"{o.get('greedy', 0):,.0f} / {p.get('greedy', 0):,.0f} |")
    L.append("")
    L.append("Failed: " + "; ".join(r["failures"]) if r["failures"] else "Every check passed.")
    L.append("")
    return "\n".join(L) + "\n"


def update_benchmarks(section):
    path = os.path.join(ROOT, "BENCHMARKS.md")
    text = open(path).read()
    start = text.find("\n" + HEADING + "\n")
    if start >= 0:
        end = text.find("\n## ", start + 1)
        text = text[: start + 1] + (text[end + 1 :] if end >= 0 else "")
    with open(path, "w") as f:
        f.write(text.rstrip("\n") + "\n\n" + section)


if __name__ == "__main__":
    main()
