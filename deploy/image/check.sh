#!/usr/bin/env bash
# Runs a tiny study from the image: a coordinator and a worker, each in its
# own container of the image, over loopback, the study submitted and its
# result read back from inside the coordinator's container.
#
#   deploy/image/check.sh [IMAGE]      # default localhost/intervene:latest
#
# Containers run with `buildah run --isolation chroot` (host network): on
# the machines this project is built on, `podman run` cannot set rlimits
# inside the sandbox ("crun: setrlimit RLIMIT_NPROC"). Where it can, the
# same image runs with
#   podman run --rm --network host -e INTERVENE_TOKEN IMAGE coordinator --listen 0.0.0.0:50051 --state /state
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

IMAGE="${1:-localhost/intervene:latest}"
PORT="${INTERVENE_PORT:-50077}"
URL="http://127.0.0.1:$PORT"
TOKEN="$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
work="$(mktemp -d)"
pids=() containers=()
# Every process under PID, deepest first.
descendants() {
    local child
    for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do
        descendants "$child"
        echo "$child"
    done
}
cleanup() {
    # `buildah run` does not pass SIGTERM on: signal the programs it runs.
    local p d
    for p in "${pids[@]}"; do
        for d in $(descendants "$p"); do kill -TERM "$d" 2>/dev/null || true; done
    done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    for c in "${containers[@]}"; do buildah rm "$c" >/dev/null 2>&1 || true; done
    rm -rf "$work"
}
trap cleanup EXIT

in_image() { # CONTAINER ARGS...: intervene inside the container, as the image's user
    local c="$1"
    shift
    buildah run --isolation chroot --env INTERVENE_TOKEN="$TOKEN" --env INTERVENE_LOG=warn "$c" -- /usr/local/bin/intervene "$@"
}

coordinator="$(buildah from --quiet "$IMAGE")" && containers+=("$coordinator")
worker="$(buildah from --quiet "$IMAGE")" && containers+=("$worker")
# The benchmarks' tiny study (a small lstm on synthetic pairs), one seed.
sed -e 's/@NAME@/image-check/' -e 's/@SEEDS@/[1]/' bench/tiny-study.toml >"$work/tiny.toml"
buildah copy --quiet --chown 10001:10001 "$coordinator" "$work/tiny.toml" /home/intervene/tiny.toml >/dev/null

in_image "$coordinator" coordinator --listen "127.0.0.1:$PORT" --state /state >"$work/coordinator.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 60); do
    grep -q "listening on" "$work/coordinator.log" && break
    kill -0 "${pids[0]}" 2>/dev/null || { cat "$work/coordinator.log" >&2; exit 1; }
    sleep 0.5
done
in_image "$worker" worker --coordinator "$URL" --device cpu --cache-dir /cache --threads 1 >"$work/worker.log" 2>&1 &
pids+=($!)

in_image "$coordinator" submit /home/intervene/tiny.toml --coordinator "$URL"
in_image "$coordinator" status image-check --watch --coordinator "$URL" >/dev/null
status="$(in_image "$coordinator" status image-check --coordinator "$URL")"
echo "$status"
rows="$(in_image "$coordinator" query image-check --state /state --format csv "select count(*) as n, min(bleu) >= 0 as ok from runs")"
echo "$rows"
if ! grep -q "succeeded (1 of 1 jobs done" <<<"$status" || ! grep -qx "1,true" <<<"$(tail -n 1 <<<"$rows")"; then
    echo "image check FAILED; coordinator log:" >&2
    cat "$work/coordinator.log" "$work/worker.log" >&2
    exit 1
fi
echo "image check: a study trained and recorded from $IMAGE"
