"""Automatic strength (``strength="auto"``, the default of ``cvdenoise.load``): fit and check.

Run:  python benchmarks/strength.py [--crop 320] [--no-write]
      python benchmarks/strength.py --calibrate [--photos .gpudata] [--sets photos:4 more:3] [--weights ...]
      python benchmarks/strength.py --weights gray-fast --rule gray-fast=0.3,0.4,0.2   (try a rule)

A blind model trained mostly on visible degradations takes some fine texture for noise, so on
clean, lightly compressed or lightly noisy photos part of the input blended back beats the plain
output. ``strength="auto"`` blends per image by :class:`cvdenoise.blend.StrengthRule`:
``s = clip(a + b·ln(σ_r + 0.1), 0, 1)`` from the residual σ_r the model removed, and ``s = 1``
where the input's finest-scale noise estimate is below ``k·σ_r`` (blurred or blocky inputs).

``--calibrate`` fits ``a, b, k`` of each shipped model on its *training* photos
(``scripts/training_photos.py`` builds ``.gpudata``; by default every 4th OpenCV sample photo and
every 3rd high-resolution photo, ``--sets photos:4 more:3``; 256² centre crops) under the
degradations of :func:`conditions` and the presets of ``quality.py``: it scores each image's PSNR at strengths 0, 0.1, …, 1 and picks the rule with the best mean gain over
the plain output across conditions, a loss in any condition counting 10× (so heavy noise, blur and
strong JPEG keep the full output), and writes it to the model card (``auto_strength``).
Refit after publishing new weights (``scripts/publish_weights.py`` carries the previous rule over).

Without ``--calibrate`` it checks the cards' rules on the six benchmark photos of
``benchmarks/quality.py`` (never trained on, never used for the fit): for each condition the PSNR
(dB) of the input, of the plain output (``strength=1``), of ``strength="auto"`` (the user's call,
``cvdenoise.load(w, half=False, ensemble=1)``) and the mean strength chosen; the quality
presets of ``quality.py`` are included to show they keep the full output. Gray models run on the
photos' luma. Writes the ``strength`` section of RESULTS.md and ``results/strength.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, markdown_table, training_crops, write_section  # noqa: E402
from gate import _camera  # noqa: E402
from quality import noisy_copy, photos  # noqa: E402

import cvdenoise  # noqa: E402
from cvdenoise.blend import StrengthRule  # noqa: E402
from cvdenoise.degrade import Degrader  # noqa: E402
from cvdenoise.weights import WEIGHTS_DIR, read_card  # noqa: E402

Degrade = Callable[[np.ndarray, int], np.ndarray]  # (RGB or gray uint8 image, photo index) → degraded
STRENGTHS = np.linspace(0.0, 1.0, 11)
PSNR_CAP = 60.0  # dB: a lossless input's ∞ would swamp the mean
LOSS_WEIGHT = 10.0
MODELS = ["color-fast", "color-default", "gray-fast", "gray-default"]


def _rng(i: int, k: int) -> np.random.Generator:
    return np.random.default_rng(9000 + 100 * k + i)


def _jpeg(q: int) -> Degrade:
    def f(im: np.ndarray, i: int) -> np.ndarray:
        bgr = im[..., ::-1] if im.ndim == 3 else im  # OpenCV's JPEG takes BGR
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(bgr), [cv2.IMWRITE_JPEG_QUALITY, q])
        assert ok
        out = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
        return np.ascontiguousarray(out[..., ::-1]) if im.ndim == 3 else out

    return f


def _white(sigma: float) -> Degrade:
    return lambda im, i: np.clip(im + _rng(i, 1).normal(0, sigma, im.shape), 0, 255).round().astype(np.uint8)


def _blur(sigma: float) -> Degrade:
    return lambda im, i: cv2.GaussianBlur(im, (0, 0), sigma)


def _resampled(factor: float) -> Degrade:
    """Shrunk by ``factor`` (area average) and enlarged back by bicubic interpolation: a clean
    resized photo or a digital zoom, no noise."""
    def f(im: np.ndarray, i: int) -> np.ndarray:
        h, w = im.shape[:2]
        small = cv2.resize(im, (round(w / factor), round(h / factor)), interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)

    return f


def _cam(scale: float, read: float) -> Degrade:
    """The ``camera`` preset's sensor noise at another level (gray images: the luma of a colour frame)."""
    d = _camera(scale, read)

    def f(im: np.ndarray, i: int) -> np.ndarray:
        if im.ndim == 2:
            return cv2.cvtColor(d(cv2.cvtColor(im, cv2.COLOR_GRAY2RGB), _rng(i, 2)), cv2.COLOR_RGB2GRAY)
        return d(im, _rng(i, 2))

    return f


