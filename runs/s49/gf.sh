#!/usr/bin/env bash
# stage 28: gray-fast on camera-mix-linear-clean (2-core Intel Xeon VM, float32, one thread beside gd.sh)
cd "$(dirname "$0")/../.."
exec .venv/bin/cvdenoise train P/photos P/extra P/more --out runs/s49/gray-fast --name gray-fast --size fast --channels 1 \
  --init weights/gray-fast.safetensors --minutes 70 --steps 1000000 --crop 96 --batch 16 --lr 4e-5 --warmup 100 \
  --threads 1 --val-every 3000 --degradation camera-mix-linear-clean --loss psnr --p-dead-leaves 0.05 --p-drawing 0.1 \
  --device-degrade 0.9 --seed 111 --ckpt-minutes 3 --keep-exports --no-amp
