#!/usr/bin/env bash
# after stage 27: publish gray-default and gray-fast, rerun the benchmarks whose tables hold the gray models
set -x
cd "$(dirname "$0")/../.."
P=.venv/bin/python
mkdir -p runs/s48/final && ln -sfn ../gray-default runs/s48/final/gray-default && ln -sfn ../gray-fast runs/s48/final/gray-fast
$P scripts/publish_weights.py runs/s48/final --keep-missing
$P benchmarks/quality.py --update-cards
$P benchmarks/linear_light.py
$P benchmarks/strength.py
echo POST DONE