def _then(*steps: Degrade) -> Degrade:
    def f(im: np.ndarray, i: int) -> np.ndarray:
        for s in steps:
            im = s(im, i)
        return im

    return f


def conditions(with_presets: bool = False) -> dict[str, Degrade]:
    """Clean, compressed, blurred, lightly to heavily noisy inputs (and, for the check, the
    quality benchmark's presets)."""
    c: dict[str, Degrade] = {"lossless": lambda im, i: im}
    c.update({f"JPEG q{q}": _jpeg(q) for q in (95, 80, 60, 40, 20)})
    c.update({f"blur σ={s}": _blur(s) for s in (0.7, 1.2, 2.0)})
    c.update({f"resampled ×{f:g}": _resampled(f) for f in (1.5, 2.0)})
    c.update({f"white σ={s}": _white(s) for s in (1, 2, 3, 5, 8, 12, 20)})
    cams = {"camera 0": (0.0002, 0.7), "camera 1": (0.0005, 1.0), "camera 2": (0.001, 1.5), "camera 3": (0.002, 2.0)}
    c.update({k: _cam(*v) for k, v in cams.items()})
    c["blur 1.2 + white 5"] = _then(_blur(1.2), _white(5))
    c["white 5 + JPEG q80"] = _then(_white(5), _jpeg(80))
    c["camera 1 + JPEG q90"] = _then(_cam(*cams["camera 1"]), _jpeg(90))
    c["blur 1 + JPEG q60"] = _then(_blur(1.0), _jpeg(60))
    c["white 3 + JPEG q95"] = _then(_white(3), _jpeg(95))
    if with_presets:
        for p in ("gaussian15", "gaussian25", "gaussian50", "lowlight", "camera", "chain"):
            c[f"preset {p}"] = (lambda im, i, p=p: noisy_copy(im, p, i) if im.ndim == 3
                                else Degrader(p)(im, np.random.default_rng(1000 + i)))
    return c


def _psnr(a: np.ndarray, ref: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - ref) ** 2))
    return min(PSNR_CAP, 10 * np.log10(255.0**2 / mse)) if mse > 0 else PSNR_CAP


def _as_tensor(im: np.ndarray) -> torch.Tensor:
    t = torch.from_numpy(im)
    return (t[None, None] if im.ndim == 2 else t.permute(2, 0, 1)[None]).float() / 255.0


def _to_uint8(t: torch.Tensor) -> np.ndarray:
    return np.rint(np.clip(t[0].permute(1, 2, 0).numpy(), 0, 1) * 255).astype(np.uint8).squeeze()


def curves(den: cvdenoise.Denoiser, imgs: list[np.ndarray], degrade: Degrade) -> dict[str, np.ndarray]:
    """Per photo: σ_r, the input's HH estimate, and PSNR at each of :data:`STRENGTHS`."""
    from cvdenoise.noise import estimate_sigma, residual_sigma

    rs, hh, ps = [], [], []
    for i, clean in enumerate(imgs):
        x = _as_tensor(degrade(clean, i))
        y = den(x, strength=1.0)
        rs.append(float(residual_sigma(x, y)[0]))
        hh.append(float(estimate_sigma(x)[0]))
        ps.append([_psnr(_to_uint8(x + s * (y - x)), clean) for s in STRENGTHS])
    return {"rs": np.array(rs), "hh": np.array(hh), "ps": np.array(ps)}


