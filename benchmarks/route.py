"""White-noise specialist routing (``cvdenoise.route``): fit and check.

Run:  python benchmarks/route.py --calibrate --specialist runs/.../color-default.safetensors [--no-write]
      python benchmarks/route.py [--crop 320] [--no-write]        (held-out check of the shipped rule)

The blind models are trained on a broad mix (camera noise, low light, blur, JPEG), which costs
them on plain additive white Gaussian noise (AWGN); a specialist fine-tuned on AWGN alone gains
there and loses on everything else (``weights/RECIPE.md``, stage 19). ``cvdenoise.load`` runs the
specialist only for images whose :func:`cvdenoise.noise.noise_profile` says "white, channel-
independent, signal-independent noise of at least some σ" (:class:`cvdenoise.route.RouteRule`).

``--calibrate`` measures, on 256² centre crops of the *training* photos (``--sets``, as
``benchmarks/strength.py``) under the degradations of :func:`conditions`, the PSNR of the base
model (``strength="auto"``, what a user gets) and of the specialist, with each image's noise
profile, and fits the rule's thresholds on a grid: best mean gain over the base model across
conditions, a loss in any condition counting 10×. It writes the rule into the base model's card
(``white_noise_specialist``).

Without ``--calibrate`` it checks the card's rule on the six benchmark photos of
``benchmarks/quality.py`` (never trained on, never used for the fit): per condition the PSNR of
the base model, of the specialist and of the routed call (``cvdenoise.load(name, half=False,
ensemble=1)``, the user's call), and how many images were routed. Writes the ``route`` section of
RESULTS.md and ``results/route.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, markdown_table, write_section  # noqa: E402
from quality import photos  # noqa: E402
from strength import Degrade, _blur, _jpeg, _psnr, _white, training_crops  # noqa: E402
from strength import conditions as strength_conditions  # noqa: E402

import cvdenoise  # noqa: E402
from cvdenoise.degrade import DegradationConfig, Degrader  # noqa: E402
from cvdenoise.noise import noise_profile  # noqa: E402
from cvdenoise.route import RouteRule  # noqa: E402
from cvdenoise.weights import WEIGHTS_DIR, read_card  # noqa: E402

LOSS_WEIGHT = 10.0


def _noise_only(seed: int, **noise: object) -> Degrade:
    """One noise family at fixed strength, nothing else (per-channel noise)."""
    cfg = DegradationConfig(p_clean=0.0, p_blur=0.0, p_resize=0.0, p_noise=1.0, p_jpeg=0.0, shuffle=False,
                            p_gray_noise=0.0, **noise)  # type: ignore[arg-type]
    d = Degrader(cfg)
    return lambda im, i: d(im, np.random.default_rng(seed + i))


def _gray_noise(sigma: float) -> Degrade:
    """One Gaussian noise field shared by the three channels (luma-only noise)."""
    def f(im: np.ndarray, i: int) -> np.ndarray:
        n = np.random.default_rng(7000 + i).normal(0, sigma, im.shape[:2])
        return np.clip(im + (n[..., None] if im.ndim == 3 else n), 0, 255).round().astype(np.uint8)

    return f


def conditions() -> dict[str, Degrade]:
    """``benchmarks/strength.py``'s conditions with the quality presets, more white-noise levels,
    and the noise kinds the specialist must not take: low light at other levels, noise shared by
    the channels, speckle, salt and pepper, ISO, blur or JPEG after white noise."""
    c = strength_conditions(with_presets=True)
    c.update({f"white σ={s}": _white(s) for s in (10, 30, 40)})
    for scale, read in ((0.01, 0), (0.01, 3), (0.05, 8), (0.1, 2)):
        c[f"shot {scale} + read {read}"] = _noise_only(3000, noise_kinds=(("poisson", 1.0),),
                                                       poisson_scale=(scale, scale), read_sigma=(read / 255, read / 255))
    c.update({f"shared-channel σ={s}": _gray_noise(s) for s in (10, 25)})
    c["speckle 0.15"] = _noise_only(4000, noise_kinds=(("speckle", 1.0),), speckle_sigma=(0.15, 0.15))
    c["salt & pepper 1%"] = _noise_only(4000, noise_kinds=(("saltpepper", 1.0),), saltpepper_amount=(0.01, 0.01))
    c["ISO 0.4"] = _noise_only(4000, noise_kinds=(("iso", 1.0),), iso_intensity=(0.4, 0.4))
    c["blur 1 + white 15"] = lambda im, i: _white(15)(_blur(1.0)(im, i), i)
    c["white 15 + JPEG q90"] = lambda im, i: _jpeg(90)(_white(15)(im, i), i)
    return c


def measure(base: cvdenoise.Denoiser, spec: cvdenoise.Denoiser, imgs: list[np.ndarray],
            degrade: Degrade) -> dict[str, np.ndarray]:
    """Per image: noise profile (σ, channel corr, whiteness, level ratio) and PSNR of base / specialist."""
    prof, pb, ps = [], [], []
    for i, clean in enumerate(imgs):
        noisy = degrade(clean, i)
        p = noise_profile(noisy)
        assert not isinstance(p, list)
        prof.append([p.sigma, p.channel_corr, p.whiteness, p.level_ratio])
        pb.append(_psnr(base(noisy), clean))
        # the specialist can only gain where there is noise to remove: skip the clean-ish inputs
        ps.append(_psnr(spec(noisy), clean) if p.sigma >= 2.0 else -np.inf)
    return {"profile": np.array(prof), "base": np.array(pb), "spec": np.array(ps)}


def gains(rule: RouteRule, data: dict[str, dict[str, np.ndarray]]) -> dict[str, float]:
    """Mean PSNR gain of the routed call over the base model, per condition."""
    out = {}
    for cond, d in data.items():
        routed = np.array([rule.accepts(*row) for row in d["profile"]], bool)
        out[cond] = float(np.mean(np.where(routed, d["spec"] - d["base"], 0.0)))
    return out


def fit(data: dict[str, dict[str, np.ndarray]]) -> tuple[RouteRule, dict[str, float]]:
    """The grid rule with the best mean gain, a loss in any condition counting :data:`LOSS_WEIGHT`×."""
    best: tuple[float, RouteRule] | None = None
    grid = itertools.product((3.0, 5.0, 8.0, 12.0), (0.1, 0.15, 0.2, 0.3), (1.3, 1.5, 1.7, 2.0),
                             (0.7, 0.8, 0.9), (1.2, 1.4, 1.7, 2.0))
    for s, c, w, lo, hi in grid:
        rule = RouteRule(min_sigma=s, max_channel_corr=c, max_whiteness=w, level_ratio=(lo, hi))
        g = np.array(list(gains(rule, data).values()))
        score = float(g.mean() + LOSS_WEIGHT * np.minimum(g, 0).mean())
        if best is None or score > best[0]:
            best = (score, rule)
    assert best is not None
    return best[1], gains(best[1], data)


def calibrate(args: argparse.Namespace) -> None:
    imgs = training_crops(Path(args.photos), args.sets)
    print(f"{len(imgs)} training crops from {args.photos}", flush=True)
    base = cvdenoise.load(args.base, half=False, ensemble=1, specialist=False)
    spec = cvdenoise.load(args.specialist, half=False, ensemble=1, strength=1.0)
    data = {}
    for cond, f in conditions().items():
        data[cond] = measure(base, spec, imgs, f)
        d = data[cond]
        print(f"{cond}: σ {d['profile'][:, 0].mean():.1f}, specialist − base "
              f"{np.mean(np.where(np.isfinite(d['spec']), d['spec'] - d['base'], 0)):+.2f} dB", flush=True)
    np.savez(Path(args.out) / "route_calibration.npz", **{f"{c}/{k}": v for c, d in data.items() for k, v in d.items()})
    rule, g = fit(data)
    print(f"{args.base}: {rule}\n  gains (dB) " + ", ".join(f"{c} {v:+.2f}" for c, v in g.items()), flush=True)
    if args.no_write:
        return
    card_path = WEIGHTS_DIR / f"{read_card(args.base).get('name', args.base)}.json"
    card = json.loads(card_path.read_text())
    card["white_noise_specialist"] = {
        "weights": Path(args.spec_name).stem, **rule.to_card(),
        "fitted_on": f"{len(imgs)} training crops (256²) of {' '.join(args.sets)}, `python benchmarks/route.py --calibrate`",
        "fit_gain_db": {c: round(v, 3) for c, v in g.items()},
    }
    card_path.write_text(json.dumps(card, indent=2) + "\n")


def check(args: argparse.Namespace) -> None:
    imgs = list(photos(args.crop, False).values())
    routed_den = cvdenoise.load(args.base, half=False, ensemble=1)
    base = cvdenoise.load(args.base, half=False, ensemble=1, specialist=False)
    spec_name = routed_den.specialist_name(3)
    if spec_name is None:
        raise SystemExit(f"{args.base} has no white-noise specialist in its model card")
    spec = cvdenoise.load(spec_name, half=False, ensemble=1, strength=1.0)
    rows, data = [], {}
    for cond, f in conditions().items():
        pb, ps, pr, n = [], [], [], 0
        for i, clean in enumerate(imgs):
            noisy = f(clean, i)
            pb.append(_psnr(base(noisy), clean))
            ps.append(_psnr(spec(noisy), clean))
            pr.append(_psnr(routed_den(noisy), clean))
            n += int(routed_den.last_routed[0])
        r = {"base": float(np.mean(pb)), "specialist": float(np.mean(ps)), "routed": float(np.mean(pr)),
             "n_routed": n, "worst_gain": float(np.min(np.subtract(pr, pb)))}
        data[cond] = r
        rows.append([cond, f"{r['base']:.2f}", f"{r['specialist']:.2f}", f"**{r['routed']:.2f}**",
                     f"{r['routed'] - r['base']:+.2f}", f"{n}/{len(imgs)}"])
        print(" | ".join(map(str, rows[-1])), flush=True)
    gain = [d["routed"] - d["base"] for d in data.values()]
    rows.append(["mean over conditions", "", "", "", f"{np.mean(gain):+.2f}", ""])
    table = markdown_table(["input", "base (auto)", "specialist", "routed (the default)", "routed − base", "routed"], rows)
    print(table)
    if args.no_write:
        return
    md = (
        f"{len(imgs)} benchmark photos ({args.crop}² centre crops), never used in training or in fitting the rule: "
        f"mean PSNR (dB, capped at 60) of `{args.base}` without its specialist (`specialist=False`, `strength=\"auto\"`), "
        f"of the white-noise specialist `{spec_name}` alone, and of the routed default call "
        "(`cvdenoise.load(..., half=False, ensemble=1)`), with the number of photos routed to the specialist. "
        f"`python benchmarks/route.py`. Machine: {machine()}\n\n{table}"
    )
    write_section("route", md, {"crop": args.crop, "weights": args.base, "specialist": spec_name, "results": data})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calibrate", action="store_true", help="fit the rule on training photos; write the model card")
    ap.add_argument("--base", default="color-default", help="the blind model whose card gets the rule")
    ap.add_argument("--specialist", help="--calibrate: the specialist's weights (file or shipped name)")
    ap.add_argument("--spec-name", help="--calibrate: the specialist's shipped name (default: from --specialist)")
    ap.add_argument("--photos", default=".gpudata", help="training-photo root (scripts/training_photos.py OUT)")
    ap.add_argument("--sets", nargs="+", default=["photos:8", "more:4"], metavar="FOLDER:STEP")
    ap.add_argument("--out", default="benchmarks/results", help="--calibrate: where the raw measurements go")
    ap.add_argument("--crop", type=int, default=320)
    ap.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md (and the card) alone")
    args = ap.parse_args()
    torch.set_num_threads(min(2, torch.get_num_threads()))
    if args.calibrate:
        if not args.specialist:
            raise SystemExit("--calibrate needs --specialist WEIGHTS")
        args.spec_name = args.spec_name or args.specialist
        calibrate(args)
    else:
        check(args)


if __name__ == "__main__":
    main()
