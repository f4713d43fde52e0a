"""Clean and noisy drawings — text pages, a screen capture, a chart — under ``strength="auto"``.

Run:  python benchmarks/drawings.py [--weights default fast] [--sigma 15] [--no-write]

Documents and screen captures reach a detector too (OCR, UI tests, dashboards). Their strokes are
thin and anti-aliased, on flat backgrounds: a denoiser that takes anti-aliasing for noise smooths
them, and a clean page should come back unchanged. Six 360×480 drawings are rendered with
OpenCV (``cv2.putText`` sentences, lines, rectangles; none of them from the training generator
:func:`cvdenoise.data.drawing`): black text at three sizes and weights (gray content: the family's
gray model), red text, a screen capture (blue text, a green 1-px frame, a gray bar) and a line
chart. Each is denoised clean and with white Gaussian noise of ``--sigma`` (fixed seed, clipped,
uint8), as ``cvdenoise.load(name, half=False, ensemble=1)`` gives it (automatic strength), and
scored by PSNR (dB, capped at 60) against the clean drawing, with the strength the rule chose.

Writes ``results/drawings.json`` and the ``drawings`` section of RESULTS.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, models_parser, parse_models_args, publish  # noqa: E402

import cvdenoise  # noqa: E402

H, W = 360, 480
LINES = ("Denoise before you detect: the filter runs", "in front of the detector on every frame,",
         "0123456789 ABCDEFGHIJKLM nopqrstuvwxyz", "and a clean page must come back unchanged.")
CAP = 60.0


def _text_page(colour: tuple[int, int, int], scale: float, thickness: int, rows: int = 14) -> np.ndarray:
    """White page of ``rows`` lines of anti-aliased text in BGR ``colour``."""
    img = np.full((H, W, 3), 255, np.uint8)
    step = max(14, int(34 * scale))
    for i in range(rows):
        cv2.putText(img, LINES[i % len(LINES)], (8, 18 + i * step), cv2.FONT_HERSHEY_SIMPLEX, scale, colour,
                    thickness, cv2.LINE_AA)
    return img


def _screen() -> np.ndarray:
    img = _text_page((200, 0, 0), 0.55, 1, rows=10)
    img[H - 40:] = (235, 235, 235)  # a gray status bar with dark text
    cv2.putText(img, "Ready - 3 items", (10, H - 14), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (40, 40, 40), 1, cv2.LINE_AA)
    cv2.rectangle(img, (4, 4), (W - 5, H - 45), (0, 128, 0), 1)
    return img


def _chart() -> np.ndarray:
    img = np.full((H, W, 3), 255, np.uint8)
    cv2.line(img, (40, 20), (40, H - 40), (0, 0, 0), 1)
    cv2.line(img, (40, H - 40), (W - 20, H - 40), (0, 0, 0), 1)
    xs = np.linspace(45, W - 25, 30)
    for k, colour in enumerate([(200, 60, 0), (0, 0, 220), (0, 150, 0)]):
        ys = H / 2 + 80 * np.sin(xs / (60 + 25 * k) + k) - 30 * k
        pts = np.stack([xs, ys], 1).astype(np.int32)
        cv2.polylines(img, [pts], False, colour, 1 + k % 2, cv2.LINE_AA)
    for i in range(5):
        cv2.putText(img, f"{20 * i}", (8, H - 40 - 60 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return img


def drawings() -> dict[str, np.ndarray]:
    """The benchmark's clean BGR uint8 drawings, by name."""
    return {
        "black text": _text_page((0, 0, 0), 0.6, 1),
        "small black text": _text_page((0, 0, 0), 0.4, 1, rows=22),
        "bold black text": _text_page((0, 0, 0), 0.8, 2, rows=10),
        "red text": _text_page((30, 30, 200), 0.6, 1),
        "screen capture": _screen(),
        "line chart": _chart(),
    }


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b) ** 2).mean())
    return CAP if mse == 0 else min(CAP, 10 * np.log10(255.0**2 / mse))


def main() -> int:
    ap = models_parser(__doc__)
    ap.add_argument("--sigma", type=float, default=15.0)
    args = parse_models_args(ap)

    models = {w: cvdenoise.load(w, half=False, ensemble=1, channel_order="bgr") for w in args.weights}
    header = ["drawing", "noisy input"] + [f"{m}: clean → (s) / noisy → (s)" for m in models]
    rows, data = [], []
    for k, (name, clean) in enumerate(drawings().items()):
        rng = np.random.default_rng(100 + k)
        noisy = np.clip(np.rint(clean + rng.normal(0, args.sigma, clean.shape)), 0, 255).astype(np.uint8)
        entry: dict = {"drawing": name, "noisy_psnr": psnr(noisy, clean), "models": {}}
        cells = []
        for m, d in models.items():
            out_clean = d(clean)
            s_clean = d.last_strength[0]
            out_noisy = d(noisy)
            s_noisy = d.last_strength[0]
            r = {"clean_psnr": psnr(out_clean, clean), "clean_strength": s_clean,
                 "noisy_psnr": psnr(out_noisy, clean), "noisy_strength": s_noisy}
            entry["models"][m] = r
            cells.append(f"{r['clean_psnr']:.2f} ({s_clean:.2f}) / {r['noisy_psnr']:.2f} ({s_noisy:.2f})")
        rows.append([name, f"{entry['noisy_psnr']:.2f}"] + cells)
        data.append(entry)
    publish("drawings", "Clean and noisy drawings (`python benchmarks/drawings.py`)",
            f"Six {W}×{H} drawings (text pages, a screen capture, a line chart), clean and with white Gaussian "
            f"noise σ={args.sigma:g}; PSNR (dB, capped at {CAP:g}) of `cvdenoise.load(name, half=False, ensemble=1)` "
            f"under automatic strength against the clean drawing, with the strength chosen. Machine: {machine()}.",
            header, rows, {"machine": machine(), "sigma": args.sigma, "rows": data}, write=not args.no_write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
