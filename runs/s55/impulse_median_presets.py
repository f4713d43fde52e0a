"""s55: what the median fill of impulse_mask's values would cost on clipped Gaussian noise if it ran at strength 1
(the quality presets gaussian25/50; docs/strength.md).   python runs/s55/impulse_median_presets.py"""
import sys, numpy as np, torch
sys.path.insert(0, "benchmarks")
from quality import noisy_copy, photos
import cvdenoise
from cvdenoise.blend import impulse_mask
torch.set_num_threads(2)
def med_at(x, mask):
    b, c, y, xx = mask.nonzero().unbind(1); h, w = x.shape[-2:]
    v = torch.stack([x[b, c, (y + dy).clamp(0, h - 1), (xx + dx).clamp(0, w - 1)] for dy in (-1, 0, 1) for dx in (-1, 0, 1)], 1)
    return v.median(1).values
def psnr(a, b): return float(10 * torch.log10(1 / ((a - b) ** 2).mean()))
ims = list(photos(320, False).values())
for name in ("fast", "default"):
    den = cvdenoise.load(name, half=False)
    for p in ("gaussian25", "gaussian50"):
        r = []
        for i, im in enumerate(ims):
            x = torch.from_numpy(noisy_copy(im, p, i)).permute(2, 0, 1)[None].float() / 255
            ref = torch.from_numpy(im).permute(2, 0, 1)[None].float() / 255
            y = den.denoise_tensor(x); m = impulse_mask(x, y)
            y2 = y.clone()
            if m.any(): y2[m] = med_at(y, m)
            q = lambda t: (t * 255).round() / 255
            r.append((psnr(q(y), ref), psnr(q(y2), ref)))
        a = np.array(r); print(name, p, a.mean(0).round(3), (a[:, 1] - a[:, 0]).round(3), flush=True)
