#!/usr/bin/env bash
# The shipped demo model's recipe as one command, on the GPUs of one machine (data parallel over all of them):
#   1. tokenizer, text encoder, VAE and the DiT's dataset (one GPU; ditstudio-train --prepare-only)
#   2. a 4-layer DiT (BASE_LAYERS) with its text encoder, from scratch, data parallel, bf16 mixed precision
#   3. the DiT grown to 8 layers (GROW_LAYERS; the new blocks join as identities) and trained on, data parallel, bf16
#   4. the content score (colour, direction, shape: the CTest content test's prompts and measurements)
# Every stage is resumable: run the same command again after an interruption. The model folder is OUTDIR; it gets the
# moving average of the DiT's and text encoder's weights (ditstudio-train --dit-ema) on the world's current version.
# Usage: scripts/train_demo_model.sh OUTDIR [extra ditstudio-train options for every stage]
# env: RANKS (every visible GPU), DEVICE (cuda; cpu runs ranks on the CPU transport), VAE_SECONDS (230),
#      CLIPS (32768), BASE_LAYERS (4), DIT_SECONDS (600), DIT_LR (6e-4), GROW_LAYERS (8), GROW_SECONDS (600), GROW_LR (4e-4),
#      DIT_BATCH (512 per rank), EVALUATE_SEEDS (3), EVALUATE_TIMEOUT (180 s), BUILD (build/headless),
#      SKIP_BUILD=1 (BUILD is built already)
# The shipped model (resources/demo-model) went through these stages in a longer chain of runs (its first 21,078 DiT
# steps on the world's version 1); each is in docs/performance.md ("Demo-model training").
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/train_setup.sh" "$1"
shift
device="${DEVICE:-cuda}"
if [[ "$device" == cuda ]]; then
    if [[ -z "${RANKS:-}" ]] && ! command -v nvidia-smi > /dev/null; then
        echo "error: no nvidia-smi to count the GPUs: set RANKS=N, or DEVICE=cpu" >&2
        exit 2
    fi
    ranks="${RANKS:-$(nvidia-smi -L | wc -l)}"
    precision=(--dit-bf16)
else
    ranks="${RANKS:-2}"
    precision=()
fi
parallel=()
(( ranks > 1 )) && parallel=(--ranks "$ranks")
common=(--device "$device" --out "$out" --commit "$commit" --clips "${CLIPS:-32768}" --dit-steps 1000000
        --dit-batch "${DIT_BATCH:-512}" "${precision[@]}")
stamp() { echo "[$(date -u +%H:%M:%S)] $*"; }

if [[ ! -f "$out/dit.safetensors" && ! -f "$out/dit.start.safetensors" && ! -f "$out/ditstudio-model.json" ]]; then
    stamp "stage 1: tokenizer, text encoder, VAE, dataset"
    "$train" "${common[@]}" --vae-seconds "${VAE_SECONDS:-230}" --vae-steps 1000000 --vae-batch 16 --prepare-only "$@" \
        2>&1 | tee -a "$out/train.log"
    stamp "stage 2: ${BASE_LAYERS:-4}-layer DiT from scratch over $ranks rank(s)"
    "$train" "${common[@]}" "${parallel[@]}" --dit-layers "${BASE_LAYERS:-4}" --dit-lr "${DIT_LR:-6e-4}" \
        --dit-seconds "${DIT_SECONDS:-600}" "$@" 2>&1 | tee -a "$out/train.log"
fi
dit_layers() { # of the finished model in OUTDIR (0: none yet)
    python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["dit"]["config"]["num_layers"])' \
        "$out/ditstudio-model.json" 2>/dev/null || echo 0
}
if [[ "$(dit_layers)" != "${GROW_LAYERS:-8}" ]]; then
    stamp "stage 3: the DiT grown to ${GROW_LAYERS:-8} layers over $ranks rank(s)"
    "$train" "${common[@]}" "${parallel[@]}" --continue-dit --dit-layers "${GROW_LAYERS:-8}" \
        --dit-lr "${GROW_LR:-4e-4}" --dit-seconds "${GROW_SECONDS:-600}" "$@" 2>&1 | tee -a "$out/train.log"
fi
if (( ${EVALUATE_SEEDS:-3} > 0 )); then
    stamp "stage 4: content score"
    timeout "${EVALUATE_TIMEOUT:-180}" "$train" --device "$device" --out "$out" --evaluate "${EVALUATE_SEEDS:-3}" \
        > "$out/evaluate.log" 2>&1 || echo "evaluation failed or did not finish within ${EVALUATE_TIMEOUT:-180} s: $out/evaluate.log"
    grep -E "evaluate\].*%" "$out/evaluate.log" || true
fi
stamp "done: $out"
