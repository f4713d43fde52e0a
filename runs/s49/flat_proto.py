"""s49 prototype: does the residual in the output's flattest blocks predict the best strength better than σ_r?
Curves on the training crops (fit) and on the six benchmark photos (check), cached to runs/s49/curves-<model>.npz."""
import sys, itertools, numpy as np, torch, warnings
from pathlib import Path
warnings.simplefilter("ignore")
torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 2)
sys.path.insert(0, "benchmarks")
import strength as S
from quality import photos
import cvdenoise
from cvdenoise.noise import estimate_sigma, residual_sigma, _MAD_TO_SIGMA

def flat_sigma(x, y, block=8, share=0.25):
    """MAD σ (8-bit) of x−y over the `share` of block×block blocks where y varies least."""
    b, c, h, w = x.shape
    h8, w8 = h // block * block, w // block * block
    r = (x - y)[..., :h8, :w8].mean(1)  # (B,h,w) channel mean
    yy = y[..., :h8, :w8].mean(1)
    rb = r.reshape(b, h8 // block, block, w8 // block, block).permute(0, 1, 3, 2, 4).reshape(b, -1, block * block)
    yb = yy.reshape(b, h8 // block, block, w8 // block, block).permute(0, 1, 3, 2, 4).reshape(b, -1, block * block)
    var = yb.std(-1)
    n = max(1, int(share * var.shape[1]))
    idx = var.argsort(1)[:, :n]
    sel = torch.gather(rb, 1, idx[..., None].expand(-1, -1, block * block)).reshape(b, -1)
    sel = sel - sel.median(1, keepdim=True).values
    return sel.abs().median(1).values * _MAD_TO_SIGMA * 255 * (c ** 0.5)

def curves(den, imgs, degrade):
    rs, rf, hh, ps = [], [], [], []
    for i, clean in enumerate(imgs):
        x = S._as_tensor(degrade(clean, i))
        y = den(x, strength=1.0)
        rs.append(float(residual_sigma(x, y)[0])); rf.append(float(flat_sigma(x, y)[0])); hh.append(float(estimate_sigma(x)[0]))
        ps.append([S._psnr(S._to_uint8(x + s * (y - x)), clean) for s in S.STRENGTHS])
    return np.array(rs), np.array(rf), np.array(hh), np.array(ps)

name = sys.argv[1]
den = cvdenoise.load(name, half=False, ensemble=1)
gray = den.channels == (1,)
import cv2
SCALE = float(__import__("os").environ.get("SCALE", "1"))
if SCALE != 1:  # clean references: the training photos shrunk (INTER_AREA averages their own noise and JPEG blocks away)
    orig = S.cv2.imread
    def shrunk(f, flag=cv2.IMREAD_COLOR):
        im = orig(f, flag)
        return None if im is None else cv2.resize(im, None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_AREA)
    S.cv2 = type("cv2shim", (), {"imread": staticmethod(shrunk), "IMREAD_COLOR": cv2.IMREAD_COLOR})
train = S.training_crops(Path("P"), ["photos:4", "more:3"])
S.cv2 = cv2
print(len(train), "training crops, scale", SCALE, flush=True)
bench = list(photos(320, False).values())
if gray:
    train, bench = S._gray(train), S._gray(bench)
out = {}
for cond, f in S.conditions(with_presets=True).items():
    for tag, imgs in (("train", train),) + ((("bench", bench),) if SCALE == 1 else ()):
        rs, rf, hh, ps = curves(den, imgs, f)
        for k, v in dict(rs=rs, rf=rf, hh=hh, ps=ps).items():
            out[f"{tag}|{cond}|{k}"] = v
    print(name, cond, "train rs %.2f rf %.2f" % (out[f"train|{cond}|rs"].mean(), out[f"train|{cond}|rf"].mean()), flush=True)
np.savez(f"runs/s49/curves-{name}" + (f"-x{SCALE}" if SCALE != 1 else "") + ".npz", **out)
