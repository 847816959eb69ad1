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
echo "==> testing"
cargo test --workspace "$@"
