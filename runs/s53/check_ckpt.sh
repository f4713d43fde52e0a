#!/usr/bin/env bash
# stage 31: a checkpoint swapped in as weights/NAME (its card's file_sha256 updated), the DICOM and weights tests run
# on it, weights/ restored from git, then lights.py on the checkpoint.  usage: runs/s53/check_ckpt.sh NAME CKPT
# (the stage-31 gray-default figures of weights/RECIPE.md: NAME=gray-default, CKPT=runs/s53/gray-default/gray-default-stepN.safetensors)
set -e
cd "$(dirname "$0")/../.."
cp "$2" "weights/$1.safetensors"
.venv/bin/python - "$1" <<'PY'
import hashlib, json, sys
n = sys.argv[1]
card = json.load(open(f"weights/{n}.json"))
card["file_sha256"] = hashlib.sha256(open(f"weights/{n}.safetensors", "rb").read()).hexdigest()
json.dump(card, open(f"weights/{n}.json", "w"), indent=2)
PY
OMP_NUM_THREADS=1 .venv/bin/python -m pytest -q tests/test_dicom.py tests/test_weights.py -p no:cacheprovider 2>&1 | tail -3 || true
git checkout -q weights/
OMP_NUM_THREADS=1 .venv/bin/python benchmarks/lights.py --weights "$2" --no-write --threads 1 2>&1 | tail -1
