#!/usr/bin/env bash
# One command for every comparison of issue 7; rewrites BENCHMARKS.md.
#
#   bench/run.sh [--quick[=PARTS]] [--profile release|dev] [--repeats N] [--threads N] [--only train,batching,leases,fleet,analysis,tokenize]
#
#   --quick     small sizes (checks that everything works; minutes, not an hour);
#               --quick=train,leases: only those parts small, the others at full size
#   --profile   cargo profile of the Rust side (default: bench, i.e. release settings)
#   --repeats   runs per measurement, the median is reported (default 3; 1 with --quick)
#   --threads   libtorch threads on both sides (default: all cores)
#   --only      a subset of the comparisons; the other sections of BENCHMARKS.md
#               are kept as they were, and each rerun section names its run
#
# Needs the project venv (scripts/setup.sh) with bench/requirements.txt.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/env.sh

invocation="bench/run.sh $*"
quick="" profile=bench repeats="" threads="$(nproc)" only="train,batching,leases,fleet,analysis,tokenize"
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick="train,batching,leases,fleet,analysis,tokenize" ;;
    --quick=*) quick="${1#--quick=}" ;;
    --profile) profile="${2:?--profile needs a value}"; shift ;;
    --repeats) repeats="${2:?--repeats needs a value}"; shift ;;
    --threads) threads="${2:?--threads needs a value}"; shift ;;
    --only) only="${2:?--only needs a value}"; shift ;;
    *) echo "bench/run.sh: unknown argument '$1' (--quick, --profile P, --repeats N, --threads N, --only LIST)" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$repeats" ] || { [ -n "$quick" ] && repeats=1 || repeats=3; }

# Build once; take the executables' paths from cargo rather than guessing them.
artifacts="$(mktemp)"
trap 'rm -f "$artifacts"' EXIT
cargo bench --profile "$profile" --no-run --workspace --message-format=json-render-diagnostics >"$artifacts"
exe() {
  python3 - "$artifacts" "$1" "$2" <<'PY'
import json, sys
path, kind, name = sys.argv[1:]
for line in open(path):
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") \
            and m["target"]["name"] == name and kind in m["target"]["kind"] \
            and (kind == "bench" or not m["profile"]["test"]):
        # A bin is also built as a test harness; take the real one.
        print(m["executable"]); break
else:
    sys.exit(f"bench/run.sh: cargo built no {kind} named {name}")
PY
}

args=(--profile "$profile" --repeats "$repeats" --threads "$threads" --only "$only"
  --intervene "$(exe bin intervene)" --throughput "$(exe bench throughput)"
  --leases "$(exe bench leases)" --tokenize "$(exe bench tokenize)" --work target/bench-work
  --quick "$quick" --invocation "$invocation")
python bench/run.py "${args[@]}"
