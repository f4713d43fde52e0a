"""Synthetic degradations that turn a clean image into a realistic noisy copy.

Built on albumentations (which has each operation) with our own sampling of *which* operations
run, in *which order* and at *what strength*, driven by one seeded ``numpy.random.Generator`` so
every pair is reproducible. Works on RGB and single-channel images, ``uint8``, ``uint16`` and
float (``[0, 1]``); the degraded image keeps the clean image's dtype, shape and range (the JPEG
step, where drawn, leaves it on the 8-bit codec's 256 levels, scaled back). Strengths
are fractions of the dtype's full range (``uint16``: 65535), so 10/12-bit samples held unscaled in
``uint16`` get noise up to 16 times their own range's share (a warning says so): scale them first.

Example:
    >>> import numpy as np
    >>> from cvdenoise.degrade import degrade
    >>> clean = np.full((32, 32, 3), 128, np.uint8)
    >>> noisy, same = degrade(clean, "gaussian25", seed=0)
    >>> noisy.dtype, noisy.shape, bool((same == clean).all())
    (dtype('uint8'), (32, 32, 3), True)
"""

from __future__ import annotations

from . import _env  # noqa: F401  (must precede albumentations)

import math
import warnings
from dataclasses import dataclass, replace
from typing import Callable, Mapping, Sequence

import albumentations as A
import numpy as np

from ._checks import check_float_range, from_float, is_integer, is_real, low_bit_message, low_bit_uint16
from ._warn import user_stacklevel

__all__ = [
    "DegradationConfig",
    "NOISE_KINDS",
    "RESIZE_UP",
    "PRESETS",
    "Degrader",
    "degrade",
    "degrade_batch",
    "to_float",
    "from_float",
    "resolve_config",
    "BLUR_KINDS",
    "GAMMA",
    "LUMA",
    "cfa_masks",
    "camera_color_matrix",
    "demosaic_bilinear",
    "srgb_to_linear",
    "linear_to_srgb",
]

Range = tuple[float, float]


