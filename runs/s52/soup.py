"""s52: a mix of the shipped weights and a stage-30 run: (1 - t) * shipped + t * run, into runs/s52/soup-T/NAME.*

    python runs/s52/soup.py NAME RUN.safetensors T
then score it like a run: python benchmarks/lights.py --no-write --weights NAME runs/s52/soup-T/NAME.safetensors
                          python benchmarks/compare_weights.py NAME runs/s52/soup-T/NAME.safetensors --heldout P/photos P/extra P/more --heldout-seeds 3
"""
import json
import os
import sys

from safetensors import safe_open
from safetensors.torch import load_file, save_file

name, run, t = sys.argv[1], sys.argv[2], float(sys.argv[3])
a, b = load_file(f"weights/{name}.safetensors"), load_file(run)
with safe_open(run, "pt") as f:
    meta = f.metadata()
out = f"runs/s52/soup-{t:g}"
os.makedirs(out, exist_ok=True)
save_file({k: (a[k].float() * (1 - t) + b[k].float() * t).to(a[k].dtype) if a[k].is_floating_point() else b[k] for k in a},
          f"{out}/{name}.safetensors", metadata=meta)
card = json.load(open(run.removesuffix(".safetensors") + ".json"))
card.pop("file_sha256", None)
json.dump(card, open(f"{out}/{name}.json", "w"))
print(f"{out}/{name}.safetensors")
