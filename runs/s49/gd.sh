#!/usr/bin/env bash
# stage 28: gray-default on camera-mix-linear-clean (2-core Intel Xeon VM, float32, one thread beside gf.sh)
cd "$(dirname "$0")/../.."
exec .venv/bin/cvdenoise train P/photos P/extra P/more --out runs/s49/gray-default --name gray-default --size default --channels 1 \
  --init weights/gray-default.safetensors --minutes 70 --steps 1000000 --crop 64 --batch 16 --lr 5e-5 --warmup 100 \
  --threads 1 --val-every 1000 --degradation camera-mix-linear-clean --loss psnr --p-dead-leaves 0.05 \
  --device-degrade 0.9 --seed 110 --ckpt-minutes 3 --keep-exports --no-amp
