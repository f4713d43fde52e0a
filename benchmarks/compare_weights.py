"""Quick PSNR comparison of weight files on the quality benchmark's own noisy pairs.

Run:  python benchmarks/compare_weights.py WEIGHTS [WEIGHTS ...]
      (shipped names or .safetensors files, e.g. runs/x/color-default.safetensors)

Uses the photos, presets and seeds of ``benchmarks/quality.py`` (so the figures match its
table) without the peers or timing: a few seconds per model, for choosing between training
checkpoints. Colour weights are scored on the colour presets, gray weights (or a gray family
member) on the grayscale pairs (AWGN σ=15/25/50 and the luma of the camera preset). Prints a
table; with ``--write`` also the ``weights`` section of RESULTS.md and ``results/weights.json``
(how the shipped specialist ``color-default-awgn`` compares with ``color-default``).

``--heldout FOLDER ...`` adds a column scored the way training validates: 64 crops of 128² from
every 10th photo of the training folders (the photos ``cvdenoise train`` holds out), degraded by
the ``noise`` preset (albumentations chain, fixed seed) — the training distribution, not the
benchmark's fixed presets. ``--heldout-seeds N`` scores N such sets of 64 crops (seeds 20000…;
the first is the default set) and prints, for each further weights file, its per-crop difference
to the first weights of the same channel count (any architecture: a grown model against the one
it was grown from): mean, median, share of crops improved, and the
mean difference in each quarter of the crops ordered by the first model's PSNR (a loss only in
the top quarter is a loss on crops both return almost unchanged).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from skimage.metrics import peak_signal_noise_ratio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, markdown_table, write_section  # noqa: E402
from quality import GRAY_HEADERS, GRAY_PRESETS, PRESETS, gray_pairs, noisy_copy, photos  # noqa: E402

import cvdenoise  # noqa: E402
from cvdenoise.data import PairSampler, load_clean_images  # noqa: E402
from cvdenoise.train import psnr as batch_psnr  # noqa: E402
from cvdenoise.weights import load_model  # noqa: E402



def _heldout(folders: list[str], channels: int, seeds: int = 1) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``seeds`` sets of (noisy, clean) ``(64, C, 128, 128)`` float32 crops of the photos training holds out."""
    images = load_clean_images(folders, min_size=128, downscale=0.5)[::10]
    if not images:
        raise SystemExit(f"no images of at least 128 px in {folders}")
    return [
        PairSampler(images, crop=128, channels=channels, degradation="noise", p_dead_leaves=0.0, seed=20_000 + i).batch(64)
        for i in range(seeds)
    ]


def _crop_diff(name: str, scores: torch.Tensor, base: torch.Tensor) -> str:
    """One line: per-crop PSNR difference of ``scores`` to ``base`` (both ``(N,)`` dB)."""
    d = scores - base
    quarters = torch.argsort(base).chunk(4)
    means = " ".join(f"{base[i].mean():.1f}" for i in quarters)
    by_quarter = " ".join(f"{d[i].mean():+.3f}" for i in quarters)
    return (
        f"{name}: held-out per crop vs the first of its channel count (n={len(d)}): "
        f"mean {d.mean():+.3f} ± {d.std() / len(d) ** 0.5:.3f}, median {d.median():+.3f}, "
        f"improved {float((d > 0).float().mean()):.0%}; "
        f"by quarter of the first's PSNR (low → high, means {means}): {by_quarter}"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights", nargs="+")
    ap.add_argument("--crop", type=int, default=320)
    ap.add_argument("--heldout", nargs="+", default=None, metavar="FOLDER", help="training folders (see above)")
    ap.add_argument("--heldout-seeds", type=int, default=1, metavar="N", help="sets of 64 held-out crops (see above)")
    ap.add_argument("--write", action="store_true", help="write the table into RESULTS.md (section 'weights')")
    args = ap.parse_args()
    from cvdenoise.weights import FAMILIES
    if family := next((w for w in args.weights if w in FAMILIES), None):
        ap.error(f"{family!r} names a colour + gray pair: compare one file, {FAMILIES[family][3]!r} or {FAMILIES[family][1]!r}")
    torch.set_num_threads(min(2, torch.get_num_threads()))
    imgs = list(photos(args.crop, False).values())
    color = {p: [(c, noisy_copy(c, p, i)) for i, c in enumerate(imgs)] for p in PRESETS}
    gray = {p: gray_pairs(imgs, p) for p in GRAY_PRESETS}
    crows, grows = [], []
    heldout = {ch: _heldout(args.heldout, ch, args.heldout_seeds) for ch in (1, 3)} if args.heldout else {}
    crop_scores: dict[int, torch.Tensor] = {}  # per-crop PSNR of the first weights of each channel count
    diffs: list[str] = []
    for w in args.weights:
        model = load_model(w)  # loaded once: scored through a Denoiser and, held out, directly
        channels = model.config.channels
        den = cvdenoise.Denoiser({channels: model}, multiple=model.multiple, name=str(w))
        if channels == 3:
            psnr = [np.mean([peak_signal_noise_ratio(c, den(n), data_range=255) for c, n in color[p]]) for p in PRESETS]
        else:
            psnr = [np.mean([peak_signal_noise_ratio(g, den(n), data_range=255) for g, n in gray[p]]) for p in GRAY_PRESETS]
        if heldout:
            with torch.inference_mode():
                scores = torch.cat([batch_psnr(model(noisy), clean) for noisy, clean in heldout[channels]])
            psnr.append(float(scores[:64].mean()))  # the first set: comparable across --heldout-seeds
            if channels in crop_scores:
                diffs.append(_crop_diff(str(w), scores, crop_scores[channels]))
            else:
                crop_scores[channels] = scores
        (crows if channels == 3 else grows).append([w] + [f"{x:.2f}" for x in psnr])
        print(f"{w}: " + " ".join(f"{x:.2f}" for x in psnr), flush=True)
    extra = ["held-out crops"] if heldout else []
    if crows:
        print(markdown_table(["colour weights"] + PRESETS + extra, crows))
    if grows:
        print(markdown_table(["gray weights"] + GRAY_HEADERS + extra, grows))
    if args.heldout_seeds > 1:
        print("\n".join(diffs))
    if args.write:
        tables = [markdown_table(["colour weights"] + PRESETS + extra, crows)] if crows else []
        tables += [markdown_table(["gray weights"] + GRAY_HEADERS + extra, grows)] if grows else []
        md = ("## Weights side by side (`python benchmarks/compare_weights.py`)\n\n"
              f"The photos, presets and seeds of `quality.py` ({len(imgs)} photos, {args.crop}² crops), one float32 pass "
              f"of each weights file, mean PSNR (dB). `python benchmarks/compare_weights.py {' '.join(args.weights)} "
              f"--write`. Machine: {machine()}\n\n" + "\n\n".join(tables))
        write_section("weights", md, {"weights": args.weights, "colour": crows, "gray": grows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
