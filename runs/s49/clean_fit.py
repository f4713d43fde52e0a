"""s49: the strength rule fit on the training crops as given (x1) or shrunk to half size first (x0.5: their own
noise and JPEG blocks averaged away, clean references), each checked on the six benchmark photos.
Run after `SCALE=0.5 python runs/s49/flat_proto.py MODEL` (and without SCALE for the x1 and benchmark curves)."""
import sys, itertools, numpy as np
name = sys.argv[1]
A = np.load(f"runs/s49/curves-{name}.npz"); B = np.load(f"runs/s49/curves-{name}-x0.5.npz")
conds = list(dict.fromkeys(k.split("|")[1] for k in A.files))
D = {}
for c in conds:
    for x in ("rs", "hh", "ps"):
        D.setdefault(("x1", c), {})[x] = A[f"train|{c}|{x}"]
        D.setdefault(("bench", c), {})[x] = A[f"bench|{c}|{x}"]
        if f"train|{c}|{x}" in B.files:
            D.setdefault(("x0.5", c), {})[x] = B[f"train|{c}|{x}"]
def gains(tag, a, b, k):
    out = []
    for cd in conds:
        d = D.get((tag, cd))
        if d is None: continue
        s = np.clip(a + b * np.log(d["rs"] + .1), 0, 1)
        s = np.where(d["hh"] < k * d["rs"], 1.0, s)
        i = np.minimum((s * 10).astype(int), 9); t = s * 10 - i; r = np.arange(len(s))
        out.append(float(np.mean(d["ps"][r, i] * (1 - t) + d["ps"][r, i + 1] * t - d["ps"][:, -1])))
    return np.array(out)
card = {"gray-default": (0.52, 0.22, 0.2), "color-default": (0.54, 0.28, 0.2), "gray-fast": (0.52, 0.22, 0.2), "color-fast": None}[name]
rows = {}
if card:
    rows["card"] = gains("bench", *card)
    print(f"card {card}: bench mean {rows['card'].mean():+.3f} worst {rows['card'].min():+.3f}")
for fitset in ("x1", "x0.5", "bench"):
    if not any(k[0] == fitset for k in D): continue
    best = None
    for a, b, k in itertools.product(np.arange(0, 1.001, 0.02), np.arange(0, 0.601, 0.02), (0.2, 0.3, 0.4, 0.5)):
        g = gains(fitset, a, b, k); sc = g.mean() + 10 * np.minimum(g, 0).mean()
        if best is None or sc > best[0]: best = (sc, (round(float(a), 2), round(float(b), 2), k))
    gb = gains("bench", *best[1]); rows[fitset] = gb
    print(f"fit on {fitset}: a,b,k = {best[1]} bench mean {gb.mean():+.3f} worst {gb.min():+.3f} ({conds[gb.argmin()]})")
print("condition".ljust(22), *[k.ljust(6) for k in rows])
for i, c in enumerate(conds):
    print(c.ljust(22), *[f"{v[i]:+.2f} " for v in rows.values()])
