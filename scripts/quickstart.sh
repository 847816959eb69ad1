#!/usr/bin/env bash
# Installs what is missing, builds, and runs experiments/quickstart.toml end
# to end on this machine's CPU: an in-process coordinator (state in
# .intervene/) and local workers train every job, then the effect of each
# intervention is estimated and a report with plots is written.
# Running it again reuses every finished job (nothing is trained twice).
# Extra arguments go to `intervene run`, e.g. --workers 1.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh --bin intervene
bin=target/debug/intervene
"$bin" run experiments/quickstart.toml "$@"
echo
echo "==> effects (intervene effects quickstart)"
"$bin" effects quickstart
echo
echo "==> report (intervene report quickstart -o .intervene/report/quickstart)"
"$bin" report quickstart -o .intervene/report/quickstart
