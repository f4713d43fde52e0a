#!/usr/bin/env bash
# stage 31: gray-default with night-scene lights (--p-lights; lr 5e-5, every 1000-step checkpoint checked against the DICOM tests), 1 thread, bfloat16 (Zen 4 AVX512-BF16)
cd "$(dirname "$0")/../.." && exec .venv/bin/cvdenoise train P/photos P/extra P/more --out runs/s53/gray-default --name gray-default --size default --channels 1 \
  --init weights/gray-default.safetensors --minutes 50 --steps 1000000 --crop 64 --batch 16 --lr 5e-5 --warmup 100 \
  --threads 1 --val-every 1000 --degradation camera-mix-linear --loss psnr --p-dead-leaves 0.05 --p-lights 0.1 \
  --device-degrade 0.9 --seed 109 --ckpt-minutes 3 --keep-exports "$@"
