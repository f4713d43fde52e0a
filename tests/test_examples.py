"""Every example runs offline and does what it prints."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run(script: str, *args: str) -> str:
    r = subprocess.run([sys.executable, str(EXAMPLES / script), *args], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


def test_denoise_folder(tmp_path: Path) -> None:
    out = run("denoise_folder.py", str(EXAMPLES / "data"), str(tmp_path))
    assert "wrote 5 of 5 images" in out
    assert sorted(p.name for p in tmp_path.glob("[!.]*")) == sorted(p.name for p in (EXAMPLES / "data").iterdir())


def test_denoise_folder_says_a_usage_error_in_one_line(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, str(EXAMPLES / "denoise_folder.py"), str(tmp_path / "missing"), str(tmp_path / "o")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "Traceback" not in r.stderr  # (was a traceback, exit 1)
    assert r.stderr.startswith("denoise_folder.py: error:") and "missing" in r.stderr


def test_dataloader_transform() -> None:
    out = run("dataloader_transform.py")
    line = [l for l in out.splitlines() if l.startswith("mean PSNR")][0]
    before, after = (float(w) for w in line.replace("dB", "").split() if w.replace(".", "").isdigit())
    assert after > before + 2


def test_medical_dicom(tmp_path: Path) -> None:
    pytest.importorskip("pydicom")
    out = run("medical_dicom.py", str(tmp_path))
    assert "int16 -> int16" in out and (tmp_path / "denoised.dcm").is_file()
    err = out.split("RMS error vs the clean image:")[1].split("(")[0].split("->")
    assert float(err[1]) < float(err[0])


def test_video_yolo(tmp_path: Path) -> None:
    pytest.importorskip("ultralytics")
    out = run("video_yolo.py", str(tmp_path))
    assert out.count("denoise") >= 6 and "6 frames" in out


@pytest.mark.parametrize("script, missing, advice", [("dataloader_transform.py", "skimage", "pip install scikit-image"),
                                                     ("medical_dicom.py", "pydicom", "cvdenoise[dicom]"),
                                                     ("video_yolo.py", "ultralytics", "cvdenoise[yolo]")])
def test_an_example_without_its_own_dependency_says_what_to_install(script: str, missing: str, advice: str) -> None:
    # (was a bare ModuleNotFoundError traceback; README lists the examples without their extras)
    code = (f"import sys, runpy; sys.modules[{missing!r}] = None; "
            f"runpy.run_path({str(EXAMPLES / script)!r}, run_name='__main__')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and "Traceback" not in r.stderr and advice in r.stderr, r.stderr[-2000:]