def _gains(rule: StrengthRule, data: dict[str, dict[str, np.ndarray]]) -> dict[str, float]:
    """Mean PSNR gain over the plain output per condition (PSNR interpolated between strengths)."""
    out = {}
    for cond, d in data.items():
        s = rule.strength_for(torch.from_numpy(d["rs"]), torch.from_numpy(d["hh"])).numpy()
        k = np.minimum((s * 10).astype(int), 9)
        t = s * 10 - k
        rows = np.arange(len(s))
        val = d["ps"][rows, k] * (1 - t) + d["ps"][rows, k + 1] * t
        out[cond] = float(np.mean(val - d["ps"][:, -1]))
    return out


def fit(data: dict[str, dict[str, np.ndarray]]) -> tuple[StrengthRule, dict[str, float]]:
    """The grid rule with the best mean gain, a loss in any condition counting :data:`LOSS_WEIGHT`×."""
    best: tuple[float, StrengthRule] | None = None
    for a, b, k in itertools.product(np.arange(0, 1.001, 0.02), np.arange(0, 0.601, 0.02), (0.2, 0.3, 0.4, 0.5)):
        rule = StrengthRule(round(float(a), 3), round(float(b), 3), k)
        g = np.array(list(_gains(rule, data).values()))
        score = float(g.mean() + LOSS_WEIGHT * np.minimum(g, 0).mean())
        if best is None or score > best[0]:
            best = (score, rule)
    assert best is not None
    return best[1], _gains(best[1], data)


def _gray(imgs: list[np.ndarray]) -> list[np.ndarray]:
    return [cv2.cvtColor(im, cv2.COLOR_RGB2GRAY) for im in imgs]


def calibrate(args: argparse.Namespace) -> None:
    imgs = training_crops(Path(args.photos), args.sets)
    print(f"{len(imgs)} training crops from {args.photos}", flush=True)
    for name in args.weights:
        den = cvdenoise.load(name, half=False, ensemble=1)
        src = _gray(imgs) if den.channels == (1,) else imgs  # a gray model (shipped name or your file)
        data = {}
        for cond, f in conditions(with_presets=True).items():
            data[cond] = curves(den, src, f)
            print(f"{name} {cond}: σ_r {data[cond]['rs'].mean():.2f}", flush=True)
        rule, gains = fit(data)
        print(f"{name}: {rule}  gains (dB) " + ", ".join(f"{c} {g:+.2f}" for c, g in gains.items()), flush=True)
        if args.no_write:
            continue
        # a shipped name's card, or the card beside your own .safetensors (cvdenoise train writes one)
        card_path = Path(name).with_suffix(".json") if name.endswith(".safetensors") else WEIGHTS_DIR / f"{name}.json"
        card = json.loads(card_path.read_text())
        card["auto_strength"] = {**rule.to_card(), "fitted_on": f"{len(imgs)} training crops (256²) of "
                                 f"{' '.join(args.sets)} (folder:every n-th photo), "
                                 "`python benchmarks/strength.py --calibrate`",
                                 "fit_gain_db": {c: round(g, 3) for c, g in gains.items()}}
        card_path.write_text(json.dumps(card, indent=2) + "\n")


