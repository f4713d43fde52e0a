#!/usr/bin/env bash
# s58, stage 35: stage 34 (shipped at 0c3c02e) continued on camera-mix-linear-resample, now with the device degrader's
# Lanczos enlargements fixed; stage 30's recipe otherwise, 1 thread, bfloat16 (Zen 4 AVX512-BF16), lr 3e-5, 60 minutes (resume with --resume for more)
cd "$(dirname "$0")/../.." && exec .venv/bin/cvdenoise train P/photos P/extra P/more --out runs/s58/color-default --name color-default --size default \
  --init weights/color-default.safetensors --minutes 60 --steps 1000000 --crop 64 --batch 16 --lr 3e-5 --warmup 100 \
  --threads 1 --val-every 1000 --degradation camera-mix-linear-resample --loss psnr --p-dead-leaves 0.05 --p-lights 0.1 \
  --device-degrade 0.9 --seed 122 --ckpt-minutes 3 --keep-exports "$@"
