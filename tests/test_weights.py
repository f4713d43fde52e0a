from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import cvdenoise
from cvdenoise.model import CONFIGS, DenoiseAutoencoder, ModelConfig, count_params
from cvdenoise.weights import (
    FAMILIES, WeightsError, available, color_to_gray, grow, load_model, read_card, save_weights,
)


def test_every_family_ships_color_and_gray() -> None:
    names = set(available())
    for fam in FAMILIES.values():
        assert set(fam.values()) <= names


@pytest.mark.parametrize("name", ["color-default", "color-fast", "gray-default", "gray-fast", "color-default-awgn"])
def test_shipped_weights_load_with_card(name: str) -> None:
    m = load_model(name)
    card = read_card(name)
    assert card["config"] == m.config.to_dict()
    assert card["parameters"] == sum(p.numel() for p in m.parameters())
    assert card["macs_per_pixel"] > 0 and "training" in card
    assert m.config.channels == (1 if name.startswith("gray") else 3)


def test_save_load_round_trip(tmp_path: Path) -> None:
    m = DenoiseAutoencoder(CONFIGS["fast"])
    p = save_weights(m, tmp_path / "mine.safetensors", {"note": "x"})
    m2 = load_model(p)
    for (k, a), (_, b) in zip(m.state_dict().items(), m2.state_dict().items()):
        assert torch.equal(a, b), k
    assert json.loads(p.with_suffix(".json").read_text())["note"] == "x"
    (ref := tmp_path / "ref").touch()  # written atomically, yet with the permissions a plain open() gives
    assert {q.stat().st_mode for q in (p, p.with_suffix(".json"))} == {ref.stat().st_mode}
    assert [q.name for q in tmp_path.iterdir() if q.name.startswith(".")] == []  # no temporary file left behind


def test_float16_storage_round_trip(tmp_path: Path) -> None:
    """Half-size files load into a float32 model equal to the float16-rounded weights."""
    m = DenoiseAutoencoder(CONFIGS["fast"])
    p32 = save_weights(m, tmp_path / "a.safetensors")
    p16 = save_weights(m, tmp_path / "b.safetensors", storage=torch.float16)
    assert p16.stat().st_size < 0.6 * p32.stat().st_size
    assert json.loads(p16.with_suffix(".json").read_text())["storage_dtype"] == "float16"
    m2 = load_model(p16)
    for (k, a), (_, b) in zip(m.state_dict().items(), m2.state_dict().items()):
        assert b.dtype == torch.float32 and torch.equal(a.half().float(), b), k
    with pytest.raises(ValueError, match="storage"):
        save_weights(m, tmp_path / "c.safetensors", storage=torch.bfloat16)


def test_mismatched_shapes_rejected(tmp_path: Path) -> None:
    small = DenoiseAutoencoder(CONFIGS["fast"])
    p = tmp_path / "bad.safetensors"
    # tensors of the fast model under a header that claims the default architecture
    save_file({k: v.contiguous() for k, v in small.state_dict().items()}, str(p),
              metadata={"config": json.dumps(CONFIGS["default"].to_dict())})
    with pytest.raises(WeightsError, match="does not match"):
        load_model(p)


def test_missing_tensors_rejected(tmp_path: Path) -> None:
    m = DenoiseAutoencoder(CONFIGS["fast"])
    state = {k: v.contiguous() for k, v in m.state_dict().items() if not k.startswith("tail")}
    p = tmp_path / "partial.safetensors"
    save_file(state, str(p), metadata={"config": json.dumps(m.config.to_dict())})
    with pytest.raises(WeightsError, match="missing"):
        load_model(p)


def test_non_finite_weights_rejected(tmp_path: Path) -> None:
    # a damaged payload (bytes overwritten) parses fine but holds NaN: refuse it at load time
    state = {k: v.contiguous().clone() for k, v in load_model("color-fast").state_dict().items()}
    state["encoders.1.0.conv1.weight"][0, 0, 0, 0] = float("nan")
    p = tmp_path / "nan.safetensors"
    save_file(state, str(p), metadata={"config": json.dumps(CONFIGS["fast"].to_dict())})
    with pytest.raises(WeightsError, match=r"NaN or inf.*encoders\.1\.0\.conv1\.weight"):
        load_model(p)


