"""Gray weights regression audit: OLD (e0d2f7e) vs NEW (8bcc573) gray-default / gray-fast.
Run from the repository root with the stage-25/19 gray weights from git in runs/s48/old/ (as runs/s48/jpeg_sweep.py says; gray-default likewise); it was run against the final stage-27 gray-fast, before step 13000 was chosen.
Outputs runs/s48/gray_audit/results.csv (one row per image x degradation x model x strength)."""
import csv, sys, time, zlib
import numpy as np, torch, cv2
torch.set_num_threads(1)
cv2.setNumThreads(1)
import cvdenoise
from skimage import data
from skimage.metrics import peak_signal_noise_ratio as psnr

def crop(a, n=512):
    h, w = a.shape[:2]
    ch, cw = min(n, h), min(n, w)
    y, x = (h - ch) // 2, (w - cw) // 2
    return np.ascontiguousarray(a[y:y + ch, x:x + cw])

def luma(rgb):
    return cv2.cvtColor(np.ascontiguousarray(rgb[..., :3]), cv2.COLOR_RGB2GRAY)

HELD = {  # never in training; camera/text/cell never in any benchmark, astronaut/chelsea/coffee are in benchmarks/quality.py
    "camera": lambda: data.camera(), "text": lambda: data.text(), "cell": lambda: data.cell(),
    "astronaut": lambda: luma(data.astronaut()), "chelsea": lambda: luma(data.chelsea()), "coffee": lambda: luma(data.coffee()),
}
TRAINED = {
    "moon": data.moon, "coins": data.coins, "page": data.page, "brick": data.brick, "grass": data.grass,
    "gravel": data.gravel, "clock": data.clock, "horse": lambda: (~data.horse()).astype(np.uint8) * 255,
}
# horse: skimage's horse is True on background; inverted -> white horse on black? keep skimage's convention instead:
TRAINED["horse"] = lambda: data.horse().astype(np.uint8) * 255

def seed(*k):
    return zlib.crc32("|".join(map(str, k)).encode())

def q8(x):
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)

def q16(x):
    return np.clip(np.rint(x), 0, 65535).astype(np.uint16)

def degrade(img, name, rng):
    f = img.astype(np.float64)
    if name.startswith("g") and name[1:].isdigit():
        return img, q8(f + rng.normal(0, float(name[1:]), f.shape))
    if name.startswith("poisson"):
        peak = float(name[7:])
        return img, q8(rng.poisson(f / 255 * peak) / peak * 255)
    if name.startswith("jpeg"):
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(name[4:])])
        return img, cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
    if name == "blur1+g5":
        b = cv2.GaussianBlur(f, (0, 0), 1.0)
        return img, q8(b + rng.normal(0, 5, f.shape))
    if name == "dark+g5":  # clean reference is the darkened image
        c = q8(f * 0.25)
        return c, q8(c.astype(np.float64) + rng.normal(0, 5, f.shape))
    if name == "16b:g10":
        c = img.astype(np.uint16) * 257
        return c, q16(c.astype(np.float64) + rng.normal(0, 10 * 257, f.shape))
    if name == "16b:dark+g5":
        c = q16(f * 257 * 0.25)
        return c, q16(c.astype(np.float64) + rng.normal(0, 5 * 257, f.shape))
    if name == "16b:poisson30":
        c = img.astype(np.uint16) * 257
        return c, q16(rng.poisson(f / 255 * 30) / 30 * 65535)
    raise ValueError(name)

DEGS = ["g3", "g5", "g10", "g25", "poisson30", "poisson100", "jpeg30", "jpeg70", "blur1+g5", "dark+g5"]
DEGS16 = ["16b:g10", "16b:dark+g5", "16b:poisson30"]
IMG16 = ["camera", "astronaut"]

def metrics(clean, out):
    is16 = clean.dtype == np.uint16
    dr = 65535 if is16 else 255
    scale = 257.0 if is16 else 1.0
    p = psnr(clean, out, data_range=dr)
    m = clean < 50 * scale
    shift = float(((out.astype(np.float64) - clean) / scale)[m].mean()) if m.sum() >= 200 else float("nan")
    return p, shift, int(m.sum())

def main(out_csv="runs/s48/gray_audit/results.csv"):
    models = {}
    for kind in ["gray-default", "gray-fast"]:
        models[(kind, "old")] = cvdenoise.load(f"runs/s48/old/{kind}.safetensors")
        models[(kind, "new")] = cvdenoise.load(kind)
    print({k: repr(v) for k, v in models.items()}, flush=True)
    rows = []
    cases = []
    for group, d in (("held-out", HELD), ("trained", TRAINED)):
        for name, fn in d.items():
            img = crop(fn())
            assert img.dtype == np.uint8 and img.ndim == 2, (name, img.dtype, img.shape)
            degs = DEGS + (DEGS16 if name in IMG16 else [])
            for dg in degs:
                cases.append((group, name, img, dg))
    t0 = time.time()
    for i, (group, name, img, dg) in enumerate(cases):
        rng = np.random.default_rng(seed(name, dg))
        clean, noisy = degrade(img, dg, rng)
        p_in, s_in, npx = metrics(clean, noisy)
        strengths = ["auto"] + ([1] if group == "held-out" else [])
        for (kind, ver), den in models.items():
            for st in strengths:
                out = den(noisy) if st == "auto" else den(noisy, strength=st)
                assert out.dtype == noisy.dtype and out.shape == noisy.shape
                p, s, _ = metrics(clean, out)
                rows.append(dict(group=group, image=name, shape=f"{img.shape[0]}x{img.shape[1]}", deg=dg, model=kind,
                                 ver=ver, strength=st, used_strength=round(float(np.mean(den.last_strength)), 4),
                                 psnr_in=round(p_in, 4), psnr_out=round(p, 4), dark_shift_in=round(s_in, 4),
                                 dark_shift_out=round(s, 4), dark_px=npx))
        print(f"[{i+1}/{len(cases)}] {time.time()-t0:.0f}s {group} {name} {dg} in={p_in:.2f}", flush=True)
    with open(out_csv, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader(); w.writerows(rows)
    print("wrote", out_csv, len(rows), "rows", f"{time.time()-t0:.0f}s")

if __name__ == "__main__":
    main(*sys.argv[1:])
