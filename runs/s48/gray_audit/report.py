"""Summarise runs/s48/gray_audit/results.csv into markdown tables (stdout)."""
import csv, math, sys
from collections import defaultdict
rows = list(csv.DictReader(open(sys.argv[1] if len(sys.argv) > 1 else "runs/s48/gray_audit/results.csv")))
for r in rows:
    for k in ("psnr_in", "psnr_out", "dark_shift_in", "dark_shift_out", "used_strength"):
        r[k] = float(r[k])
idx = {(r["group"], r["image"], r["deg"], r["model"], r["ver"], r["strength"]): r for r in rows}
cases = []
seen = set()
for r in rows:
    k = (r["group"], r["image"], r["deg"])
    if k not in seen:
        seen.add(k); cases.append(k)
MODELS = ["gray-default", "gray-fast"]
DEGS = []
for c in cases:
    if c[2] not in DEGS: DEGS.append(c[2])
def f(x, n=2):
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{n}f}"
flags = []
def pair(g, im, dg, m, st):
    o = idx.get((g, im, dg, m, "old", st)); n = idx.get((g, im, dg, m, "new", st))
    return o, n
for st in ["auto", "1"]:
    print(f"\n## strength={st}\n")
    for g in ["held-out", "trained"]:
        cs = [c for c in cases if c[0] == g and pair(*c, MODELS[0], st)[0]]
        if not cs: continue
        print(f"\n### {g} images, strength={st}: PSNR dB (input | old → new, Δ) and dark-region mean shift (levels, clean<50: input | old → new)\n")
        print("| image | degradation | input | default old → new (Δ) | fast old → new (Δ) | s used default old/new | s used fast old/new | dark shift in | default old → new | fast old → new |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for c in cs:
            cells = []; ss = []; ds = []
            pin = None
            for m in MODELS:
                o, n = pair(*c, m, st)
                pin = o["psnr_in"]; din = o["dark_shift_in"]
                d = n["psnr_out"] - o["psnr_out"]
                mark = " **!**" if d < -0.2 else ""
                worse_in = n["psnr_out"] < n["psnr_in"] and o["psnr_out"] >= o["psnr_in"]
                if worse_in: mark += " **<in**"
                cells.append(f"{f(o['psnr_out'])} → {f(n['psnr_out'])} ({d:+.2f}){mark}")
                ss.append(f"{o['used_strength']:.2f}/{n['used_strength']:.2f}")
                ds.append(f"{f(o['dark_shift_out'])} → {f(n['dark_shift_out'])}")
                if d < -0.2 or worse_in:
                    flags.append((st, g, c[1], c[2], m, o["psnr_in"], o["psnr_out"], n["psnr_out"], d, worse_in))
            print(f"| {c[1]} | {c[2]} | {f(pin)} | {cells[0]} | {cells[1]} | {ss[0]} | {ss[1]} | {f(din)} | {ds[0]} | {ds[1]} |")
    # means per degradation
    print(f"\n### mean Δ (new − old) PSNR per degradation, strength={st}\n")
    print("| degradation | " + " | ".join(f"{m} {g} (n)" for m in MODELS for g in ["held-out", "trained", "all"]) + " |")
    print("|---|" + "---|" * 6)
    tot = defaultdict(list)
    for dg in DEGS:
        cells = []
        for m in MODELS:
            for g in ["held-out", "trained", "all"]:
                ds = []
                for c in cases:
                    if c[2] != dg or (g != "all" and c[0] != g): continue
                    o, n = pair(*c, m, st)
                    if o: ds.append(n["psnr_out"] - o["psnr_out"])
                tot[(m, g)] += ds
                cells.append(f"{sum(ds)/len(ds):+.3f} ({len(ds)})" if ds else "—")
        print(f"| {dg} | " + " | ".join(cells) + " |")
    print("| **overall** | " + " | ".join(f"{sum(tot[(m,g)])/len(tot[(m,g)]):+.3f} ({len(tot[(m,g)])})" if tot[(m, g)] else "—" for m in MODELS for g in ["held-out", "trained", "all"]) + " |")
    # dark shift means
    print(f"\n### mean dark-region shift (levels; out − clean where clean < 50), strength={st}\n")
    print("| degradation | input | default old | default new | fast old | fast new | mean |Δ| change default / fast |")
    print("|---|---|---|---|---|---|---|")
    for dg in DEGS:
        vals = defaultdict(list); absd = defaultdict(list)
        for c in cases:
            if c[2] != dg: continue
            for m in MODELS:
                o, n = pair(*c, m, st)
                if not o or math.isnan(o["dark_shift_out"]): continue
                vals["in" + m].append(o["dark_shift_in"]); vals[m + "old"].append(o["dark_shift_out"]); vals[m + "new"].append(n["dark_shift_out"])
                absd[m].append(abs(n["dark_shift_out"]) - abs(o["dark_shift_out"]))
        if not vals: continue
        mean = lambda l: sum(l) / len(l)
        print(f"| {dg} | {mean(vals['ingray-default']):+.2f} | {mean(vals['gray-defaultold']):+.2f} | {mean(vals['gray-defaultnew']):+.2f} | {mean(vals['gray-fastold']):+.2f} | {mean(vals['gray-fastnew']):+.2f} | {mean(absd['gray-default']):+.2f} / {mean(absd['gray-fast']):+.2f} |")
    # worst cases
    print(f"\n### worst 8 cases (new − old), strength={st}\n")
    allc = []
    for c in cases:
        for m in MODELS:
            o, n = pair(*c, m, st)
            if o: allc.append((n["psnr_out"] - o["psnr_out"], c, m, o, n))
    allc.sort(key=lambda t: t[0])
    print("| Δ dB | model | group | image | degradation | input | old | new | s old/new |")
    print("|---|---|---|---|---|---|---|---|---|")
    for d, c, m, o, n in allc[:8]:
        print(f"| {d:+.2f} | {m} | {c[0]} | {c[1]} | {c[2]} | {o['psnr_in']:.2f} | {o['psnr_out']:.2f} | {n['psnr_out']:.2f} | {o['used_strength']:.2f}/{n['used_strength']:.2f} |")
    print(f"\nbest 4: " + "; ".join(f"{m} {c[1]} {c[2]} {d:+.2f}" for d, c, m, o, n in allc[-4:][::-1]))
print("\n## flags (new worse than old by > 0.2 dB, or new below input while old was not)\n")
print("| strength | group | image | degradation | model | input | old | new | Δ | new < input, old ≥ input |")
print("|---|---|---|---|---|---|---|---|---|---|")
for fl in flags:
    st, g, im, dg, m, pin, po, pn, d, wi = fl
    print(f"| {st} | {g} | {im} | {dg} | {m} | {pin:.2f} | {po:.2f} | {pn:.2f} | {d:+.2f} | {'yes' if wi else ''} |")
if not flags: print("| none | | | | | | | | | |")
