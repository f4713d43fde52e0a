from __future__ import annotations

import hashlib
import stat
import subprocess
import sys
import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from cvdenoise.cli import main
from cvdenoise.folder import OUTPUT_MARKER

from helpers import add_noise, psnr


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != OUTPUT_MARKER}


def _images(folder: Path) -> list[str]:
    """Files under ``folder`` (relative paths, sorted), without the output marker."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name != OUTPUT_MARKER)


@pytest.fixture()
def noisy_folder(tmp_path: Path, clean_rgb: np.ndarray, clean_gray: np.ndarray) -> Path:
    src = tmp_path / "in"
    (src / "sub" / "deeper").mkdir(parents=True)
    bgr = cv2.cvtColor(clean_rgb, cv2.COLOR_RGB2BGR)
    cv2.imwrite(str(src / "a.png"), add_noise(bgr, 25))
    cv2.imwrite(str(src / "sub" / "b.jpg"), add_noise(bgr, 15), [cv2.IMWRITE_JPEG_QUALITY, 95])
    cv2.imwrite(str(src / "sub" / "gray16.png"), add_noise(clean_gray.astype(np.uint16) * 257, 20))
    cv2.imwrite(str(src / "sub" / "deeper" / "gray.tif"), add_noise(clean_gray, 25))
    rgba = np.dstack([add_noise(bgr, 25)[:64, :80], np.full((64, 80), 200, np.uint8)])
    cv2.imwrite(str(src / "rgba.png"), rgba)
    Image.fromarray(np.dstack([add_noise(clean_gray, 25), np.full_like(clean_gray, 90)]), "LA").save(src / "la.png")
    (src / "sub" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    (src / "empty.jpg").write_bytes(b"")
    (src / "readme.txt").write_text("ignored: not an image")
    return src


def test_folder_with_corrupt_files(
    noisy_folder: Path, tmp_path: Path, clean_rgb: np.ndarray, clean_gray: np.ndarray, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _digest(noisy_folder)
    out = tmp_path / "out"
    code = main(["denoise", str(noisy_folder), "-o", str(out), "--weights", "fast", "-q"])
    err = capsys.readouterr().err
    assert code == 1
    assert "corrupt.png" in err and "empty.jpg" in err and "2 file(s) failed" in err
    assert _digest(noisy_folder) == before  # inputs untouched
    written = _images(out)
    assert written == ["a.png", "la.png", "rgba.png", "sub/b.jpg", "sub/deeper/gray.tif", "sub/gray16.png"]
    for rel in written:
        a = cv2.imread(str(noisy_folder / rel), cv2.IMREAD_UNCHANGED)
        b = cv2.imread(str(out / rel), cv2.IMREAD_UNCHANGED)
        assert a.shape == b.shape and a.dtype == b.dtype, rel
    assert cv2.imread(str(out / "sub/gray16.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    assert (cv2.imread(str(out / "rgba.png"), cv2.IMREAD_UNCHANGED)[..., 3] == 200).all()
    la_in, la_out = (np.asarray(Image.open(d / "la.png")) for d in (noisy_folder, out))
    assert Image.open(out / "la.png").mode == "LA" and (la_out[..., 1] == 90).all()  # still gray + alpha
    assert psnr(la_out[..., 0], clean_gray) > psnr(la_in[..., 0], clean_gray) + 3
    den = cv2.cvtColor(cv2.imread(str(out / "a.png")), cv2.COLOR_BGR2RGB)
    noisy = cv2.cvtColor(cv2.imread(str(noisy_folder / "a.png")), cv2.COLOR_BGR2RGB)
    assert psnr(den, clean_rgb) > psnr(noisy, clean_rgb) + 3


def test_failed_lines_name_files_as_the_folder_was_typed(
    noisy_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # a folder given relatively: its bad files are named below that folder as typed (they were
    # absolute, while a file named directly was shown as typed)
    monkeypatch.chdir(noisy_folder.parent)
    code = main(["denoise", noisy_folder.name, "-o", "rel_out", "-q", "-w", "fast"])
    err = capsys.readouterr().err
    assert code == 1 and (tmp_path / "rel_out" / "sub" / "b.jpg").is_file()
    failed = sorted(line for line in err.splitlines() if line.startswith("FAILED "))
    assert [line.split(":")[0] for line in failed] == [f"FAILED {Path(noisy_folder.name) / 'empty.jpg'}",
                                                        f"FAILED {Path(noisy_folder.name) / 'sub' / 'corrupt.png'}"]


def test_a_run_where_every_file_fails_says_no_folder_was_made(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "bad"
    src.mkdir()
    for name in ("a.png", "b.jpg"):
        (src / name).write_bytes(b"not an image")
    out = tmp_path / "badout"
    assert main(["denoise", str(src), "-o", str(out), "-q", "-w", "fast"]) == 1
    said = capsys.readouterr().out
    assert f"wrote 0 of 2 images ({out} was not made)" in said and not out.exists()  # (was "... images to badout")


def test_single_files_and_success_code(noisy_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "o2"
    code = main(["denoise", str(noisy_folder / "a.png"), str(noisy_folder / "sub" / "b.jpg"), "-o", str(out), "-q", "-w", "fast",
                 "--no-half"])
    assert code == 0
    assert _images(out) == ["a.png", "b.jpg"]
    (ref := tmp_path / "ref").touch()
    for p in out.glob("[!.]*"):  # written atomically, yet with the permissions a plain open() gives
        assert stat.S_IMODE(p.stat().st_mode) == stat.S_IMODE(ref.stat().st_mode), p
    assert "wrote 2 of 2 images to " in (said := capsys.readouterr().out) and "(fast, fp32 ×1 on cpu)" in said
    assert main(["denoise", str(noisy_folder / "a.png"), "-o", str(tmp_path / "one.png"), "-q", "-w", "fast"]) == 0
    assert f"wrote 1 of 1 images to {tmp_path / 'one.png'} " in capsys.readouterr().out  # (a file: not "was not made")


def test_refuses_to_overwrite_inputs(noisy_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = _digest(noisy_folder)
    code = main(["denoise", str(noisy_folder / "a.png"), "-o", str(noisy_folder), "-q", "-w", "fast"])
    assert code == 2 and "refusing to overwrite" in capsys.readouterr().err
    code = main(["denoise", str(noisy_folder), "-o", str(noisy_folder), "-q", "-w", "fast"])
    assert code == 2
    assert _digest(noisy_folder) == before
    # the input under another name (a hard link in the output folder): refused even with --overwrite
    out = noisy_folder.parent / "linked_out"
    out.mkdir()
    os.link(noisy_folder / "a.png", out / "a.png")
    code = main(["denoise", str(noisy_folder / "a.png"), "-o", str(out), "-q", "-w", "fast", "--overwrite"])
    assert code == 2 and "it is a hard link to an input" in capsys.readouterr().err
    assert os.path.samefile(noisy_folder / "a.png", out / "a.png") and _digest(noisy_folder) == before
    (linked := noisy_folder.parent / "symlinked_out").mkdir()  # a symbolic link to it (was called a hard link)
    (linked / "a.png").symlink_to(noisy_folder / "a.png")
    code = main(["denoise", str(noisy_folder / "a.png"), "-o", str(linked), "-q", "-w", "fast", "--overwrite"])
    assert code == 2 and "it is a symbolic link to an input" in capsys.readouterr().err


def test_output_inside_input_folder_is_not_reprocessed(noisy_folder: Path) -> None:
    out = noisy_folder / "denoised"
    main(["denoise", str(noisy_folder), "-o", str(out), "-q", "-w", "fast"])
    first = _digest(out)
    main(["denoise", str(noisy_folder), "-o", str(out), "-q", "-w", "fast"])
    assert _digest(out).keys() == first.keys()


def test_empty_and_missing_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["denoise", str(tmp_path / "empty"), "-o", str(tmp_path / "o"), "-q"]) == 2
    assert "no images found" in capsys.readouterr().err
    assert main(["denoise", str(tmp_path / "nope"), "-o", str(tmp_path / "o"), "-q"]) == 2
    assert "not found" in capsys.readouterr().err


def test_bad_weights_reported(noisy_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"garbage")
    assert main(["denoise", str(noisy_folder), "-o", str(tmp_path / "o"), "-w", str(bad), "-q"]) == 2
    assert "safetensors" in capsys.readouterr().err


def test_module_entry_point_and_weights_list() -> None:
    r = subprocess.run([sys.executable, "-m", "cvdenoise", "weights"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0
    for name in ("color-default", "color-fast", "gray-default", "gray-fast"):
        line = next(ln for ln in r.stdout.splitlines() if ln.startswith(name))
        assert "auto-strength a=" in line  # every shipped card carries its strength rule


def test_weights_command_describes_a_file_without_its_card(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    from cvdenoise.weights import resolve

    copy = tmp_path / "mine.safetensors"
    shutil.copy(resolve("color-fast"), copy)  # weights copied without their JSON card
    assert main(["weights", str(copy)]) == 0
    line = capsys.readouterr().out.strip()
    assert "params=   634212" in line and "MACs/px=  17192" in line and "auto-strength none (auto = 1)" in line
    assert main(["weights", str(tmp_path / "missing.safetensors")]) == 2
    assert "not found" in capsys.readouterr().err
    # a half-copied file beside a good card is opened and refused, not described from the card
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(resolve("color-fast").read_bytes()[:1_000_000])
    shutil.copy(resolve("color-fast").with_suffix(".json"), cut.with_suffix(".json"))
    assert main(["weights", str(cut)]) == 2
    assert "cut.safetensors" in capsys.readouterr().err
    # -v says how trained weights were trained (an interrupted, unvalidated export read like a finished run)
    card = json.loads(resolve("color-fast").with_suffix(".json").read_text())
    card["training"] = {"recipe": {"degradation": "sensor", "init": "fast"}, "steps_done": 84, "interrupted": True,
                        "val_psnr_db": None, "val_input_psnr_db": 21.1}  # (as cvdenoise train writes it)
    copy.with_suffix(".json").write_text(json.dumps(card))
    assert main(["weights", "-v", str(copy)]) == 0
    assert "  training: 84 steps, on sensor, from fast, interrupted (exported unvalidated)" in capsys.readouterr().out


def test_precision_and_ensemble_options() -> None:
    from cvdenoise.cli import build_parser

    parse = build_parser().parse_args
    a = parse(["denoise", "x.png", "-o", "out"])
    assert (a.half, a.ensemble, a.strength) == ("auto", "auto", "auto")  # what cvdenoise.load() defaults to
    a = parse(["denoise", "x.png", "-o", "out", "--no-half", "--ensemble", "4"])
    assert (a.half, a.ensemble) == (False, 4)
    assert parse(["video", "v.mp4", "-o", "o.mp4", "--half"]).half is True
    with pytest.raises(SystemExit):
        parse(["denoise", "x.png", "-o", "out", "--ensemble", "3"])


def test_cli_tiling_defaults_match_the_api() -> None:
    import inspect

    from cvdenoise.cli import build_parser
    from cvdenoise.denoiser import DEFAULT_OVERLAP, load

    args = build_parser().parse_args(["denoise", "x.png", "-o", "out"])
    params = inspect.signature(load).parameters
    assert args.overlap == DEFAULT_OVERLAP == params["overlap"].default
    assert args.tile == params["tile"].default


def test_output_argument_mistakes_are_usage_errors(noisy_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = _digest(noisy_folder)
    assert main(["denoise", str(noisy_folder), "-o", str(noisy_folder), "-q", "-w", "fast"]) == 2
    assert "refusing to write into the input folder" in capsys.readouterr().err
    assert main(["denoise", str(noisy_folder / "a.png"), "-o", str(noisy_folder / "rgba.png"), "-q", "-w", "fast"]) == 2
    assert "rgba.png exists and cvdenoise did not write it" in capsys.readouterr().err  # one file to a user's image
    assert main(["denoise", str(noisy_folder / "a.png"), "-o", str(tmp_path / "o"), "-q", "--device", "gpu"]) == 2
    assert "device must be" in capsys.readouterr().err
    assert _digest(noisy_folder) == before


def test_one_file_to_an_image_name_writes_that_file(tmp_path: Path, clean_rgb: np.ndarray,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    (src := tmp_path / "in").mkdir()
    noisy = add_noise(cv2.cvtColor(clean_rgb[:64, :64], cv2.COLOR_RGB2BGR), 25)
    cv2.imwrite(str(src / "a.png"), noisy)
    cv2.imwrite(str(src / "b.jpg"), noisy)
    before = _digest(src)
    fast = ["-q", "-w", "fast"]
    clean = tmp_path / "clean.png"
    assert main(["denoise", str(src / "a.png"), "-o", str(clean), *fast]) == 0  # was: a folder clean.png/
    assert clean.is_file() and cv2.imread(str(clean)).shape == noisy.shape
    assert "wrote 1 of 1 images to" in capsys.readouterr().out
    assert main(["denoise", str(src / "a.png"), "-o", str(clean), *fast]) == 0  # its own copy: replaced freely
    assert main(["denoise", str(src / "b.jpg"), "-o", str(tmp_path / "sub" / "b.JPEG"), *fast]) == 0  # a spelling of .jpg
    assert (tmp_path / "sub" / "b.JPEG").is_file() and OUTPUT_MARKER in os.listdir(tmp_path / "sub")
    capsys.readouterr()
    mine = tmp_path / "mine.png"
    mine.write_bytes(b"the user's")
    assert main(["denoise", str(src / "a.png"), "-o", str(mine), *fast]) == 2
    assert "mine.png exists and cvdenoise did not write it" in capsys.readouterr().err
    assert mine.read_bytes() == b"the user's"
    assert main(["denoise", str(src / "a.png"), "-o", str(mine), *fast, "--overwrite"]) == 0
    assert cv2.imread(str(mine)).shape == noisy.shape
    assert main(["denoise", str(src / "a.png"), "-o", str(src / "a.png"), *fast]) == 2  # never an input
    assert "refusing to overwrite input" in capsys.readouterr().err
    assert main(["denoise", str(src / "a.png"), "-o", str(tmp_path / "c.jpg"), *fast]) == 2  # no conversion
    assert "keeps the input's format" in capsys.readouterr().err
    for inputs in ([str(src)], [str(src / "a.png"), str(src / "b.jpg")]):  # several images: a folder is needed
        assert main(["denoise", *inputs, "-o", str(tmp_path / "d.png"), *fast]) == 2
        assert "did you mean -o" in capsys.readouterr().err
    assert not (tmp_path / "c.jpg").exists() and not (tmp_path / "d.png").exists()
    assert main(["denoise", str(src / "a.png"), "-o", str(tmp_path / "e.png") + "/", *fast]) == 0  # a folder meant
    assert (tmp_path / "e.png" / "a.png").is_file()
    assert _digest(src) == before


def test_a_file_given_twice_is_denoised_once(noisy_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = str(noisy_folder / "a.png")
    out = tmp_path / "o"
    assert main(["denoise", a, a, "-o", str(out), "-q", "-w", "fast"]) == 0
    assert "wrote 1 of 1" in capsys.readouterr().out and _images(out) == ["a.png"]
    # a folder and a file inside it (a shell glob next to its folder): the folder's place wins
    assert main(["denoise", str(noisy_folder / "sub"), str(noisy_folder / "sub" / "b.jpg"), "-o", str(tmp_path / "o2"),
                 "-q", "-w", "fast"]) == 1  # sub/corrupt.png fails, as in the folder run
    assert sorted(Path(p).name for p in _images(tmp_path / "o2")) == ["b.jpg", "gray.tif", "gray16.png"]
    capsys.readouterr()
    assert main(["denoise", a, "-o", str(out), "-q", "-w", "fast", "--skip-existing"]) == 0
    text = capsys.readouterr().out
    assert "wrote 0 of 1 images" in text and "skipped 1 that already existed" in text


def test_interrupt_exits_130_without_a_traceback(noisy_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import cvdenoise.folder

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cvdenoise.folder, "denoise_files", interrupted)
    assert main(["denoise", str(noisy_folder / "a.png"), "-o", str(tmp_path / "o"), "-q", "-w", "fast"]) == 130
    assert "cvdenoise denoise: interrupted" in capsys.readouterr().err


def test_symlinked_folders_are_searched_and_dangling_links_reported(noisy_folder: Path, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "data"
    root.mkdir()
    (root / "linked").symlink_to(noisy_folder / "sub", target_is_directory=True)  # a dataset folder linked in
    (root / "loop").symlink_to(root, target_is_directory=True)  # a cycle must end
    (root / "gone.png").symlink_to(tmp_path / "missing.png")
    out = tmp_path / "o"
    assert main(["denoise", str(root), "-o", str(out), "-q", "-w", "fast"]) == 1
    err = capsys.readouterr().err
    assert "gone.png" in err and "corrupt.png" in err  # reported, not silently skipped
    assert f"gone.png is a broken symbolic link (to {tmp_path / 'missing.png'})" in err
    written = _images(out)
    assert written == ["linked/b.jpg", "linked/deeper/gray.tif", "linked/gray16.png"]


def test_a_file_or_folder_in_the_way_of_an_output_is_refused_before_the_work(tmp_path: Path, clean_rgb: np.ndarray,
                                                                             capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    cv2.imwrite(str(src / "a.png"), clean_rgb[:32, :32])
    cv2.imwrite(str(src / "sub" / "b.png"), clean_rgb[:32, :32])
    (o1 := tmp_path / "o1").mkdir()
    (o1 / "sub").write_text("hi")  # a file where the folder for sub/b.png must go
    assert main(["denoise", str(src), "-o", str(o1), "-q", "-w", "fast"]) == 2
    assert f"{o1 / 'sub'} is a file, not a folder" in capsys.readouterr().err
    assert not (o1 / "a.png").exists()  # refused before any work
    (tmp_path / "o2" / "a.png").mkdir(parents=True)  # a folder where a.png must go
    assert main(["denoise", str(src), "-o", str(tmp_path / "o2"), "-q", "-w", "fast", "--overwrite"]) == 2
    assert "a folder of that name is there" in capsys.readouterr().err
    assert not (tmp_path / "o2" / "sub").exists()
    # a file output and a folder the output of another input needs: FileExistsError half-way, one image written
    (a := tmp_path / "a").mkdir()
    (b := tmp_path / "b" / "x.png").mkdir(parents=True)
    cv2.imwrite(str(a / "x.png"), clean_rgb[:32, :32])
    cv2.imwrite(str(b / "y.png"), clean_rgb[:32, :32])
    for order in ((a, b.parent), (b.parent, a)):
        assert main(["denoise", *map(str, order), "-o", str(tmp_path / "o3"), "-q", "-w", "fast"]) == 2
        assert "needs a folder of that name" in capsys.readouterr().err
    assert not (tmp_path / "o3").exists()


def test_nested_input_folders_give_one_layout_in_either_order(tmp_path: Path, clean_rgb: np.ndarray,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """`denoise a/sub a` wrote a/sub's files at the top of -o (or refused a name clash), `a a/sub` below sub/."""
    src = tmp_path / "a"
    (src / "sub").mkdir(parents=True)
    cv2.imwrite(str(src / "x.png"), clean_rgb[:32, :32])
    cv2.imwrite(str(src / "sub" / "x.png"), clean_rgb[32:64, :32])
    cv2.imwrite(str(src / "sub" / "y.png"), clean_rgb[:32, 32:64])
    for i, order in enumerate(((src, src / "sub"), (src / "sub", src))):
        out = tmp_path / f"o{i}"
        assert main(["denoise", *map(str, order), "-o", str(out), "-q", "-w", "fast"]) == 0
        assert _images(out) == ["sub/x.png", "sub/y.png", "x.png"]
        err = capsys.readouterr().err
        assert "2 file(s) reached twice" in err and f"(once, to {out.resolve() / 'sub'}" in err