def test_corrupt_and_unknown_files(tmp_path: Path) -> None:
    p = tmp_path / "junk.safetensors"
    p.write_bytes(b"not a safetensors file at all")
    with pytest.raises(WeightsError, match="not a readable safetensors"):
        load_model(p)
    photo = tmp_path / "photo.png"  # (was told to rename it .onnx or .pt)
    photo.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 32)
    with pytest.raises(WeightsError, match=r"not a readable safetensors file: .* \(an image, not weights\)$"):
        load_model(photo)
    with pytest.raises(WeightsError, match="unknown weights"):
        load_model("no-such-model")
    with pytest.raises(WeightsError, match="not found"):
        load_model(tmp_path / "missing.safetensors")
    with pytest.raises(WeightsError, match="'color-default' or 'gray-default'"):
        load_model("default")  # a family: load() picks by channels, a single file needs a name
    q = tmp_path / "noconfig.safetensors"
    save_file({"a": torch.zeros(1)}, str(q))
    with pytest.raises(WeightsError, match="no cvdenoise architecture config"):
        load_model(q)


def test_loading_and_exports_fill_one_blank_model_helper(monkeypatch: pytest.MonkeyPatch) -> None:
    """``load_model`` and the export's fp16 copy build their to-be-overwritten model through one
    helper, :func:`cvdenoise.weights.blank_model`, which leaves the caller's random stream alone."""
    import cvdenoise.export as export
    import cvdenoise.weights as weights

    cfg = ModelConfig(widths=(8, 16), enc_blocks=(1, 1), dec_blocks=(1,))
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    blank = weights.blank_model(cfg)
    assert torch.equal(torch.rand(3), expected) and blank.config == cfg
    made: list[ModelConfig] = []
    real = weights.blank_model

    def counting(config: ModelConfig) -> DenoiseAutoencoder:
        made.append(config)
        return real(config)

    monkeypatch.setattr(weights, "blank_model", counting)
    monkeypatch.setattr(export, "blank_model", counting)
    fast = load_model("color-fast")
    twin = export._copy_model(fast)
    assert made == [fast.config, fast.config] and twin is not fast
    assert all(torch.equal(a, b) for a, b in zip(twin.state_dict().values(), fast.state_dict().values()))


def test_color_to_gray_is_exact() -> None:
    torch.manual_seed(0)
    m = DenoiseAutoencoder(ModelConfig(widths=(8, 16), enc_blocks=(1, 1), dec_blocks=(1,)))
    g = color_to_gray(m)
    x = torch.rand(2, 1, 24, 40)
    with torch.no_grad():
        ref = m.decode(m.encode(x.repeat(1, 3, 1, 1))).mean(1, keepdim=True)
        assert torch.allclose(g.decode(g.encode(x)), ref, atol=1e-5)


def test_grow_keeps_the_function_and_the_new_parts_learn() -> None:
    torch.manual_seed(0)
    small = DenoiseAutoencoder(ModelConfig(widths=(8, 16), enc_blocks=(1, 1), dec_blocks=(1,))).eval()
    for p in small.parameters():  # non-trivial weights everywhere (incl. the residual branches)
        p.data.normal_(0, 0.1)
    cfg = ModelConfig(widths=(12, 20), enc_blocks=(2, 1), dec_blocks=(2,))
    big = grow(small, cfg)
    assert big.config == cfg and count_params(big) > count_params(small)
    x = torch.rand(2, 3, 24, 40)
    with torch.no_grad():
        assert torch.allclose(big(x), small(x), atol=1e-6)
    big.train()
    opt = torch.optim.SGD(big.parameters(), lr=0.05)
    new_head = big.head.weight[8:].detach().clone()
    for _ in range(2):  # step 1 opens the zero read-outs, step 2 reaches the new channels' writers
        opt.zero_grad()
        ((big(x) - x.flip(-1)) ** 2).mean().backward()
        opt.step()
    assert not torch.equal(big.head.weight[8:], new_head)
    assert big.encoders[0][1].conv2.weight.abs().sum() > 0  # the added block left the identity
    with pytest.raises(ValueError, match="cannot shrink"):
        grow(big, ModelConfig(widths=(8, 20), enc_blocks=(2, 1), dec_blocks=(2,)))
    with pytest.raises(ValueError, match="number of levels"):
        grow(small, ModelConfig(widths=(8, 16, 32), enc_blocks=(1, 1, 1), dec_blocks=(1, 1)))


