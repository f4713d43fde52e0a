"""s55 temporal audit (helper): synthetic clips from P/more photos, FrameFilter("fast") at temporal 0 / 0.5 / 0.9, gate off/on.
Run from the repository root with P/ linked: python runs/s55/temporal_audit/exp1.py pan_s10 zoom_s10 clean_pan"""
import sys, json, time
from run import *
import seqs as S

def build():
    out = {}
    c = S.pan(); out["pan_s10"] = (c, S.addnoise(c, 10, 1), None)
    c, masks = S.moving_object(); out["moving_s15"] = (c, S.addnoise(c, 15, 2), masks)
    c = S.zoom(); out["zoom_s10"] = (c, S.addnoise(c, 10, 3), None)
    c = S.cut(); out["cut_s15"] = (c, S.addnoise(c, 15, 4), None)
    c, g = S.fade(); out["fade_s8"] = (c, S.addnoise(c, 8, 5), None)
    c, g = S.lightswitch(); out["light_s8"] = (c, S.addnoise(c, 8, 6), None)
    c = S.exposure_step(); out["expo8_s8"] = (c, S.addnoise(c, 8, 7), None)
    c = S.static(); sig = np.concatenate([np.linspace(0, 25, 30), np.linspace(25, 0, 30)])
    out["ramp_0_25_0"] = (c, S.addnoise(c, sig, 8), None)
    c = S.static(); out["camera_static"] = (c, S.camera(c, 9), None)
    c = S.static(); out["clean_static"] = (c, c, None)
    c = S.pan(); out["clean_pan"] = (c, c, None)
    c = S.static(); out["static_s4.5"] = (c, S.addnoise(c, 4.5, 10), None)
    return out

if __name__ == "__main__":
    seq = build()
    pick = sys.argv[1:] or list(seq)
    res = {}
    for name in pick:
        clean, noisy, masks = seq[name]
        res[name] = {"input": {"psnr": [psnr(n, c) for n, c in zip(noisy, clean)], "tflick": tflicker(noisy, clean).tolist()}}
        for gate in (False, True):
            for tw in (0.0, 0.5, 0.9):
                t = time.time()
                out, hist = run(noisy, gate=gate, temporal=tw)
                key = f"g{int(gate)}_t{tw}"
                r = {"psnr": [psnr(o, c) for o, c in zip(out, clean)],
                     "mae": [mae(o, c) for o, c in zip(out, clean)],
                     "tflick": tflicker(out, clean).tolist(),
                     "bias": [((o.astype(np.float32) - c).reshape(-1, 3).mean(0)).tolist() for o, c in zip(out, clean)],
                     "strength": [h.strength for h in hist], "sigma": [h.sigma for h in hist],
                     "impulses": [h.impulses for h in hist]}
                if masks is not None:
                    trail = []; obj = []
                    for t_ in range(len(out)):
                        prev = np.zeros_like(masks[0])
                        for k in range(1, 9):
                            if t_ - k >= 0: prev |= masks[t_ - k]
                        tr = prev & ~masks[t_]
                        trail.append(mae(out[t_], clean[t_], tr) if tr.any() else 0.0)
                        obj.append(mae(out[t_], clean[t_], masks[t_]))
                    static_m = ~np.any(masks, axis=0)
                    r["trail_mae"] = trail; r["obj_mae"] = obj
                    r["tflick_static"] = tflicker(out, clean, static_m).tolist()
                res[name][key] = r
                print(f"{name:14s} {key:9s} psnr {np.mean(r['psnr']):6.2f} tflick {np.mean(r['tflick']):5.2f} "
                      f"str {np.mean(r['strength']):.2f}±{np.std(r['strength']):.2f} ({time.time()-t:.1f}s)", flush=True)
    json.dump(res, open(f"/tmp/res_{'_'.join(pick) if sys.argv[1:] else 'all'}.json", "w"))