def test_images_of_other_formats_in_a_folder_are_named_in_a_warning(tmp_path: Path, clean_rgb: np.ndarray,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    cv2.imwrite(str(src / "a.png"), clean_rgb[:32, :32])
    for name in ("sub/b.HEIC", "c.gif", "d.pfm", "labels.txt", "notes.json"):
        (src / name).write_bytes(b"\0" * 16)
    assert main(["denoise", str(src), "-o", str(tmp_path / "o"), "-q", "-w", "fast"]) == 0
    err = capsys.readouterr().err
    assert "left out 3 image file(s) of formats a folder search does not take (.gif, .heic, .pfm;" in err
    assert ".txt" not in err and ".json" not in err  # other files (YOLO labels, notes) are no images
    assert "video" not in err
    (src / "sub" / "clip.MP4").write_bytes(b"\0" * 16)  # (left out without a word)
    (src / "cam.avi").write_bytes(b"\0" * 16)
    assert main(["denoise", str(src), "-o", str(tmp_path / "o"), "-q", "-w", "fast"]) == 0
    err = capsys.readouterr().err
    assert "left out 2 video file(s) (e.g. " in err and "run cvdenoise video (or detect) on each" in err
    cv2.imwrite(str(src / "e.ras"), clean_rgb[:32, :32])  # named as well as found: taken, and not "left out"
    (src / "d.pfm").unlink()
    assert main(["denoise", str(src), str(src / "e.ras"), "-o", str(tmp_path / "o"), "-q", "-w", "fast"]) == 0
    err = capsys.readouterr().err
    assert "left out 2 image file(s) of formats a folder search does not take (.gif, .heic;" in err
    assert (tmp_path / "o" / "e.ras").is_file()


def test_a_folder_reached_through_links_keeps_its_real_path(tmp_path: Path, clean_rgb: np.ndarray,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    top = tmp_path / "photos"
    (top / "2024").mkdir(parents=True)
    cv2.imwrite(str(top / "2024" / "x.png"), add_noise(clean_rgb[:64, :64], 20))
    (top / "2024" / "alias.png").symlink_to("x.png")  # the same file under a second name
    for name in ("latest", "a-link", "zz"):  # links sorting before and after the real folder
        (top / name).symlink_to("2024", target_is_directory=True)
    out = tmp_path / "o"
    assert main(["denoise", str(top), "-o", str(out), "-q", "-w", "fast"]) == 0
    assert _images(out) == ["2024/x.png"]
    err = capsys.readouterr().err
    assert "reached twice" in err and f"alias.png (as {top / '2024' / 'x.png'})" in err  # merged, and said which
    # two folders given, one holding a link to the other: the file under its real folder's layout, in either order
    # (the path through the link was one level deeper and won: OUT/lnk/x.png)
    a, b = tmp_path / "A", tmp_path / "B"
    a.mkdir()
    b.mkdir()
    cv2.imwrite(str(a / "a.png"), add_noise(clean_rgb[:32, :32], 20))
    cv2.imwrite(str(b / "x.png"), add_noise(clean_rgb[:32, :32], 20))
    (a / "lnk").symlink_to("../B", target_is_directory=True)
    for i, order in enumerate(([a, b], [b, a])):
        assert main(["denoise", *map(str, order), "-o", str(tmp_path / f"ab{i}"), "-q", "-w", "fast"]) == 0
        assert _images(tmp_path / f"ab{i}") == ["a.png", "x.png"]


def test_existing_folder_of_user_images_inside_an_input_is_refused_as_output(
    tmp_path: Path, clean_rgb: np.ndarray, capsys: pytest.CaptureFixture[str]
) -> None:
    photos = tmp_path / "photos"
    (photos / "2023").mkdir(parents=True)
    cv2.imwrite(str(photos / "a.jpg"), add_noise(clean_rgb, 20))
    cv2.imwrite(str(photos / "2023" / "a.jpg"), add_noise(clean_rgb[::-1], 20))  # the user's own photo, same name
    before = _digest(photos)
    assert main(["denoise", str(photos), "-o", str(photos / "2023"), "-q", "-w", "fast"]) == 2
    assert "holds images cvdenoise did not write there (e.g. a.jpg)" in capsys.readouterr().err
    (photos / ".stash").mkdir()  # a hidden folder (not walked) of the user's images: refused all the same
    cv2.imwrite(str(photos / ".stash" / "a.jpg"), add_noise(clean_rgb[::-1], 20))
    before = _digest(photos)
    assert main(["denoise", str(photos), "-o", str(photos / ".stash"), "-q", "-w", "fast"]) == 2
    assert _digest(photos) == before
    # a new folder there is marked as cvdenoise's own: a second run does not read its images as inputs
    out = photos / "clean"
    assert main(["denoise", str(photos), "-o", str(out), "-q", "-w", "fast"]) == 0
    assert (out / ".cvdenoise-output").is_file() and (out / "2023" / "a.jpg").is_file()
    assert main(["denoise", str(photos), "-o", str(out), "-q", "-w", "fast"]) == 0
    assert "wrote 2 of 2" in capsys.readouterr().out


def test_earlier_output_folders_are_never_read_as_inputs(tmp_path: Path, clean_rgb: np.ndarray,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    cv2.imwrite(str(photos / "a.png"), add_noise(clean_rgb, 20))
    opts = ["-q", "-w", "fast"]
    assert main(["denoise", str(photos), "-o", str(photos / "out1"), *opts]) == 0
    assert main(["denoise", str(photos), "-o", str(photos / "out2"), *opts]) == 0  # out1: earlier outputs
    assert main(["denoise", str(photos), "-o", str(tmp_path / "sibling"), *opts]) == 0
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.png")) == [
        "photos/a.png", "photos/out1/a.png", "photos/out2/a.png", "sibling/a.png"]
    (photos / "link").symlink_to(tmp_path / "sibling")  # a link into an output folder: not followed into it
    assert main(["denoise", str(photos), "-o", str(tmp_path / "sibling"), *opts]) == 0
    assert "wrote 1 of 1" in capsys.readouterr().out


def test_files_of_an_unmarked_output_folder_are_not_replaced(tmp_path: Path, clean_rgb: np.ndarray,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    top = tmp_path / "top"
    (top / "sub").mkdir(parents=True)
    cv2.imwrite(str(top / "a.jpg"), add_noise(clean_rgb[::-1], 20))  # the user's photo
    cv2.imwrite(str(top / "sub" / "a.jpg"), add_noise(clean_rgb, 20))
    before = _digest(top)
    for inputs in ([str(top / "sub")], [str(top / "sub" / "a.jpg")]):  # a folder below, or a file (a shell glob)
        assert main(["denoise", *inputs, "-o", str(top), "-q", "-w", "fast"]) == 2
        err = capsys.readouterr().err
        assert "a.jpg exists and cvdenoise did not write it" in err and "command line: --overwrite" in err
    assert main(["denoise", str(top / "sub"), "-o", str(top), "-q", "-w", "fast", "--skip-existing"]) == 0
    assert _digest(top) == before and not (top / ".cvdenoise-output").exists()
    assert main(["denoise", str(top / "sub"), "-o", str(top), "-q", "-w", "fast", "--overwrite"]) == 0
    assert _digest(top)["a.jpg"] != before["a.jpg"]  # asked for


def test_output_folder_above_an_input_folder(tmp_path: Path, clean_rgb: np.ndarray, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "project" / "raw").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "project" / "raw" / "a.png"), add_noise(clean_rgb, 20))
    for _ in range(2):  # again: its own earlier copy is replaced
        assert main(["denoise", str(tmp_path / "project" / "raw"), "-o", str(tmp_path / "project"), "-q", "-w", "fast"]) == 0
        assert (tmp_path / "project" / "a.png").is_file() and "wrote 1 of 1" in capsys.readouterr().out
    # a walk from above reads the user's raw/a.png, not cvdenoise's project/a.png
    assert main(["denoise", str(tmp_path), "-o", str(tmp_path / "all"), "-q", "-w", "fast"]) == 0
    assert _images(tmp_path / "all") == ["project/raw/a.png"]
    (tmp_path / "afile").write_text("x")
    assert main(["denoise", str(tmp_path / "project" / "raw"), "-o", str(tmp_path / "afile" / "sub"), "-q"]) == 2
    assert "is a file" in capsys.readouterr().err


def test_no_copy_lands_inside_an_input_folder(tmp_path: Path, clean_rgb: np.ndarray, capsys: pytest.CaptureFixture[str]) -> None:
    """`denoise t/sub -o t` with t/sub/sub/y.png wrote t/sub/y.png into the input folder, and the same command
    run again was refused (the copy read as an input); so did a second input's path (`cam1 work/cam2 -o work`)."""
    t = tmp_path / "t"
    (t / "sub" / "sub").mkdir(parents=True)
    cv2.imwrite(str(t / "sub" / "sub" / "y.png"), add_noise(clean_rgb[:32, :32], 20))
    cv2.imwrite(str(t / "sub" / "z.png"), add_noise(clean_rgb[:32, :32], 20))
    before = _digest(t)
    assert main(["denoise", str(t / "sub"), "-o", str(t), "-q", "-w", "fast"]) == 2
    err = capsys.readouterr().err
    assert f"refusing to write {t / 'sub' / 'sub' / 'y.png'} to {t / 'sub' / 'y.png'}, inside the input folder" in err
    assert _digest(t) == before
    (tmp_path / "cam1" / "cam2").mkdir(parents=True)
    (tmp_path / "work" / "cam2").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "cam1" / "cam2" / "f.png"), add_noise(clean_rgb[:32, :32], 20))
    cv2.imwrite(str(tmp_path / "work" / "cam2" / "g.png"), add_noise(clean_rgb[:32, :32], 20))
    args = [str(tmp_path / "cam1"), str(tmp_path / "work" / "cam2"), "-o", str(tmp_path / "work"), "-q", "-w", "fast"]
    assert main(["denoise", *args]) == 2 and "inside the input folder" in capsys.readouterr().err
    assert not (tmp_path / "work" / "cam2" / "f.png").exists()


