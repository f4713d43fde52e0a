#!/usr/bin/env bash
# s51: after the context border became symmetric (runs/s51/edge_pad.py): rerun the benchmarks whose tables
# hold the shipped models' outputs, quality.py last-but-not-least on a quiet machine (it times)
set -x
cd "$(dirname "$0")/../.."
P=.venv/bin/python
$P benchmarks/quality.py --update-cards
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