@dataclass(frozen=True)
class DegradationConfig:
    """Probabilities and strength ranges of each degradation family.

    Noise strengths are in units of the ``[0, 1]`` value range (``sigma=25/255`` etc), except
    ``iso_intensity``: albumentations' ``ISONoise`` scales its noise by the image's own colour
    spread, so it adds nothing to a flat crop and more to a colourful one. ``motion_kernel``
    sizes are odd.
    ``noise_kinds`` weights which noise model runs when noise is applied; ``resize_up`` names the
    interpolations the resize step enlarges with (one drawn per image).
    """

    p_clean: float = 0.05
    p_blur: float = 0.25
    p_resize: float = 0.15
    p_noise: float = 0.95
    p_jpeg: float = 0.3
    # noise families: gaussian, poisson (+read), speckle, iso, saltpepper, camera (shot + read
    # noise on a Bayer mosaic, demosaiced, white-balanced, colour-matrixed: correlated in space
    # and between colours, as a camera's output), linear (shot + read noise drawn per pixel and
    # channel on the sRGB-decoded linear light, clipped there: the Poisson-Gaussian model of an RGB
    # image in linear light, whose clipped read noise lifts dark regions)
    noise_kinds: tuple[tuple[str, float], ...] = (
        ("gaussian", 0.55),
        ("poisson", 0.2),
        ("speckle", 0.1),
        ("iso", 0.1),
        ("saltpepper", 0.05),
    )
    gaussian_sigma: Range = (1 / 255, 55 / 255)
    sigma_log_fraction: float = 0.5  # share of σ draws that are log-uniform (the rest uniform)
    p_gray_noise: float = 0.4  # same noise in every channel (luminance-only sensor noise)
    poisson_scale: Range = (0.002, 0.05)  # 1 / photons per unit intensity
    read_sigma: Range = (0.0, 8 / 255)
    speckle_sigma: Range = (0.02, 0.25)
    iso_intensity: Range = (0.1, 0.6)
    saltpepper_amount: Range = (0.002, 0.03)
    camera_scale: Range = (0.0005, 0.03)  # 1 / photons per unit linear intensity (log-uniform)
    camera_read: Range = (0.0, 6 / 255)  # read noise on the linear mosaic
    camera_red_gain: Range = (1.6, 2.4)  # white-balance gains applied after the sensor (green 1)
    camera_blue_gain: Range = (1.3, 2.0)
    camera_saturation: Range = (0.2, 0.8)  # colour matrix (1+s)·I − s/3: rows sum to 1, grey stays grey
    linear_read: Range = (0.0, 10 / 255)  # read noise of the "linear" kind (shot: camera_scale)
    p_camera_mono: float = 0.5  # gray images: share from a monochrome sensor (the rest: luma of a colour camera's)
    blur_sigma: Range = (0.4, 1.6)
    motion_kernel: tuple[int, int] = (3, 7)
    defocus_radius: tuple[int, int] = (1, 3)
    resize_scale: Range = (0.5, 0.9)
    jpeg_quality: tuple[int, int] = (30, 95)
    shuffle: bool = True  # random order of blur / resize / noise (JPEG always last)
    # how the resize step enlarges the shrunk image back, one of these drawn per image (each name
    # once): "linear", "cubic", "lanczos" (RESIZE_UP)
    resize_up: tuple[str, ...] = ("linear",)

    def __post_init__(self) -> None:
        """Refuse values no degradation can take, naming the field (not at a random later draw)."""
        for name in ("p_clean", "p_blur", "p_resize", "p_noise", "p_jpeg", "sigma_log_fraction", "p_gray_noise",
                     "p_camera_mono"):
            v = getattr(self, name)
            if not (is_real(v) and 0.0 <= float(v) <= 1.0):
                raise ValueError(f"DegradationConfig.{name} must be a probability in [0, 1], got {v!r}")
        # (field, smallest allowed low, largest allowed high)
        ranges: tuple[tuple[str, float, float], ...] = (
            ("gaussian_sigma", 0, 1), ("poisson_scale", 1e-6, 1), ("read_sigma", 0, 1), ("speckle_sigma", 0, 1),
            ("iso_intensity", 0, 1), ("saltpepper_amount", 0, 1), ("camera_scale", 1e-6, 1), ("camera_read", 0, 1),
            ("linear_read", 0, 1),
            ("camera_red_gain", 1e-3, 100), ("camera_blue_gain", 1e-3, 100), ("camera_saturation", 0, 1),
            ("blur_sigma", 0.05, 100), ("motion_kernel", 3, 999), ("defocus_radius", 1, 999),
            ("resize_scale", 1e-3, 1), ("jpeg_quality", 1, 100),
        )
        for name, lowest, highest in ranges:
            r = getattr(self, name)
            if isinstance(r, np.ndarray) and r.shape == (2,):  # (a numpy pair: taken as the tuple it holds)
                r = tuple(r.tolist())
            if not (isinstance(r, (tuple, list)) and len(r) == 2 and all(is_real(v) for v in r)
                    and lowest <= r[0] <= r[1] <= highest):
                raise ValueError(f"DegradationConfig.{name} must be a (low, high) pair with "
                                 f"{lowest} <= low <= high <= {highest}, got {r!r}"
                                 + (" (no blur at all: p_blur=0)" if name == "blur_sigma" else ""))
            object.__setattr__(self, name, (float(r[0]), float(r[1])))  # (a list: hashable, equal to its tuple)
        for name in ("motion_kernel", "defocus_radius", "jpeg_quality"):  # sizes and qualities are whole numbers
            r = getattr(self, name)
            if not all(is_integer(v) or float(v).is_integer() for v in r):
                raise ValueError(f"DegradationConfig.{name} must be whole numbers, got {r!r}")
            object.__setattr__(self, name, (int(r[0]), int(r[1])))
        up = self.resize_up.tolist() if isinstance(self.resize_up, np.ndarray) else self.resize_up
        if (not isinstance(up, (tuple, list)) or not up or not all(isinstance(u, str) and u in RESIZE_UP for u in up)
                or len(set(up)) != len(up)):
            raise ValueError(f"DegradationConfig.resize_up must be a non-empty tuple of {RESIZE_UP}, each "
                             f"name once, got {self.resize_up!r}")
        object.__setattr__(self, "resize_up", tuple(up))
        if not isinstance(self.shuffle, (bool, np.bool_)):
            raise ValueError(f"DegradationConfig.shuffle must be True or False, got {self.shuffle!r}")
        if any(k != int(k) or int(k) % 2 == 0 for k in self.motion_kernel):  # (the kernels drawn are odd)
            raise ValueError(f"DegradationConfig.motion_kernel must be odd sizes (a kernel has a centre pixel), "
                             f"got {self.motion_kernel!r}")
        try:  # (name, weight) pairs, or a {name: weight} dict
            pairs = list(self.noise_kinds.items() if isinstance(self.noise_kinds, Mapping) else self.noise_kinds)
            kinds = dict(pairs)
        except (TypeError, ValueError):
            pairs, kinds = [], {}
        weights = list(kinds.values())
        if (not kinds or len(kinds) != len(pairs) or set(kinds) - set(NOISE_KINDS)
                or not all(is_real(w) and 0 <= float(w) < math.inf for w in weights)
                or not 0 < sum(float(w) for w in weights) < math.inf):
            raise ValueError(f"DegradationConfig.noise_kinds must be (name, weight) pairs of {NOISE_KINDS}, each "
                             f"name once, with finite weights >= 0 and a positive sum, got {self.noise_kinds!r}")
        object.__setattr__(self, "noise_kinds", tuple(kinds.items()))


