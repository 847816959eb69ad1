#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test of the workspace
# (unit tests and the end-to-end tests under tests/). Extra arguments go to
# `cargo test`, e.g. scripts/test.sh -p intervene-coordinator.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
. scripts/env.sh
echo "==> checking that only the worker links libtorch"
for crate in intervene-proto intervene-data intervene-coordinator intervene-analysis; do
    if cargo tree -p "$crate" -e normal,build --prefix none | grep -qE '^(tch|torch-sys) '; then
        echo "error: $crate depends on tch/torch-sys; only intervene-worker may link libtorch" >&2
        exit 1
    fi
done
# tests/deploy_checks.rs validates the Kubernetes manifests with the tools of
# deploy/requirements.txt, kept out of .venv (whose packages the quickstart
# mines), and lints every shell script.
req_hash=$(sha256sum deploy/requirements.txt | cut -d' ' -f1)
if [ "$(cat .venv-tools/.requirements 2>/dev/null)" != "$req_hash" ]; then
    echo "==> installing deploy/requirements.txt into .venv-tools"
    [ -x .venv-tools/bin/python ] || python3 -m venv .venv-tools
    .venv-tools/bin/pip install --quiet -r deploy/requirements.txt
    echo "$req_hash" > .venv-tools/.requirements
fi
if ! command -v shellcheck >/dev/null && [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "==> installing shellcheck"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck; } >/dev/null ||
        echo "warning: cannot install shellcheck: tests/deploy_checks.rs will report NOT RUN" >&2
fi
# tests/slurm.rs runs deploy/slurm/intervene.sbatch on a real single-node
# Slurm; the script installs slurm-wlm and munge when missing (root only).
# A cluster that was already up is left up.
echo "==> starting a single-node Slurm (deploy/slurm/local-cluster.sh)"
if deploy/slurm/local-cluster.sh running; then
    INTERVENE_SLURM_CONF="$(deploy/slurm/local-cluster.sh env | sed 's/^export SLURM_CONF=//')"
    export INTERVENE_SLURM_CONF
else
    rc=0
    deploy/slurm/local-cluster.sh start || rc=$?
    if ((rc == 0)); then
        INTERVENE_SLURM_CONF="$(deploy/slurm/local-cluster.sh env | sed 's/^export SLURM_CONF=//')"
        export INTERVENE_SLURM_CONF
        trap 'deploy/slurm/local-cluster.sh stop' EXIT
    elif ((rc == 2)); then
        echo "warning: no Slurm here (see above): tests/slurm.rs will report NOT RUN" >&2
    else
        exit "$rc"
    fi
fi
echo "==> testing"
cargo test --workspace "$@"
# The GPU check's plumbing, on the CPU (bench/gpu-check.sh; a real run needs
# a GPU machine). Only for the whole suite, not for a filtered run.
if [ "$#" -eq 0 ]; then
    echo "==> bench/gpu-check.sh --dry-run"
    bench/gpu-check.sh prepare --profile dev
    bench/gpu-check.sh --dry-run
fi
