"""Routing to a white-noise specialist: which weights denoise an image.

A blind model trained on a broad mix of degradations (camera noise, low light, blur, JPEG)
gives up some quality on plain additive white Gaussian noise; a *specialist* fine-tuned on that
noise alone wins it back but loses on everything else (``weights/RECIPE.md``). A model card may
name such a specialist with a :class:`RouteRule` (``white_noise_specialist``); the
:class:`~cvdenoise.Denoiser` then runs the specialist only for images whose
:func:`~cvdenoise.noise.noise_profile` reads as white Gaussian noise — at least ``min_sigma``,
independent between the colour channels, white (no more energy one Haar scale coarser than at
the finest) and the same in dark and bright parts — and the blind model for every other image.

The thresholds are fitted per model (``python benchmarks/route.py --calibrate``) where the
specialist gains and nowhere it loses on the training photos.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import torch

from .noise import NoiseProfile, noise_profile

__all__ = ["RouteRule", "Specialist"]


@dataclass(frozen=True)
class RouteRule:
    """When an image goes to the white-noise specialist (see the module docstring).

    Args:
        min_sigma: least noise σ (8-bit units, :attr:`NoiseProfile.sigma`).
        max_channel_corr: largest :attr:`NoiseProfile.channel_corr` (colour images).
        max_whiteness: largest :attr:`NoiseProfile.whiteness`.
        level_ratio: ``(low, high)`` bounds of :attr:`NoiseProfile.level_ratio`.

    Example:
        >>> import numpy as np
        >>> rule = RouteRule(min_sigma=8, max_channel_corr=0.2, max_whiteness=1.5, level_ratio=(0.8, 1.4))
        >>> rng = np.random.default_rng(0)
        >>> img = np.clip(rng.uniform(0.2, 0.8, (1, 3, 1, 1)) + rng.normal(0, 25 / 255, (1, 3, 96, 96)), 0, 1)
        >>> rule(torch.from_numpy(img).float())
        [True]
    """

    min_sigma: float
    max_channel_corr: float
    max_whiteness: float
    level_ratio: tuple[float, float]

    def __post_init__(self) -> None:
        lo, hi = self.level_ratio
        values = (self.min_sigma, self.max_channel_corr, self.max_whiteness, lo, hi)
        if not all(math.isfinite(v) for v in values) or self.min_sigma < 0 or not 0 < lo <= hi:
            raise ValueError(f"RouteRule needs finite thresholds, min_sigma >= 0 and 0 < low <= high; got {self}")

    def accepts(self, sigma: float, channel_corr: float, whiteness: float, level_ratio: float) -> bool:
        """Whether a profile (its four numbers, as :class:`NoiseProfile`) goes to the specialist."""
        lo, hi = self.level_ratio
        return (sigma >= self.min_sigma and channel_corr <= self.max_channel_corr
                and whiteness <= self.max_whiteness and lo <= level_ratio <= hi)

    def accepts_profile(self, p: NoiseProfile) -> bool:
        """:meth:`accepts` for a :class:`NoiseProfile`."""
        return self.accepts(p.sigma, p.channel_corr, p.whiteness, p.level_ratio)

    def __call__(self, x: torch.Tensor) -> list[bool]:
        """Per image of a ``(B,C,H,W)`` float batch in ``[0,1]``: route it to the specialist?
        Images smaller than 8×8 never are."""
        if x.shape[-1] < 8 or x.shape[-2] < 8:
            return [False] * len(x)
        profiles = noise_profile(x.float())
        assert isinstance(profiles, list)
        return [self.accepts_profile(p) for p in profiles]

    def to_card(self) -> dict[str, Any]:
        """The rule's entries of a model card's ``white_noise_specialist``."""
        return {"min_sigma": self.min_sigma, "max_channel_corr": self.max_channel_corr,
                "max_whiteness": self.max_whiteness, "level_ratio": list(self.level_ratio)}

    @classmethod
    def from_card(cls, entry: Mapping[str, Any]) -> RouteRule:
        """The rule of a model card's ``white_noise_specialist`` entry."""
        try:
            lo, hi = entry["level_ratio"]
            return cls(float(entry["min_sigma"]), float(entry["max_channel_corr"]), float(entry["max_whiteness"]),
                       (float(lo), float(hi)))
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"malformed white_noise_specialist entry in model card: {dict(entry)!r}") from e


@dataclass
class Specialist:
    """A white-noise specialist of a :class:`~cvdenoise.Denoiser`'s model.

    Args:
        name: its weights name, for reports.
        rule: which images it takes.
        model: the backend ``(B,C,H,W) float32 → (B,C,H,W)``, or (``lazy=True``) a
            zero-argument loader returning one, called the first time an image is routed to it.
        lazy: ``model`` is a loader.
    """

    name: str
    rule: RouteRule
    model: Any
    lazy: bool = False