def test_hidden_and_thumbnail_folders_are_not_entered(tmp_path: Path, clean_rgb: np.ndarray) -> None:
    from cvdenoise.folder import plan_jobs

    for sub in ("", ".git", ".thumbnails", "@eaDir/x", "keep"):
        (tmp_path / "in" / sub).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(tmp_path / "in" / sub / "a.png"), clean_rgb)
    (tmp_path / "in" / ".cvdenoise-tmp123.png").write_bytes(b"")  # left by an interrupted write
    jobs = plan_jobs([tmp_path / "in"], tmp_path / "out")
    assert sorted(str(j.src.relative_to(tmp_path / "in")) for j in jobs) == ["a.png", "keep/a.png"]


def test_a_file_opencv_refuses_to_decode_is_reported_and_the_rest_written(
    tmp_path: Path, clean_rgb: np.ndarray, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import struct
    import zlib

    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))

    src = tmp_path / "in"
    src.mkdir()
    header = struct.pack(">IIBBBBB", 40000, 40000, 8, 0, 0, 0, 0)  # claims 1.6 G pixels: OpenCV asserts
    (src / "a_huge.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 40001))
                                     + chunk(b"IEND", b""))
    cv2.imwrite(str(src / "b_good.png"), add_noise(clean_rgb, 20))
    assert main(["denoise", str(src), "-o", str(tmp_path / "out"), "-q", "-w", "fast"]) == 1
    captured = capsys.readouterr()  # refused by cvdenoise's own pixel limit, before decoding
    assert "wrote 1 of 2" in captured.out and "a_huge.png: ImageReadError: declares 40000 × 40000 = 1600 M pixels, over the limit" in captured.err
    assert (tmp_path / "out" / "b_good.png").is_file()
    monkeypatch.setenv("CVDENOISE_MAX_PIXELS", "0")  # no limit of cvdenoise's: OpenCV's own refusal is named
    assert main(["denoise", str(src), "-o", str(tmp_path / "out2"), "-q", "-w", "fast"]) == 1
    captured = capsys.readouterr()
    assert "wrote 1 of 2" in captured.out and "a_huge.png" in captured.err and "OPENCV_IO_MAX_IMAGE_PIXELS" in captured.err


