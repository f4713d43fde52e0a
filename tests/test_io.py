from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from cvdenoise.io import ImageReadError, read_image, write_image


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_gray_alpha_png_round_trip(tmp_path: Path, dtype: type) -> None:
    rng = np.random.default_rng(3)
    la = rng.integers(0, np.iinfo(dtype).max + 1, (37, 53, 2)).astype(dtype)
    write_image(tmp_path / "la.png", la)
    back = read_image(tmp_path / "la.png")
    assert back.dtype == dtype and np.array_equal(back, la)
    bgra = cv2.imread(str(tmp_path / "la.png"), cv2.IMREAD_UNCHANGED)  # any PNG reader sees gray + alpha
    assert np.array_equal(bgra[..., 0], la[..., 0]) and np.array_equal(bgra[..., 3], la[..., 1])
    if dtype == np.uint8:
        im = Image.open(tmp_path / "la.png")
        assert im.mode == "LA" and np.array_equal(np.asarray(im), la)


def test_gray_alpha_read_from_pillow_and_written_as_bgra_elsewhere(tmp_path: Path) -> None:
    la = np.dstack([np.arange(48, dtype=np.uint8).reshape(6, 8), np.full((6, 8), 7, np.uint8)])
    Image.fromarray(la, "LA").save(tmp_path / "in.png")
    assert np.array_equal(read_image(tmp_path / "in.png"), la)
    write_image(tmp_path / "out.tif", la)
    tif = read_image(tmp_path / "out.tif")
    assert tif.shape == (6, 8, 4) and np.array_equal(tif[..., 1], la[..., 0]) and (tif[..., 3] == 7).all()


def test_rgba_png_stays_four_channels(tmp_path: Path) -> None:
    bgra = np.random.default_rng(4).integers(0, 256, (9, 11, 4), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "c.png"), bgra)
    assert np.array_equal(read_image(tmp_path / "c.png"), bgra)


def test_corrupt_png_names_the_file(tmp_path: Path) -> None:
    (bad := tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 30)
    with pytest.raises(ImageReadError, match="bad.png"):
        read_image(bad)
