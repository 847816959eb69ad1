# shellcheck shell=bash
# Sourced by the other scripts (and by developers): the project venv with
# torch, how tch finds libtorch, and where compiled dependencies are cached.
#   . scripts/env.sh
INTERVENE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export INTERVENE_ROOT
export VIRTUAL_ENV="$INTERVENE_ROOT/.venv"
export PATH="$VIRTUAL_ENV/bin:$HOME/.cargo/bin:$PATH"
# torch-sys asks the venv's python where torch 2.11.0 is.
export LIBTORCH_USE_PYTORCH=1
# Compiled dependencies are kept outside the clone, so a fresh clone (CI) or a
# second worktree does not rebuild tch, polars and tonic from scratch. Final
# binaries stay in the clone's own target/.
export CARGO_BUILD_BUILD_DIR="${CARGO_BUILD_BUILD_DIR:-$HOME/.cache/intervene/build}"
