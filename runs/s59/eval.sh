#!/usr/bin/env bash
# s59 stage 35: checkpoints of the resumed pilot (runs/s59/cd.sh → runs/s58/color-default) against the shipped
# color-default (stage 34): the quality presets (compare_weights), enlargements at strength 1
# (runs/s56/upscale_interp.py), then the last export's held-out crops and lights. Log: runs/s59/eval.log
set -x
cd "$(dirname "$0")/../.."
P=.venv/bin/python
R=runs/s58/color-default
C=("$R/color-default-step4000.safetensors" "$R/color-default-step6000.safetensors" "$R/color-default.safetensors")
$P benchmarks/compare_weights.py color-default "${C[@]}"
$P runs/s56/upscale_interp.py default "${C[@]}" 2>&1 | grep -v -i "warn\|den = "
$P benchmarks/compare_weights.py color-default "$R/color-default.safetensors" --heldout P/photos P/extra P/more --heldout-seeds 3
$P benchmarks/lights.py --no-write --weights color-default "$R/color-default.safetensors"
echo EVAL DONE
