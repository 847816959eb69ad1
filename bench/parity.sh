#!/usr/bin/env bash
# Learning-curve parity with a PyTorch port (issue 13, item 7): `intervene
# train` against bench/reference/parity.py, one training run at a time, and
# bench/check_parity.py on the results (see its docstring for the three
# parts and the test). Exits with the check's status: 1 when the curves
# disagree beyond seed noise, when the exact parts differ beyond float
# rounding, or when the two sides did not train the same thing.
#
#   bench/parity.sh [--threads N] [--no-report] [--negative-control KNOB=VALUE]
#
#   --threads           libtorch threads on both sides (default 1)
#   --no-report         do not rewrite the parity section of BENCHMARKS.md
#   --negative-control  also train the port with one knob changed (e.g.
#                       learning_rate=1e-3), on both studies, and report the
#                       exact and over-seeds checks on those runs; the exit
#                       status stays that of the real comparison
#
# Studies: bench/parity-study.toml (over seeds) and bench/parity-exact-study.toml
# (nothing random between the sides). Writes under target/parity/ (cleared of
# earlier runs first, so running it twice is safe). Builds with `cargo build
# --workspace --all-targets`, a no-op when target/debug/intervene is up to
# date. About 25 minutes on 2 busy cores with one thread (35 with the
# negative control).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh disable=SC1091
. scripts/env.sh

invocation="bench/parity.sh $*"
threads=1 report=1 negative=""
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads="${2:?--threads needs a value}"; shift ;;
    --no-report) report=0 ;;
    --negative-control) negative="${2:?--negative-control needs KNOB=VALUE}"; shift ;;
    *) echo "bench/parity.sh: unknown argument '$1' (--threads N, --no-report, --negative-control KNOB=VALUE)" >&2; exit 2 ;;
  esac
  shift
done

study=bench/parity-study.toml
exact=bench/parity-exact-study.toml
work=target/parity
bin=target/debug/intervene
started=$(date +%s)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

cargo build --workspace --all-targets
rm -rf "$work/intervene" "$work/pytorch" "$work/exact" "$work/negative" "$work/commands.txt"
mkdir -p "$work"

# Runs a command from the repository root, and records it for the report.
step() {
  printf '%s\n' "$*" >>"$work/commands.txt"
  echo "\$ $*"
  "$@"
}

seeds_of() {
  python -c 'import sys, tomllib; print(*tomllib.load(open(sys.argv[1], "rb"))["study"]["seeds"], sep="\n")' "$1"
}

torch_dir=$(python -c 'import os, torch; print(os.path.dirname(torch.__file__))')
step "$bin" data mine "$(realpath -s --relative-to=. "$torch_dir")" -o "$work/mined.parquet" --threads 1
step python bench/reference/parity.py data "$exact" "$work/mined.parquet" --seed 0
step python bench/reference/parity.py data "$study" "$work/mined.parquet" --seed 0

# 1. Exact: the same seeds on both sides, the port drawing intervene's weights.
mapfile -t seeds < <(seeds_of "$exact")
for seed in "${seeds[@]}"; do
  step "$bin" train "$exact" --arm control --seed "$seed" --out "$work/exact/intervene" --threads "$threads"
  step python bench/reference/parity.py train "$exact" --seed "$seed" --same-init \
    --out "$work/exact/pytorch/seed-$seed.json" --threads "$threads"
done

# 2 and 3: every seed of the main study, independently on each side.
mapfile -t seeds < <(seeds_of "$study")
for seed in "${seeds[@]}"; do
  step "$bin" train "$study" --arm control --seed "$seed" --out "$work/intervene" --threads "$threads"
done
for seed in "${seeds[@]}"; do
  step python bench/reference/parity.py train "$study" --seed "$seed" --out "$work/pytorch/seed-$seed.json" \
    --threads "$threads"
done

check=(python bench/check_parity.py --study "$study" --ours "$work/intervene" --ref "$work"/pytorch/seed-*.json
  --exact-study "$exact" --exact-ours "$work/exact/intervene" --exact-ref "$work"/exact/pytorch/seed-*.json)
if [ -n "$negative" ]; then
  for seed in $(seeds_of "$exact"); do
    step python bench/reference/parity.py train "$exact" --seed "$seed" --same-init --set "$negative" \
      --out "$work/negative/exact/seed-$seed.json" --threads "$threads"
  done
  for seed in "${seeds[@]}"; do
    step python bench/reference/parity.py train "$study" --seed "$seed" --set "$negative" \
      --out "$work/negative/seed-$seed.json" --threads "$threads"
  done
  check+=(--negative-exact "$work"/negative/exact/seed-*.json --negative "$work"/negative/seed-*.json)
fi
printf '%s\n' "${check[*]}" >>"$work/commands.txt"
if [ "$report" = 1 ]; then
  check+=(--report BENCHMARKS.md --commands "$work/commands.txt" --invocation "$invocation" --threads "$threads"
    --load-start "$load_start" --started "$started" --elapsed "$(($(date +%s) - started))")
fi
status=0
"${check[@]}" || status=$?
exit "$status"
