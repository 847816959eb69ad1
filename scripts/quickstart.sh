#!/usr/bin/env bash
# Installs what is missing, builds, and runs experiments/quickstart.toml end
# to end on this machine's CPU: an in-process coordinator (state in
# .intervene/) and local workers, then prints the effects.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
exec target/debug/intervene run experiments/quickstart.toml "$@"
