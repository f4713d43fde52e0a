#!/usr/bin/env bash
# stage 29: color-fast on camera-mix-linear (this 2-core Intel Xeon VM, float32, one thread; audits beside it)
cd "$(dirname "$0")/../.."
exec .venv/bin/cvdenoise train P/photos P/extra P/more --out runs/s50/color-fast --name color-fast --size fast \
  --init weights/color-fast.safetensors --minutes 90 --steps 1000000 --crop 96 --batch 16 --lr 6e-5 --warmup 100 \
  --threads 1 --val-every 1000 --degradation camera-mix-linear --loss psnr --p-dead-leaves 0.05 --p-colour-gain 0.1 \
  --p-drawing 0.1 --device-degrade 0.9 --seed 104 --ckpt-minutes 3 --keep-exports --no-amp
