#!/usr/bin/env bash
# after stage 29: publish color-fast, rerun the benchmarks whose tables hold it
set -x
cd "$(dirname "$0")/../.."
P=.venv/bin/python
mkdir -p runs/s50/final && ln -sfn ../color-fast runs/s50/final/color-fast
$P scripts/publish_weights.py runs/s50/final --keep-missing
$P benchmarks/quality.py --update-cards
$P benchmarks/linear_light.py
$P benchmarks/temporal.py
$P benchmarks/dark_colours.py
$P benchmarks/regions.py
$P benchmarks/strength.py
$P benchmarks/clean_inputs.py
$P benchmarks/impulse.py
$P benchmarks/drawings.py
$P benchmarks/gate.py
$P benchmarks/highlights.py
$P benchmarks/precision.py
echo POST DONE
