#!/usr/bin/env bash
# Sourced by the demo-model training scripts with the output folder as $1 (after `set -euo pipefail`): makes it,
# moves to the repository root, takes the packages carried for the GPU machine (.deps), builds ditstudio-train with
# the headless preset into BUILD (build/headless) unless SKIP_BUILD is set, and sets out, build, train and commit.
out="$(mkdir -p "$1" && cd "$1" && pwd)"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[[ -d .deps ]] && . scripts/gpu_deps.sh
build="${BUILD:-build/headless}"
if [[ -z "${SKIP_BUILD:-}" ]]; then
    cmake --preset headless -B "$build" -DDITSTUDIO_TESTS=OFF \
        -DDITSTUDIO_TORCH_PREFIX="$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')" > "$out/build.log" 2>&1
    cmake --build "$build" --target ditstudio-train >> "$out/build.log" 2>&1
fi
train="$build/app/train/ditstudio-train"
commit="$(cat COMMIT 2>/dev/null || git rev-parse --short HEAD 2>/dev/null || echo unknown)"
