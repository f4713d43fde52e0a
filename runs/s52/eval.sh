#!/usr/bin/env bash
# stage 30 evaluation: the runs' exports against the shipped weights (STEP: a step number, or "final")
set -x
cd "$(dirname "$0")/../.."
P=.venv/bin/python
STEP=${1:-final}
if [ "$STEP" = final ]; then CD=runs/s52/color-default/color-default.safetensors; CF=runs/s52/color-fast/color-fast.safetensors
else CD=runs/s52/color-default/color-default-step$STEP.safetensors; CF=runs/s52/color-fast/color-fast-step$STEP.safetensors; fi
$P benchmarks/lights.py --no-write --weights color-default $CD color-fast $CF
$P benchmarks/compare_weights.py color-default $CD --heldout P/photos P/extra P/more --heldout-seeds 3
$P benchmarks/compare_weights.py color-fast $CF --heldout P/photos P/extra P/more --heldout-seeds 3
$P benchmarks/linear_light.py --weights default $CD fast $CF --no-write
$P benchmarks/dark_colours.py --sigma 25 --no-write --weights default $CD fast $CF
echo EVAL DONE
