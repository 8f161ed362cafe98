#!/usr/bin/env bash
# Sets up, builds and runs the main job: the engine on the golden tiny pipeline, frames written to out/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
preset="${DITSTUDIO_PRESET:-dev}"
cmake --preset "$preset"
cmake --build --preset "$preset" --target ditstudio-cli
"build/$preset/app/cli/ditstudio-cli" "$@"