def check(args: argparse.Namespace) -> None:
    imgs = list(photos(args.crop, False).values())
    names = [w for w in args.weights if StrengthRule.from_card(read_card(w)) is not None]
    dens = {n: cvdenoise.load(n, half=False, ensemble=1) for n in names}
    for entry in args.rule:  # candidate rules instead of the cards' (NAME=a,b,k)
        name, _, abk = entry.partition("=")
        if name not in dens:
            raise SystemExit(f"--rule {entry}: {name} is not among --weights")
        dens[name].rules = {c: StrengthRule(*map(float, abk.split(","))) for c in dens[name].rules}
    rows, data = [], {}
    for cond, f in conditions(with_presets=True).items():
        row: list[object] = [cond]
        data[cond] = {}
        for name in names:
            den = dens[name]
            src = _gray(imgs) if name.startswith("gray") else imgs
            p_in, p_full, p_auto, ss = [], [], [], []
            for i, clean in enumerate(src):
                noisy = f(clean, i)
                p_in.append(_psnr(noisy, clean))
                p_full.append(_psnr(den(noisy, strength=1.0), clean))
                p_auto.append(_psnr(den(noisy), clean))
                ss.append(den.last_strength[0])
            r = {"input": float(np.mean(p_in)), "full": float(np.mean(p_full)), "auto": float(np.mean(p_auto)),
                 "strength": float(np.mean(ss)), "worst_gain": float(np.min(np.subtract(p_auto, p_full)))}
            data[cond][name] = r
            row.append(f"{r['input']:.2f} / {r['full']:.2f} → **{r['auto']:.2f}** ({r['strength']:.2f})")
        rows.append(row)
        print(" | ".join(map(str, row)), flush=True)
    mean_gain = {n: float(np.mean([data[c][n]["auto"] - data[c][n]["full"] for c in data])) for n in names}
    worst = {n: min((data[c][n]["auto"] - data[c][n]["full"], c) for c in data) for n in names}
    summary = [["mean gain over the plain output (dB)", *(f"{mean_gain[n]:+.2f}" for n in names)],
               ["largest loss (dB)", *(f"{worst[n][0]:+.2f} ({worst[n][1]})" for n in names)]]
    table = markdown_table(["input", *(f"`{n}`: input / plain → auto (mean strength)" for n in names)], rows + summary)
    print(table)
    if args.no_write:
        return
    md = (
        "## Automatic strength (`python benchmarks/strength.py`)\n\n"
        f"{len(imgs)} benchmark photos ({args.crop}² centre crops; gray models on their luma), never used in "
        "training or in fitting the rules: mean PSNR (dB, capped at 60) of the input, of the plain model output "
        "(`strength=1`) and of `strength=\"auto\"` (the default; one float32 pass), with the mean strength it "
        f"chose. `python benchmarks/strength.py`. Machine: {machine()}\n\n{table}"
    )
    write_section("strength", md, {"crop": args.crop, "results": data})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calibrate", action="store_true", help="fit the rules on training photos; write the model cards")
    ap.add_argument("--photos", default=".gpudata", help="training-photo root (scripts/training_photos.py OUT)")
    ap.add_argument("--sets", nargs="+", default=["photos:4", "more:3"], metavar="FOLDER:STEP",
                    help="--calibrate: every STEP-th photo of each FOLDER under --photos")
    ap.add_argument("--weights", nargs="+", default=MODELS,
                    help="shipped files (color-fast, …); a family name (fast, default) stands for its colour and gray files")
    ap.add_argument("--rule", nargs="+", default=[], metavar="NAME=A,B,K",
                    help="check: try these rules instead of the cards' (implies --no-write)")
    ap.add_argument("--crop", type=int, default=320)
    ap.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md (and the cards) alone")
    args = ap.parse_args()
    from cvdenoise.weights import FAMILIES
    args.weights = list(dict.fromkeys(m for w in args.weights for m in (FAMILIES[w].values() if w in FAMILIES else [w])))
    torch.set_num_threads(min(2, torch.get_num_threads()))
    args.no_write = args.no_write or bool(args.rule)
    calibrate(args) if args.calibrate else check(args)


if __name__ == "__main__":
    main()
