#!/usr/bin/env bash
# s57, stage 34: the s56 pilot (stage 33) continued on camera-mix-linear-resample, now with the device degrader's
# Lanczos enlargements fixed; stage 30's recipe otherwise, 1 thread, bfloat16 (Zen 4 AVX512-BF16), lr 3e-5, 100 minutes
cd "$(dirname "$0")/../.." && exec .venv/bin/cvdenoise train P/photos P/extra P/more --out runs/s57/color-default --name color-default --size default \
  --init runs/s56/color-default/color-default.safetensors --minutes 100 --steps 1000000 --crop 64 --batch 16 --lr 3e-5 --warmup 100 \
  --threads 1 --val-every 1000 --degradation camera-mix-linear-resample --loss psnr --p-dead-leaves 0.05 --p-lights 0.1 \
  --device-degrade 0.9 --seed 121 --ckpt-minutes 3 --keep-exports "$@"
