#!/usr/bin/env bash
# s56 pilot of the camera-mix-linear-resample mix: color-default from the shipped weights with stage 30's recipe
# (lights, PSNR loss, 5 % dead leaves), 1 thread, bfloat16 (Zen 4 AVX512-BF16), lr 5e-5
cd "$(dirname "$0")/../.." && exec .venv/bin/cvdenoise train P/photos P/extra P/more --out runs/s56/color-default --name color-default --size default \
  --init weights/color-default.safetensors --minutes 70 --steps 1000000 --crop 64 --batch 16 --lr 5e-5 --warmup 100 \
  --threads 1 --val-every 1000 --degradation camera-mix-linear-resample --loss psnr --p-dead-leaves 0.05 --p-lights 0.1 \
  --device-degrade 0.9 --seed 120 --ckpt-minutes 3 --keep-exports "$@"
