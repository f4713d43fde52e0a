#!/usr/bin/env bash
# Next accelerator stage (weights/RECIPE.md, "Next"): the shipped colour default (optionally grown
# further with ARCH, cvdenoise.weights.grow: same output at the start) trained on one CUDA GPU
# with the pairs degraded on the GPU, then its gray twin (which then gets the same architecture).
#
#   bash scripts/train_gpu.sh PHOTOS EXTRA RUNS [MINUTES] [GRAY_MINUTES]
#
# PHOTOS, EXTRA: the training folders (python scripts/training_photos.py P → P/photos, P/extra).
# RUNS: output folder (RUNS/color-default, RUNS/gray-default: weights, card, log.jsonl, last.pt).
# Each run has a wall-clock budget over which its cosine schedule decays completely; the CPU
# cores only cut clean crops (--workers), 90 % of every batch is degraded on the GPU.
# Environment: PYTHON (default python3), DEVICE (default cuda), WORKERS (default: cores - 2), ARCH (the grown architecture).
set -uo pipefail
PHOTOS=${1:?photo folder}
EXTRA=${2:?extra photo folder}
RUNS=${3:?output folder}
MIN=${4:-9}
GMIN=${5:-3}
PY=${PYTHON:-python3}
W=${WORKERS:-$(( $(nproc) - 2 ))}
# e.g. ARCH="--widths 80 112 176 256" (304 k MACs/px, 912 ms per 640² frame on 2 CPU cores,
# python benchmarks/arch.py — close to the 1 s target); empty: keep the shipped architecture
ARCH=${ARCH:-}
mkdir -p "$RUNS"
common=(train "$PHOTOS" "$EXTRA" --device "${DEVICE:-cuda}" --steps 10000000 --crop 128 --batch 48 --degradation noise
        --val-every 2000 --threads 2 --ckpt-minutes 4 --device-degrade 0.9 --loss log-charbonnier --workers "$W")

# shellcheck disable=SC2086  # ARCH is a list of options
timeout "$(( ${MIN%.*} * 60 + 120 ))" $PY -m cvdenoise "${common[@]}" --minutes "$MIN" \
    --out "$RUNS/color-default" --name color-default --init weights/color-default.safetensors $ARCH \
    --lr 3e-4 --warmup 300 >"$RUNS/color-default.log" 2>&1 || echo "color-default run failed: $RUNS/color-default.log"
# the gray default starts from the new colour model's exact gray twin
timeout "$(( ${GMIN%.*} * 60 + 120 ))" $PY -m cvdenoise "${common[@]}" --minutes "$GMIN" --channels 1 \
    --out "$RUNS/gray-default" --name gray-default --init "$RUNS/color-default/color-default.safetensors" \
    --lr 3e-4 --warmup 300 >"$RUNS/gray-default.log" 2>&1 || echo "gray-default run failed: $RUNS/gray-default.log"
tail -n 3 "$RUNS"/*/log.jsonl
