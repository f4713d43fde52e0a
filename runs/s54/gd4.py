"""stage 32d: as runs/s54/gd.sh (lights without glow) with every light drawn without anti-aliasing (cv2.LINE_8 for
LINE_AA in cvdenoise.data, patched here only): stages 32/32b lifted the CT brain beside the skull +3 to +4.7 HU and
the lights-free control (runs/s54/gd3.sh) did not; an anti-aliased rim beside each light is the clean target's only
other brightening. (Written before `cvdenoise train --lights-aa` existed: the same as runs/s54/gd.sh with
`--lights-aa 0 --seed 112 --out runs/s54/gray-default-noaa`, the same random draws.) Run: NO_ALBUMENTATIONS_UPDATE=1 nohup .venv/bin/python runs/s54/gd4.py > runs/s54/gd4.log 2>&1 &"""
import os
import sys
import types

import cv2

os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
import cvdenoise.data as data  # noqa: E402

data.cv2 = types.SimpleNamespace(**{k: getattr(cv2, k) for k in dir(cv2) if not k.startswith("__")})
data.cv2.LINE_AA = cv2.LINE_8
from cvdenoise.cli import main  # noqa: E402

sys.exit(main(["train", "P/photos", "P/extra", "P/more", "--out", "runs/s54/gray-default-noaa", "--name", "gray-default",
               "--size", "default", "--channels", "1", "--init", "weights/gray-default.safetensors", "--minutes", "60",
               "--steps", "1000000", "--crop", "64", "--batch", "16", "--lr", "5e-5", "--warmup", "100", "--threads", "1",
               "--val-every", "1000", "--degradation", "camera-mix-linear", "--loss", "psnr", "--p-dead-leaves", "0.05",
               "--p-lights", "0.1", "--lights-glow", "0", "--device-degrade", "0.9", "--seed", "112", "--ckpt-minutes", "3",
               "--keep-exports", *sys.argv[1:]]))
