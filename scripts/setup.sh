#!/usr/bin/env bash
# Installs what intervene needs and builds it. Safe to run any number of
# times: each step is skipped when already done.
#   - a project virtualenv (.venv) with torch==2.11.0 from PyPI (libtorch for tch 0.24)
#   - the Python packages the reference checks under bench/ use
#   (every version pinned by scripts/python-constraints.txt)
#   - the workspace, built with the rpath to torch's libraries
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/env.sh

TORCH_VERSION=2.11.0
if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv"
    python3 -m venv .venv
fi
if ! .venv/bin/python -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
    echo "==> installing torch==$TORCH_VERSION into .venv (about 4.7 GB, a few minutes)"
    .venv/bin/pip install --quiet -c scripts/python-constraints.txt "torch==$TORCH_VERSION"
fi
# A stamp of the requirements file's hash skips pip when nothing changed.
req_hash=$(cat bench/requirements.txt scripts/python-constraints.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat .venv/.bench-requirements 2>/dev/null)" != "$req_hash" ]; then
    echo "==> installing bench/requirements.txt into .venv"
    .venv/bin/pip install --quiet -r bench/requirements.txt -c scripts/python-constraints.txt
    echo "$req_hash" > .venv/.bench-requirements
fi

if ! command -v cargo >/dev/null; then
    echo "error: cargo not found; install Rust 1.95 or newer from https://rustup.rs" >&2
    exit 1
fi
# What to build: the arguments (scripts/quickstart.sh asks for the binary
# alone, which skips the tests, benches and their dev-dependencies), by
# default everything the tests need.
if [ "$#" -eq 0 ]; then
    set -- --workspace --all-targets
fi
echo "==> building $* (compiled dependencies are cached in $CARGO_BUILD_BUILD_DIR)"
cargo build --quiet "$@"
