#!/usr/bin/env bash
# The GPU check, in two steps: build here, run on the GPU machine.
#
#   bench/gpu-check.sh prepare [--profile release|dev]
#       builds the intervene binary and the throughput bench (release by
#       default; dev reuses the test build) and copies both into
#       target/gpu-check/, the folder to carry to the GPU machine.
#   bench/gpu-check.sh [--dry-run] [--out DIR] [--update-benchmarks] [--peak-tflops T]
#       builds nothing: runs the carried binaries against the torch libs of
#       the machine's python (a .venv if there is one, else python3, or
#       $INTERVENE_PYTHON), in under 5 minutes. bench/gpu_check.py says what
#       is checked; the BENCHMARKS.md section lands in DIR/rows.md (default
#       target/gpu-check/out, or $OUT when set, as on the device machine).
#       --dry-run does it all on the CPU with small sizes (CI runs it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
dir=target/gpu-check

if [[ "${1:-}" == prepare ]]; then
    shift
    profile=release
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --profile) profile="${2:?--profile needs release or dev}"; shift ;;
            *) echo "bench/gpu-check.sh prepare: unknown argument '$1' (accepted: --profile release|dev)" >&2; exit 64 ;;
        esac
        shift
    done
    . scripts/env.sh
    case "$profile" in
        # The same targets as scripts/setup.sh: nothing is rebuilt after the tests.
        dev) build=(cargo build --workspace --all-targets) ;;
        # One invocation, so dependencies are resolved (and compiled) once.
        release) build=(cargo build --release --workspace --bin intervene --bench throughput) ;;
        *) echo "bench/gpu-check.sh prepare: --profile $profile (accepted: release, dev)" >&2; exit 64 ;;
    esac
    artifacts="$(mktemp)"
    trap 'rm -f "$artifacts"' EXIT
    "${build[@]}" --message-format=json-render-diagnostics >"$artifacts"
    mkdir -p "$dir"
    python3 - "$artifacts" "$dir" <<'PY'
import json, shutil, sys
path, dest = sys.argv[1:]
found = {}
for line in open(path):
    m = json.loads(line)
    if m.get("reason") != "compiler-artifact" or not m.get("executable"):
        continue
    t = m["target"]
    if (t["name"], t["kind"]) == ("intervene", ["bin"]) and not m["profile"]["test"]:
        found["intervene"] = m["executable"]
    elif (t["name"], t["kind"]) == ("throughput", ["bench"]):
        found["throughput"] = m["executable"]
for name in ("intervene", "throughput"):
    if name not in found:
        sys.exit(f"bench/gpu-check.sh prepare: cargo built no {name}")
    shutil.copy2(found[name], f"{dest}/{name}")
    print(f"{dest}/{name} <- {found[name]}")
PY
    # Debug info is most of a release binary's size, and what is carried to
    # the GPU machine is limited.
    if [[ "$profile" == release ]]; then
        strip --strip-debug "$dir/intervene" "$dir/throughput"
    fi
    du -sh "$dir/intervene" "$dir/throughput"
    exit 0
fi

out="${OUT:-$dir/out}"
args=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --dry-run | --update-benchmarks) args+=("$1") ;;
        --out) out="${2:?--out needs a folder}"; shift ;;
        --peak-tflops | --minutes) args+=("$1" "${2:?$1 needs a number}"); shift ;;
        *) echo "bench/gpu-check.sh: unknown argument '$1' (accepted: prepare, --dry-run, --out DIR, --update-benchmarks, --peak-tflops T, --minutes M)" >&2; exit 64 ;;
    esac
    shift
done
for exe in intervene throughput; do
    if [[ ! -x "$dir/$exe" ]]; then
        echo "bench/gpu-check.sh: $dir/$exe is missing: run 'bench/gpu-check.sh prepare' first (here, not on the GPU machine)" >&2
        exit 1
    fi
done
python="${INTERVENE_PYTHON:-}"
if [[ -z "$python" ]]; then
    if [[ -x .venv/bin/python ]]; then python="$PWD/.venv/bin/python"; else python="$(command -v python3)"; fi
fi
torch_dir="$("$python" -c 'import torch, os; print(os.path.dirname(torch.__file__))')" || {
    echo "bench/gpu-check.sh: $python cannot import torch (set INTERVENE_PYTHON to a python with torch 2.11)" >&2
    exit 1
}
# The binaries were linked against another machine's torch: this one's libs
# come first.
export LD_LIBRARY_PATH="$torch_dir/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
exec "$python" bench/gpu_check.py "${args[@]}" --intervene "$dir/intervene" --throughput "$dir/throughput" \
    --python "$python" --out "$out" --work "$dir/work" --invocation "bench/gpu-check.sh${args[*]:+ ${args[*]}}"