#: how the resize step may enlarge (``DegradationConfig.resize_up``)
RESIZE_UP = ("linear", "cubic", "lanczos")

#: noise models a :class:`DegradationConfig` may weight in ``noise_kinds``
NOISE_KINDS = ("gaussian", "poisson", "speckle", "iso", "saltpepper", "camera", "linear")


def _fixed(**overrides: object) -> DegradationConfig:
    """A deterministic chain: only the listed families, each with probability 1 when set."""
    base = DegradationConfig(p_clean=0.0, p_blur=0.0, p_resize=0.0, p_noise=0.0, p_jpeg=0.0, shuffle=False)
    return replace(base, **overrides)  # type: ignore[arg-type]


def _gaussian(sigma: float) -> DegradationConfig:
    s = sigma / 255
    return _fixed(p_noise=1.0, noise_kinds=(("gaussian", 1.0),), gaussian_sigma=(s, s), p_gray_noise=0.0)


# noise first: fewer blur/resize/JPEG steps, more colour (per-channel) noise, σ drawn mostly
# uniformly — the fine-tuning mix of the shipped weights up to stage 11 (weights/RECIPE.md)
_NOISE = DegradationConfig(
    p_clean=0.03,
    p_blur=0.12,
    p_resize=0.08,
    p_jpeg=0.15,
    p_noise=0.97,
    noise_kinds=(("gaussian", 0.6), ("poisson", 0.22), ("speckle", 0.06), ("iso", 0.07), ("saltpepper", 0.05)),
    p_gray_noise=0.2,
    sigma_log_fraction=0.3,
)


_SENSOR = replace(
    _NOISE,
    p_blur=0.08,
    p_resize=0.05,
    p_jpeg=0.10,
    p_noise=0.98,
    noise_kinds=(("gaussian", 0.75), ("poisson", 0.15), ("speckle", 0.03), ("iso", 0.04), ("saltpepper", 0.03)),
    gaussian_sigma=(3 / 255, 52 / 255),
    sigma_log_fraction=0.0,
)

# "camera-mix-linear" (below), which "camera-mix-linear-clean" builds on
_CAMERA_MIX_LINEAR = replace(
    _SENSOR,
    noise_kinds=(
        ("gaussian", 0.5), ("poisson", 0.1), ("camera", 0.22), ("linear", 0.1), ("speckle", 0.02), ("iso", 0.03),
        ("saltpepper", 0.03),
    ),
)

