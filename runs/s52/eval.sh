#!/usr/bin/env bash
# stage 30 evaluation: the runs' final exports against the shipped weights
set -x
cd "$(dirname "$0")/../.."
P=.venv/bin/python
CD=runs/s52/color-default/color-default.safetensors
CF=runs/s52/color-fast/color-fast.safetensors
GD=runs/s52/gray-default/gray-default.safetensors
H="--heldout P/photos P/extra P/more --heldout-seeds 3"
$P benchmarks/lights.py --no-write --weights color-default $CD color-fast $CF gray-default $GD
$P benchmarks/compare_weights.py color-default $CD $H
$P benchmarks/compare_weights.py color-fast $CF $H
# gray-default compare_weights: run alone before (see the note)
$P benchmarks/linear_light.py --weights default $CD fast $CF gray-default $GD --no-write
$P benchmarks/dark_colours.py --sigma 25 --no-write --weights default $CD fast $CF
$P benchmarks/clean_inputs.py --no-write --weights default $CD fast $CF
echo EVAL DONE
