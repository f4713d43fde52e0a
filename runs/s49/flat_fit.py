"""s49: fit the strength rule on one set of curves (train or bench) with feature rs or rf; report gains on both."""
import sys, itertools, numpy as np
sys.path.insert(0, "benchmarks")
S = np.load(f"runs/s49/curves-{sys.argv[1]}.npz")
conds = sorted({k.split("|")[1] for k in S.files}, key=lambda c: [k.split("|")[1] for k in S.files].index(c))

def strength(a, b, k, feat, rs, hh):
    s = np.clip(a + b * np.log(feat + 0.1), 0, 1)
    return np.where(hh < k * rs, 1.0, s)  # (ignores the exact-zero/grid clause)

def gains(tag, feat, a, b, k):
    out = {}
    for c in conds:
        d = {x: S[f"{tag}|{c}|{x}"] for x in ("rs", "rf", "hh", "ps")}
        s = strength(a, b, k, d[feat], d["rs"], d["hh"])
        i = np.minimum((s * 10).astype(int), 9); t = s * 10 - i; r = np.arange(len(s))
        v = d["ps"][r, i] * (1 - t) + d["ps"][r, i + 1] * t
        out[c] = float(np.mean(v - d["ps"][:, -1]))
    return out

def oracle(tag):
    return {c: float(np.mean(S[f"{tag}|{c}|ps"].max(1) - S[f"{tag}|{c}|ps"][:, -1])) for c in conds}

def fit(tag, feat):
    best = None
    for a, b, k in itertools.product(np.arange(0, 1.001, 0.02), np.arange(0, 0.601, 0.02), (0.0, 0.2, 0.3, 0.4, 0.5)):
        g = np.array(list(gains(tag, feat, a, b, k).values()))
        sc = g.mean() + 10 * np.minimum(g, 0).mean()
        if best is None or sc > best[0]:
            best = (sc, (round(a, 2), round(b, 2), k))
    return best[1]

for tag in ("bench",):
    o = oracle(tag); print("oracle", tag, "mean %+.3f" % np.mean(list(o.values())))
rows = {}
for fitset in ("train", "bench"):
    for feat in ("rs", "rf"):
        p = fit(fitset, feat)
        g = gains("bench", feat, *p)
        gt = gains("train", feat, *p)
        rows[(fitset, feat)] = g
        print(f"fit on {fitset} with {feat}: a,b,k={p}  bench mean {np.mean(list(g.values())):+.3f} worst {min(g.values()):+.3f} ({min(g, key=g.get)})  train mean {np.mean(list(gt.values())):+.3f} worst {min(gt.values()):+.3f}")
print("cond".ljust(22), "oracle", *[f"{f}/{x}" for f, x in rows])
for c in conds:
    print(c.ljust(22), f"{o[c]:+.2f} ", *[f"{rows[r][c]:+.2f}   " for r in rows])
