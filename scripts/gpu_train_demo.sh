#!/usr/bin/env bash
# Trains the embedded demo model on the GPU machine (one H100/H200; about 12 minutes) and leaves the model folder in
# OUTDIR. Run from the repository root: builds only ditstudio-train (headless preset, LibTorch of the system python),
# then runs every stage that OUTDIR does not hold yet (copy resources/demo-model's tokenizer/ and
# text_encoder.safetensors into OUTDIR first to keep them; delete vae/dit to retrain those), then scores the
# model's content. Usage: scripts/gpu_train_demo.sh OUTDIR [extra ditstudio-train options]
# env: VAE_SECONDS (230), DIT_SECONDS (400), DIT_LR (6e-4), DIT_BATCH (256), CLIPS (8192), EVALUATE_SEEDS (3),
#      EVALUATE_TIMEOUT (120 s), BUILD (build tree, default build/headless), SKIP_BUILD=1 (BUILD is built already:
#      several trainings at once, one per GPU through CUDA_VISIBLE_DEVICES)
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/train_setup.sh" "$1"
shift
"$train" --device cuda --out "$out" --commit "$commit" \
    --vae-seconds "${VAE_SECONDS:-230}" --vae-steps 1000000 --vae-batch 16 \
    --clips "${CLIPS:-8192}" --dit-steps 20000 --dit-batch "${DIT_BATCH:-256}" --dit-lr "${DIT_LR:-6e-4}" --dit-seconds "${DIT_SECONDS:-400}" \
    "$@"
# The content score (the same prompts and measurements as the CTest content test), bounded in time.
timeout "${EVALUATE_TIMEOUT:-120}" "$train" --device cuda --out "$out" \
    --evaluate "${EVALUATE_SEEDS:-3}" || echo "evaluation did not finish within ${EVALUATE_TIMEOUT:-120} s"
