#!/usr/bin/env bash
# stage 30: gray-default with night-scene lights (--p-lights), 1 thread, bfloat16 (Zen 4 AVX512-BF16)
cd "$(dirname "$0")/../.." && exec .venv/bin/cvdenoise train P/photos P/extra P/more --out runs/s52/gray-default --name gray-default --size default --channels 1 \
  --init weights/gray-default.safetensors --minutes 55 --steps 1000000 --crop 64 --batch 16 --lr 7e-5 --warmup 100 \
  --threads 1 --val-every 1000 --degradation camera-mix-linear --loss psnr --p-dead-leaves 0.05 --p-lights 0.1 \
  --device-degrade 0.9 --seed 107 --ckpt-minutes 3 --keep-exports "$@"
