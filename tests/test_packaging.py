"""The distribution ships every subpackage and the weights."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10 (which the package supports): pytest's own TOML reader there
    tomllib = pytest.importorskip("tomli")

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
    modules = {p.stem for p in package.glob("*.py") if not p.stem.startswith("_")}
    modules |= {p.parent.name for p in package.glob("*/__init__.py") if not p.parent.name.startswith("_")}  # io, integrations
    assert {"io", "integrations"} <= modules
    modules -= {"cli"}  # the command line: `cvdenoise --help`, not an attribute
    assert modules <= set(dir(cvdenoise))
    for name in modules:
        assert getattr(cvdenoise, name).__name__ == f"cvdenoise.{name}"
    assert not [n for n in dir(cvdenoise) if n.startswith("_") and not n.startswith("__")]
    assert {"albumentations", "ultralytics"} <= set(dir(cvdenoise.integrations))
    assert cvdenoise.io.metadata.__name__ == "cvdenoise.io.metadata"
    assert "_public" not in dir(cvdenoise.io)
    assert "FrameFilter" in (cvdenoise.__doc__ or "") and "transforms" in (cvdenoise.__doc__ or "")


def test_import_cvdenoise_leaves_training_only_dependencies_alone() -> None:
    """`import cvdenoise` (the CLI, FrameFilter, every DataLoader worker) pulled in albumentations,
    which only training and the degradations need: +0.65 s and +36 MB per process."""
    code = ("import sys, numpy as np, cvdenoise; ff = cvdenoise.FrameFilter('fast', gate=True); ff(np.zeros((32, 32, 3), np.uint8)); "
            "print('albumentations' in sys.modules, 'cvdenoise.degrade' in sys.modules)")  # the gated path too (0.4 s on frame 1)
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


def test_lower_modules_do_not_import_higher_ones() -> None:
    """train imported cli at module level while cli imports train: a cycle against the one-way flow
    (nothing imports cli)."""
    code = "import sys, cvdenoise.train\nprint('cvdenoise.cli' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False"]
    # the weights registry writes files atomically without the image codecs (cv2) of cvdenoise.io
    code = "import sys, cvdenoise.weights\nprint('cvdenoise.io' in sys.modules, 'cv2' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_licence_text_ships_with_the_distribution() -> None:
    """Apache-2.0 §4(a): redistributions carry a copy of the licence (it was in neither sdist nor wheel)."""
    text = (ROOT / "LICENSE").read_text()
    assert text.split()[:5] == ["Apache", "License", "Version", "2.0,", "January"]
    assert "END OF TERMS AND CONDITIONS" in text and "Copyright (c)" not in text  # the standard text only
    project = _project()
    assert project["license"] == "Apache-2.0" and "LICENSE" in project["license-files"]
    # setuptools>=77 rejects a "License ::" classifier beside the SPDX expression
    assert not [c for c in project["classifiers"] if c.startswith("License ::")]
    assert "Typing :: Typed" in project["classifiers"]
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    assert "setuptools>=77" in requires  # the first to take `license` as an SPDX string and `license-files`


def test_dependency_floors_can_be_met_together() -> None:
    """opencv-python-headless>=4.12 depends on numpy>=2: a numpy 1.x floor promised an impossible resolve."""
    from packaging.requirements import Requirement
    from packaging.version import Version

    deps = {r.name: r.specifier for r in map(Requirement, _project()["dependencies"])}
    assert "4.12" in str(deps["opencv-python-headless"])
    assert not deps["numpy"].contains(Version("1.26.4")) and deps["numpy"].contains(Version("2.0.0"))
    assert _project()["requires-python"] == ">=3.10"
    assert {f"Programming Language :: Python :: 3.{m}" for m in (10, 11, 12, 13)} <= set(_project()["classifiers"])


def test_sdist_manifest_carries_what_its_tests_and_readme_need() -> None:
    """setuptools' default sdist took only tests/test*.py: no conftest.py or helpers.py (10 test
    files failed to import), no examples/ or scripts/ that tests and README use, no RECIPE.md."""
    lines = {" ".join(line.split()) for line in (ROOT / "MANIFEST.in").read_text().splitlines()}
    for line in ("graft tests", "graft examples", "graft scripts", "graft docs", "include weights/RECIPE.md"):
        assert line in lines
    assert any(line.startswith("include ") and "LICENSE" in line.split() for line in lines)
    for path in ("tests/conftest.py", "tests/helpers.py", "scripts/fix-opencv-headless.sh", "weights/RECIPE.md"):
        assert (ROOT / path).is_file(), path
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "RECIPE.md" in package_data["cvdenoise._weights"]  # the cards' recipe_doc, installed beside them


def test_shipped_cards_hold_no_build_machine_paths_and_their_recipe_doc_resolves() -> None:
    """The cards listed /work/runs/..., /tmp/ocvdoc/... (26 absolute paths) and pointed at
    weights/RECIPE.md, which an installed package does not have."""
    import json
    import os
    from pathlib import PureWindowsPath

    from cvdenoise.weights import WEIGHTS_DIR

    def strings(o: object, key: str | None = None):
        """(the key it is the value of, or None in a list; the string) for every string in ``o``"""
        if isinstance(o, dict):
            for k, v in o.items():
                yield from strings(v, k)
        elif isinstance(o, list):
            for v in o:
                yield from strings(v)
        elif isinstance(o, str):
            yield key, o

    def absolute(s: str) -> bool:
        return os.path.isabs(s) or PureWindowsPath(s).is_absolute() or s.startswith("~")

    cards = sorted(WEIGHTS_DIR.glob("*.json"))
    assert len(cards) >= 5
    for card in cards:
        data = json.loads(card.read_text())
        bad = [s for _, s in strings(data) if absolute(s)]
        assert not bad, f"{card.name}: {bad[:3]}"
        docs = {s for k, s in strings(data) if k == "recipe_doc"}
        assert docs == {"RECIPE.md"}, card.name
        assert (card.parent / "RECIPE.md").is_file()


def test_built_sdist_and_wheel_carry_licence_tests_examples_and_recipe(tmp_path: Path) -> None:
    """Build the sdist from the checkout's files, then the wheel from the sdist (as pip and distro
    packagers do), and look inside both."""
    import shutil
    import tarfile
    import zipfile

    setuptools = pytest.importorskip("setuptools")
    from packaging.version import Version

    if Version(setuptools.__version__) < Version("77"):
        pytest.skip(f"setuptools {setuptools.__version__} < 77 (the build requirement) installed")
    git = shutil.which("git")
    listed = subprocess.run([git, "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True) if git else None
    if listed is None or listed.returncode != 0:
        pytest.skip("not a git checkout (e.g. an extracted sdist)")
    src = tmp_path / "src"
    for name in filter(None, listed.stdout.decode().split("\0")):
        if (ROOT / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name)

    def backend(hook: str, where: Path) -> str:
        code = f"import sys; from setuptools import build_meta as b; print(b.{hook}(sys.argv[1]))"
        r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "dist")], cwd=where,
                           capture_output=True, text=True, timeout=240)
        assert r.returncode == 0, r.stderr[-3000:]
        return r.stdout.split()[-1]

    sdist = tmp_path / "dist" / backend("build_sdist", src)
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
        safe: dict = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(tmp_path / "sd", **safe)
    for path in ("LICENSE", "README.md", "tests/conftest.py", "tests/helpers.py", "weights/RECIPE.md",
                 "scripts/fix-opencv-headless.sh", "scripts/publish_weights.py", "examples/denoise_folder.py",
                 "docs/api.md", "docs/video-yolo.md"):
        assert path in names, path
    assert any(n.startswith("examples/data/") for n in names)
    assert {n for n in names if n.startswith("docs/")} >= {f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")}
    assert not [n for n in names if n.endswith((".pyc", ".pt")) or n.startswith("examples/out/")]
    pkg_info = (tmp_path / "sd" / sdist.name.removesuffix(".tar.gz") / "PKG-INFO").read_text()
    assert "License-File: LICENSE" in pkg_info and "Requires-Dist: numpy>=2" in pkg_info

    wheel = tmp_path / "dist" / backend("build_wheel", tmp_path / "sd" / sdist.name.removesuffix(".tar.gz"))
    with zipfile.ZipFile(wheel) as whl:
        names = set(whl.namelist())
        dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        assert f"{dist_info}/licenses/LICENSE" in names
        assert "cvdenoise/_weights/RECIPE.md" in names and "cvdenoise/_weights/color-fast.json" in names
        assert "License-File: LICENSE" in whl.read(f"{dist_info}/METADATA").decode()


def test_the_version_is_the_same_in_the_package_and_its_metadata() -> None:
    import cvdenoise

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert cvdenoise.__version__ == declared
