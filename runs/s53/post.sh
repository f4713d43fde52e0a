#!/usr/bin/env bash
# after stage 31 (gray-fast with night-scene lights): publish the runs (runs/s53/final/<name> -> the run folder), rerun the benchmarks whose tables
# hold the shipped models' outputs; quality.py first, alone on a quiet machine (it times)
set -x
cd "$(dirname "$0")/../.."
P=.venv/bin/python
$P scripts/publish_weights.py runs/s53/final --keep-missing
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