#: Named configurations. ``mixed`` is the general training distribution, ``noise``, ``sensor``,
#: ``camera-mix`` and ``camera-mix-linear`` the fine-tuning mixes of the shipped weights,
#: ``camera-mix-clean``, ``camera-mix-linear-clean`` and ``camera-mix-linear-resample`` mixes no
#: shipped model ended on, ``awgn`` white noise alone; the others are the fixed benchmark chains.
PRESETS: dict[str, DegradationConfig] = {
    "mixed": DegradationConfig(),
    "noise": _NOISE,
    # stage 12: the "noise" mix shifted towards light and moderate sensor noise — more Gaussian
    # and Poisson draws, σ uniform in 3–52/255 (no near-clean σ < 3), fewer blur/resize/JPEG steps
    "sensor": _SENSOR,
    # stage 17: "sensor" with a quarter of the noise draws demosaiced camera noise
    "camera-mix": replace(
        _SENSOR,
        noise_kinds=(
            ("gaussian", 0.55), ("poisson", 0.12), ("camera", 0.25), ("speckle", 0.02), ("iso", 0.03), ("saltpepper", 0.03),
        ),
    ),
    # stage 20: "camera-mix" plus near-clean input — 6 % identity pairs, 8 % of the rest without
    # noise (JPEG, blur or rescaling alone), twice the JPEG steps, a quarter of the Gaussian σ
    # log-uniform from 0.5/255 — so that clean or lightly compressed photos keep their fine texture
    "camera-mix-clean": replace(
        _SENSOR,
        p_clean=0.06,
        p_noise=0.92,
        p_jpeg=0.2,
        noise_kinds=(
            ("gaussian", 0.55), ("poisson", 0.12), ("camera", 0.25), ("speckle", 0.02), ("iso", 0.03), ("saltpepper", 0.03),
        ),
        gaussian_sigma=(0.5 / 255, 52 / 255),
        sigma_log_fraction=0.25,
    ),
    # stage 26: "camera-mix" with a tenth of the noise draws the "linear" kind (sRGB-decoded,
    # per-pixel shot + read noise clipped in linear light: the dark regions it lifts are brought down)
    "camera-mix-linear": _CAMERA_MIX_LINEAR,
    # s56 (for the next accelerator stage): "camera-mix-linear" with the shrunk images enlarged
    # back bicubic or Lanczos as well as bilinear, and twice the resize steps — trained on bilinear
    # enlargements alone, the models lose 0.9–1.2 dB on bicubic and Lanczos ones at strength 1
    # (docs/strength.md, runs/s56/upscale_interp.py)
    "camera-mix-linear-resample": replace(_CAMERA_MIX_LINEAR, p_resize=0.1, resize_up=RESIZE_UP),
    # stage 28: "camera-mix-linear" with the near-clean pairs of "camera-mix-clean" (6 % untouched,
    # 8 % of the rest JPEG, blur or rescaling alone, twice the JPEG steps, a quarter of the Gaussian σ
    # log-uniform from 0.5/255), so that light and compressed inputs keep their texture (not shipped:
    # weights/RECIPE.md)
    "camera-mix-linear-clean": replace(
        _CAMERA_MIX_LINEAR, p_clean=0.06, p_noise=0.92, p_jpeg=0.2, gaussian_sigma=(0.5 / 255, 52 / 255), sigma_log_fraction=0.25
    ),
    # additive white Gaussian noise only, independent per channel, σ uniform in 1–55/255
    "awgn": _fixed(
        p_clean=0.02,
        p_noise=0.98,
        noise_kinds=(("gaussian", 1.0),),
        gaussian_sigma=(1 / 255, 55 / 255),
        sigma_log_fraction=0.0,
        p_gray_noise=0.0,
    ),
    "gaussian15": _gaussian(15),
    "gaussian25": _gaussian(25),
    "gaussian50": _gaussian(50),
    "lowlight": _fixed(
        p_noise=1.0, noise_kinds=(("poisson", 1.0),), poisson_scale=(0.03, 0.03), read_sigma=(5 / 255, 5 / 255)
    ),
    # a camera's own noise (shot + read noise on the Bayer mosaic, demosaiced, through white
    # balance and a colour matrix): correlated, no single σ to give
    "camera": _fixed(
        p_noise=1.0, noise_kinds=(("camera", 1.0),), camera_scale=(0.005, 0.005), camera_read=(3 / 255, 3 / 255),
        camera_red_gain=(2.0, 2.0), camera_blue_gain=(1.6, 1.6), camera_saturation=(0.5, 0.5),
    ),
    "chain": _fixed(
        p_blur=1.0,
        blur_sigma=(1.0, 1.0),
        p_noise=1.0,
        noise_kinds=(("gaussian", 1.0),),
        gaussian_sigma=(15 / 255, 15 / 255),
        p_gray_noise=0.0,
        p_jpeg=1.0,
        jpeg_quality=(60, 60),
    ),
}


#: BT.601 luma weights of R, G, B (OpenCV's RGB → gray).
LUMA = np.array([0.299, 0.587, 0.114], np.float32)

