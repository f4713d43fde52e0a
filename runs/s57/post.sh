#!/usr/bin/env bash
# to publish stage 34 (weights/RECIPE.md): color-default from runs/s57/color-default (its last export), then rerun the
# benchmarks whose tables hold the shipped models' outputs (runs/s53/post.sh's list, plus upscale.py); quality.py
# first, alone on a quiet machine (it times). Afterwards: the figures that README.md and docs/ quote from these tables.
set -x
cd "$(dirname "$0")/../.."
P=.venv/bin/python
mkdir -p runs/s57/final && ln -sfn ../color-default runs/s57/final/color-default
$P scripts/publish_weights.py runs/s57/final --keep-missing
$P benchmarks/quality.py --update-cards
for b in lights strength clean_inputs linear_light dark_colours regions impulse drawings gate highlights temporal precision upscale; do
  $P benchmarks/$b.py
done
$P benchmarks/compare_weights.py color-default color-default-awgn --write
echo POST DONE
