"""Denoise inside a torchvision v2 detection pipeline, in DataLoader worker processes.

A tiny detection-style dataset (scikit-image's bundled photos, synthetic Gaussian noise
sigma=25, one box per image) goes through ``v2.Compose`` with
``cvdenoise.transforms.Denoise("fast")``; boxes and labels pass through untouched. Runs offline
on CPU in a few seconds (the photos come from scikit-image: ``pip install scikit-image``)::

    python examples/dataloader_transform.py
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

try:
    from skimage import data
except ImportError as e:  # (this example's own dependency: its photos)
    raise SystemExit(f"{e}: this example needs scikit-image for its photos: pip install scikit-image") from None

from cvdenoise.degrade import degrade
from cvdenoise.transforms import Denoise

SIZE = 160


class NoisyPhotos(Dataset):
    """``(Image uint8 (3,H,W), {"boxes", "labels", "image_id"})`` samples, noisy on the fly."""

    def __init__(self, transform: v2.Transform) -> None:
        photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
        self.clean = [np.ascontiguousarray(p[:SIZE, :SIZE]) for p in photos]  # (H,W,3) uint8
        self.noisy = [degrade(c, "gaussian25", seed=i)[0] for i, c in enumerate(self.clean)]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.clean)

    def __getitem__(self, i: int) -> tuple[tv_tensors.Image, dict[str, Any]]:
        image = tv_tensors.Image(torch.from_numpy(self.noisy[i]).permute(2, 0, 1))
        target = {
            "boxes": tv_tensors.BoundingBoxes([[20, 30, 120, 150]], format="XYXY", canvas_size=(SIZE, SIZE)),
            "labels": torch.tensor([i + 1]),
            "image_id": i,
        }
        return self.transform(image, target)


def collate(batch: list[tuple[Any, Any]]) -> tuple[tuple[Any, ...], ...]:
    """Detection-style collate: a tuple of images and a tuple of targets."""
    return tuple(zip(*batch))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


def main() -> None:
    pipe = v2.Compose([v2.ToImage(), Denoise("fast"), v2.ClampBoundingBoxes(), v2.SanitizeBoundingBoxes()])
    ds = NoisyPhotos(pipe)
    loader = DataLoader(ds, batch_size=len(ds), num_workers=2, collate_fn=collate)
    images, targets = next(iter(loader))
    print(f"batch: {len(images)} x {tuple(images[0].shape)} {images[0].dtype} ({type(images[0]).__name__})")
    before, after = [], []
    for img, tgt in zip(images, targets):
        i = tgt["image_id"]
        before.append(psnr(ds.noisy[i], ds.clean[i]))
        after.append(psnr(img.permute(1, 2, 0).numpy(), ds.clean[i]))
        print(f"  image {i}: boxes {tgt['boxes'].tolist()} labels {tgt['labels'].tolist()}  "
              f"PSNR {before[-1]:.2f} -> {after[-1]:.2f} dB")
    print(f"mean PSNR: noisy {np.mean(before):.2f} dB -> denoised {np.mean(after):.2f} dB")


if __name__ == "__main__":
    main()
