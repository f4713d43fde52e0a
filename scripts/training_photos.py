"""Build the training-photo folders of weights/RECIPE.md from offline sources.

    python scripts/training_photos.py OUT

writes
  OUT/photos/  the ~80 OpenCV sample photos (Debian package ``opencv-doc``, examples/data)
  OUT/extra/   56 more images, each shrunk to at most 1600 px (INTER_AREA) and saved as JPEG 93:
               desktop wallpapers of Debian packages (nature photos of ``mate-backgrounds``,
               ``lomiri-wallpapers-20.04`` photos and paintings, rendered textures of
               ``gnome-backgrounds`` and ``ukui-wallpapers``; flat or near-empty ones left out),
               scikit-image's bundled images that the quality benchmark does not use,
               matplotlib's ``grace_hopper.jpg`` and Ultralytics' ``bus.jpg``/``zidane.jpg``
               when installed.
  OUT/more/    20 high-resolution photos (stage 8), shrunk and saved the same way: the photographs
               among the wallpapers of ``plasma-workspace-wallpapers`` and ``lomiri-wallpapers-16.04``
               (landscapes, plants, water, objects, architecture; their renders left out).
The Debian packages come from the package registry (``apt-get download``, no other network).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

import cv2
import numpy as np

PACKAGES = ("opencv-doc", "mate-backgrounds", "ukui-wallpapers", "lomiri-wallpapers-20.04", "gnome-backgrounds")
OPENCV_DATA = "usr/share/doc/opencv-doc/examples/data"
WALLPAPERS = [  # under usr/share/backgrounds/
    "gnome/grid-d.webp", "gnome/grid-l.webp", "gnome/licorice-d.webp", "gnome/licorice-l.webp",
    "gnome/pixels-d.webp", "gnome/pixels-l.webp", "gnome/truchet-d.webp", "gnome/truchet-l.webp",
    "gnome/wood-d.webp", "gnome/wood-l.webp", "Fossa_by_Jasper_Roks.jpg", "Infinite-Sea_by_Aury88.jpg",
    "Kleiber_by_Lukas_Baubkus.jpg", "Painting-Colors_by__herobrine7gamer.jpg", "mate/abstract/Elephants.jpg",
    "mate/desktop/Ubuntu-Mate-Cold-no-logo.png", "mate/desktop/Ubuntu-Mate-Dark-no-logo.png",
    "mate/desktop/Ubuntu-Mate-Radioactive-no-logo.png", "mate/desktop/Ubuntu-Mate-Warm-no-logo.png",
    "mate/nature/Aqua.jpg", "mate/nature/Blinds.jpg", "mate/nature/Dune.jpg", "mate/nature/FreshFlower.jpg",
    "mate/nature/Garden.jpg", "mate/nature/GreenMeadow.jpg", "mate/nature/LadyBird.jpg",
    "mate/nature/RainDrops.jpg", "mate/nature/Storm.jpg", "mate/nature/TwoWings.jpg", "mate/nature/Wood.jpg",
    "mate/nature/YellowFlower.jpg", "2004default.jpg", "calla.png", "city.png", "desert.png",
    "firstgeneration.jpg", "fluent-color.png", "focal-ubuntukylin.png", "goldfish.png", "rhythm.jpg",
    "rollpaper.png", "string.jpg", "the-mouse.jpg",
]
MORE_PACKAGES = ("plasma-workspace-wallpapers", "lomiri-wallpapers-16.04")
MORE = {  # output name → file under usr/share/
    **{n: f"backgrounds/{n}.jpg" for n in (
        "Picture_1A_by_freespace", "Picture_0B_by_freespace", "Wine_by_Jakkub_Mede",
        "seeding_by_Clements_Engelhardt", "aitzgorri_by_Aitzol_Berasategi", "Dragonfly_by_Bolly",
        "friends_by_Aitzol_Berasategi", "sunset_by_Aitzol_Berasategi", "picosdeeuropa_by_Aitzol_Berasategi",
        "life_by_Aitzol_Berasategi", "Bridge_by_Sander_Klootwijk")},
    **{n: f"wallpapers/{n}/contents/images/2560x1600.jpg" for n in (
        "FallenLeaf", "Path", "summer_1am", "EveningGlow", "Grey", "ColorfulCups", "OneStandsOut",
        "ColdRipple", "BytheWater")},
}
# the quality benchmark uses astronaut, coffee, chelsea, rocket, stereo_motorcycle, immunohistochemistry
SKIMAGE = ["retina", "hubble_deep_field", "brick", "grass", "gravel", "moon", "coins", "page", "clock", "horse"]


def _save(path: Path, im: np.ndarray, max_side: int = 1600) -> None:
    s = min(1.0, max_side / max(im.shape[:2]))
    if s < 1:
        im = cv2.resize(im, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(path), im, [cv2.IMWRITE_JPEG_QUALITY, 93])


def _unpack(pkgs: tuple[str, ...], root: Path) -> None:
    subprocess.run(["apt-get", "download", *pkgs], cwd=root, check=True)
    for deb in root.glob("*.deb"):
        subprocess.run(["dpkg", "-x", str(deb), str(root / "x")], check=True)


def build(out: Path) -> None:
    photos, extra, more = out / "photos", out / "extra", out / "more"
    for d in (photos, extra, more):
        d.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _unpack(PACKAGES + MORE_PACKAGES, root)
        for p in sorted((root / "x" / OPENCV_DATA).iterdir()):
            if p.suffix in (".jpg", ".png"):
                shutil.copy(p, photos / p.name)
        for i, rel in enumerate(WALLPAPERS):
            im = cv2.imread(str(root / "x/usr/share/backgrounds" / rel))
            if im is None:
                raise RuntimeError(f"unreadable wallpaper {rel}")
            _save(extra / f"wp{i:02d}.jpg", im)
        for name, rel in MORE.items():
            im = cv2.imread(str(root / "x/usr/share" / rel))
            if im is None:
                raise RuntimeError(f"unreadable wallpaper {rel}")
            _save(more / f"{name}.jpg", im)
    from skimage import data as skdata

    for name in SKIMAGE:
        im = getattr(skdata, name)()
        if im.dtype != np.uint8:
            im = (im * 255).astype(np.uint8) if im.max() <= 1 else im.astype(np.uint8)
        if im.ndim == 3:
            im = cv2.cvtColor(im[:, :, :3], cv2.COLOR_RGB2BGR)
        _save(extra / f"sk_{name}.jpg", im)
    import matplotlib

    _save(extra / "mpl_grace_hopper.jpg", cv2.imread(str(Path(matplotlib.get_data_path()) / "sample_data/grace_hopper.jpg")))
    try:
        import ultralytics
    except ImportError:
        print("ultralytics not installed: bus.jpg / zidane.jpg left out")
    else:
        for name in ("bus", "zidane"):
            _save(extra / f"ul_{name}.jpg", cv2.imread(str(Path(ultralytics.__file__).parent / "assets" / f"{name}.jpg")))
    print(f"{len(list(photos.iterdir()))} photos in {photos}, {len(list(extra.iterdir()))} images in {extra}, "
          f"{len(list(more.iterdir()))} in {more}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Build the training-photo folders of weights/RECIPE.md (downloads Debian packages "
        "with apt-get download, about 320 MB).",
        epilog="writes" + (__doc__ or "").split("writes", 1)[-1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("out", type=Path, metavar="OUT", help="folder to write photos/, extra/ and more/ into")
    build(parser.parse_args(argv).out)


if __name__ == "__main__":
    main()
