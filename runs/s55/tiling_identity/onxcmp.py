import sys, numpy as np, torch, cvdenoise
torch.set_num_threads(2)
rng = np.random.default_rng(3)
res = {}
for f in ("/tmp/onx/fast_static.onnx", "/tmp/onx/fast_dyn.onnx"):
    den = cvdenoise.load(f)
    for hw in ((100, 130), (150, 220), (300, 500), (161, 257), (700, 90)):
        img = rng.integers(0, 256, hw + (3,), dtype=np.uint8)
        res[f"{f}-{hw}"] = den(img, strength=1.0)
den = cvdenoise.load("fast", runtime="onnxruntime")
for hw in ((300, 500), (2100, 700)):
    img = rng.integers(0, 256, hw + (3,), dtype=np.uint8)
    res[f"ort-{hw}"] = den(img, strength=1.0)
np.savez(sys.argv[1], **res)
