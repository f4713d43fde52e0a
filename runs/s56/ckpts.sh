#!/usr/bin/env bash
# the s56 pilot's checkpoints against the shipped color-default: the quality presets (compare_weights) and
# enlargements at strength 1 (upscale_interp.py); log: runs/s56/ckpts.log
cd "$(dirname "$0")/../.."
P=.venv/bin/python
R=runs/s56/color-default
C=("$R/color-default-step1000.safetensors" "$R/color-default-step2000.safetensors" "$R/color-default-step4000.safetensors"
   "$R/color-default-step7000.safetensors" "$R/color-default.safetensors")
$P benchmarks/compare_weights.py color-default "${C[@]}"
$P runs/s56/upscale_interp.py default "${C[@]}" 2>&1 | grep -v -i "warn\|den = "
echo CKPTS DONE
