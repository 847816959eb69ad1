#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test of the workspace
# (unit tests and the end-to-end tests under tests/). Extra arguments go to
# `cargo test`, e.g. scripts/test.sh -p intervene-coordinator.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
. scripts/env.sh
echo "==> testing"
cargo test --workspace "$@"
