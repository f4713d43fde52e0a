#!/usr/bin/env bash
# s57 stage 34: checkpoints of runs/s57/cd.sh against the shipped color-default and the stage-33 pilot's end:
# the quality presets (compare_weights), enlargements at strength 1 (runs/s56/upscale_interp.py), then the
# last export's held-out crops and lights. Log: runs/s57/eval.log
set -x
cd "$(dirname "$0")/../.."
P=.venv/bin/python
R=runs/s57/color-default
C=("runs/s56/color-default/color-default.safetensors" "$R/color-default-step4000.safetensors" "$R/color-default-step8000.safetensors"
   "$R/color-default.safetensors")
$P benchmarks/compare_weights.py color-default "${C[@]}"
$P runs/s56/upscale_interp.py default "${C[@]}" 2>&1 | grep -v -i "warn\|den = "
$P benchmarks/compare_weights.py color-default "$R/color-default.safetensors" --heldout P/photos P/extra P/more --heldout-seeds 3
$P benchmarks/lights.py --no-write --weights color-default "$R/color-default.safetensors"
echo EVAL DONE