def test_output_record_holds_any_file_name(tmp_path: Path, clean_rgb: np.ndarray, capsys: pytest.CaptureFixture[str]) -> None:
    from cvdenoise.folder import written_here

    src = tmp_path / "in"
    src.mkdir()
    names = ["a b.png", "ü\nline.png"]
    for name in names:
        cv2.imwrite(str(src / "tmp.png"), add_noise(clean_rgb[:40, :48], 20))
        (src / "tmp.png").rename(src / name)
    out = tmp_path / "out"
    for _ in range(2):  # the second run replaces what the first recorded
        assert main(["denoise", str(src), "-o", str(out), "-q", "-w", "fast"]) == 0
        assert "wrote 2 of 2" in capsys.readouterr().out
    assert written_here(out) == set(names)
    (out / OUTPUT_MARKER).write_text("junk\n" + (out / OUTPUT_MARKER).read_text() + '"unfinished\n')  # edited by hand
    assert written_here(out) == set(names)


def _noisy_png(path: Path, clean_rgb: np.ndarray) -> Path:
    """A noisy photo written at ``path`` (its folders made)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), add_noise(clean_rgb, 20))
    return path


def test_a_recorded_copy_the_user_changed_is_theirs(tmp_path: Path, clean_rgb: np.ndarray,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    photos = tmp_path / "photos"
    _noisy_png(photos / "raw" / "a.png", clean_rgb)
    opts = ["-q", "-w", "fast"]
    assert main(["denoise", str(photos / "raw"), "-o", str(photos), *opts]) == 0
    edited = add_noise(clean_rgb[::-1], 5)
    cv2.imwrite(str(photos / "a.png"), edited)  # the user edits the copy in place: now it is theirs
    assert main(["denoise", str(photos / "raw"), "-o", str(photos), *opts]) == 2
    assert "a.png exists and cvdenoise did not write it (or it changed since" in capsys.readouterr().err
    assert np.array_equal(cv2.imread(str(photos / "a.png")), edited)
    assert main(["denoise", str(tmp_path), "-o", str(tmp_path / "all"), *opts]) == 0  # and walks read it
    assert _images(tmp_path / "all") == ["photos/a.png", "photos/raw/a.png"]


def test_output_records_in_parent_folders_links_and_temp_files(tmp_path: Path, clean_rgb: np.ndarray,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in"
    _noisy_png(src / "sub" / "b.png", clean_rgb)
    opts = ["-q", "-w", "fast"]
    assert main(["denoise", str(src), "-o", str(tmp_path / "out"), *opts]) == 0
    # out/sub/b.png is recorded in out's record: writing it again through -o out/sub is fine
    assert main(["denoise", str(src / "sub"), "-o", str(tmp_path / "out" / "sub"), *opts]) == 0
    # a link inside an input leading into an output folder: its copies are not read again
    (src / "link").symlink_to(tmp_path / "out" / "sub")
    assert main(["denoise", str(src), "-o", str(tmp_path / "again"), *opts]) == 0
    assert _images(tmp_path / "again") == ["sub/b.png"]
    # a temporary file left by an interrupted write in an output folder inside the input: not the user's image
    (src / "out2").mkdir()
    (src / "out2" / ".cvdenoise-tmp1.png").write_bytes(b"")
    assert main(["denoise", str(src), "-o", str(src / "out2"), *opts]) == 0
    # a record that cannot be written: refused before any work
    (tmp_path / "o3" / OUTPUT_MARKER).mkdir(parents=True)
    assert main(["denoise", str(src), "-o", str(tmp_path / "o3"), *opts]) == 2
    assert "cannot record the output in" in capsys.readouterr().err and not (tmp_path / "o3" / "sub").exists()
    with pytest.raises(SystemExit):
        main(["denoise", str(src), "-o", str(tmp_path / "o4"), "--skip-existing", "--overwrite"])


def test_a_truncated_jpeg_is_one_warning_line_without_libjpegs_own(tmp_path: Path) -> None:
    import subprocess
    import sys

    rng = np.random.default_rng(0)
    jpg = cv2.imencode(".jpg", (rng.random((64, 64, 3)) * 255).astype(np.uint8))[1].tobytes()
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "cut.jpg").write_bytes(jpg[: len(jpg) // 2])
    r = subprocess.run([sys.executable, "-m", "cvdenoise", "denoise", str(tmp_path / "in"), "-o", str(tmp_path / "out"),
                        "-w", "fast", "-q"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and (tmp_path / "out" / "cut.jpg").is_file()
    assert r.stderr.strip().splitlines() == [
        f"cvdenoise: warning: {tmp_path / 'in' / 'cut.jpg'}: truncated JPEG (no end marker): only the part that is there was decoded"]
    # with the progress bar: the warning on a line of its own, not appended to the bar's line
    r = subprocess.run([sys.executable, "-m", "cvdenoise", "denoise", str(tmp_path / "in"), "-o", str(tmp_path / "out2"),
                        "-w", "fast"], capture_output=True, text=True, timeout=120)
    at = r.stderr.index("cvdenoise: warning:")
    assert at > 0 and r.stderr[at - 1] in "\r\n", repr(r.stderr)


def test_pgm_with_an_unusual_maxval_keeps_it_and_its_scale(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    rng = np.random.default_rng(0)
    cam = np.clip(rng.normal(2000, 300, (64, 80)), 0, 4095).astype(">u2")  # 12-bit camera data
    (src / "cam12.pgm").write_bytes(b"P5\n# a comment\n80 64\n4095\n" + cam.tobytes())
    low = np.clip(rng.normal(50, 10, (64, 80)), 0, 100).astype(np.uint8)  # 8-bit, maxval 100
    (src / "max100.pgm").write_bytes(b"P5\n80 64\n100\n" + low.tobytes())
    assert main(["denoise", str(src), "-o", str(out), "-q", "-w", "fast"]) == 0
    for name, a, maxval in (("cam12", cam.astype(float), 4095), ("max100", low.astype(float), 100)):
        data = (out / f"{name}.pgm").read_bytes()
        assert data.startswith(b"P5\n80 64\n%d\n" % maxval), data[:20]
        b = np.asarray(Image.open(out / f"{name}.pgm")).astype(float)  # Pillow honours maxval
        a_pil = np.asarray(Image.open(src / f"{name}.pgm")).astype(float)
        assert abs(b.mean() - a_pil.mean()) < 0.02 * a_pil.mean(), (name, a_pil.mean(), b.mean())
        raw = cv2.imread(str(out / f"{name}.pgm"), cv2.IMREAD_UNCHANGED).astype(float)
        assert raw.max() <= maxval
        assert raw.std() < a.std()  # the noise was removed at the file's own scale


def test_a_png_missing_its_end_chunk_is_decoded_and_a_half_png_named_once(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    img = (rng.random((64, 64, 3)) * 255).astype(np.uint8)
    png = cv2.imencode(".png", img)[1].tobytes()
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "no_iend.png").write_bytes(png[:-12])  # an interrupted copy: every pixel is there
    (tmp_path / "in" / "half.png").write_bytes(png[: len(png) // 2])
    r = subprocess.run([sys.executable, "-m", "cvdenoise", "denoise", str(tmp_path / "in"), "-o", str(tmp_path / "out"),
                        "-w", "fast", "-q"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and (tmp_path / "out" / "no_iend.png").is_file()
    assert not (tmp_path / "out" / "half.png").exists()
    lines = r.stderr.strip().splitlines()
    assert f"cvdenoise: warning: {tmp_path / 'in' / 'no_iend.png'}: truncated PNG (no end marker): only the part that is there was decoded" in lines
    assert not any("libpng" in line for line in lines), lines
    assert any("half.png" in line and "truncated or corrupt PNG" in line for line in lines), lines


def test_weights_command_takes_a_family_and_goes_on_after_a_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["weights", "fast"]) == 0  # the alias the listing shows: both members described
    out = capsys.readouterr().out.splitlines()
    assert [ln.split()[0] for ln in out] == ["color-fast", "gray-fast"]
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"garbage")
    assert main(["weights", str(bad), "color-fast"]) == 2  # the bad file is reported, the good one still described
    captured = capsys.readouterr()
    assert "bad.safetensors" in captured.err and captured.out.startswith("color-fast")
    assert main(["weights", "color-fast", "-v"]) == 0
    verbose = capsys.readouterr().out
    assert "  benchmark: {" in verbose and len(max(verbose.splitlines(), key=len)) < 200  # indented JSON, not one long line
    card = tmp_path / "card.json"
    card.write_text("{}")
    assert main(["weights", str(card)]) == 2
    assert "card.json is a model card, not weights: pass the weights file next to it, card.safetensors" in capsys.readouterr().err


def test_weights_command_reads_a_hand_edited_card_as_load_does(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    from cvdenoise.weights import read_card, resolve

    card = read_card("color-fast")

    def copy(name: str, **entries: object) -> str:
        shutil.copy(resolve("color-fast"), tmp_path / f"{name}.safetensors")
        (tmp_path / f"{name}.json").write_text(json.dumps({**card, **entries}))
        return str(tmp_path / f"{name}.safetensors")

    # a rule without k: load() uses k = 0.3 (was shown as "none (auto = 1)")
    assert main(["weights", copy("nok", auto_strength={"a": 0.5, "b": 0.25})]) == 0
    assert "auto-strength a=0.5 b=0.25 k=0.3" in capsys.readouterr().out
    # a malformed rule: this file's error line and rc 2 (was a TypeError traceback), the next file still described
    assert main(["weights", copy("list", auto_strength=["a", "b", "k"]), "color-fast"]) == 2
    captured = capsys.readouterr()
    assert "error: " in captured.err and "list.safetensors: malformed auto_strength" in captured.err
    assert captured.out.startswith("color-fast")
    # a training record that is no mapping: described without it (was an AttributeError traceback)
    for i, training in enumerate((["x"], {"recipe": "sensor", "steps_done": 5})):
        assert main(["weights", "-v", copy(f"t{i}", training=training)]) == 0
    assert "training: 5 steps" in capsys.readouterr().out


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_an_output_folder_that_cannot_be_made_is_refused_before_any_work(
        noisy_folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import cvdenoise.folder as folder

    monkeypatch.setattr(folder, "denoise_files", lambda *a, **k: pytest.fail("images were denoised"))
    assert main(["denoise", str(noisy_folder), "-o", "/proc/cvdenoise-test/sub", "-q", "-w", "fast"]) == 2
    assert "output folder /proc/cvdenoise-test/sub cannot be made: /proc takes no new file" in capsys.readouterr().err


def test_a_bad_overlap_is_named_alone(noisy_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["denoise", str(noisy_folder), "-o", str(tmp_path / "o"), "-q", "-w", "fast", "--overlap", "-1"]) == 2
    err = capsys.readouterr().err
    assert "overlap must be >= 0, got -1" in err and "border" not in err and "batch_size" not in err


def test_empty_paths_are_usage_errors_not_the_working_folder(tmp_path: Path, clean_rgb: np.ndarray,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """An unset shell variable (`cvdenoise denoise "$SRC" -o "$DST"`) made '' — the working folder —
    the input (every image below it denoised) or the output."""
    monkeypatch.chdir(tmp_path)
    cv2.imwrite("a.png", clean_rgb[:32, :32])
    for argv in (["denoise", "", "-o", "out"], ["denoise", "a.png", "-o", ""], ["video", "", "-o", "o.mp4"],
                 ["video", "v.mp4", "-o", "o.mp4", "--report", ""], ["detect", "a.png", "--model", "m.yaml", "-o", ""],
                 ["export", "--format", "onnx", "-o", ""], ["train", "", "--steps", "1"], ["train", "--out", ""]):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
        assert "empty path (an unset shell variable?)" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["a.png"]  # nothing was written anywhere


def test_a_closed_log_pipe_does_not_stop_a_folder_run(noisy_folder: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """`cvdenoise denoise in -o out 2>&1 | head`: the progress bar's write to the closed pipe raised
    BrokenPipeError and the run stopped after a few images (rc 1, no message)."""
    import io

    class ClosedPipe(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self) -> None:
            raise BrokenPipeError(32, "Broken pipe")

        def isatty(self) -> bool:
            return True  # a terminal's bar: updated often

    monkeypatch.setattr(sys, "stderr", ClosedPipe())
    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    code = main(["denoise", str(noisy_folder), "-o", str(tmp_path / "out"), "-w", "fast"])
    assert code == 1  # the folder's two broken files: the run went on to its end
    assert _images(tmp_path / "out") == ["a.png", "la.png", "rgba.png", "sub/b.jpg", "sub/deeper/gray.tif", "sub/gray16.png"]


def test_progress_bars_update_calmly_in_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from cvdenoise._progress import LOG_INTERVAL, progress_bar

    class Log(io.StringIO):
        def isatty(self) -> bool:
            return False

    monkeypatch.setattr(sys, "stderr", Log())
    bar = progress_bar(range(3))
    assert bar.mininterval == LOG_INTERVAL >= 30 and bar.maxinterval >= LOG_INTERVAL  # (the monitor thread too)
    monkeypatch.setattr(Log, "isatty", lambda self: True)
    assert progress_bar(range(3)).mininterval == 0.1


def test_report_refuses_stdout_dash_and_links_to_non_files(tmp_path: Path, clean_rgb: np.ndarray,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """A --report symlink to a pipe or a device (/dev/stdout) was replaced by a regular file."""
    monkeypatch.chdir(tmp_path)  # (`--report -` was a file named '-' in the working folder)
    src = tmp_path / "in.avi"
    vw = cv2.VideoWriter(str(src), cv2.VideoWriter.fourcc(*"MJPG"), 10, (64, 48))
    for i in range(2):
        vw.write(cv2.cvtColor(clean_rgb[:48, :64], cv2.COLOR_RGB2BGR))
    vw.release()
    with pytest.raises(SystemExit):
        main(["video", str(src), "-o", str(tmp_path / "o.mp4"), "-q", "--report", "-"])
    assert "not to stdout" in capsys.readouterr().err
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    link = tmp_path / "stdout"
    link.symlink_to(fifo)
    assert main(["video", str(src), "-o", str(tmp_path / "o.mp4"), "-q", "--report", str(link)]) == 2
    assert "is no regular file" in capsys.readouterr().err
    assert link.is_symlink() and not (tmp_path / "o.mp4").exists()
    assert main(["video", str(src), "-o", str(tmp_path / "clips") + "/", "-q"]) == 2
    assert "-o names the video file, such as" in capsys.readouterr().err


def test_weights_verbose_prints_unicode_and_summaries_name_onnxruntime(noisy_folder: Path, tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("onnxruntime")
    assert main(["weights", "fast", "-v"]) == 0
    out = capsys.readouterr().out
    assert "\\u00" not in out and "×" in out
    one = tmp_path / "one"
    one.mkdir()
    (one / "a.png").write_bytes((noisy_folder / "a.png").read_bytes())
    assert main(["denoise", str(one), "-o", str(tmp_path / "o"), "-q", "-w", "fast", "--runtime", "onnxruntime"]) == 0
    assert "on cpu (onnxruntime))" in capsys.readouterr().out


def test_a_bad_pixel_limit_is_one_usage_error(noisy_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CVDENOISE_MAX_PIXELS", "lots")
    assert main(["denoise", str(noisy_folder), "-o", str(tmp_path / "out"), "-q", "-w", "fast"]) == 2
    err = capsys.readouterr().err
    assert err.count("CVDENOISE_MAX_PIXELS must be a whole number") == 1 and not (tmp_path / "out").exists()


def test_a_missing_stdout_or_stderr_is_no_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under pythonw or a service sys.stdout/sys.stderr are None; print() drops the text."""
    monkeypatch.setattr(sys, "stdout", None)
    monkeypatch.setattr(sys, "stderr", None)
    assert main(["weights"]) == 0


