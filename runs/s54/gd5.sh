#!/usr/bin/env bash
# stage 32e: stage 32d's lights (no glow, no anti-aliasing) at a lower rate (2e-5) over a whole 50-minute cosine run,
# read at its end (stage 32's runs were read at their first checkpoints), 1 thread, bfloat16 (Zen 4 AVX512-BF16)
cd "$(dirname "$0")/../.." && exec .venv/bin/cvdenoise train P/photos P/extra P/more --out runs/s54/gray-default-gentle --name gray-default --size default --channels 1 \
  --init weights/gray-default.safetensors --minutes 50 --steps 1000000 --crop 64 --batch 16 --lr 2e-5 --warmup 100 \
  --threads 1 --val-every 1000 --degradation camera-mix-linear --loss psnr --p-dead-leaves 0.05 --p-lights 0.1 --lights-glow 0 --lights-aa 0 \
  --device-degrade 0.9 --seed 113 --ckpt-minutes 3 --keep-exports "$@"
