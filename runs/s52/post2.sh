#!/usr/bin/env bash
# s52: gray-default back to its stage-27 weights (the stage-30 run denoised light noise on flat CT regions less: tests/test_dicom.py);
# hold the shipped models' outputs; quality.py first, alone on a quiet machine (it times)
set -x
cd "$(dirname "$0")/../.."
P=.venv/bin/python
# (gray-default restored from b7d9735 first: git checkout b7d9735 -- weights/gray-default.safetensors weights/gray-default.json)
$P benchmarks/quality.py --update-cards
$P benchmarks/lights.py
$P benchmarks/strength.py
$P benchmarks/clean_inputs.py
$P benchmarks/linear_light.py
$P benchmarks/dark_colours.py
$P benchmarks/regions.py
$P benchmarks/impulse.py
$P benchmarks/drawings.py
$P benchmarks/gate.py
$P benchmarks/highlights.py
$P benchmarks/temporal.py
$P benchmarks/precision.py
$P benchmarks/compare_weights.py color-default color-default-awgn --write
echo POST DONE
