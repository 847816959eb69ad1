#!/usr/bin/env bash
# Builds the intervene image from deploy/image/Containerfile with buildah:
#
#   deploy/image/build.sh [--cuda] [--bin PATH] [--tag NAME]
#
# --bin   the binary to put in (default target/debug/intervene; build it
#         with scripts/setup.sh --bin intervene)
# --cuda  also copy torch's CUDA libraries (libtorch_cuda and the nvidia-*
#         wheels, 3.6 GB) for GPU workers; by default only what CPU
#         training needs (libtorch_cpu, libc10, libgomp and the two CUDA
#         runtime libraries libtorch_cpu is linked against)
# --tag   the image name (default localhost/intervene:latest, or
#         localhost/intervene:cuda with --cuda)
#
# Registry images cannot be pulled on the machines this project is built
# on, so the base image is made here: a Debian bookworm minbase root
# filesystem from Debian's packages (mmdebstrap), imported with podman as
# localhost/debian:bookworm-minbase, once. buildah, podman and mmdebstrap
# are installed with apt-get when missing (root). The build runs with
# --isolation chroot, which works inside unprivileged containers where
# `podman run` cannot set rlimits.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

BIN=target/debug/intervene CUDA="" TAG=""
while (($#)); do
    case "$1" in
        --bin) BIN="${2:?--bin needs a path}"; shift 2 ;;
        --cuda) CUDA=1; shift ;;
        --tag) TAG="${2:?--tag needs a name}"; shift 2 ;;
        *) echo "build.sh: unknown argument '$1' (accepted: --cuda, --bin PATH, --tag NAME)" >&2; exit 64 ;;
    esac
done
TAG="${TAG:-localhost/intervene:${CUDA:+cuda}}"
[[ $TAG == *: ]] && TAG="${TAG}latest"
BASE=localhost/debian:bookworm-minbase

[[ -x $BIN ]] || { echo "build.sh: no binary at $BIN (build it: scripts/setup.sh --bin intervene)" >&2; exit 1; }
missing=()
for tool in buildah podman mmdebstrap; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if ((${#missing[@]})); then
    [[ $EUID -eq 0 ]] || { echo "build.sh: ${missing[*]} missing; install them (apt-get install ${missing[*]})" >&2; exit 2; }
    echo "==> installing ${missing[*]}"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } >/dev/null
fi

if ! podman image exists "$BASE"; then
    echo "==> making $BASE with mmdebstrap (about a minute)"
    rootfs="$(mktemp -d)/rootfs.tar"
    mmdebstrap --quiet --variant=minbase bookworm "$rootfs"
    podman import --quiet "$rootfs" "$BASE" >/dev/null
    rm -rf "$(dirname "$rootfs")"
fi

# The torch lib folder the binary was linked against (its RUNPATH).
torch_lib="$(readelf -d "$BIN" | sed -n 's/.*R\(UN\)\{0,1\}PATH.*\[\(.*\)\]/\2/p' | tr ':' '\n' | grep '/torch/lib$' | head -n 1)"
[[ -f $torch_lib/libtorch_cpu.so ]] || { echo "build.sh: $BIN has no rpath to a torch lib folder (got '$torch_lib')" >&2; exit 1; }
site="$(dirname "$(dirname "$torch_lib")")"

ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/site-packages/torch/lib" "$ctx/site-packages/nvidia"
cp "$BIN" "$ctx/intervene"
if [[ -n $CUDA ]]; then
    cp -a "$torch_lib"/*.so* "$ctx/site-packages/torch/lib/"
    cp -a "$site"/nvidia/. "$ctx/site-packages/nvidia/"
else
    cp -a "$torch_lib"/{libtorch_cpu.so,libc10.so,libgomp.so.1} "$ctx/site-packages/torch/lib/"
    mkdir -p "$ctx/site-packages/nvidia/cu13/lib"
    cp -aL "$site"/nvidia/cu13/lib/{libcudart.so.13,libcupti.so.13} "$ctx/site-packages/nvidia/cu13/lib/"
fi
echo "==> building $TAG from deploy/image/Containerfile ($(du -sh "$ctx" | cut -f1) of binary and libraries)"
buildah bud --quiet --isolation chroot --layers=false -f deploy/image/Containerfile --build-arg "BASE=$BASE" -t "$TAG" "$ctx" >/dev/null
echo "built $TAG"
