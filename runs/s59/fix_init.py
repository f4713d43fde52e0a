"""s59: the s58 pilot's first resume (before 3972989) recorded --init None in runs/s58/color-default/last.pt; put
back the --init it started from (runs/s58/cd.sh), so a later resume and its card record it."""
import torch

path = "runs/s58/color-default/last.pt"
state = torch.load(path, map_location="cpu", weights_only=True)
print("recorded init:", state["config"].get("init"))
state["config"]["init"] = "weights/color-default.safetensors"
torch.save(state, path + ".tmp")
import os  # noqa: E402

os.replace(path + ".tmp", path)
print("now:", torch.load(path, map_location="cpu", weights_only=True)["config"]["init"])
