#!/usr/bin/env bash
# stage 28: the new gray weights against the shipped ones (run from anywhere; ~15 min on 2 cores)
cd "$(dirname "$0")/../.."
P=.venv/bin/python
GD=${GD:-runs/s49/gray-default/gray-default.safetensors}
GF=${GF:-runs/s49/gray-fast/gray-fast.safetensors}
$P runs/s49/eval_gray.py gray-default $GD
$P runs/s49/eval_gray.py gray-fast $GF
$P benchmarks/compare_weights.py gray-default $GD --heldout P/photos P/extra P/more --heldout-seeds 3
$P benchmarks/compare_weights.py gray-fast $GF --heldout P/photos P/extra P/more --heldout-seeds 3
$P benchmarks/linear_light.py --weights $GD $GF --no-write
echo EVAL DONE
