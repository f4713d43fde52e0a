#!/usr/bin/env bash
# s56 pilot evaluation: a color-default checkpoint (default: the run's last export) against the shipped weights
set -x
cd "$(dirname "$0")/../.."
P=.venv/bin/python
CD=${1:-runs/s56/color-default/color-default.safetensors}
$P benchmarks/compare_weights.py color-default "$CD" --heldout P/photos P/extra P/more --heldout-seeds 3
$P runs/s56/upscale_interp.py "$CD"
$P benchmarks/lights.py --no-write --weights color-default "$CD"
$P benchmarks/linear_light.py --weights default "$CD" --no-write
$P benchmarks/dark_colours.py --sigma 25 --no-write --weights default "$CD"
$P benchmarks/clean_inputs.py --no-write --weights default "$CD"
echo EVAL DONE
