"""Stage 34's publication (runs/s57/post.sh) recorded the history down to stage 30 only: stage 33's run card
holds stage 30 without the stages before it. Graft them from the card shipped before (git HEAD b1ab22c), with
the fixed scripts/publish_weights.py's _graft_history. Usage: python runs/s58/graft_card.py"""
import importlib.util
import json
import subprocess
from pathlib import Path

spec = importlib.util.spec_from_file_location("pw", "scripts/publish_weights.py")
pw = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pw)
before = json.loads(subprocess.run(["git", "show", "b1ab22c:weights/color-default.json"], capture_output=True,
                                   text=True, check=True).stdout)["training"]
before = {k: v for k, v in before.items() if k != "recipe_doc"}
path = Path("weights/color-default.json")
card = json.loads(path.read_text())
pw._graft_history(card["training"]["previous_stage"], before)
path.write_text(json.dumps(card, indent=2) + "\n")
t, d = card["training"], 0
while t:
    print(d, t["recipe"].get("out"), t.get("steps_done"))
    t, d = t.get("previous_stage"), d + 1
