#!/usr/bin/env bash
# stage 27, second choice: gray-fast's step-13000 export (the final one lost 0.4-1.9 dB on JPEG'd smooth gray images)
set -x
cd "$(dirname "$0")/../.."
P=.venv/bin/python
mkdir -p runs/s48/gf13000 runs/s48/final2
cp runs/s48/gray-fast/gray-fast-step13000.safetensors runs/s48/gf13000/gray-fast.safetensors
cp runs/s48/gray-fast/gray-fast-step13000.json runs/s48/gf13000/gray-fast.json
ln -sfn ../gf13000 runs/s48/final2/gray-fast
$P scripts/publish_weights.py runs/s48/final2 --keep-missing
$P benchmarks/quality.py --update-cards
$P benchmarks/linear_light.py
$P benchmarks/strength.py
echo POST DONE