def test_a_quoted_pattern_and_two_same_named_files_get_advice(tmp_path: Path, clean_rgb: np.ndarray,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    for cam in ("cam1", "cam2"):
        (tmp_path / cam).mkdir()
        cv2.imwrite(str(tmp_path / cam / "IMG_0001.png"), clean_rgb[:32, :32])
    assert main(["denoise", str(tmp_path / "cam1" / "*.png"), "-o", str(tmp_path / "o"), "-q", "-w", "fast"]) == 2
    assert "a pattern is expanded by the shell" in capsys.readouterr().err
    assert main(["denoise", str(tmp_path / "cam1"), str(tmp_path / "cam2"), "-o", str(tmp_path / "o"), "-q", "-w", "fast"]) == 2
    assert "give their common parent folder, or run each with its own -o" in capsys.readouterr().err


def test_jpeg_quality_of_the_copies_is_an_option(tmp_path: Path, clean_rgb: np.ndarray,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in"
    src.mkdir()
    cv2.imwrite(str(src / "a.jpg"), add_noise(cv2.cvtColor(clean_rgb, cv2.COLOR_RGB2BGR), 10), [cv2.IMWRITE_JPEG_QUALITY, 60])
    sizes = {}
    for q in ("95", "50"):
        assert main(["denoise", str(src), "-o", str(tmp_path / q), "-q", "-w", "fast", "--quality", q]) == 0
        sizes[q] = (tmp_path / q / "a.jpg").stat().st_size
    assert sizes["50"] < 0.7 * sizes["95"]
    with pytest.raises(SystemExit):
        main(["denoise", str(src), "-o", str(tmp_path / "x"), "--quality", "0"])
    assert "expected a whole number in 1..100" in capsys.readouterr().err


def test_main_leaves_the_ffmpeg_log_variable_as_it_found_it(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """main() set OPENCV_FFMPEG_LOGLEVEL=-8 in os.environ and left it there: the caller's later
    video opens and every child process ran with FFmpeg silenced. Set only while the command
    runs; a value of the caller's own is kept."""
    import cvdenoise.cli as cli

    seen: list[str | None] = []
    show = cli._cmd_weights

    def weights_command(args: object) -> int:
        seen.append(os.environ.get("OPENCV_FFMPEG_LOGLEVEL"))
        return show(args)  # type: ignore[arg-type]

    monkeypatch.setattr(cli, "_cmd_weights", weights_command)
    monkeypatch.delenv("OPENCV_FFMPEG_LOGLEVEL", raising=False)
    assert main(["weights", "color-fast"]) == 0
    assert seen == ["-8"] and "OPENCV_FFMPEG_LOGLEVEL" not in os.environ
    monkeypatch.setenv("OPENCV_FFMPEG_LOGLEVEL", "24")  # the caller's own choice
    assert main(["weights", "color-fast"]) == 0
    assert seen[-1] == "24" and os.environ["OPENCV_FFMPEG_LOGLEVEL"] == "24"


def test_concurrent_mains_in_threads_give_back_the_callers_streams(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Each main() saved the streams it found and put them back: with two calls in threads, the
    second saved the first's wrapper, and when the first returned first the process was left
    with sys.stdout/sys.stderr wrapped for good. The same held for the warning hook and OpenCV's
    log level, and the first call out removed OPENCV_FFMPEG_LOGLEVEL while the second still ran.
    The order is forced with events."""
    import threading
    import warnings

    import cvdenoise.cli as cli

    inside = {name: threading.Event() for name in ("a", "b")}
    leave = {name: threading.Event() for name in ("a", "b")}
    show = cli._cmd_weights
    ffmpeg: dict[str, str | None] = {}

    def weights_command(args: object) -> int:
        name = threading.current_thread().name
        inside[name].set()
        assert leave[name].wait(10)
        ffmpeg[name] = os.environ.get("OPENCV_FFMPEG_LOGLEVEL")
        return show(args)  # type: ignore[arg-type]

    monkeypatch.setattr(cli, "_cmd_weights", weights_command)
    monkeypatch.delenv("OPENCV_FFMPEG_LOGLEVEL", raising=False)
    log = cv2.utils.logging
    level = log.getLogLevel()
    log.setLogLevel(log.LOG_LEVEL_INFO)  # the caller's own level, not OpenCV's default
    found = sys.stdout, sys.stderr, warnings.showwarning
    codes: dict[str, int] = {}
    threads = {name: threading.Thread(target=lambda n=name: codes.__setitem__(n, main(["weights", "color-fast"])),
                                      name=name) for name in ("a", "b")}
    try:
        threads["a"].start()
        assert inside["a"].wait(10)
        threads["b"].start()
        assert inside["b"].wait(10)
        leave["a"].set()  # the first call returns first
        threads["a"].join(10)
        leave["b"].set()
        threads["b"].join(10)
        assert log.getLogLevel() == log.LOG_LEVEL_INFO
    finally:
        log.setLogLevel(level)
    assert codes == {"a": 0, "b": 0}
    assert sys.stdout is found[0] and sys.stderr is found[1] and warnings.showwarning is found[2]
    assert ffmpeg == {"a": "-8", "b": "-8"} and "OPENCV_FFMPEG_LOGLEVEL" not in os.environ


@pytest.mark.skipif(sys.platform == "win32" or sys.getfilesystemencoding() != "utf-8", reason="needs POSIX byte names")
def test_a_name_that_is_not_utf8_is_printed_escaped_on_a_strict_stdout(
        tmp_path: Path, clean_rgb: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under LANG=en_US.UTF-8 stdout is strict: the summary line raised UnicodeEncodeError after the
    work, and the FAILED lines after it were never printed."""
    import io

    src = tmp_path / "in"
    src.mkdir()
    cv2.imwrite(str(src / "a.png"), clean_rgb[:32, :32])
    (src / "empty.png").write_bytes(b"")
    out = tmp_path / os.fsdecode(b"out\xe9")
    raw = io.BytesIO()
    strict = io.TextIOWrapper(raw, encoding="utf-8", errors="strict", write_through=True)
    monkeypatch.setattr(sys, "stdout", strict)
    assert main(["denoise", str(src), "-o", str(out), "-q", "-w", "fast"]) == 1
    assert (out / "a.png").is_file()
    assert b"wrote 1 of 2 images to" in raw.getvalue() and b"out\\xe9" in raw.getvalue()  # (the name's byte)


@pytest.mark.skipif(sys.platform == "win32" or sys.getfilesystemencoding() != "utf-8", reason="needs POSIX byte names")
def test_failed_lines_show_a_names_bytes_and_keep_to_one_line(tmp_path: Path, clean_rgb: np.ndarray,
                                                              capfd: pytest.CaptureFixture[str]) -> None:
    """A name that is not UTF-8 was shown as Python's ``\\udce9``, and a line break in a name
    split the one-line ``FAILED path: reason``."""
    src = tmp_path / "in"
    src.mkdir()
    cv2.imwrite(str(src / "a.png"), clean_rgb[:32, :32])
    (src / os.fsdecode(b"\xe9t\xe9.png")).write_bytes(b"")
    (src / "two\nlines.png").write_bytes(b"")
    assert main(["denoise", str(src), "-o", str(tmp_path / "out"), "-q", "-w", "fast"]) == 1
    failed = [line for line in capfd.readouterr().err.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 2 and all(line.endswith("ImageReadError: file is empty") for line in failed)
    assert any("\\xe9t\\xe9.png" in line for line in failed) and any("two\\nlines.png" in line for line in failed)


def test_reruns_replace_their_own_copies_after_a_run_into_a_subfolder_and_through_a_linked_folder(
        tmp_path: Path, clean_rgb: np.ndarray, capsys: pytest.CaptureFixture[str]) -> None:
    """The nearest record decided: `-o out/sub` then `-o out` twice refused its own out/sub/x.png;
    a copy written through a linked folder in the output was looked up by its real path only."""
    src = tmp_path / "a"
    (src / "sub").mkdir(parents=True)
    cv2.imwrite(str(src / "sub" / "x.png"), add_noise(clean_rgb[:32, :32], 15))
    run = ["-q", "-w", "fast"]
    assert main(["denoise", str(src / "sub"), "-o", str(tmp_path / "out" / "sub"), *run]) == 0
    for _ in range(2):
        assert main(["denoise", str(src), "-o", str(tmp_path / "out"), *run]) == 0, capsys.readouterr().err
    (big := tmp_path / "big").mkdir()
    (linked := tmp_path / "out2").mkdir()
    (linked / "sub").symlink_to(big, target_is_directory=True)  # part of the output on another disk
    for _ in range(2):
        assert main(["denoise", str(src), "-o", str(linked), *run]) == 0, capsys.readouterr().err
    assert (big / "x.png").is_file()


def test_one_file_to_a_broken_link_or_a_device_is_refused_with_a_message_that_fits(
        tmp_path: Path, clean_rgb: np.ndarray, capsys: pytest.CaptureFixture[str]) -> None:
    """A broken link was written through (folders made at its target, though the docs say it is
    refused); a link to /dev/null was "a  name for the .png input" (its empty suffix)."""
    src = tmp_path / "r.png"
    cv2.imwrite(str(src), clean_rgb[:32, :32])
    (dangling := tmp_path / "c.png").symlink_to(tmp_path / "elsewhere" / "deep" / "c.png")
    assert main(["denoise", str(src), "-o", str(dangling), "-q", "-w", "fast"]) == 2
    assert "is a broken symbolic link" in capsys.readouterr().err and not (tmp_path / "elsewhere").exists()
    if Path("/dev/null").exists():
        (null := tmp_path / "n.png").symlink_to("/dev/null")
        assert main(["denoise", str(src), "-o", str(null), "-q", "-w", "fast"]) == 2
        assert "exists and is no regular file" in capsys.readouterr().err


def test_a_users_file_in_a_folder_cvdenoise_never_wrote_to_is_not_sent_to_its_records(
        tmp_path: Path, clean_rgb: np.ndarray, capsys: pytest.CaptureFixture[str]) -> None:
    """The refusal said 'or it changed since: see .cvdenoise-output' where no such file exists."""
    _noisy_png(tmp_path / "raw" / "a.png", clean_rgb)
    (out := tmp_path / "out").mkdir()
    (out / "a.png").write_bytes(b"the user's")
    assert main(["denoise", str(tmp_path / "raw"), "-o", str(out), "-q", "-w", "fast"]) == 2
    err = capsys.readouterr().err
    assert "a.png exists and cvdenoise did not write it: refusing" in err and ".cvdenoise-output" not in err
    # the same for one file named as -o (it always pointed at a record file)
    assert main(["denoise", str(tmp_path / "raw" / "a.png"), "-o", str(out / "a.png"), "-q", "-w", "fast"]) == 2
    err = capsys.readouterr().err
    assert "a.png exists and cvdenoise did not write it: refusing" in err and ".cvdenoise-output" not in err


def test_a_rerun_says_it_replaced_the_copies_written_before(tmp_path: Path, clean_rgb: np.ndarray,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    # the second run re-denoised everything and said only "wrote 2 of 2"
    src = tmp_path / "in"
    src.mkdir()
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(src / name), clean_rgb[:32, :32])
    argv = ["denoise", str(src), "-o", str(tmp_path / "o"), "-q", "-w", "fast"]
    assert main(argv) == 0
    assert "; replaced" not in capsys.readouterr().out
    (tmp_path / "o" / "b.png").unlink()
    assert main(argv) == 0
    assert "wrote 2 of 2 images" in (out := capsys.readouterr().out) and "replaced 1 written before" in out
    assert main([*argv, "--skip-existing"]) == 0
    out = capsys.readouterr().out
    assert "; replaced" not in out and "skipped 2 that already existed" in out
    (tmp_path / "o" / "b.png").write_bytes(b"the user's own")  # --overwrite: the user's file is not "written before"
    assert main([*argv, "--overwrite"]) == 0
    out = capsys.readouterr().out
    assert "replaced 1 written before" in out and "replaced 1 file(s) cvdenoise did not write (--overwrite)" in out


def test_a_refused_rerun_counts_every_edited_copy(tmp_path: Path, clean_rgb: np.ndarray,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    # two copies edited after the run: the refusal named the first alone
    src = tmp_path / "in"
    src.mkdir()
    for name in ("a.png", "b.png", "c.png"):
        cv2.imwrite(str(src / name), clean_rgb[:32, :32])
    argv = ["denoise", str(src), "-o", str(tmp_path / "o"), "-q", "-w", "fast"]
    assert main(argv) == 0
    for name in ("a.png", "c.png"):
        (tmp_path / "o" / name).write_bytes(b"edited")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "a.png exists and cvdenoise did not write it" in err and "and so do 1 more output file(s): refusing to replace them" in err


def test_a_missing_optional_package_is_one_error_line_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--runtime onnxruntime`` without onnxruntime: ``denoise`` and ``video`` printed a traceback
    (exit 1); ``detect`` added the ``[yolo]`` extra to the ``[onnx]`` advice."""
    from cvdenoise.ort_runtime import unavailable_reason

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # (import onnxruntime: ImportError)
    unavailable_reason.cache_clear()  # (its answer is cached per process)
    cv2.imwrite(str(tmp_path / "a.png"), np.full((32, 32, 3), 100, np.uint8))
    try:
        _missing_onnxruntime_runs(tmp_path, capsys)
    finally:
        unavailable_reason.cache_clear()


def _missing_onnxruntime_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["denoise", str(tmp_path / "a.png"), "-o", str(tmp_path / "out")],
                 ["video", str(tmp_path / "v.mp4"), "-o", str(tmp_path / "o.mp4")],
                 ["detect", str(tmp_path / "a.png"), "--model", "yolo26n.yaml", "-o", str(tmp_path / "det")]):
        assert main([*argv, "--runtime", "onnxruntime", "-q"]) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith(f"cvdenoise {argv[0]}: error: runtime='onnxruntime' needs onnxruntime"), err
        assert "pip install 'cvdenoise[onnx]'" in err and "[yolo]" not in err and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists() and not (tmp_path / "det").exists()


def test_an_opencv_that_cannot_import_names_the_fix_and_spares_commands_without_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """opencv-python (Ultralytics' dependency) without libGL: every command died in a traceback,
    even ``cvdenoise weights``."""
    from cvdenoise import cli

    monkeypatch.setitem(sys.modules, "cv2", None)  # (the import OpenCV's log settings make: ImportError)
    assert main(["weights"]) == 0
    assert "color-default" in capsys.readouterr().out
    broken = ImportError("libGL.so.1: cannot open shared object file: No such file or directory")
    text = cli.import_problem(broken)
    assert text.startswith("OpenCV cannot be imported (libGL.so.1") and "fix-opencv-headless.sh" in text
    assert "opencv-python-headless" in cli.import_problem(ModuleNotFoundError("No module named 'cv2'", name="cv2"))
    assert cli.import_problem(ModuleNotFoundError("No module named 'ultralytics'", name="ultralytics"), "yolo") == \
        "No module named 'ultralytics' (install the extra: pip install 'cvdenoise[yolo]')"

    def fails(args: object) -> int:
        raise broken

    parser = cli.build_parser(train_options=False)
    args = parser.parse_args(["weights"])
    args.func = fails
    assert cli._run(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("cvdenoise weights: error: OpenCV cannot be imported") and len(err.strip().splitlines()) == 1


def test_a_failed_write_names_the_output_not_its_temporary_file(
    tmp_path: Path, clean_rgb: np.ndarray, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import tempfile

    _noisy_png(tmp_path / "in" / "a.png", clean_rgb)
    real = tempfile.mkstemp

    def refused(*a: object, **k: object) -> tuple[int, str]:
        if str(k.get("prefix", "")).startswith(".cvdenoise-"):
            name = os.path.join(str(k["dir"]), f"{k['prefix']}x1y2z3{k.get('suffix', '')}")
            raise PermissionError(1, "Operation not permitted", name)
        return real(*a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(tempfile, "mkstemp", refused)
    assert main(["denoise", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "-q", "-w", "fast"]) == 1
    err = capsys.readouterr().err
    assert f"Operation not permitted: '{tmp_path / 'out' / 'a.png'}'" in err and ".cvdenoise-" not in err, err


def test_weights_keeps_its_columns_for_a_long_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A path longer than the name column pushed that row's fields out of line with the others."""
    import shutil

    from cvdenoise.weights import resolve

    folder = tmp_path / ("a_long_folder_name_" * 3)
    folder.mkdir()
    src = resolve("color-fast")
    for suffix in (".safetensors", ".json"):
        shutil.copy(src.with_suffix(suffix), folder / f"color-fast{suffix}")
    path = str(folder / "color-fast.safetensors")
    assert main(["weights", path, "fast"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == path
    starts = {line.index("alias=") for line in lines[1:]}
    assert len(lines) == 4 and starts == {19}
