import sys, numpy as np, torch, cvdenoise
torch.set_num_threads(2); torch.manual_seed(0)
x = torch.rand(3, 3, 150, 230)
r = {}
r["batch"] = cvdenoise.load("fast", tile=96, overlap=16, half=False)(x).numpy()
r["ens2"] = cvdenoise.load("fast", tile=96, overlap=16, half=False, ensemble=2)(x).numpy()
g = torch.rand(2, 1, 170, 300)
r["gray_on_colour"] = cvdenoise.load("color-fast", tile=96, overlap=16, half=False)(g).numpy()
r["colour_on_gray"] = cvdenoise.load("gray-fast", tile=96, overlap=16, half=False)(torch.rand(2, 3, 170, 300)).numpy()
np.savez(sys.argv[1], **r)
