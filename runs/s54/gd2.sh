#!/usr/bin/env bash
# stage 32b: as runs/s54/gd.sh (no glow: stage 32 still lifted CT brain beside the skull +3 HU at step 1000), with the
# lights scenes kept up to day brightness (--lights-max-gain 1: mid-gray beside exact white, as windowed CT bone), seed 112;
# every 1000-step checkpoint checked with runs/s53/brain_beside_skull.py and runs/s53/check_ckpt.sh
cd "$(dirname "$0")/../.." && exec .venv/bin/cvdenoise train P/photos P/extra P/more --out runs/s54/gray-default-bright --name gray-default --size default --channels 1 \
  --init weights/gray-default.safetensors --minutes 60 --steps 1000000 --crop 64 --batch 16 --lr 5e-5 --warmup 100 \
  --threads 1 --val-every 1000 --degradation camera-mix-linear --loss psnr --p-dead-leaves 0.05 --p-lights 0.1 --lights-glow 0 --lights-max-gain 1 \
  --device-degrade 0.9 --seed 112 --ckpt-minutes 3 --keep-exports "$@"
