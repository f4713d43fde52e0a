"""The distribution ships every subpackage and the weights."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+; the package itself supports 3.10

ROOT = Path(__file__).resolve().parent.parent


def test_every_subpackage_is_listed() -> None:
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(cfg["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "cvdenoise").rglob("__init__.py")}
    assert found <= listed, f"missing from pyproject packages: {sorted(found - listed)}"
    assert cfg["package-dir"]["cvdenoise._weights"] == "weights"
    assert "*.safetensors" in cfg["package-data"]["cvdenoise._weights"]
    # PEP 561 marker: users' type checkers read cvdenoise's annotations
    assert "py.typed" in cfg["package-data"]["cvdenoise"] and (ROOT / "cvdenoise" / "py.typed").is_file()


def test_console_script_target_exists() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    mod, func = scripts["cvdenoise"].split(":")
    import importlib

    assert callable(getattr(importlib.import_module(mod), func))


def test_submodules_are_reachable_after_a_plain_import() -> None:
    code = (
        "import sys, cvdenoise; assert 'cvdenoise.export' not in sys.modules; "
        "print(cvdenoise.export.to_onnx.__name__, cvdenoise.transforms.Denoise.__name__, "
        "cvdenoise.integrations.albumentations.Denoise.__module__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["to_onnx", "Denoise", "cvdenoise.integrations.albumentations"]


def test_training_photos_script_help_prints_usage_and_downloads_nothing(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "training_photos.py"), "--help"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.startswith("usage:") and "OUT/photos/" in r.stdout
    assert list(tmp_path.iterdir()) == []  # no folder named --help, nothing fetched


def test_every_public_module_is_reachable_and_dir_shows_no_private_names() -> None:
    """Every non-private module of the package is an attribute after `import cvdenoise` (the docs
    point users to cvdenoise.ort_runtime, which raised AttributeError), and dir() lists no helpers."""
    import cvdenoise
    import cvdenoise.integrations

    package = Path(cvdenoise.__file__).parent
    modules = {p.stem for p in package.glob("*.py") if not p.stem.startswith("_")} | {"integrations"}
    modules -= {"cli"}  # the command line: `cvdenoise --help`, not an attribute
    assert modules <= set(dir(cvdenoise))
    for name in modules:
        assert getattr(cvdenoise, name).__name__ == f"cvdenoise.{name}"
    assert not [n for n in dir(cvdenoise) if n.startswith("_") and not n.startswith("__")]
    assert {"albumentations", "ultralytics"} <= set(dir(cvdenoise.integrations))
    assert "FrameFilter" in (cvdenoise.__doc__ or "") and "transforms" in (cvdenoise.__doc__ or "")


def test_import_cvdenoise_leaves_training_only_dependencies_alone() -> None:
    """`import cvdenoise` (the CLI, FrameFilter, every DataLoader worker) pulled in albumentations,
    which only training and the degradations need: +0.65 s and +36 MB per process."""
    code = "import sys, cvdenoise; cvdenoise.FrameFilter; print('albumentations' in sys.modules, 'cvdenoise.degrade' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_cli_help_and_usage_errors_import_no_torch() -> None:
    """`cvdenoise --help` took 2.5–3.4 s and 700 MB: the package imported torch, and the parser
    the training code (albumentations, scipy). Only a command that runs (or `train`) loads them."""
    code = ("import sys, contextlib, io\nfrom cvdenoise.cli import main\n"
            "for argv in (['--help'], ['--version'], ['denoise', '--help'], ['video']):\n"
            "    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
            "        try:\n            main(argv)\n        except SystemExit:\n            pass\n"
            "print(*(m in sys.modules for m in ('torch', 'albumentations', 'cvdenoise.train')))\n"
            "import cvdenoise\nprint(cvdenoise.load.__module__, cvdenoise.FrameFilter.__name__, 'load' in dir(cvdenoise))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out == ["False False False", "cvdenoise.denoiser FrameFilter True"]
    from cvdenoise.cli import build_parser

    train = build_parser().parse_args(["train", "--steps", "3"])  # the full parser still knows train's options
    assert train.steps == 3
