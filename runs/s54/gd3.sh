#!/usr/bin/env bash
# stage 32c (control): as runs/s54/gd2.sh without the lights (--p-lights 0): does fine-tuning alone lift the CT brain beside
# the skull (+3 to +4.7 HU at steps 1000/2000 of stages 32/32b)? Checked with runs/s54/windows.py at step 1000.
#
cd "$(dirname "$0")/../.." && exec .venv/bin/cvdenoise train P/photos P/extra P/more --out runs/s54/gray-default-control --name gray-default --size default --channels 1 \
  --init weights/gray-default.safetensors --minutes 60 --steps 1000000 --crop 64 --batch 16 --lr 5e-5 --warmup 100 \
  --threads 1 --val-every 1000 --degradation camera-mix-linear --loss psnr --p-dead-leaves 0.05 \
  --device-degrade 0.9 --seed 112 --ckpt-minutes 3 --keep-exports "$@"
