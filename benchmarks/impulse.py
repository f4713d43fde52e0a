"""Salt-and-pepper noise under ``strength="auto"`` and FrameFilter's gate: impulses taken out whole.

Run:  python benchmarks/impulse.py [--weights fast default] [--crop 320] [--no-write]

The automatic strength rule (:class:`cvdenoise.blend.StrengthRule`) and the gate read the noise
the model removed where the input is not clipped, so impulse noise (pixels at full black or
white) is invisible to them: on a photo with a few percent of salt and pepper they kept most of
the input, dots included. :func:`cvdenoise.blend.auto_blend` now takes the impulses out whole and
raises the strength with their density. This benchmark scores, on the six benchmark photos of
``quality.py`` (never trained on; ``--crop``² centre crops), mean PSNR (dB against the clean
photo, capped at 60):

* ``input``: the degraded photo; ``plain``: the model output (``strength=1``);
* ``rule alone``: the strength rule's blend without the impulse step (what ``"auto"`` gave before);
* ``auto``: ``den(x)`` with the default ``strength="auto"``, and the mean strength it used;
* ``gate``: ``FrameFilter(w, gate=True)`` on the BGR frame.

Cases: clean; salt and pepper at 0.1–10 % of the pixels (all channels of a pixel hit alike, as
``skimage.util.random_noise`` on a gray image or a dead/hot sensor pixel after demosaicing
spreads it); 1 % hitting each channel value on its own; white noise σ = 10 or 25 plus 1 %; white
noise σ = 50 alone (its clipped values are no impulses: the step must leave it as it is). The last two
rows are clean images: a synthetic drawing (black anti-aliased text, blue 1-pixel lines at 0–80°, a
red 1-pixel grid) and a flat dark scene with regular one-pixel lights and specks; their PSNR against
themselves shows whether the drawing rule and the impulse step leave thin strokes and lone points alone. Writes the ``impulse``
section of RESULTS.md and ``results/impulse.json``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, photo_args, publish  # noqa: E402
from quality import photos  # noqa: E402

import cvdenoise  # noqa: E402

Case = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def salt_and_pepper(img: np.ndarray, amount: float, rng: np.random.Generator, per_value: bool = False) -> np.ndarray:
    """``img`` (uint8) with ``amount`` of its pixels (or, with ``per_value``, of its values) set to 0 or 255."""
    out = img.copy()
    u = rng.random(img.shape if per_value else img.shape[:2])
    if not per_value and img.ndim == 3:
        u = u[:, :, None].repeat(img.shape[2], 2)
    out[u < amount / 2] = 0
    out[(u >= amount / 2) & (u < amount)] = 255
    return out


def cases() -> dict[str, Case]:
    out: dict[str, Case] = {"clean": lambda im, rng: im}
    for a in (0.001, 0.005, 0.01, 0.03, 0.1):
        out[f"s&p {a:.1%}"] = lambda im, rng, a=a: salt_and_pepper(im, a, rng)
    out["s&p 1.0% per value"] = lambda im, rng: salt_and_pepper(im, 0.01, rng, per_value=True)
    for sigma in (10, 25):
        out[f"white σ={sigma} + s&p 1.0%"] = lambda im, rng, sigma=sigma: salt_and_pepper(white(im, sigma, rng), 0.01, rng)
    out["white σ=50, no impulses"] = lambda im, rng: white(im, 50, rng)
    return out


def white(img: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """``img`` (uint8) with white Gaussian noise of ``sigma`` levels, clipped and rounded."""
    return np.clip(img + rng.normal(0, sigma, img.shape), 0, 255).round().astype(np.uint8)


def drawing(size: int) -> np.ndarray:
    """A clean RGB drawing: black anti-aliased text, blue 1-pixel lines and a red 1-pixel grid on white."""
    img = np.full((size, size, 3), 255, np.uint8)
    for k, y in enumerate(range(30, size - 20, 40)):
        cv2.putText(img, f"CAR bus 42 #{k}", (6, y), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    c = size // 2
    for deg in (0, 10, 45, 80):
        t = np.deg2rad(deg)
        cv2.line(img, (c, c), (int(c + 0.45 * size * np.cos(t)), int(c + 0.45 * size * np.sin(t))), (0, 0, 255), 1)
    img[::16, : size // 4] = (255, 0, 0)
    img[: size // 4, ::16] = (255, 0, 0)
    return img


def psnr(x: np.ndarray, ref: np.ndarray) -> float:
    mse = np.mean((x.astype(np.float64) - ref) ** 2)
    return min(60.0, float(10 * np.log10(255.0**2 / mse))) if mse > 0 else 60.0


def main() -> None:
    args = photo_args(__doc__, crop=320)
    torch.manual_seed(0)
    imgs = list(photos(args.crop, quick=False).values())
    dens = {w: cvdenoise.load(w, half=False, ensemble=1) for w in args.weights}
    gates = {w: cvdenoise.FrameFilter(denoiser=den, gate=True) for w, den in dens.items()}  # the gate blends itself
    header = ["case", "input"] + [f"`{w}`: plain / rule alone → auto (strength) / gate" for w in args.weights]
    rows, data = [], {}
    work: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for name, make in cases().items():
        rng = np.random.default_rng(0)
        work[name] = [(im, make(im, rng)) for im in imgs]
    work["clean drawing (vs itself)"] = [(d := drawing(args.crop), d)]
    dots = np.full((args.crop, args.crop, 3), 40, np.uint8)  # a dark scene with one-pixel lights and dark specks
    dots[3::9, 5::11] = 255
    dots[7::13, 2::7] = 0
    work["clean dark scene, 1-px lights and specks (vs itself)"] = [(dots, dots)]
    for name, pairs in work.items():
        row: list[object] = [name, float(np.mean([psnr(n, c) for c, n in pairs]))]
        data[name] = {"input": row[1]}
        for w, den in dens.items():
            plain, alone, auto, used, gated = [], [], [], [], []
            rule = den.rule_for(3)
            for clean, noisy in pairs:
                x = torch.from_numpy(noisy).permute(2, 0, 1)[None].float() / 255
                with torch.inference_mode():
                    out = den.denoise_tensor(x)
                    s = rule(x, out) if rule else torch.ones(1)
                to8 = lambda t: (t[0].permute(1, 2, 0).clamp(0, 1) * 255).round().byte().numpy()  # noqa: E731
                plain.append(psnr(to8(out), clean))
                alone.append(psnr(to8(x + s.view(-1, 1, 1, 1) * (out - x)), clean))
                auto.append(psnr(den(noisy), clean))
                used.append(den.last_strength[0])
                gated.append(psnr(gates[w](np.ascontiguousarray(noisy[:, :, ::-1]))[:, :, ::-1], clean))
            m = {k: float(np.mean(v)) for k, v in
                 {"plain": plain, "rule_alone": alone, "auto": auto, "strength": used, "gate": gated}.items()}
            row.append(f"{m['plain']:.2f} / {m['rule_alone']:.2f} → **{m['auto']:.2f}** ({m['strength']:.2f}) / "
                       f"{m['gate']:.2f}")
            data[name][w] = m
        rows.append(row)
        print(" | ".join(f"{v:.2f}" if isinstance(v, float) else str(v) for v in row), flush=True)
    text = (
        f"{len(imgs)} benchmark photos ({args.crop}² centre crops), mean PSNR (dB against the clean photo, "
        "capped at 60): the input, the plain model output (`strength=1`), the strength rule's blend without "
        "the impulse step (what `\"auto\"` gave before it), `strength=\"auto\"` (the default, with the mean "
        "strength used) and `FrameFilter(w, gate=True)`. The last rows are clean images scored against "
        "themselves: a drawing (text, 1-pixel lines and grid) and a flat dark scene with a regular pattern of "
        f"one-pixel lights and dark specks. `python benchmarks/impulse.py`. Machine: {machine()}"
    )
    publish("impulse", "Salt-and-pepper noise under `strength=\"auto\"` (`python benchmarks/impulse.py`)", text,
            header, rows, {"crop": args.crop, "cases": data}, write=not args.no_write)


if __name__ == "__main__":
    main()