def test_white_noise_specialist_ships_and_wins_only_on_white_noise(clean_rgb) -> None:  # type: ignore[no-untyped-def]
    import numpy as np
    from helpers import add_noise, psnr

    import cvdenoise
    from cvdenoise.degrade import Degrader

    card = read_card("color-default-awgn")
    assert card["role"].startswith("white-noise specialist") and card["training"]["recipe"]["degradation"] == "awgn"
    spec = cvdenoise.load("color-default-awgn", half=False)
    blind = cvdenoise.load("color-default", half=False, ensemble=1)
    noisy = add_noise(clean_rgb, 15)
    assert psnr(spec(noisy), clean_rgb) > psnr(blind(noisy), clean_rgb) + 0.1
    camera = Degrader("camera")(clean_rgb, np.random.default_rng(0))  # what it was not trained for
    assert psnr(spec(camera), clean_rgb) < psnr(blind(camera), clean_rgb) - 1.0


def test_weights_argument_and_card_errors(tmp_path: Path) -> None:
    import cvdenoise

    for bad in (None, 3):
        with pytest.raises(TypeError, match="weights must be a name"):
            cvdenoise.load(bad)  # type: ignore[arg-type]
    with pytest.raises(WeightsError, match="weights is empty"):
        cvdenoise.load("")
    m = DenoiseAutoencoder(CONFIGS["fast"])
    p = tmp_path / "m.safetensors"
    save_file({k: v.contiguous() for k, v in m.state_dict().items()}, str(p), metadata={"config": json.dumps(m.config.to_dict())})
    p.with_suffix(".json").write_text("[1, 2]")
    with pytest.raises(WeightsError, match="must be a JSON object"):
        read_card(p)
    p.with_suffix(".json").write_text("{not json")
    with pytest.raises(WeightsError, match="not readable JSON"):
        cvdenoise.load(p)


def test_loading_weights_leaves_the_global_random_stream_alone() -> None:
    # a lazily loaded transform must not change what seeded augmentations draw next
    torch.manual_seed(3)
    expected = torch.rand(4)
    torch.manual_seed(3)
    load_model("color-fast")
    assert torch.equal(torch.rand(4), expected)


