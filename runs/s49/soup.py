"""s49: the mean of the shipped gray-default and the stage-28 final weights (runs/s49/soup/), card without its hash.
Then: python runs/s49/eval_gray.py gray-default runs/s49/soup/gray-default.safetensors
      python benchmarks/compare_weights.py gray-default runs/s49/soup/gray-default.safetensors --heldout P/photos P/extra P/more --heldout-seeds 3"""
import json, os
from safetensors import safe_open
from safetensors.torch import load_file, save_file
a = load_file("weights/gray-default.safetensors"); b = load_file("runs/s49/gray-default/gray-default.safetensors")
with safe_open("runs/s49/gray-default/gray-default.safetensors", "pt") as f:
    meta = f.metadata()
os.makedirs("runs/s49/soup", exist_ok=True)
save_file({k: (a[k].float() / 2 + b[k].float() / 2).to(a[k].dtype) if a[k].is_floating_point() else b[k] for k in a},
          "runs/s49/soup/gray-default.safetensors", metadata=meta)
card = json.load(open("runs/s49/gray-default/gray-default.json")); card.pop("file_sha256", None)
json.dump(card, open("runs/s49/soup/gray-default.json", "w"))
