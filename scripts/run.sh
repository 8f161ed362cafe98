#!/usr/bin/env bash
# Sets up, builds and runs the main job: a clip generated from a prompt by the embedded demo model on the CPU
# (or by the model given with --model DIR), written to out/. Extra arguments go to `ditstudio-cli generate`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
preset="${DITSTUDIO_PRESET:-dev}"
cmake --preset "$preset"
cmake --build --preset "$preset" --target ditstudio-cli
prompt="${PROMPT:-a red circle moving left on a blue background}"
"build/$preset/app/cli/ditstudio-cli" generate --inline --prompt "$prompt" --out out/demo.mp4 "$@"
echo "Your video: $root/out/demo.mp4 (settings beside it in out/demo.mp4.json)"
