#!/usr/bin/env bash
# Out of GPU memory on a too-large request, on the GPU machine (docs/reliability.md): a real CUDA OOM must end the
# job with DiT Studio's message naming the request (frames, size, model) and saying what to change, not a crash.
# Needs a built headless tree (cmake --preset headless && cmake --build --preset headless: no Qt, FFmpeg optional).
#   1. ditstudio-cli generate --inline on the demo model at 8192x8192, 1025 frames, 1 step: the DiT's activations
#      (67M tokens) cannot fit; expect "out of GPU memory during denoise" and the advice
#   2. the same at 1 frame, VAE tiles off: the denoise fits, the untiled decode of an 8192x8192 frame may not; expect
#      "out of GPU memory during decode" and "VAE tiles" (reported, not failed, when the decode fits this GPU)
#   3. when ditstudio-worker is built: the request of 1 through a worker on a private socket, then a 256x256 job on
#      the same worker; expect the first job's failure message and the second job past the GPU (finished, or failed
#      only at export where this build has no FFmpeg), and the worker still running
# Usage: scripts/gpu_oom_check.sh [OUTDIR]   env: BUILD (build/headless, else build/gpu), MODEL (the demo model),
#        WIDTH HEIGHT FRAMES (8192 8192 1025), TIMEOUT_S (900 per run)
# Exit 0 when checks 1 and 3 (if run) found what they expect; OUTDIR/summary.txt says what each saw.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$(mkdir -p "${1:-oom-check}" && cd "${1:-oom-check}" && pwd)"
build="${BUILD:-}"
if [ -z "$build" ]; then
    build="$root/build/headless"
    [ -x "$build/app/cli/ditstudio-cli" ] || build="$root/build/gpu"
fi
cli="$build/app/cli/ditstudio-cli"
worker="$build/app/worker/ditstudio-worker"
rank="$build/app/rank/ditstudio-rank"
model="${MODEL:-$root/resources/demo-model}"
width="${WIDTH:-8192}" height="${HEIGHT:-8192}" frames="${FRAMES:-1025}"
limit="${TIMEOUT_S:-900}"
summary="$out/summary.txt"
: > "$summary"
say() { echo "[$(date -u +%T)] $*" | tee -a "$summary"; }
failures=0
expect() { # expect NAME FILE PATTERN...: every pattern in FILE
    local name="$1" file="$2"
    shift 2
    for pattern in "$@"; do
        if ! grep -qF -- "$pattern" "$file"; then
            say "FAIL $name: no \"$pattern\" in $file"
            return 1
        fi
    done
    say "ok   $name"
}
[ -x "$cli" ] || { echo "no $cli: build the headless preset first (or set BUILD)" >&2; exit 2; }
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | head -1 | sed 's/^/device: /' | tee -a "$summary"
huge=(--set "width=$width" --set "height=$height" --set "num_frames=$frames" --set steps=1 --set dtype=bfloat16
      --set parallel.device=cuda)
decode=(--set "width=$width" --set "height=$height" --set num_frames=1 --set steps=1 --set dtype=bfloat16
        --set vae.tiled=false --set parallel.device=cuda)

# ---- 1. denoise OOM, in process
say "1. ditstudio-cli generate --inline: ${frames} frames of ${width}x${height}"
timeout "$limit" "$cli" generate --inline --device cuda --model "$model" -p "a red circle moving right" \
    "${huge[@]}" -o "$out/denoise.mp4" > "$out/inline_denoise.log" 2>&1
rc=$?
say "   exit code $rc (124 = timed out)"
if [ $rc -eq 0 ] || [ $rc -eq 124 ] || ! expect "denoise OOM message (inline)" "$out/inline_denoise.log" \
        "out of GPU memory during denoise on cuda" "$frames frames of ${width}x${height}" "with model '" \
        "fewer frames (num_frames)" "more GPUs sharing the sequence" "CUDA out of memory"; then
    failures=$((failures + 1))
fi
grep -m1 "out of GPU memory" "$out/inline_denoise.log" | tee -a "$summary"

# ---- 2. decode OOM, in process (informative)
say "2. ditstudio-cli generate --inline: 1 frame of ${width}x${height}, vae.tiled=false"
timeout "$limit" "$cli" generate --inline --device cuda --model "$model" -p "a red circle moving right" \
    "${decode[@]}" -o "$out/decode.mp4" > "$out/inline_decode.log" 2>&1
say "   exit code $?"
if grep -qF "out of GPU memory during decode" "$out/inline_decode.log"; then
    expect "decode OOM message (inline)" "$out/inline_decode.log" "Try VAE tiles (vae.tiled=true)" || true
    grep -m1 "out of GPU memory" "$out/inline_decode.log" | tee -a "$summary"
else
    say "   no decode OOM on this GPU (the untiled decode fit, or failed otherwise): see $out/inline_decode.log"
fi

# ---- 3. through the worker: the OOM job fails with the message, the next job runs, the worker stays up
if [ -x "$worker" ] && [ -x "$rank" ]; then
    state="$out/worker-state"
    rm -rf "$state"
    mkdir -p "$state/run" "$state/state" "$state/out"
    sock="$state/run/worker.sock"
    XDG_RUNTIME_DIR="$state/run" XDG_STATE_HOME="$state/state" "$worker" --socket "$sock" \
        --database "$state/state/worker.sqlite3" --output-dir "$state/out" --log-file "$state/state/worker.log" \
        --rank-exe "$rank" > "$out/worker.console" 2>&1 &
    worker_pid=$!
    for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
    say "3. worker (pid $worker_pid): ${frames} frames of ${width}x${height}, then 5 frames of 256x256"
    DITSTUDIO_WORKER="$sock" timeout "$limit" "$cli" generate --model "$model" -p "a red circle moving right" \
        "${huge[@]}" > "$out/worker_denoise.log" 2>&1
    rc=$?
    if [ $rc -eq 0 ] || ! expect "denoise OOM message (worker)" "$out/worker_denoise.log" \
            "rank 0: out of GPU memory during denoise on cuda" "$frames frames of ${width}x${height}" \
            "fewer frames (num_frames)" "more GPUs sharing the sequence"; then
        failures=$((failures + 1))
    fi
    DITSTUDIO_WORKER="$sock" timeout "$limit" "$cli" generate --model "$model" -p "a red circle moving right" \
        --set width=256 --set height=256 --set num_frames=5 --set steps=4 --set dtype=bfloat16 \
        --set parallel.device=cuda > "$out/worker_next.log" 2>&1
    rc=$?
    if [ $rc -eq 0 ]; then
        say "ok   next job finished on the same worker"
    elif grep -q "failed: .*FFmpeg" "$out/worker_next.log"; then
        say "ok   next job ran on the GPU and failed only at export (this build has no FFmpeg)"
    else
        say "FAIL next job: exit $rc, see $out/worker_next.log"
        failures=$((failures + 1))
    fi
    if kill -0 "$worker_pid" 2>/dev/null; then
        say "ok   worker still running"
        DITSTUDIO_WORKER="$sock" "$cli" shutdown > /dev/null 2>&1 || kill "$worker_pid"
        wait "$worker_pid" 2>/dev/null
    else
        say "FAIL the worker exited: see $out/worker.console"
        failures=$((failures + 1))
    fi
else
    say "3. skipped: no $worker"
fi
say "failures: $failures"
exit $((failures > 0))
