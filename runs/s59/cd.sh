#!/usr/bin/env bash
# s59, stage 35: the s58 pilot (runs/s58/cd.sh: stage 34 continued on camera-mix-linear-resample, lr 3e-5, 1 thread,
# bfloat16 on Zen 4) resumed from its step-2000 checkpoint with a 140-minute budget in all (it had run ~21 minutes)
cd "$(dirname "$0")/../.." && exec .venv/bin/cvdenoise train --out runs/s58/color-default --resume --minutes 140 --keep-exports -q "$@"
