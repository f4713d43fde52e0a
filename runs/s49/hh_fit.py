"""s49: does capping σ_r by the input's own finest-scale level help? s = clip(a + b ln(min(rs, c·hh) + 0.1)), fit on train, checked on bench."""
import sys, itertools, numpy as np
S = np.load(f"runs/s49/curves-{sys.argv[1]}.npz")
conds = list(dict.fromkeys(k.split("|")[1] for k in S.files))
D = {(t, c): {x: S[f"{t}|{c}|{x}"] for x in ("rs", "rf", "hh", "ps")} for t in ("train", "bench") for c in conds}
def gains(tag, a, b, c, k):
    out = []
    for cd in conds:
        d = D[(tag, cd)]
        f = np.minimum(d["rs"], c * d["hh"]) if c else d["rs"]
        s = np.clip(a + b * np.log(f + .1), 0, 1)
        s = np.where(d["hh"] < k * d["rs"], 1.0, s)
        i = np.minimum((s * 10).astype(int), 9); t = s * 10 - i; r = np.arange(len(s))
        out.append(float(np.mean(d["ps"][r, i] * (1 - t) + d["ps"][r, i + 1] * t - d["ps"][:, -1])))
    return np.array(out)
res = {}
for fitset in ("train", "bench"):
    for cs in ((0,), (0.5, 0.75, 1.0, 1.5, 2.0, 3.0)):
        best = None
        for a, b, c, k in itertools.product(np.arange(0, 1.001, 0.02), np.arange(0, 0.601, 0.02), cs, (0.0, 0.2, 0.3, 0.4)):
            g = gains(fitset, a, b, c, k); sc = g.mean() + 10 * np.minimum(g, 0).mean()
            if best is None or sc > best[0]: best = (sc, (a, b, c, k))
        p = best[1]; gb = gains("bench", *p); gt = gains("train", *p); res[(fitset, cs[0])] = gb
        print(f"fit {fitset} cap={'yes' if cs[0] else 'no'}: a,b,c,k = {tuple(round(float(v), 2) for v in p)} bench mean {gb.mean():+.3f} worst {gb.min():+.3f} ({conds[gb.argmin()]}) train mean {gt.mean():+.3f} worst {gt.min():+.3f}", flush=True)
for i, c in enumerate(conds):
    print(c.ljust(22), *[f"{v[i]:+.2f}" for v in res.values()])
