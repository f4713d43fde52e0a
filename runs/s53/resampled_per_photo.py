"""s53: per photo, color-default on benchmarks/strength.py's conditions (default: the clean photos resampled ×1.5 / ×2
and blurred σ=1.2): PSNR of the input, the plain output and strength="auto", with the rule's strength and its inputs
(the residual σ on the rounded output, the input's estimate_sigma).
Run: .venv/bin/python runs/s53/resampled_per_photo.py ["resampled ×1.5" ...]"""
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import strength as S  # noqa: E402
from quality import photos  # noqa: E402

import cvdenoise  # noqa: E402
from cvdenoise.blend import StrengthRule  # noqa: E402
from cvdenoise.noise import estimate_sigma, residual_sigma  # noqa: E402
from cvdenoise.weights import WEIGHTS_DIR  # noqa: E402

torch.set_num_threads(1)
imgs = list(photos(320, False).values())
plain = cvdenoise.load("color-default", half=False, ensemble=1, strength=1.0)
auto = cvdenoise.load("color-default", half=False, ensemble=1)
rule = StrengthRule.from_card(json.loads((WEIGHTS_DIR / "color-default.json").read_text()))
assert rule is not None
as_t = lambda a: torch.from_numpy(a).permute(2, 0, 1)[None].float() / 255  # noqa: E731
for cond in sys.argv[1:] or ["resampled ×1.5", "resampled ×2", "blur σ=1.2"]:
    degrade = S.conditions()[cond]
    for i, im in enumerate(imgs):
        x = degrade(im, i)
        y = plain(x)
        s = float(rule(as_t(x), as_t(y))[0])
        print(f"{cond} photo {i}: input {S._psnr(x, im):.2f} plain {S._psnr(y, im):.2f} auto {S._psnr(auto(x), im):.2f} dB; "
              f"s={s:.2f} residual σ={float(residual_sigma(as_t(x), as_t(y))):.2f} input σ={float(estimate_sigma(as_t(x))):.2f}")
