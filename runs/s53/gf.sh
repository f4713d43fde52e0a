#!/usr/bin/env bash
# stage 31: gray-fast with night-scene lights (--p-lights), 1 thread, bfloat16 (Zen 4 AVX512-BF16)
cd "$(dirname "$0")/../.." && exec .venv/bin/cvdenoise train P/photos P/extra P/more --out runs/s53/gray-fast --name gray-fast --size fast --channels 1 \
  --init weights/gray-fast.safetensors --minutes 60 --steps 1000000 --crop 96 --batch 16 --lr 6e-5 --warmup 100 \
  --threads 1 --val-every 1000 --degradation camera-mix-linear --loss psnr --p-dead-leaves 0.05 \
  --p-drawing 0.1 --p-lights 0.1 --device-degrade 0.9 --seed 108 --ckpt-minutes 3 --keep-exports "$@"