def test_pickles_and_integer_tensors_are_named_as_such(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    m = load_model("color-fast")
    torch.save(m.state_dict(), tmp_path / "ckpt.safetensors")
    with pytest.raises(WeightsError, match=r"is a PyTorch checkpoint \(torch.save / pickle\) or TorchScript file, not safetensors"):
        load_model(tmp_path / "ckpt.safetensors")
    from safetensors import safe_open

    from cvdenoise.weights import resolve

    src = resolve("color-fast")
    with safe_open(str(src), framework="pt") as f:
        meta = f.metadata()
    save_file({k: v.to(torch.int8) for k, v in m.state_dict().items()}, str(tmp_path / "int8.safetensors"), metadata=meta)
    with pytest.raises(WeightsError, match="tensors must be floating point; .* is torch.int8"):
        load_model(tmp_path / "int8.safetensors")


def test_architecture_errors_name_the_options() -> None:
    from cvdenoise.model import ModelConfig

    with pytest.raises(ValueError, match=r"enc_blocks \(--enc-blocks\) needs one entry per level: 1 for widths"):
        ModelConfig(widths=(8,), enc_blocks=(0, 1, 2), dec_blocks=())
    with pytest.raises(ValueError, match="block counts must be >= 0"):
        ModelConfig(widths=(8, 16), enc_blocks=(-1, 0), dec_blocks=(0,))


def test_shipped_names_are_not_shadowed_by_local_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import cvdenoise
    from cvdenoise.weights import resolve

    monkeypatch.chdir(tmp_path)
    (tmp_path / "color-default").mkdir()  # e.g. an output folder named after the weights
    (tmp_path / "gray-fast").write_bytes(b"not weights")
    from cvdenoise.weights import WEIGHTS_DIR

    assert resolve("color-default").parent == WEIGHTS_DIR and resolve("gray-fast").parent == WEIGHTS_DIR
    den = cvdenoise.load("fast")
    assert den(np.zeros((16, 16), np.uint8)).shape == (16, 16)  # the gray twin, resolved by name
    with pytest.raises(WeightsError, match="got a folder"):
        resolve(Path("color-default"))  # a Path means the path


def test_a_hostile_weights_header_allocates_nothing_and_gets_a_weights_error(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A 200-byte file's config built the model before any check: widths [65536] asked for 154 GB
    (a raw RuntimeError), enc_blocks [100000] spent a minute and 2 GB before the WeightsError."""
    from cvdenoise.weights import WeightsError

    def file_with(config: dict, name: str) -> Path:
        path = tmp_path / name
        save_file({"x": torch.zeros(1)}, str(path), metadata={"format": "cvdenoise", "config": json.dumps(config)})
        return path

    for config, why in (({"widths": [65536], "enc_blocks": [1], "dec_blocks": []}, "a width 65536 > 2048"),
                        ({"widths": [1], "enc_blocks": [100000], "dec_blocks": []}, "a level.s block count 100000 > 64"),
                        ({"unshuffle": 100000}, "unshuffle 100000 > 8")):
        with pytest.raises(WeightsError, match=f"out of bounds: {why}"):
            load_model(file_with(config, "bad.safetensors"))
    built: list[ModelConfig] = []
    real_init = DenoiseAutoencoder.__init__

    def recording(self: DenoiseAutoencoder, config: ModelConfig | None = None) -> None:
        built.append(torch.empty(0).device.type)  # type: ignore[arg-type]  # (the default device while building)
        real_init(self, config)

    monkeypatch.setattr(DenoiseAutoencoder, "__init__", recording)
    big = {"widths": [2048] * 4, "enc_blocks": [8] * 4, "dec_blocks": [8] * 3}  # in bounds: ~4 G parameters
    with pytest.raises(WeightsError, match="does not match architecture"):
        load_model(file_with(big, "big.safetensors"))
    assert built == ["meta"]  # checked on shapes alone: nothing real was built


def test_a_deeply_nested_model_card_is_a_weights_error(tmp_path: Path) -> None:
    from cvdenoise.weights import WeightsError, read_card

    model = DenoiseAutoencoder(CONFIGS["fast"])
    save_weights(model, tmp_path / "m.safetensors")
    (tmp_path / "m.json").write_text("[" * 100000 + "]" * 100000)
    with pytest.raises(WeightsError, match="not readable JSON"):
        read_card(tmp_path / "m.safetensors")


def test_the_same_weights_save_to_the_same_bytes(tmp_path: Path) -> None:
    """safetensors wrote the header's metadata in a random order: checksums of identical weights differed."""
    from cvdenoise.weights import load_model

    m = DenoiseAutoencoder(CONFIGS["fast"])
    files = [save_weights(m, tmp_path / f"w{i}.safetensors").read_bytes() for i in range(6)]
    assert all(f == files[0] for f in files)
    n = int.from_bytes(files[0][:8], "little")
    assert n % 8 == 0 and files[0][8:8 + n].startswith(b'{"__metadata__":{"config":')
    back = load_model(tmp_path / "w0.safetensors")
    assert all(torch.equal(a, b) for a, b in zip(back.state_dict().values(), m.state_dict().values()))


def test_a_damaged_payload_or_another_models_card_is_a_weights_error(tmp_path: Path) -> None:
    """One flipped bit in a float of the shipped ``fast`` weights loaded silently (its output was
    noise), and ``fast`` weights with ``default``'s card beside them loaded with default's
    strength rule: the card's sha256, config and parameter count are checked against the file."""
    import hashlib
    import shutil

    from cvdenoise.weights import resolve

    src = resolve("color-fast")
    assert read_card(src)["file_sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()  # the shipped cards record it
    flipped = tmp_path / "flipped.safetensors"
    data = bytearray(src.read_bytes())
    data[-2] ^= 0x40  # a bit of the last weight (float32: its exponent)
    flipped.write_bytes(bytes(data))
    shutil.copy(src.with_suffix(".json"), flipped.with_suffix(".json"))
    with pytest.raises(WeightsError, match="damaged"):
        load_model(flipped)
    swapped = tmp_path / "swapped.safetensors"
    shutil.copy(src, swapped)
    card = read_card("color-default")
    card.pop("file_sha256")  # an older card, without a digest: config and parameters are still checked
    swapped.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(WeightsError, match="describes other weights"):
        load_model(swapped)
    card = read_card("color-fast")
    card.pop("file_sha256")
    swapped.with_suffix(".json").write_text(json.dumps(card))  # an older card of these very weights loads
    assert load_model(swapped).config == load_model("color-fast").config
    swapped.with_suffix(".json").write_text(json.dumps({**card, "config": "fast"}))
    with pytest.raises(WeightsError, match="not readable"):
        load_model(swapped)
    for recorded in (5, ["ab"]):  # a digest entry that is no string: said, not the check skipped without a word
        swapped.with_suffix(".json").write_text(json.dumps({**card, "file_sha256": recorded}))
        with pytest.raises(WeightsError, match="file_sha256 entry that is no hex string"):
            load_model(swapped)
    swapped.with_suffix(".json").unlink()  # weights without a card still load
    assert load_model(swapped).config == load_model("color-fast").config
    m = DenoiseAutoencoder(CONFIGS["fast"])  # a card passed on from other weights: the file's own facts win
    p = save_weights(m, tmp_path / "mine.safetensors", {**read_card("color-default"), "note": "x"})
    written = json.loads(p.with_suffix(".json").read_text())
    assert written["config"] == m.config.to_dict() and written["parameters"] == count_params(m)
    assert written["name"] == "mine" and "auto_strength" not in written and "benchmark" not in written
    assert written["note"] == "x" and written["file_sha256"] == hashlib.sha256(p.read_bytes()).hexdigest()
    assert load_model(p).config == m.config


def test_a_save_stopped_before_its_card_leaves_loadable_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The card records the file's sha256: a save whose card write failed (disk full, a kill
    between the two writes) left new weights beside the old card, refused as damaged."""
    import cvdenoise.weights as w

    p = save_weights(DenoiseAutoencoder(CONFIGS["fast"]), tmp_path / "m.safetensors")
    real = w.atomic_write

    def failing(path, write):  # type: ignore[no-untyped-def]
        if str(path).endswith(".json"):
            raise OSError(28, "No space left on device")
        return real(path, write)

    monkeypatch.setattr(w, "atomic_write", failing)
    other = DenoiseAutoencoder(CONFIGS["fast"])
    torch.nn.init.normal_(next(other.parameters()))
    with pytest.raises(OSError):
        save_weights(other, p)
    monkeypatch.undo()
    assert not p.with_suffix(".json").exists()
    assert torch.equal(next(load_model(p).parameters()), next(other.parameters()))


@pytest.mark.parametrize("name", ["color-default", "color-fast"])
def test_a_dark_background_beside_a_full_white_light_keeps_its_level(name: str) -> None:
    """Under noise the colour models darkened a dark background beside a sharp full-white line to
    near black (stage 26/29 weights: 13-18 levels on a background of 20 at σ=20), taking it for a
    blurred light's glow; the stage-30 weights, trained on night scenes with lights, keep it
    (``python benchmarks/lights.py``)."""
    den = cvdenoise.load(name, half=False, strength=1.0)
    sides = []
    for width in (2, 8):
        img = np.full((96, 96), 20.0)
        img[:, 44:44 + width] = 255
        outs = []
        for seed in range(2):
            noisy = np.clip(np.rint(img + np.random.default_rng(seed).normal(0, 20, img.shape)), 0, 255).astype(np.uint8)
            outs.append(den(np.repeat(noisy[..., None], 3, 2)).astype(np.float64).mean(2) - img)
        err = np.mean(outs, 0)[10:-10]
        sides += [err[:, 38:44].mean(), err[:, 44 + width:50 + width].mean()]
    assert np.mean(sides) > -3 and min(sides) > -6, sides


def _with_config(tmp_path: Path, name: str, **changes: object) -> Path:
    """color-fast's tensors under a header config with ``changes``, no card."""
    from safetensors.torch import load, save

    st = load((cvdenoise.weights.WEIGHTS_DIR / "color-fast.safetensors").read_bytes())
    cfg = {**CONFIGS["fast"].to_dict(), **changes}
    path = tmp_path / f"{name}.safetensors"
    path.write_bytes(save(st, metadata={"format": "cvdenoise", "config": json.dumps(cfg)}))
    return path


@pytest.mark.parametrize("changes, said", [({"widths": [28.0, 56, 112]}, "widths must be a sequence of integers"),
                                           ({"channels": 3.0}, "channels must be an integer, got 3.0"),
                                           ({"enc_blocks": [0, 1.5, 2]}, "enc_blocks must be a sequence of integers"),
                                           ({"channels": "3"}, "channels must be an integer, got '3'"),
                                           ({"unshuffle": True}, "unshuffle must be an integer, got True")])
def test_a_header_config_of_floats_or_strings_is_a_weights_error(tmp_path: Path, changes: dict[str, object], said: str) -> None:
    # floats reached a layer's constructor: a TypeError from inside torch, no file named (the CLI: a traceback)
    path = _with_config(tmp_path, "bad", **changes)
    with pytest.raises(WeightsError, match="bad.safetensors: invalid architecture config") as e:
        load_model(path)
    assert said in str(e.value)
    with pytest.raises(TypeError, match="the config must be a JSON object"):
        ModelConfig.from_dict(None)  # type: ignore[arg-type]


def test_the_weights_command_goes_on_past_a_bad_config_and_checks_the_gate_reading(tmp_path: Path,
                                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from cvdenoise.cli import main

    bad = _with_config(tmp_path, "floats", widths=[28.0, 56, 112])
    good = tmp_path / "gate.safetensors"
    good.write_bytes((cvdenoise.weights.WEIGHTS_DIR / "color-fast.safetensors").read_bytes())
    card = read_card("color-fast")
    card["gate_reading"] = {"sigma": [1], "residual": [1]}  # malformed: load() refuses it
    good.with_suffix(".json").write_text(json.dumps(card))
    assert main(["weights", str(bad), str(good)]) == 2
    err = capsys.readouterr().err
    assert "floats.safetensors: invalid architecture config" in err and "gate.safetensors: malformed gate_reading" in err
    with pytest.raises(WeightsError, match="malformed gate_reading"):
        cvdenoise.load(good)


def test_damaged_weights_files_say_what_they_are(tmp_path: Path) -> None:
    data = (cvdenoise.weights.WEIGHTS_DIR / "color-fast.safetensors").read_bytes()
    (half := tmp_path / "half.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match=f"truncated: its header describes {len(data)} bytes, the file holds {len(data) // 2}"):
        load_model(half)
    (png := tmp_path / "photo.safetensors").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    with pytest.raises(WeightsError, match="first bytes are those of a PNG image"):
        load_model(png)
    (card := tmp_path / "w.json").write_text("{}")
    with pytest.raises(WeightsError, match=r"w.json is a model card, not weights: pass .* w.safetensors$"):
        load_model(card)


def test_names_in_the_wrong_case_and_paths_without_their_suffix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for typed, meant in (("Default", "default"), ("FAST", "fast"), ("Color-Fast", "color-fast")):
        with pytest.raises(WeightsError, match=f"did you mean '{meant}'"):
            cvdenoise.weights.resolve(typed)
    with pytest.raises(WeightsError, match="the shipped weights of that name: pass 'color-default'"):
        cvdenoise.weights.resolve("color-default.safetensors")
    (tmp_path / "sub").mkdir()
    mine = save_weights(DenoiseAutoencoder(CONFIGS["fast"]), tmp_path / "sub" / "mine.safetensors")
    monkeypatch.chdir(tmp_path)
    # an absolute path without its suffix was found, a relative one was not
    assert cvdenoise.weights.resolve("sub/mine").resolve() == mine.resolve()
    assert cvdenoise.weights.resolve(str(tmp_path / "sub" / "mine")) == mine
