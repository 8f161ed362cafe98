#!/usr/bin/env bash
# Takes docs/screenshot.png: the studio in the middle of a real generation, under Xvfb. The studio starts its own
# ditstudio-worker on a private socket, submits the prompt below with the given preset, and saves a picture of its
# window when the job reaches the given denoising step, then quits.
#
#   scripts/screenshot.sh MODEL_DIR [BUILD_DIR] [PRESET] [STEP]
#   e.g. scripts/screenshot.sh resources/models/demo build/dev demo-cpu 6
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:?usage: scripts/screenshot.sh MODEL_DIR [BUILD_DIR] [PRESET] [STEP]}
build=${2:-build/dev}
preset=${3:-demo-cpu}
step=${4:-6}
prompt=${DITSTUDIO_SCREENSHOT_PROMPT:-"a red fox running through fresh snow in a birch forest, morning light, cinematic"}
studio="$build/app/gui/ditstudio"
[ -x "$studio" ] || { echo "no $studio: build the dev preset first" >&2; exit 2; }
command -v xvfb-run >/dev/null || { echo "xvfb-run is missing: apt-get install -y xvfb" >&2; exit 2; }

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export DITSTUDIO_WORKER="unix:$scratch/worker.sock"
export XDG_STATE_HOME="$scratch/state" XDG_CONFIG_HOME="$scratch/config"
mkdir -p docs

timeout 900 xvfb-run -a -s "-screen 0 1600x1000x24" "$studio" \
  --model "$model" --preset "$preset" --prompt "$prompt" --generate \
  --worker-program "$build/app/worker/ditstudio-worker" \
  --screenshot docs/screenshot.png --screenshot-at-step "$step" --quit-after-screenshot
# The studio started the worker; stop it by the pid in its socket lock file (docs/protocol.md).
if [ -s "$scratch/worker.sock.lock" ]; then
  kill "$(tr -dc 0-9 < "$scratch/worker.sock.lock")" 2>/dev/null || true
fi
echo "wrote docs/screenshot.png"
