"""What the models do to photos that are clean or nearly so (do they keep fine texture?).

Run:  python benchmarks/clean_inputs.py [--weights fast default runs/x/color-fast.safetensors]
      [--crop 320] [--no-write]

A denoiser in front of a detector also sees clean frames and ordinary JPEG photos. A blind model
trained mostly on visible noise may take fine texture for noise and smooth it away; this script
measures that. The six benchmark photos of ``benchmarks/quality.py`` (scikit-image, never used in
training), centre crops, as given (lossless), JPEG-compressed at quality 95/90/85/75 (OpenCV), and
with light white Gaussian noise σ = 1/2/3 (fixed seeds). Every model runs one float32 pass
(``half=False, ensemble=1``: the same numbers on every CPU) and gives its plain output
(``strength=1``); ``benchmarks/strength.py`` shows what the default ``strength="auto"`` makes of it. Reported: mean PSNR (dB) of the
output against the *uncompressed, noise-free* photo, and for the input; for the lossless input the
input column is ∞, so the output's PSNR is how much the model changed a clean photo. A model that
leaves such inputs alone scores the input's PSNR; below it, the model removed detail.
Writes the ``clean_inputs`` section of ``benchmarks/RESULTS.md`` and ``results/clean_inputs.json``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, markdown_table, photo_args, write_section  # noqa: E402
from quality import metrics, photos  # noqa: E402

import cvdenoise  # noqa: E402

CONDITIONS = ["lossless", "JPEG q95", "JPEG q90", "JPEG q85", "JPEG q75", "white σ=1", "white σ=2", "white σ=3"]


def degrade(clean: np.ndarray, condition: str, i: int) -> np.ndarray:
    """``clean`` (RGB uint8) as the ``condition`` gives it (fixed seed per photo ``i``)."""
    if condition == "lossless":
        return clean
    if condition.startswith("JPEG"):
        q = int(condition.split("q")[1])
        ok, buf = cv2.imencode(".jpg", clean[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, q])
        assert ok
        return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])
    sigma = float(condition.split("=")[1])
    noise = np.random.default_rng(3000 + i).normal(0.0, sigma, clean.shape)
    return np.clip(clean + noise, 0, 255).round().astype(np.uint8)


def label(weights: str) -> str:
    return Path(weights).stem if weights.endswith(".safetensors") else weights


HEADING = "## Clean and lightly degraded inputs (`python benchmarks/clean_inputs.py`)"


def main() -> None:
    args = photo_args(__doc__, crop=320)
    torch.set_num_threads(min(2, torch.get_num_threads()))
    imgs = list(photos(args.crop, False).values())
    dens = {w: cvdenoise.load(w, half=False, ensemble=1, strength=1.0) for w in args.weights}
    rows, data = [], {}
    for cond in CONDITIONS:
        pairs = [(c, degrade(c, cond, i)) for i, c in enumerate(imgs)]
        p_in = float(np.mean([metrics(n, c)[0] for c, n in pairs])) if cond != "lossless" else float("inf")
        outs = {}
        for w, d in dens.items():
            ps = [metrics(d(n), c)[0] for c, n in pairs]
            outs[label(w)] = {"mean": float(np.mean(ps)), "min": float(np.min(ps))}
        data[cond] = {"input": p_in, **outs}
        rows.append([cond, "∞" if cond == "lossless" else f"{p_in:.2f}"]
                    + [f"{o['mean']:.2f} (worst {o['min']:.2f})" for o in outs.values()])
        print(" | ".join(str(v) for v in rows[-1]), flush=True)
    header = ["input", "PSNR of the input"] + [f"`{label(w)}` mean (worst photo)" for w in args.weights]
    table = markdown_table(header, rows)
    md = (
        f"{HEADING}\n\n{len(imgs)} benchmark photos ({args.crop}² centre crops, never used in training): PSNR (dB) "
        "against the uncompressed, noise-free photo of the input and of each model's output (one "
        "float32 pass); an output below its input lost detail. `python benchmarks/clean_inputs.py`. "
        f"Machine: {machine()}\n\n{table}"
    )
    print(table)
    if not args.no_write:
        write_section("clean_inputs", md, {"crop": args.crop, "weights": args.weights, "results": data})


if __name__ == "__main__":
    main()
