"""s49: a two-feature rule s = clip(a + b ln(rs+.1) + c ln((rf+.1)/(rs+.1))), fit on train, checked on bench."""
import sys, itertools, numpy as np
S = np.load(f"runs/s49/curves-{sys.argv[1]}.npz")
conds = list(dict.fromkeys(k.split("|")[1] for k in S.files))
D = {(t, c): {x: S[f"{t}|{c}|{x}"] for x in ("rs", "rf", "hh", "ps")} for t in ("train", "bench") for c in conds}
def gains(tag, a, b, c, k):
    out = []
    for cd in conds:
        d = D[(tag, cd)]
        s = np.clip(a + b * np.log(d["rs"] + .1) + c * np.log((d["rf"] + .1) / (d["rs"] + .1)), 0, 1)
        s = np.where(d["hh"] < k * d["rs"], 1.0, s)
        i = np.minimum((s * 10).astype(int), 9); t = s * 10 - i; r = np.arange(len(s))
        out.append(float(np.mean(d["ps"][r, i] * (1 - t) + d["ps"][r, i + 1] * t - d["ps"][:, -1])))
    return np.array(out)
for fitset in ("train", "bench"):
    best = None
    for a, b, c, k in itertools.product(np.arange(0, 1.001, 0.04), np.arange(0, 0.601, 0.04), np.arange(-0.4, 0.61, 0.1), (0.0, 0.2, 0.3)):
        g = gains(fitset, a, b, c, k); sc = g.mean() + 10 * np.minimum(g, 0).mean()
        if best is None or sc > best[0]: best = (sc, (a, b, c, k))
    p = best[1]; gb = gains("bench", *p); gt = gains("train", *p)
    print(f"fit {fitset}: a,b,c,k = {tuple(round(float(v), 2) for v in p)} bench mean {gb.mean():+.3f} worst {gb.min():+.3f} ({conds[gb.argmin()]}) train mean {gt.mean():+.3f} worst {gt.min():+.3f}")