#: sRGB-like transfer exponent: shot noise of the ``poisson`` and ``camera`` kinds is drawn on
#: ``x ** GAMMA`` (linear light), as albumentations' ShotNoise does; the ``linear`` kind decodes
#: with the exact sRGB curve instead (:func:`srgb_to_linear`), whose linear toe changes how
#: clipped noise looks near black.
GAMMA = 2.2



def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    """The sRGB transfer curve undone (IEC 61966-2-1): encoded values in ``[0, 1]`` → linear light,
    same shape, float32."""
    x = np.clip(x, 0.0, 1.0)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    """The sRGB transfer curve: linear light in ``[0, 1]`` → encoded values in ``[0, 1]``, same
    shape, float32."""
    x = np.clip(x, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055).astype(np.float32)


_CFA_RB = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], np.float32)  # bilinear interpolation weights
_CFA_G = np.array([[0, 1, 0], [1, 4, 1], [0, 1, 0]], np.float32)


def cfa_masks(h: int, w: int, dy: int = 0, dx: int = 0) -> np.ndarray:
    """``(H,W,3)`` float32 0/1 masks of an RGGB Bayer mosaic whose top-left 2×2 block starts at
    offset ``(dy, dx)``: which colour each photosite records."""
    yy = (np.arange(h)[:, None] + dy) % 2
    xx = (np.arange(w)[None, :] + dx) % 2
    r, b = (yy == 0) & (xx == 0), (yy == 1) & (xx == 1)
    return np.stack([r, ~(r | b), b], -1).astype(np.float32)


def camera_color_matrix(saturation: float) -> np.ndarray:
    """``(3,3)`` float32 colour matrix ``(1+s)·I − s/3``: saturates colours, keeps grey (rows sum to 1)."""
    return ((1.0 + saturation) * np.eye(3) - saturation / 3.0).astype(np.float32)


