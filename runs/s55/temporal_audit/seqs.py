import numpy as np, cv2, glob
from skimage import data
import cvdenoise
from cvdenoise.degrade import Degrader
W, H, N = 320, 240, 60

def bgr(rgb): return np.ascontiguousarray(rgb[..., ::-1])
def big(name):
    im = cv2.imread(f"P/more/{name}")
    return im
PHOTOS = sorted(glob.glob("P/more/*.jpg"))

def addnoise(frames, sigma, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i, f in enumerate(frames):
        s = sigma[i] if hasattr(sigma, "__len__") else sigma
        n = f.astype(np.float32) + rng.normal(0, s, f.shape) if s > 0 else f.astype(np.float32)
        out.append(np.clip(np.rint(n), 0, 255).astype(np.uint8))
    return out

def camera(frames, seed=0):
    d = Degrader("camera")
    return [bgr(d(bgr(f), np.random.default_rng(seed * 1000 + i))) for i, f in enumerate(frames)]

def scene(i, w=W, h=H):
    im = cv2.imread(PHOTOS[i]); 
    s = max(w / im.shape[1], h / im.shape[0]) * 1.0
    im = cv2.resize(im, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    y0, x0 = (im.shape[0] - h) // 2, (im.shape[1] - w) // 2
    return im[y0:y0 + h, x0:x0 + w].copy()

def pan(n=N, dx=2, dy=1):
    im = cv2.imread(PHOTOS[3])
    s = 400 / im.shape[0]
    im = cv2.resize(im, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    return [im[10 + dy * t:10 + dy * t + H, 10 + dx * t:10 + dx * t + W].copy() for t in range(n)]

def moving_object(n=N, speed=4):
    bg = bgr(data.coffee())  # 400x600
    bg = cv2.resize(bg, (W, H), interpolation=cv2.INTER_AREA)
    patch = cv2.resize(bgr(data.astronaut())[30:230, 150:350], (40, 40), interpolation=cv2.INTER_AREA)
    frames, masks = [], []
    for t in range(n):
        f = bg.copy(); m = np.zeros((H, W), bool)
        x = 10 + speed * t; y = 20
        f[y:y + 40, x:x + 40] = patch; m[y:y + 40, x:x + 40] = True
        # low-contrast square: +12 levels
        x2 = 20 + 2 * t; y2 = 170
        f[y2:y2 + 36, x2:x2 + 36] = np.clip(f[y2:y2 + 36, x2:x2 + 36].astype(int) + 12, 0, 255)
        m[y2:y2 + 36, x2:x2 + 36] = True
        frames.append(f); masks.append(m)
    return frames, masks

def zoom(n=N, z1=1.6):
    base = scene(5, W * 2, H * 2)
    out = []
    for t in range(n):
        z = 1 + (z1 - 1) * t / (n - 1)
        M = cv2.getRotationMatrix2D((W, H), 0, z)
        M[:, 2] -= (W / 2, H / 2)
        out.append(cv2.warpAffine(base, M, (W, H), flags=cv2.INTER_AREA if z < 1 else cv2.INTER_LINEAR))
    return out

def cut(n=N, a=1, b=7):
    A, B = scene(a), scene(b)
    return [A.copy() if t < n // 2 else B.copy() for t in range(n)]

FADE_SCENE = 2
def fade(n=N):  # static scene: 10 full, 20 fade to 5%, 10 dark, 20 back
    S = scene(FADE_SCENE).astype(np.float32)
    g = np.concatenate([np.ones(10), np.linspace(1, 0.05, 20), np.full(10, 0.05), np.linspace(0.05, 1, 20)])[:n]
    return [np.clip(np.rint(S * k), 0, 255).astype(np.uint8) for k in g], g

def lightswitch(n=N, lo=0.3, at=20):
    S = scene(4).astype(np.float32)
    g = np.where(np.arange(n) < at, lo, 1.0)
    return [np.clip(np.rint(S * k), 0, 255).astype(np.uint8) for k in g], g

def exposure_step(n=N, step=8, at=20):
    S = scene(4).astype(np.float32)
    return [np.clip(np.rint(S + (step if t >= at else 0)), 0, 255).astype(np.uint8) for t in range(n)]

def static(n=N, i=6):
    S = scene(i)
    return [S.copy() for _ in range(n)]
