#!/usr/bin/env bash
# Stage-3 training of the colour models on one CUDA GPU, three runs side by side.
#
#   bash scripts/train_gpu.sh PHOTOS RUNS [MINUTES] [DEVICE]
#
# PHOTOS: folder of clean photos (weights/RECIPE.md: the opencv-doc sample photos).
# RUNS:   output folder; one sub-folder per run (weights, card, log.jsonl, last.pt).
# The CPU cores make the degraded pairs (`--workers`), the GPU trains; each run has a
# wall-clock budget (`--minutes`) over which its cosine schedule decays completely.
#   color-default   the default architecture (cvdenoise.model.CONFIGS["default"]), from scratch
#   color-default-ft  the previous default architecture, fine-tuned from the shipped weights
#   color-fast      the fast model, fine-tuned from the shipped weights
set -uo pipefail
PHOTOS=${1:?photo folder}
RUNS=${2:?output folder}
MIN=${3:-6.5}
DEV=${4:-cuda}
PY=${PYTHON:-python3}
mkdir -p "$RUNS"
common=(train "$PHOTOS" --device "$DEV" --minutes "$MIN" --steps 1000000 --crop 128 --batch 32
        --degradation noise --val-every 1000 --threads 2 --ckpt-minutes 2)
lim=$(python3 -c "print(int($MIN * 60 + 90))")  # hard stop: budget + start-up and last export

timeout "$lim" $PY -m cvdenoise "${common[@]}" --out "$RUNS/color-default" --name color-default \
    --size default --lr 7e-4 --warmup 500 --loss log-charbonnier --workers "${W_A:-8}" \
    >"$RUNS/color-default.log" 2>&1 &
timeout "$lim" $PY -m cvdenoise "${common[@]}" --out "$RUNS/color-default-ft" --name color-default-ft \
    --init weights/color-default.safetensors --lr 2e-4 --warmup 200 --loss log-charbonnier --workers "${W_B:-4}" \
    >"$RUNS/color-default-ft.log" 2>&1 &
timeout "$lim" $PY -m cvdenoise "${common[@]}" --out "$RUNS/color-fast" --name color-fast \
    --init weights/color-fast.safetensors --lr 3e-4 --warmup 200 --workers "${W_C:-2}" \
    >"$RUNS/color-fast.log" 2>&1 &
wait
