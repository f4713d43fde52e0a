#!/usr/bin/env bash
# stage 32: gray-default with night-scene lights drawn without glow (--lights-glow 0: a learned halo beside bright
# edges lifted CT brain beside the skull in stage 31), lr 5e-5, 1 thread, bfloat16 (Zen 4 AVX512-BF16);
# every 1000-step checkpoint checked with runs/s53/brain_beside_skull.py and runs/s53/check_ckpt.sh
cd "$(dirname "$0")/../.." && exec .venv/bin/cvdenoise train P/photos P/extra P/more --out runs/s54/gray-default --name gray-default --size default --channels 1 \
  --init weights/gray-default.safetensors --minutes 60 --steps 1000000 --crop 64 --batch 16 --lr 5e-5 --warmup 100 \
  --threads 1 --val-every 1000 --degradation camera-mix-linear --loss psnr --p-dead-leaves 0.05 --p-lights 0.1 --lights-glow 0 \
  --device-degrade 0.9 --seed 111 --ckpt-minutes 3 --keep-exports "$@"
