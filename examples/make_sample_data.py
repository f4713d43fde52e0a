"""Regenerate the bundled noisy sample photos in examples/data/ (run once; output is committed).

Sources are scikit-image's bundled photos (CC0 / public domain); each gets a different
realistic degradation from ``cvdenoise.degrade`` with a fixed seed.
"""

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
from skimage import data

from cvdenoise.degrade import DegradationConfig, Degrader, PRESETS

OUT = Path(__file__).resolve().parent / "data"


def main() -> None:
    OUT.mkdir(exist_ok=True)
    camera_like = DegradationConfig(p_clean=0, p_blur=0, p_resize=0, p_noise=1, p_jpeg=1, jpeg_quality=(85, 85),
                                    noise_kinds=(("iso", 1.0),), iso_intensity=(0.5, 0.5), shuffle=False)
    items = [
        ("coffee_gaussian25.png", data.coffee(), PRESETS["gaussian25"]),
        ("chelsea_lowlight.jpg", data.chelsea(), PRESETS["lowlight"]),
        ("rocket_camera_iso.jpg", data.rocket(), camera_like),
        # a camera's own noise (demosaiced: correlated between neighbouring pixels), saved as JPEG
        ("astronaut_camera.jpg", data.astronaut(),
         replace(PRESETS["camera"], camera_scale=(0.015, 0.015), p_jpeg=1.0, jpeg_quality=(90, 90))),
    ]
    for name, rgb, cfg in items:
        h, w = rgb.shape[:2]
        s = 320 / max(h, w)
        small = cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        noisy = Degrader(cfg)(small, np.random.default_rng(7))
        params = [cv2.IMWRITE_JPEG_QUALITY, 92] if name.endswith(".jpg") else []
        cv2.imwrite(str(OUT / name), cv2.cvtColor(noisy, cv2.COLOR_RGB2BGR), params)
    # 16-bit grayscale, like a medical or scientific frame
    gray16 = cv2.resize(data.camera(), (256, 256), interpolation=cv2.INTER_AREA).astype(np.uint16) * 257
    noisy16 = Degrader("gaussian15")(gray16, np.random.default_rng(7))
    cv2.imwrite(str(OUT / "camera_gray16.png"), noisy16)
    print("wrote", sorted(p.name for p in OUT.iterdir()))


if __name__ == "__main__":
    main()
