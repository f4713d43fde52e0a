#!/usr/bin/env bash
# One accelerator stage with the current recipe (weights/RECIPE.md, stages 17–19 and 26–27: the
# `camera-mix-linear` degradations, from s56 on its `-resample` variant (bicubic and Lanczos enlargements too), per-image PSNR loss, 5 % dead leaves): the shipped colour default and colour fast
# models trained on from their shipped weights side by side on one CUDA GPU, the pairs degraded on
# the GPU, then the gray default from the gray twin of the new colour default. (`gray-fast` is
# not trained: it is derived from `color-fast` when published, scripts/publish_weights.py.)
#
#   bash scripts/train_gpu.sh RUNS MINUTES GRAY_MINUTES FOLDER...
#
# RUNS: output folder (RUNS/color-default, RUNS/color-fast, RUNS/gray-default: weights, card,
# log.jsonl, last.pt). FOLDER...: the training folders (python scripts/training_photos.py P →
# P/photos P/extra P/more). Each run has a wall-clock budget over which its cosine schedule decays
# completely; the CPU cores only cut clean crops (--workers), 90 % of every batch is degraded on
# the GPU. Stage 8 (an H100, the older `noise` recipe): RUNS 7.6 2.6 gave 11668 / 12022 / 5979
# steps. The device tool lends 15 minutes in all, start-up included: RUNS 6 2 fits.
# Compare and publish afterwards (on the CPU): benchmarks/compare_weights.py OLD NEW, then
# scripts/publish_weights.py RUNS --keep-missing (see its docstring).
# Environment: PYTHON (default python3), DEVICE (default cuda), DEGRADATION (default
# camera-mix-linear-resample; camera-mix-linear for the shipped models' own mix; camera-mix-linear-clean adds near-clean pairs, stage 28), ARCH (options that grow the default,
# e.g. "--widths 80 112 176 256": 304 k MACs/px, 912 ms per 640² frame on 2 CPU cores,
# python benchmarks/arch.py — close to the 1 s target; empty: keep the shipped architecture).
set -uo pipefail
RUNS=${1:?output folder}
MIN=${2:?minutes for the colour runs}
GMIN=${3:?minutes for the gray run}
shift 3
[ $# -gt 0 ] || { echo "no training folders given" >&2; exit 2; }
PY=${PYTHON:-python3}
CORES=$(nproc)
ARCH=${ARCH:-}
mkdir -p "$RUNS"
common=(train "$@" --device "${DEVICE:-cuda}" --steps 10000000 --crop 128 --degradation "${DEGRADATION:-camera-mix-linear-resample}"
        --p-dead-leaves 0.05 --loss psnr --val-every 2000 --threads 2 --ckpt-minutes 4 --device-degrade 0.9)
lim=$(( ${MIN%.*} * 60 + 120 ))
# shellcheck disable=SC2086  # ARCH is a list of options
timeout "$lim" $PY -m cvdenoise "${common[@]}" --minutes "$MIN" --out "$RUNS/color-default" --name color-default \
    --init weights/color-default.safetensors $ARCH --batch 48 --lr 1.5e-4 --warmup 300 \
    --workers $(( CORES * 5 / 8 )) >"$RUNS/color-default.log" 2>&1 &
p1=$!
timeout "$lim" $PY -m cvdenoise "${common[@]}" --minutes "$MIN" --out "$RUNS/color-fast" --name color-fast \
    --init weights/color-fast.safetensors --batch 96 --lr 3e-4 --warmup 300 \
    --workers $(( CORES * 5 / 16 )) >"$RUNS/color-fast.log" 2>&1 &
p2=$!
wait $p1 || echo "color-default run failed: $RUNS/color-default.log"
wait $p2 || echo "color-fast run failed: $RUNS/color-fast.log"
# the gray default starts from the new colour model's exact gray twin
timeout "$(( ${GMIN%.*} * 60 + 120 ))" $PY -m cvdenoise "${common[@]}" --minutes "$GMIN" --channels 1 \
    --out "$RUNS/gray-default" --name gray-default --init "$RUNS/color-default/color-default.safetensors" \
    --batch 48 --lr 1.5e-4 --warmup 300 --workers $(( CORES - 2 )) \
    >"$RUNS/gray-default.log" 2>&1 || echo "gray-default run failed: $RUNS/gray-default.log"
tail -n 3 "$RUNS"/*/log.jsonl