def demosaic_bilinear(raw: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Bilinear demosaic: ``(H,W)`` mosaic + :func:`cfa_masks` → ``(H,W,3)`` float32 (each missing
    colour the weighted mean of its recorded neighbours; reflected borders)."""
    import cv2

    out = np.empty(masks.shape, np.float32)
    for c, k in enumerate((_CFA_RB, _CFA_G, _CFA_RB)):
        m = masks[..., c]
        num = cv2.filter2D(raw * m, -1, k, borderType=cv2.BORDER_REFLECT_101)
        den = cv2.filter2D(m, -1, k, borderType=cv2.BORDER_REFLECT_101)
        # a 1-pixel-high or -wide image can hold no photosite of a colour near a pixel: take the
        # recorded value there instead of 0/0
        out[..., c] = np.where(den > 0, num / np.maximum(den, 1e-12), raw)
    return out


#: Blur families and their probabilities when a blur step runs (both chains draw from these).
BLUR_KINDS: tuple[tuple[str, float], ...] = (("gaussian", 0.6), ("motion", 0.2), ("defocus", 0.2))


def resolve_config(config: DegradationConfig | str) -> DegradationConfig:
    """A :class:`DegradationConfig` as given, or the preset of that name from :data:`PRESETS`."""
    if isinstance(config, str):
        if config not in PRESETS:
            raise ValueError(f"unknown degradation preset {config!r}; choose from {sorted(PRESETS)}")
        return PRESETS[config]
    if not isinstance(config, DegradationConfig):
        raise TypeError(f"expected a DegradationConfig or a preset name from {sorted(PRESETS)}, "
                        f"got {type(config).__name__}")
    return config


def to_float(image: np.ndarray) -> np.ndarray:
    """Any supported dtype → float32 in ``[0, 1]`` (uint8 /255, uint16 /65535, float as is)."""
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    if image.dtype == np.uint16:
        return image.astype(np.float32) / 65535.0
    if np.issubdtype(image.dtype, np.floating):
        return image.astype(np.float32, copy=False)
    raise TypeError(f"unsupported image dtype {image.dtype}; expected uint8, uint16 or float")


def _uniform(rng: np.random.Generator, r: Range) -> float:
    return float(rng.uniform(r[0], r[1])) if r[1] > r[0] else float(r[0])


def _loguniform(rng: np.random.Generator, r: Range) -> float:
    if r[1] <= r[0] or r[0] <= 0:
        return _uniform(rng, r)
    return float(math.exp(rng.uniform(math.log(r[0]), math.log(r[1]))))


def _apply(transform: A.BasicTransform, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    transform.set_random_seed(int(rng.integers(0, 2**31 - 1)))
    return transform(image=img)["image"]


class Degrader:
    """Random degradation chain for one :class:`DegradationConfig`.

    Args:
        config: a :class:`DegradationConfig` or a preset name from :data:`PRESETS`.

    Call with ``(image, rng)``: ``image`` is ``(H,W)``, ``(H,W,1)`` or ``(H,W,3)`` (RGB order:
    convert OpenCV's BGR first) in uint8, uint16 or float ``[0,1]``; returns the degraded image
    with the same shape and dtype.
    """

    def __init__(self, config: DegradationConfig | str = "mixed") -> None:
        self.config = config = resolve_config(config)
        kinds, weights = zip(*config.noise_kinds)
        self._kinds: tuple[str, ...] = kinds
        w = np.asarray(weights, dtype=np.float64)
        self._kind_p = w / w.sum()

    # -- one family each -------------------------------------------------------------------
    def _blur(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        c = self.config
        kind = rng.choice([k for k, _ in BLUR_KINDS], p=[p for _, p in BLUR_KINDS])
        if kind == "gaussian":
            s = _uniform(rng, c.blur_sigma)
            t: A.BasicTransform = A.GaussianBlur(sigma_limit=(s, s), blur_limit=0, p=1.0)
        elif kind == "motion":
            k = int(rng.integers(c.motion_kernel[0] // 2, c.motion_kernel[1] // 2 + 1)) * 2 + 1
            t = A.MotionBlur(blur_limit=(k, k), allow_shifted=False, p=1.0)
        else:
            r = int(rng.integers(c.defocus_radius[0], c.defocus_radius[1] + 1))
            t = A.Defocus(radius=(r, r), alias_blur=(0.1, 0.3), p=1.0)
        return _apply(t, img, rng)

    def _resize(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        s = _uniform(rng, self.config.resize_scale)
        import cv2

        interp = int(rng.choice([cv2.INTER_LINEAR, cv2.INTER_AREA, cv2.INTER_CUBIC]))
        rng.integers(0, 2**31 - 1)  # (the seed albumentations' Downscale took: the draws after it stay as they were)
        # albumentations' Downscale, whose two OpenCV resizes these are, runs them on uint8: a
        # float (or 16-bit) image came back on 256 levels — a dark 16-bit ramp of 256 values kept 5
        h, w = img.shape[:2]
        if round(h * s) >= 1 and round(w * s) >= 1:
            small = cv2.resize(img, None, fx=s, fy=s, interpolation=interp)
        else:  # a side that would shrink to nothing keeps one pixel (OpenCV refuses an empty size)
            small = cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=interp)
        up = self.config.resize_up  # (drawn only where there is a choice: the older presets' draws stay)
        kind = up[int(rng.integers(len(up)))] if len(up) > 1 else up[0]
        enlarge = {"linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC, "lanczos": cv2.INTER_LANCZOS4}[kind]
        out = cv2.resize(small, (w, h), interpolation=enlarge)
        # (cubic interpolation overshoots: values below 0 made the shot-noise step's gamma NaN)
        return np.clip(out, 0.0, 1.0).reshape(img.shape)  # (OpenCV drops a single channel's axis)

    def _noise(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        c = self.config
        kind = self._kinds[int(rng.choice(len(self._kinds), p=self._kind_p))]
        gray = bool(rng.random() < c.p_gray_noise)
        if kind == "gaussian":
            # half uniform, half log-uniform: enough light noise that clean-ish input is not smeared
            s = _loguniform(rng, c.gaussian_sigma) if rng.random() < c.sigma_log_fraction else _uniform(rng, c.gaussian_sigma)
            return _apply(A.GaussNoise(std_range=(s, s), per_channel=not gray, p=1.0), img, rng)
        if kind == "poisson":
            s = _loguniform(rng, c.poisson_scale)
            out = _apply(A.ShotNoise(scale_range=(s, s), p=1.0), img, rng)
            r = _uniform(rng, c.read_sigma)
            if r > 0:
                out = _apply(A.GaussNoise(std_range=(r, r), per_channel=not gray, p=1.0), out, rng)
            return out
        if kind == "speckle":
            s = _uniform(rng, c.speckle_sigma)
            noise = rng.normal(0.0, s, img.shape[:2] + ((1,) if gray or img.ndim == 2 else (img.shape[2],)))
            noise = noise.reshape(img.shape[:2]) if img.ndim == 2 else noise
            return np.clip(img * (1.0 + noise), 0.0, 1.0).astype(np.float32)
        if kind == "iso":
            i = _uniform(rng, c.iso_intensity)
            if img.ndim == 3 and img.shape[2] == 3:
                return _apply(A.ISONoise(color_shift=(0.01, 0.05), intensity=(i, i), p=1.0), img, rng)
            s = i * 0.1  # ISONoise is RGB-only; luminance noise of comparable strength for gray
            return _apply(A.GaussNoise(std_range=(s, s), p=1.0), img, rng)
        if kind == "saltpepper":
            a = _uniform(rng, c.saltpepper_amount)
            return _apply(A.SaltAndPepper(amount=(a, a), p=1.0), img, rng)
        if kind == "camera":
            return self._camera(img, rng)
        if kind == "linear":
            return self._linear(img, rng)
        raise ValueError(f"unknown noise kind {kind!r}")

    def _camera(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A camera's noise: the linear-light image is taken back through a colour matrix and
        white-balance gains to what the sensor recorded, shot + read noise is drawn on its RGGB
        Bayer mosaic (random phase), spread to RGB by bilinear demosaicing and sent forward
        through the gains and the matrix — correlated between neighbouring pixels, stronger in
        red and blue, mixed between colours, as a camera's output is. Only the noise is
        demosaiced (the image keeps its detail: the model learns to remove noise, not to
        re-sharpen). A gray image is, with probability ``p_camera_mono``, from a monochrome
        sensor (shot + read noise alone), otherwise the luma of a colour camera's noisy frame."""
        c = self.config
        if img.ndim == 2 and rng.random() >= c.p_camera_mono:
            return self._camera(np.repeat(img[:, :, None], 3, 2), rng) @ LUMA
        scale, read = _loguniform(rng, c.camera_scale), _uniform(rng, c.camera_read)
        linear = np.clip(img, 0.0, 1.0) ** GAMMA
        if img.ndim == 2:
            noise = rng.poisson(linear / scale) * scale - linear + rng.normal(0.0, read, linear.shape)
            return np.clip(linear + noise.astype(np.float32), 0.0, 1.0) ** (1 / GAMMA)
        gains = np.array([_uniform(rng, c.camera_red_gain), 1.0, _uniform(rng, c.camera_blue_gain)], np.float32)
        ccm = camera_color_matrix(_uniform(rng, c.camera_saturation))
        sensor = np.clip(linear @ np.linalg.inv(ccm).T, 0.0, None) / gains
        masks = cfa_masks(img.shape[0], img.shape[1], int(rng.integers(2)), int(rng.integers(2)))
        mosaic = (sensor * masks).sum(2)
        noise = (rng.poisson(mosaic / scale) * scale - mosaic + rng.normal(0.0, read, mosaic.shape)).astype(np.float32)
        noise = (demosaic_bilinear(noise, masks) * gains) @ ccm.T
        return np.clip(linear + noise, 0.0, 1.0) ** (1 / GAMMA)

    def _linear(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Shot (``camera_scale`` per photon) + read (``linear_read``) noise drawn independently per
        pixel and channel on the sRGB-decoded image, clipped to ``[0, 1]`` in linear light and
        encoded again: near black the clipped noise lifts the mean, as in a raw frame developed
        without noise reduction or a simulation in linear light."""
        c = self.config
        scale, read = _loguniform(rng, c.camera_scale), _uniform(rng, c.linear_read)
        linear = srgb_to_linear(img)
        noisy = rng.poisson(linear / scale) * scale + rng.normal(0.0, read, linear.shape)
        return linear_to_srgb(noisy.astype(np.float32))

    def _jpeg(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        q = int(rng.integers(self.config.jpeg_quality[0], self.config.jpeg_quality[1] + 1))
        jpeg = A.ImageCompression(quality_range=(q, q), compression_type="jpeg", p=1.0)
        if img.ndim == 3 and img.shape[2] == 3:  # albumentations hands the array to OpenCV's encoder, which reads BGR:
            return np.ascontiguousarray(_apply(jpeg, np.ascontiguousarray(img[..., ::-1]), rng)[..., ::-1])  # RGB as RGB
        return _apply(jpeg, img, rng)

    # -- the chain -------------------------------------------------------------------------
    @staticmethod
    def _generator(seed: object) -> np.random.Generator:
        """``seed`` (``None``, an integer >= 0, a numpy ``Generator``, ``SeedSequence`` or ``BitGenerator``)
        → a ``Generator``; anything else (``True``, ``-1``, ``1.5``) is a ``ValueError`` saying so."""
        if not (seed is None or isinstance(seed, (np.random.Generator, np.random.SeedSequence, np.random.BitGenerator))
                or (is_integer(seed) and int(seed) >= 0)):  # type: ignore[call-overload]
            raise ValueError(f"seed must be None, an integer >= 0 or a numpy Generator, got {seed!r}")
        return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)  # type: ignore[arg-type]

    def __call__(self, image: np.ndarray, rng: np.random.Generator | int | None = None) -> np.ndarray:
        if not isinstance(image, np.ndarray):
            hint = " (cvdenoise.degrade_torch.TorchDegrader takes tensors)" if type(image).__module__.startswith("torch") else ""
            raise TypeError(f"expected a numpy image, got {type(image).__module__}.{type(image).__name__}{hint}")
        rng = self._generator(rng)
        if not image.dtype.isnative:  # big-endian 16-bit (FITS, some scientific readers): degraded as native, given back alike
            return self(image.astype(image.dtype.newbyteorder("=")), rng).astype(image.dtype)
        if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3)):
            raise ValueError(f"expected (H,W), (H,W,1) or (H,W,3) image, got shape {image.shape}")
        if image.size == 0:
            raise ValueError(f"expected a non-empty image, got shape {image.shape}")
        dtype = image.dtype
        if low_bit_uint16(image):
            effect = "is degraded on the 16-bit scale: its noise is up to 16x stronger than on the same image scaled"
            warnings.warn(low_bit_message("Degrader", effect=effect), UserWarning, stacklevel=user_stacklevel())
        x = to_float(image)
        if np.issubdtype(dtype, np.floating):
            check_float_range(x)
        squeeze = x.ndim == 3 and x.shape[2] == 1
        if squeeze:
            x = x[:, :, 0]
        x = np.ascontiguousarray(x)
        c = self.config
        if rng.random() >= c.p_clean:
            steps: list[Callable[[np.ndarray, np.random.Generator], np.ndarray]] = []
            if rng.random() < c.p_blur:
                steps.append(self._blur)
            if rng.random() < c.p_resize:
                steps.append(self._resize)
            if rng.random() < c.p_noise:
                steps.append(self._noise)
            if c.shuffle:
                order = rng.permutation(len(steps))
                steps = [steps[i] for i in order]
            if rng.random() < c.p_jpeg:
                steps.append(self._jpeg)
            for step in steps:
                x = np.ascontiguousarray(step(x, rng), dtype=np.float32)
        if squeeze:
            x = x[:, :, None]
        return from_float(x, dtype)


def degrade(
    image: np.ndarray, preset: DegradationConfig | str = "mixed", seed: int | np.random.Generator | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Degrade one clean image; returns ``(degraded, clean)`` with equal shape and dtype."""
    return Degrader(preset)(image, seed), image


def degrade_batch(
    images: Sequence[np.ndarray], preset: DegradationConfig | str = "mixed", seed: int | np.random.Generator | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Degrade several images with one seeded generator (reproducible as a whole): a list of
    ``(degraded, clean)`` pairs, one per image. ``images``: a sequence of images, or an
    ``(N,H,W[,C])`` numpy stack (one image alone is refused: ``degrade`` takes it)."""
    if isinstance(images, np.ndarray) and images.ndim < 4:
        raise ValueError(f"degrade_batch takes a sequence of images or an (N,H,W,C) stack, got one array of shape "
                         f"{images.shape}: pass [image] (or a gray stack as list(stack)), or call degrade(image)")
    d = Degrader(preset)
    rng = d._generator(seed)
    return [(d(im, rng), im) for im in images]
