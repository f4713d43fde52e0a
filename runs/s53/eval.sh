#!/usr/bin/env bash
# stage 31 evaluation: gray-fast's final export against the shipped gray-fast (one thread: gray-default trains beside it)
set -x
cd "$(dirname "$0")/../.."
P=.venv/bin/python
export OMP_NUM_THREADS=1
GF=${GF:-runs/s53/gray-fast/gray-fast.safetensors}
H="--heldout P/photos P/extra P/more --heldout-seeds 3"
$P benchmarks/lights.py --no-write --weights gray-fast $GF --threads 1
$P benchmarks/compare_weights.py gray-fast $GF $H
$P benchmarks/linear_light.py --weights gray-fast $GF --no-write --threads 1
echo EVAL DONE
