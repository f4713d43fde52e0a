from __future__ import annotations

import json
import re
import os
import random
from pathlib import Path
from dataclasses import replace
from typing import Any

import cv2
import numpy as np
import pytest
import torch

import cvdenoise
from cvdenoise.cli import build_parser, main

from cvdenoise.data import PairBatches, PairSampler, add_lights, dead_leaves, drawing, list_images, load_clean_images
from cvdenoise.train import TrainConfig, _build_model, _loss, _lr_at, psnr, train
from cvdenoise.weights import load_model


def test_dead_leaves() -> None:
    img = dead_leaves(128, np.random.default_rng(0))
    assert img.shape == (128, 128, 3) and img.dtype == np.float32
    assert 0 <= img.min() and img.max() <= 1 and img.std() > 0.05
    assert np.array_equal(img, dead_leaves(128, np.random.default_rng(0)))


def test_folder_images_and_sampler(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    rng = np.random.default_rng(0)
    cv2.imwrite(str(tmp_path / "a.png"), (dead_leaves(96, rng) * 255).astype(np.uint8))
    cv2.imwrite(str(tmp_path / "sub" / "b.jpg"), (dead_leaves(80, rng) * 255).astype(np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    assert [p.name for p in list_images(tmp_path)] == ["a.png", "b.jpg"]
    imgs = load_clean_images([tmp_path])
    assert len(imgs) == 2 and imgs[0].dtype == np.uint16  # half the memory of float32
    a = cv2.cvtColor(cv2.imread(str(tmp_path / "a.png")), cv2.COLOR_BGR2RGB)
    assert np.array_equal(np.rint(imgs[0] / 257.0), a)  # 8-bit levels kept exactly
    for ch in (1, 3):
        s = PairSampler(imgs, crop=32, channels=ch, seed=1, leaves_pool=2)
        noisy, clean = s.batch(4)
        assert noisy.shape == clean.shape == (4, ch, 32, 32)
        assert not torch.equal(noisy, clean)


def test_colour_gain_makes_dark_saturated_crops() -> None:
    gray = [np.full((48, 48, 3), 0.8, np.float32)]  # a flat light gray: every crop has equal channels
    plain = PairSampler(gray, crop=16, p_dead_leaves=0.0, seed=3)
    assert all(np.ptp(plain.clean_crop()[0, 0]) == 0 for _ in range(20))
    tinted = PairSampler(gray, crop=16, p_dead_leaves=0.0, seed=3, p_colour_gain=1.0)
    crops = [tinted.clean_crop() for _ in range(200)]
    px = np.stack([c[0, 0] for c in crops])  # (200, 3) the colour of each (flat) crop
    assert px.min() >= 0 and px.max() <= 0.8 + 1e-6
    assert (np.ptp(px, axis=1) > 0.1).mean() > 0.5  # mostly coloured, not gray
    assert (px.min(axis=1) < 0.05).mean() > 0.2  # often a near-empty channel (a saturated colour)
    for c in crops:  # each crop stays flat: one gain per channel, not per pixel
        assert np.ptp(c.reshape(-1, 3), axis=0).max() < 1e-6
    g = PairSampler(gray, crop=16, channels=1, p_dead_leaves=0.0, seed=3, p_colour_gain=1.0)
    assert g.clean_crop().shape == (16, 16, 1) and np.allclose(g.clean_crop(), 0.8, atol=0.01)
    with pytest.raises(ValueError, match="p-colour-gain"):
        train(TrainConfig(p_colour_gain=1.5, steps=1))


def test_drawings_are_flat_backgrounds_with_strokes_on_exact_8_bit_values() -> None:
    imgs = [drawing(96, np.random.default_rng(i)) for i in range(30)]
    for img in imgs:
        assert img.shape == (96, 96, 3) and img.dtype == np.float32 and 0 <= img.min() and img.max() <= 1
        assert np.abs(img * 255 - np.round(img * 255)).max() < 1e-4  # 8-bit levels: no noise of their own
        assert len(np.unique(img.reshape(-1, 3), axis=0)) > 2  # something is drawn
    shares = [np.all(img == np.median(img.reshape(-1, 3), axis=0), axis=2).mean() for img in imgs]
    assert np.median(shares) > 0.5  # mostly flat background, as a page or a screen
    assert np.array_equal(imgs[3], drawing(96, np.random.default_rng(3)))  # seeded
    s = PairSampler([], crop=48, p_dead_leaves=1.0, p_drawing=1.0, seed=2)
    crops = [s.clean_crop() for _ in range(10)]
    assert all(np.abs(c * 255 - np.round(c * 255)).max() < 1e-4 for c in crops)  # drawings, not dead leaves
    leaves = PairSampler([], crop=48, p_dead_leaves=1.0, seed=2)
    assert not all(np.abs(c * 255 - np.round(c * 255)).max() < 1e-4 for c in (leaves.clean_crop() for _ in range(10)))
    with pytest.raises(ValueError, match="p-drawing"):
        train(TrainConfig(p_drawing=-0.1, steps=1))
    assert build_parser().parse_args(["train", "--p-drawing", "0.2"]).p_drawing == 0.2


def test_lights_darken_the_crop_and_draw_full_white_or_saturated_structures() -> None:
    mid = np.full((64, 64, 3), 0.6, np.float32)
    outs = [add_lights(mid.copy(), np.random.default_rng(i)) for i in range(40)]
    for o in outs:
        assert o.shape == (64, 64, 3) and o.dtype == np.float32 and 0 <= o.min() and o.max() <= 1
        assert np.median(o) <= 0.6 * 0.5 + 1e-6  # the background darkened to a night scene
    assert np.mean([o.max() == 1.0 for o in outs]) > 0.8  # lights at exactly full scale (a thin AA stroke may not reach it)
    assert np.mean([np.all(o == 1.0, axis=2).any() for o in outs]) > 0.5  # most crops hold exact white pixels
    assert np.array_equal(outs[5], add_lights(mid.copy(), np.random.default_rng(5)))  # seeded
    s = PairSampler([mid], crop=32, p_dead_leaves=0.0, p_lights=1.0, seed=4)
    assert np.mean([s.clean_crop().max() == 1.0 for _ in range(20)]) > 0.6
    plain = PairSampler([mid], crop=32, p_dead_leaves=0.0, seed=4)
    assert all(np.allclose(plain.clean_crop(), 0.6) for _ in range(10))
    gray = PairSampler([mid], crop=32, channels=1, p_dead_leaves=0.0, p_lights=1.0, seed=4)
    assert gray.clean_crop().shape == (32, 32, 1)
    with pytest.raises(ValueError, match="p-lights"):
        train(TrainConfig(p_lights=2.0, steps=1))
    assert build_parser().parse_args(["train", "--p-lights", "0.1"]).p_lights == 0.1


def test_lights_glow_share_is_a_knob_and_zero_draws_no_halo() -> None:
    """``--lights-glow 0`` (stage 32, gray-default): no faint halo around the lights in the clean
    target, the same lights otherwise (the same random draws)."""
    black = np.zeros((64, 64, 3), np.float32)

    def faint(p_glow: float) -> float:  # pixels lit a little: a halo, or an anti-aliased edge
        outs = [add_lights(black.copy(), np.random.default_rng(i), p_glow) for i in range(30)]
        return float(np.mean([((o.max(2) > 0.02) & (o.max(2) < 0.5)).mean() for o in outs]))

    assert faint(1.0) > 5 * faint(0.0)
    assert faint(0.33) > 2 * faint(0.0)
    assert np.array_equal(add_lights(black.copy(), np.random.default_rng(3)),
                          add_lights(black.copy(), np.random.default_rng(3), 0.33))  # the default as before
    lit = [add_lights(black.copy(), np.random.default_rng(i), 0.0) for i in range(30)]
    assert np.mean([o.max() == 1.0 for o in lit]) > 0.8  # the lights themselves still drawn
    s = PairSampler([np.full((64, 64, 3), 0.0, np.float32)], crop=64, p_dead_leaves=0.0, p_lights=1.0, lights_glow=0.0, seed=2)
    g = PairSampler([np.full((64, 64, 3), 0.0, np.float32)], crop=64, p_dead_leaves=0.0, p_lights=1.0, lights_glow=1.0, seed=2)
    halo = lambda c: ((c.max(2) > 0.02) & (c.max(2) < 0.5)).mean()  # noqa: E731
    assert sum(halo(s.clean_crop()) for _ in range(20)) * 3 < sum(halo(g.clean_crop()) for _ in range(20))
    with pytest.raises(ValueError, match="lights-glow"):
        train(TrainConfig(lights_glow=1.5, steps=1))
    assert build_parser().parse_args(["train", "--lights-glow", "0"]).lights_glow == 0.0


def test_lights_max_gain_keeps_some_scenes_bright() -> None:
    mid = np.full((64, 64, 3), 0.6, np.float32)
    night = [np.median(add_lights(mid.copy(), np.random.default_rng(i))) for i in range(40)]
    day = [np.median(add_lights(mid.copy(), np.random.default_rng(i), max_gain=1.0)) for i in range(40)]
    assert max(night) <= 0.6 * 0.5 + 1e-6 and max(day) > 0.45  # (the median pixel is background)
    assert np.all(np.array(day) >= np.array(night) - 1e-6)  # the same draws, a wider gain range
    with pytest.raises(ValueError, match="max_gain"):
        add_lights(mid.copy(), np.random.default_rng(0), max_gain=2.0)
    s = PairSampler([mid], crop=32, p_dead_leaves=0.0, p_lights=1.0, lights_max_gain=1.0, seed=1)
    assert max(np.median(s.clean_crop()) for _ in range(30)) > 0.45
    with pytest.raises(ValueError, match="lights-max-gain"):
        train(TrainConfig(lights_max_gain=0.01, steps=1))
    assert build_parser().parse_args(["train", "--lights-max-gain", "1"]).lights_max_gain == 1.0


def test_lights_aa_zero_draws_hard_edges_with_the_same_lights() -> None:
    black = np.zeros((64, 64, 3), np.float32)
    rim = lambda o: ((o.max(2) > 0.02) & (o.max(2) < 0.19)).mean()  # noqa: E731  (below the dimmest lit channel)
    soft = [add_lights(black.copy(), np.random.default_rng(i), 0.0, p_aa=1.0) for i in range(30)]
    hard = [add_lights(black.copy(), np.random.default_rng(i), 0.0, p_aa=0.0) for i in range(30)]
    assert sum(rim(o) for o in hard) < 0.3 * sum(rim(o) for o in soft)  # (OpenCV 5 draws text anti-aliased always)
    assert np.mean([(h.max(2) > 0).mean() for h in hard]) > 0.5 * np.mean([(s.max(2) > 0).mean() for s in soft])
    s = PairSampler([black], crop=64, p_dead_leaves=0.0, p_lights=1.0, lights_glow=0.0, lights_aa=0.0, seed=2)
    a = PairSampler([black], crop=64, p_dead_leaves=0.0, p_lights=1.0, lights_glow=0.0, lights_aa=1.0, seed=2)
    assert sum(rim(s.clean_crop()) for _ in range(20)) < 0.3 * sum(rim(a.clean_crop()) for _ in range(20))
    with pytest.raises(ValueError, match="lights-aa"):
        train(TrainConfig(lights_aa=-1.0, steps=1))
    assert build_parser().parse_args(["train", "--lights-aa", "0"]).lights_aa == 0.0


def test_train_writes_weights_and_resumes(tmp_path: Path) -> None:
    cfg = TrainConfig(
        out=str(tmp_path / "run"), name="tiny", size="fast", steps=6, batch=2, crop=32,
        val_every=3, val_size=4, warmup=2, ckpt_minutes=0.0, seed=0,
    )
    w = train(cfg)
    m = load_model(w)
    assert m.config.channels == 3
    log = [json.loads(l) for l in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert log[0]["recipe"]["steps"] == 6 and 0 < log[1]["val_pairs"] <= 4 and log[1]["val_input_psnr"] < 60
    log = [r for r in log if "step" in r or "resumed_at_step" in r]
    assert [r["step"] for r in log] == [3, 6]
    card = json.loads(w.with_suffix(".json").read_text())
    assert card["training"]["recipe"]["steps"] == 6 and card["training"]["steps_done"] == 6
    assert not list((tmp_path / "run").glob("tiny-step*"))  # each validation overwrote the export
    cfg.steps, cfg.keep_exports = 9, True
    train(cfg, resume=True)
    log = [json.loads(l) for l in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    log = [r for r in log if "step" in r or "resumed_at_step" in r]
    assert [r.get("step", r.get("resumed_at_step")) for r in log] == [3, 6, 6, 9] and "resumed_at_step" in log[2]
    assert log[2]["changed"] == {} and log[2]["recipe"]["steps"] == 9  # (steps and keep_exports may change)
    kept = tmp_path / "run" / "tiny-step9.safetensors"
    assert sorted(p.name for p in (tmp_path / "run").glob("tiny-step*.safetensors")) == [kept.name]
    kept_card = json.loads(kept.with_suffix(".json").read_text())
    assert kept_card["name"] == "tiny-step9" and kept_card["training"]["steps_done"] == 9
    assert torch.equal(load_model(kept).head.weight, load_model(w).head.weight)
    assert build_parser().parse_args(["train", "--keep-exports"]).keep_exports is True


@pytest.mark.parametrize("amp", [True, False])
def test_train_precision_flag(tmp_path: Path, amp: bool) -> None:
    """bf16 autocast (AMX or AVX512-BF16 CPUs; a no-op elsewhere) and float32 both train and export finite weights."""
    cfg = TrainConfig(out=str(tmp_path / "run"), name="tiny", size="fast", steps=4, batch=2, crop=32,
                      val_every=4, val_size=2, warmup=1, seed=0, amp=amp)
    w = train(cfg)
    m = load_model(w)
    assert all(torch.isfinite(p).all() for p in m.parameters())
    assert json.loads(w.with_suffix(".json").read_text())["training"]["recipe"]["amp"] is amp
    args = build_parser().parse_args(["train", "--no-amp", "--steps", "1"])
    assert args.amp is False


def test_init_from_family_name(tmp_path: Path) -> None:
    """``--init fast`` starts a gray run from gray-fast and a colour run from color-fast."""
    for ch, shipped in ((1, "gray-fast"), (3, "color-fast")):
        cfg = TrainConfig(out=str(tmp_path / str(ch)), init="fast", channels=ch, steps=0)
        m = _build_model(cfg)
        ref = load_model(shipped)
        assert all(torch.equal(a, b) for a, b in zip(m.state_dict().values(), ref.state_dict().values()))


def test_pair_batches_workers_differ() -> None:
    """Each data-loader worker gets its own seed: two workers never yield the same batch."""
    ds = PairBatches([], batch=2, seed=3, crop=32, p_dead_leaves=1.0, leaves_pool=2)
    loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2)
    it = iter(loader)
    (n1, c1), (n2, c2) = next(it), next(it)  # round-robin: one batch from each worker
    assert n1.shape == c1.shape == (2, 3, 32, 32) and n1.dtype == torch.float32
    assert not torch.equal(c1, c2) and not torch.equal(n1, n2)
    threads = torch.get_num_threads()
    first = next(iter(PairBatches([], batch=2, seed=3, crop=32, p_dead_leaves=1.0, leaves_pool=2)))
    assert torch.equal(first[1], c1)  # in-process iteration is worker 0's stream
    assert torch.get_num_threads() == threads  # and leaves the caller's thread count alone


def test_train_time_budget_with_workers(tmp_path: Path) -> None:
    """``minutes`` stops a run on the clock (cosine fully decayed) and exports; workers feed it."""
    cfg = TrainConfig(out=str(tmp_path / "run"), name="tiny", size="fast", steps=10**6, batch=2, crop=32,
                      val_every=10**6, val_size=2, warmup=1, seed=0, minutes=0.1, workers=1, p_dead_leaves=1.0)
    w = train(cfg)
    log = [r for r in map(json.loads, (tmp_path / "run" / "log.jsonl").read_text().splitlines()) if "step" in r]
    assert len(log) == 1 and 1 < log[0]["step"] < 10**6  # stopped by the budget, validated once
    assert load_model(w).config.channels == 3
    assert _lr_at(5, cfg, progress=1.0) == pytest.approx(0.01 * cfg.lr)
    assert _lr_at(5, cfg, progress=0.0) == pytest.approx(cfg.lr)


def test_the_time_budget_counts_training_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The clock of --minutes starts with the training steps: a slow --init validation (step 0)
    ate the whole budget of a short run."""
    import time

    import cvdenoise.train as train_mod

    real, calls = train_mod._Run.validate, []

    def slow_first(self: Any) -> float:
        calls.append(1)
        if len(calls) == 1:  # the --init weights' validation
            time.sleep(1.5)
        return real(self)

    monkeypatch.setattr(train_mod._Run, "validate", slow_first)
    cfg = TrainConfig(out=str(tmp_path / "run"), name="tiny", size="fast", init="fast", steps=10**6, batch=2, crop=32,
                      val_every=10**6, val_size=2, warmup=1, seed=0, minutes=0.02, p_dead_leaves=1.0)
    train(cfg)
    card = json.loads((tmp_path / "run" / "tiny.json").read_text())
    assert card["training"]["steps_done"] >= 1 and len(calls) == 2  # trained ~1.2 s (one step on a loaded machine), then validated once


def test_psnr() -> None:
    a = torch.zeros(2, 1, 4, 4)
    b = a.clone()
    b[1] += 0.1
    p = psnr(a, b)
    assert p[1].item() == pytest.approx(20.0, abs=1e-3)


def test_losses() -> None:
    clean = torch.zeros(2, 3, 8, 8)
    pred = clean.clone()
    pred[0] += 0.1  # 20 dB
    pred[1] += 0.01  # 40 dB
    # psnr: minus the mean per-image PSNR (up to the 1e-6 floor on the MSE)
    assert _loss(pred, clean, "psnr").item() == pytest.approx(-30.0, abs=0.05)
    assert _loss(pred, clean, "charbonnier").item() == pytest.approx(0.055, abs=1e-3)
    assert _loss(pred, clean, "log-charbonnier").item() < _loss(pred[:1], clean[:1], "log-charbonnier").item()
    with pytest.raises(ValueError, match="unknown loss"):
        _loss(pred, clean, "l2")
    # per-image PSNR weighting: the better image gets the larger gradient per unit error
    pred.requires_grad_(True)
    _loss(pred, clean, "psnr").backward()
    g = pred.grad.abs().flatten(1).mean(1)
    assert g[1] > 5 * g[0]


def test_partial_cpu_degradation_and_device_degrade(tmp_path: Path) -> None:
    """``batch(n, k)`` degrades only the first k crops; training with ``device_degrade`` makes
    the rest with the torch chain and still trains and exports."""
    s = PairSampler([], crop=32, p_dead_leaves=1.0, seed=0, leaves_pool=2)
    noisy, clean = s.batch(5, 2)
    assert noisy.shape == (2, 3, 32, 32) and clean.shape == (5, 3, 32, 32)
    noisy, clean = s.batch(3, 0)
    assert noisy.shape == (0, 3, 32, 32) and clean.shape == (3, 3, 32, 32)
    cfg = TrainConfig(out=str(tmp_path / "run"), name="tiny", size="fast", steps=4, batch=4, crop=32,
                      val_every=4, val_size=2, warmup=1, seed=0, device_degrade=0.75, p_dead_leaves=1.0)
    w = train(cfg)
    assert load_model(w).config.channels == 3
    assert json.loads(w.with_suffix(".json").read_text())["training"]["recipe"]["device_degrade"] == 0.75
    with pytest.raises(ValueError, match="device-degrade"):
        train(TrainConfig(out=str(tmp_path / "bad"), steps=1, device_degrade=1.5, p_dead_leaves=1.0))
    args = build_parser().parse_args(["train", "--device-degrade", "0.9"])
    assert args.device_degrade == 0.9


def test_architecture_overrides(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--widths/--enc-blocks/--dec-blocks/--unshuffle train a custom size; the weights carry it."""
    args = build_parser().parse_args([
        "train", "--size", "fast", "--widths", "8", "12", "--enc-blocks", "1", "1", "--dec-blocks", "1",
        "--unshuffle", "1", "--steps", "2", "--batch", "2", "--crop", "32", "--val-every", "2", "--val-size", "2",
        "--out", str(tmp_path / "run"), "--name", "custom",
    ])
    assert args.func(args) == 0
    m = load_model(tmp_path / "run" / "custom.safetensors")
    assert (m.config.widths, m.config.enc_blocks, m.config.dec_blocks, m.config.unshuffle) == ((8, 12), (1, 1), (1,), 1)
    grown = _build_model(TrainConfig(init="fast", widths=(32, 56, 112), enc_blocks=(1, 1, 2)))
    assert grown.config.widths == (32, 56, 112) and grown.config.enc_blocks == (1, 1, 2)
    with pytest.raises(ValueError, match="cannot shrink"):
        _build_model(TrainConfig(init="fast", widths=(8, 56, 112)))
    with pytest.raises(ValueError, match=r"enc_blocks \(--enc-blocks\) needs one entry per level"):  # fails before any photo is read
        train(TrainConfig(out=str(tmp_path / "bad"), size="default", widths=(8, 16), folders=["/nonexistent"]))


def _train_cli(tmp_path: Path, *argv: str) -> int:
    """``cvdenoise train`` with a tiny recipe (one step, 32 px crops); ``argv`` overrides it."""
    return main([
        "train", "--size", "fast", "--steps", "1", "--batch", "2", "--crop", "32", "--val-size", "2",
        "--warmup", "1", "--out", str(tmp_path / "run"), *argv,
    ])


def _write_image(path: Path, side: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), (dead_leaves(side, np.random.default_rng(side)) * 255).astype(np.uint8))


@pytest.mark.parametrize("argv, expected", [
    (["--steps", "0"], "--steps must be an integer >= 1"),
    (["--steps", "-5"], "--steps must be an integer >= 1"),
    (["--batch", "0"], "--batch must be an integer >= 1"),
    (["--val-size", "0"], "--val-size must be an integer from 1 to 4096"),
    (["--val-size", "100000"], "--val-size must be an integer from 1 to 4096"),  # (it held ~50 GB before step 1)
    (["--crop", "0"], "--crop must be an integer >= 1"),
    (["--crop", "4"], "--crop must be at least 8"),
    (["--val-every", "0"], "--val-every must be an integer >= 1"),
    (["--p-dead-leaves", "5"], "--p-dead-leaves must be a probability"),
    (["--minutes", "-1"], "--minutes must be >= 0"),
    (["--downscale", "0"], "--downscale must be in (0, 1]"),
    (["--lr", "nan"], "--lr must be a number > 0"),
    (["--seed", "-1"], "--seed must be an integer >= 0"),
    (["--device", "cuda:99"], "--device: device 'cuda:99'"),
    (["--device", "tpu"], "--device: device must be"),
    (["--init", "{tmp}/missing.safetensors"], "--init: weights file not found"),
    (["--init", "gray-fast", "--channels", "3"], "--init has 1 channels, training wants 3 (a gray model trains with --channels 1)"),
    (["--init", "{tmp}/junk.safetensors"], "--init: {tmp}/junk.safetensors is not a readable safetensors file"),
    (["{tmp}/empty"], "no image files"),
    (["{tmp}/missing"], "no such file or folder"),
    (["--out", "{tmp}/junk.safetensors"], "--out {tmp}/junk.safetensors: cannot create the run folder"),
])
def test_train_refuses_bad_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    """Unusable options fail before anything is written: one error line naming the option, exit 2."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "junk.safetensors").write_text("not weights")
    capsys.readouterr()
    assert _train_cli(tmp_path, *(a.replace("{tmp}", str(tmp_path)) for a in argv)) == 2
    err = capsys.readouterr().err
    assert err.startswith("cvdenoise train: error: ") and err.count("\n") == 1, err
    assert expected.replace("{tmp}", str(tmp_path)) in err
    assert not (tmp_path / "run").exists()


def test_train_single_image_warns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """One photo is not silently held out (leaving dead leaves only): it trains and validates, with a warning."""
    _write_image(tmp_path / "photos" / "a.png", 128)
    assert _train_cli(tmp_path, str(tmp_path / "photos"), "--downscale", "1", "--p-dead-leaves", "0") == 0
    err = capsys.readouterr().err
    assert "warning: only one usable image" in err
    assert "dead leaves instead" not in err  # 128 px: big enough for the 96 px validation crops


def test_train_size_error_states_real_minimum(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A 100 px photo at --crop 64 --downscale 0.5 needs 128 px: the message says so (not 64 px)."""
    _write_image(tmp_path / "photos" / "small.png", 100)
    _write_image(tmp_path / "photos" / "big.png", 100)
    capsys.readouterr()
    assert _train_cli(tmp_path, str(tmp_path / "photos"), "--crop", "64", "--downscale", "0.5") == 2
    err = capsys.readouterr().err
    assert "none of the 2 image files" in err and "at least 128 px (--crop 64 at --downscale 0.5)" in err
    assert "(smaller photos take a smaller --crop or --downscale 1)" in err  # (it said no way out)
    _write_image(tmp_path / "photos" / "big.png", 160)  # one usable, one skipped: a warning, then training
    assert _train_cli(tmp_path, str(tmp_path / "photos"), "--crop", "64", "--downscale", "0.5") == 0
    assert "skipped 1 of 2 image files" in capsys.readouterr().err


def test_train_resume_needs_a_fitting_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--resume without a checkpoint, or with one of another architecture, is one error line, exit 2."""
    assert _train_cli(tmp_path, "--resume") == 2
    assert "--resume: no checkpoint" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
    assert _train_cli(tmp_path) == 0
    log = (tmp_path / "run" / "log.jsonl").read_text()
    capsys.readouterr()
    assert _train_cli(tmp_path, "--resume", "--size", "default") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--size fast --channels 3" in err and "--size default --channels 3" in err
    assert (tmp_path / "run" / "log.jsonl").read_text() == log  # nothing written
    assert _train_cli(tmp_path, "--resume", "--steps", "2") == 0
    assert "resumed" in capsys.readouterr().out


def test_a_new_run_never_overwrites_an_earlier_one_and_seeds_repeat(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    from cvdenoise.train import TrainSetupError

    def cfg(out: str) -> TrainConfig:
        return TrainConfig(out=str(tmp_path / out), name="tiny", size="fast", steps=3, batch=2, crop=32,
                           val_every=3, val_size=2, warmup=1, ckpt_minutes=0.0, seed=5)

    first = train(cfg("a"))
    before = first.read_bytes()
    with pytest.raises(TrainSetupError, match="already holds a run .*add --resume to continue it"):
        train(cfg("a"))
    assert first.read_bytes() == before
    second = train(cfg("b"))  # the same seed from scratch: the same weights
    a, b = load_file(str(first)), load_file(str(second))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _eight_step_run(tmp_path: Path) -> TrainConfig:
    """8 steps, a validation every 4, the timed checkpoint far away (60 minutes)."""
    return TrainConfig(out=str(tmp_path / "run"), name="tiny", size="fast", steps=8, batch=2, crop=32,
                       val_every=4, val_size=2, warmup=1, ckpt_minutes=60.0, seed=1)


def _loss_failing_at(call: int, error: BaseException) -> Any:
    """The training loss, raising ``error`` at its ``call``-th call."""
    calls = {"n": 0}

    def loss(pred: torch.Tensor, target: torch.Tensor, kind: str = "charbonnier") -> torch.Tensor:
        calls["n"] += 1
        if calls["n"] == call:
            raise error
        return _loss(pred, target, kind)

    return loss


def test_an_interrupted_run_saves_a_checkpoint_to_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import cvdenoise.train as train_mod

    cfg = _eight_step_run(tmp_path)
    monkeypatch.setattr(train_mod, "_loss", _loss_failing_at(3, KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        train(cfg)
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=False)["step"] == 2  # before the 60-minute checkpoint
    # no validation had run: the weights so far are exported anyway (last.pt is for --resume only), marked so
    card = json.loads((tmp_path / "run" / f"{cfg.name}.json").read_text())
    assert card["training"]["steps_done"] == 2 and card["training"]["interrupted"] is True
    assert card["training"]["val_psnr_db"] is None
    records = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert records[-1]["interrupted_at_step"] == 2 and records[-1]["checkpoint"] is True  # (the log said nothing)
    cvdenoise.load(tmp_path / "run" / f"{cfg.name}.safetensors", strength=1.0)
    with pytest.raises(cvdenoise.weights.WeightsError, match="torch.save checkpoint.*cvdenoise train --resume"):
        cvdenoise.load(tmp_path / "run" / "last.pt")  # not torch's "likely corrupted"
    monkeypatch.setattr(train_mod, "_loss", _loss)
    train(cfg, resume=True)
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=False)["step"] == 8


def test_init_names_the_run_after_the_network_it_starts_from(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ft"
    args = ["train", "--init", "fast", "--steps", "2", "--batch", "2", "--crop", "32", "--val-every", "2",
            "--val-size", "2", "--warmup", "1", "--out", str(out), "--p-dead-leaves", "1"]
    assert main(args) == 0
    assert (out / "color-fast.safetensors").is_file() and not (out / "color-default.safetensors").exists()
    # the card tells the fine-tune's gain and where it started: the --init weights validated at step 0
    training = json.loads((out / "color-fast.json").read_text())["training"]
    assert {"init_val_psnr_db", "val_input_psnr_db", "val_psnr_db"} <= set(training)
    assert training["previous_stage"]["init"] == "fast" and "recipe" in training["previous_stage"]
    assert "previous_stage" not in training["previous_stage"]  # one level deep
    assert "step 0 (the --init weights): val PSNR" in capsys.readouterr().out
    # a weights file: named after its network's size too (it fell back to --size, "default")
    again = ["train", "--init", str(out / "color-fast.safetensors"), *args[3:-4], "--out", str(tmp_path / "ft2"),
             "--p-dead-leaves", "1"]
    assert main(again) == 0
    assert (tmp_path / "ft2" / "color-fast.safetensors").is_file() and not (tmp_path / "ft2" / "color-default.safetensors").exists()


def test_init_from_a_gray_model_trains_gray_without_channels(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--init gray-fast failed with "--init has 1 channels, training wants 3" unless --channels 1 was given."""
    args = ["--steps", "2", "--batch", "2", "--crop", "32", "--val-every", "2", "--val-size", "2", "--warmup", "1",
            "--p-dead-leaves", "1"]
    assert main(["train", "--init", "gray-fast", *args, "--out", str(tmp_path / "g")]) == 0
    assert (tmp_path / "g" / "gray-fast.safetensors").is_file()
    assert main(["train", "--init", str(tmp_path / "g" / "gray-fast.safetensors"), *args, "--out", str(tmp_path / "g2")]) == 0
    assert (tmp_path / "g2" / "gray-fast.safetensors").is_file()
    # a colour model still trains colour, and a gray one asked for colour is refused as before
    assert main(["train", "--init", "gray-fast", "--channels", "3", *args, "--out", str(tmp_path / "g3")]) == 2
    assert "trains with --channels 1" in capsys.readouterr().err


@pytest.mark.skipif(not hasattr(__import__("signal"), "SIGHUP"), reason="POSIX hangup signal")
def test_a_closed_terminal_leaves_a_checkpoint_unless_nohup_ignores_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """SIGHUP (the terminal or SSH session closed) ended a run with no checkpoint, where SIGTERM keeps one."""
    import os
    import signal

    import cvdenoise.train as train_mod

    calls = {"n": 0}

    def loss_then_hangup(pred: torch.Tensor, target: torch.Tensor, kind: str = "charbonnier") -> torch.Tensor:
        calls["n"] += 1
        if calls["n"] == 3:
            os.kill(os.getpid(), signal.SIGHUP)
        return _loss(pred, target, kind)

    monkeypatch.setattr(train_mod, "_loss", loss_then_hangup)
    inherited = signal.signal(signal.SIGHUP, signal.SIG_DFL)  # (a test run under nohup inherits SIG_IGN)
    try:
        assert _train_cli(tmp_path, "--steps", "8", "--ckpt-minutes", "60", "--p-dead-leaves", "1") == 128 + signal.SIGHUP
        assert signal.getsignal(signal.SIGHUP) == signal.SIG_DFL  # put back
    finally:
        signal.signal(signal.SIGHUP, inherited)
    assert "cvdenoise train: hung up" in capsys.readouterr().err
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=False)["step"] >= 2
    # under nohup (SIGHUP ignored) it stays ignored: the run goes on to its end
    monkeypatch.setattr(signal, "getsignal", lambda s, real=signal.getsignal: signal.SIG_IGN if s == signal.SIGHUP else real(s))
    calls["n"] = 100
    seen = []
    real_signal = signal.signal
    monkeypatch.setattr(signal, "signal", lambda s, h: (seen.append(s), real_signal(s, h))[1])
    assert _train_cli(tmp_path, "--steps", "2", "--p-dead-leaves", "1", "--out", str(tmp_path / "r2")) == 0
    assert signal.SIGHUP not in seen


def test_training_cli_audit_s53(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A network of other widths trained from scratch was named after the size it was changed from
    (color-fast); --resume --init X recorded an --init it never used; Ctrl-C while the training
    options were imported printed a traceback."""
    assert _train_cli(tmp_path, "--widths", "8", "16", "32", "--p-dead-leaves", "1") == 0
    assert (tmp_path / "run" / "color-custom.safetensors").is_file()
    assert not (tmp_path / "run" / "color-fast.safetensors").exists()
    assert _train_cli(tmp_path, "--widths", "8", "16", "32", "--p-dead-leaves", "1", "--steps", "2", "--resume") == 0
    assert (tmp_path / "run" / "color-custom.safetensors").is_file()  # a resume keeps the run's name
    assert _train_cli(tmp_path, "--p-dead-leaves", "1", "--out", str(tmp_path / "same"), "--widths", "28", "56", "112") == 0
    assert (tmp_path / "same" / "color-fast.safetensors").is_file()  # fast's own widths: still "fast"
    capsys.readouterr()
    assert _train_cli(tmp_path, "--steps", "3", "--resume", "--init", "fast") == 2
    assert "--init fast cannot change that" in capsys.readouterr().err
    import cvdenoise.train as train_mod

    def interrupted(parser: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(train_mod, "add_arguments", interrupted)
    assert main(["train", "--steps", "1"]) == 130
    assert capsys.readouterr().err.strip() == "cvdenoise train: interrupted"


def test_the_progress_bar_shows_the_loss_of_a_short_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The bar's loss and lr were set every 50 steps: a run of fewer never showed them."""
    assert main(["train", "--size", "fast", "--steps", "3", "--batch", "2", "--crop", "32", "--val-size", "2",
                 "--warmup", "1", "--p-dead-leaves", "1", "--out", str(tmp_path / "run")]) == 0
    assert re.search(r"loss=-?[0-9.]+, lr=", capsys.readouterr().err)


def test_warm_up_is_shortened_for_short_runs_and_time_budgets() -> None:
    cfg = TrainConfig(steps=200, warmup=300, lr=1e-3)
    lrs = [_lr_at(s, cfg) for s in range(200)]
    assert max(lrs) == pytest.approx(cfg.lr, rel=1e-3)  # the peak is reached...
    assert lrs.index(max(lrs)) == 50 - 1 or lrs.index(max(lrs)) == 50  # ...after a quarter of the run
    assert lrs[-1] < 0.05 * cfg.lr  # ...and decays by the end
    long = TrainConfig(steps=20000, warmup=300)
    assert _lr_at(149, long) == pytest.approx(0.5 * long.lr)  # a long run keeps its warm-up
    budget = TrainConfig(steps=10**6, warmup=300, minutes=1.0)
    assert _lr_at(10, budget, progress=0.3, time_used=0.3) < budget.lr  # warm-up ended by the clock: decaying
    assert _lr_at(10, budget, progress=0.0, time_used=0.1) == pytest.approx(0.4 * budget.lr)


def test_a_run_that_crashes_after_a_validation_can_be_resumed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    import cvdenoise.train as train_mod
    from cvdenoise.train import TrainSetupError

    cfg = _eight_step_run(tmp_path)
    monkeypatch.setattr(train_mod, "_loss", _loss_failing_at(6, RuntimeError("out of memory")))
    with pytest.raises(RuntimeError):
        train(cfg)
    # the weights exported at step 4 came with a checkpoint (not only the 60-minute timer's)
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=False)["step"] == 4
    monkeypatch.setattr(train_mod, "_loss", _loss)
    train(cfg, resume=True)
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=False)["step"] == 8
    # weights without a checkpoint (e.g. copied in): a new run names the way out
    (tmp_path / "run" / "last.pt").unlink()
    with pytest.raises(TrainSetupError, match="holds weights tiny.safetensors but no checkpoint"):
        train(cfg)


def test_resume_with_another_recipe_warns_and_logs_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _train_cli(tmp_path, "--steps", "2") == 0
    capsys.readouterr()
    assert _train_cli(tmp_path, "--steps", "3", "--lr", "0.01", "--resume") == 0
    err = capsys.readouterr().err
    assert "--resume with another recipe" in err and "--lr 0.001 → 0.01" in err and "--steps" not in err
    last = [json.loads(l) for l in (tmp_path / "run" / "log.jsonl").read_text().splitlines() if "resumed_at_step" in l][-1]
    assert last["changed"] == {"lr": [0.001, 0.01]}


def test_resume_from_another_folder_finds_the_photos_the_run_was_started_with(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Folders are recorded as typed: a resume from elsewhere failed ("no such file or folder:
    data") or, where a folder of that name was, trained on other photos without a word."""
    for side in (96, 112, 128):
        _write_image(tmp_path / "a" / "data" / f"{side}.png", side)
    _write_image(tmp_path / "b" / "data" / "other.png", 100)  # a folder of the same name elsewhere
    monkeypatch.chdir(tmp_path / "a")
    assert _train_cli(tmp_path, "data", "--steps", "2", "--downscale", "1") == 0
    log = tmp_path / "run" / "log.jsonl"
    assert json.loads(log.read_text().splitlines()[0])["recipe"]["folders"] == ["data"]  # (as typed, in the card too)
    monkeypatch.chdir(tmp_path / "b")
    capsys.readouterr()
    assert _train_cli(tmp_path, "--steps", "3", "--resume") == 0
    assert "another recipe" not in capsys.readouterr().err
    resumed = [json.loads(line) for line in log.read_text().splitlines() if "resumed_at_step" in line][-1]
    assert resumed["recipe"]["folders"] == [str(tmp_path / "a" / "data")] and resumed["changed"] == {}
    # the same folder typed again as an absolute path is no change of recipe
    assert _train_cli(tmp_path, str(tmp_path / "a" / "data"), "--steps", "4", "--resume") == 0
    assert "another recipe" not in capsys.readouterr().err


def test_the_log_holds_the_recipe_before_the_first_validation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run killed before its first validation (kill -9 after 450 steps) left an empty log.jsonl."""
    import cvdenoise.train as train_module

    seen = {}
    original = train_module._Run.validate

    def look(self: train_module._Run) -> float:
        seen.setdefault("log", (tmp_path / "run" / "log.jsonl").read_text())  # (at the first validation)
        return original(self)

    monkeypatch.setattr(train_module._Run, "validate", look)
    assert _train_cli(tmp_path, "--steps", "2", "--val-every", "1") == 0
    assert '"recipe"' in seen["log"] and '"val_pairs"' in seen["log"]


def test_a_photo_smaller_than_the_validation_crop_is_not_held_out(recwarn: pytest.WarningsRecorder) -> None:
    """The first photo held out under 96 px served neither validation (too small) nor training."""
    from cvdenoise.train import _split_images

    small, *big = [np.zeros((s, s + 10, 3), np.uint16) for s in (60, 100, 120, 140, 160)]
    val, train_imgs = _split_images([small, *big], 96)
    assert len(val) == 1 and val[0] is big[0] and any(im is small for im in train_imgs) and len(train_imgs) == 4
    val, train_imgs = _split_images([small, small.copy()], 96)  # none large enough: all train
    assert val == [] and len(train_imgs) == 2 and "validation runs on dead leaves" in str(recwarn[-1].message)


def test_resume_of_a_checkpoint_older_than_a_recipe_field_reports_its_change() -> None:
    """A checkpoint saved before ``p_drawing`` existed ran as its default (no drawings): resuming
    it with ``--p-drawing 0.1`` is a recipe change, and leaving the default is none."""
    from dataclasses import asdict

    from cvdenoise.train import TrainConfig, _recipe_changes

    saved = asdict(TrainConfig())
    del saved["p_drawing"]
    assert _recipe_changes(saved, TrainConfig(p_drawing=0.1)) == {"p_drawing": [TrainConfig().p_drawing, 0.1]}
    assert _recipe_changes(saved, TrainConfig()) == {}


def test_float_images_outside_0_1_are_skipped_and_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photos = tmp_path / "photos"
    _write_image(photos / "good.png", 160)
    hdr = dead_leaves(160, np.random.default_rng(1)) * 255  # a float TIFF in 0..255
    cv2.imwrite(str(photos / "hdr.tiff"), hdr.astype(np.float32))
    nan = dead_leaves(160, np.random.default_rng(2)).astype(np.float32)
    nan[5, 5] = np.nan
    cv2.imwrite(str(photos / "nan.tiff"), nan)
    skipped: list[tuple[Path, str]] = []
    assert len(load_clean_images([photos], min_size=32, skipped=skipped)) == 1
    reasons = {p.name: why for p, why in skipped}
    assert "float images must be in [0, 1]" in reasons["hdr.tiff"] and "NaN" in reasons["nan.tiff"]
    capsys.readouterr()
    assert _train_cli(tmp_path, str(photos), "--downscale", "1") == 0
    err = capsys.readouterr().err
    assert "skipped 2 of 3 image files" in err and "hdr.tiff" in err and "nan.tiff" in err
    (photos / "good.png").unlink()
    assert _train_cli(tmp_path, str(photos), "--downscale", "1", "--out", str(tmp_path / "run2")) == 2
    assert "none of the 2 image files" in capsys.readouterr().err


def test_validation_leaves_out_pairs_the_preset_left_clean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _train_cli(tmp_path, "--degradation", "mixed", "--val-size", "32") == 0
    out = capsys.readouterr()
    head = json.loads((tmp_path / "run" / "log.jsonl").read_text().splitlines()[1])
    assert 0 < head["val_pairs"] < 32 and head["val_input_psnr"] < 60  # identity pairs (100 dB) left out
    assert f"validation: {head['val_pairs']} degraded pairs" in out.out + out.err and "dB vs the input" in out.out + out.err


def test_python_m_cvdenoise_train_is_the_cli() -> None:
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "cvdenoise.train", "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "cvdenoise train" in r.stdout and "--resume" in r.stdout


def test_run_files_stay_in_out_and_a_finished_run_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("../escaped", "/tmp/abs", ".."):
        assert _train_cli(tmp_path, "--name", name) == 2
        assert "--name must be a file name without folders" in capsys.readouterr().err
    assert not (tmp_path / "escaped.safetensors").exists()
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "color-fast.json").write_text('{"mine": "precious"}')
    assert _train_cli(tmp_path) == 2  # a card of the user's with the run's name
    assert "already holds weights color-fast.json" in capsys.readouterr().err
    (tmp_path / "run" / "color-fast.json").unlink()
    assert _train_cli(tmp_path, "--steps", "2") == 0
    assert _train_cli(tmp_path, "--steps", "2", "--resume") == 2
    assert "is at step 2 of --steps 2: nothing to train (raise --steps to continue)" in capsys.readouterr().err
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    del state["rng"]
    torch.save(state, tmp_path / "run" / "last.pt")
    assert _train_cli(tmp_path, "--steps", "3", "--resume") == 2
    assert "not a cvdenoise training checkpoint (missing ['rng'])" in capsys.readouterr().err


def test_training_reads_photos_as_the_folder_command_does(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    _write_image(photos / "sub" / "a.png", 96)
    (tmp_path / "linked").mkdir()
    _write_image(tmp_path / "linked" / "b.png", 96)
    (photos / "link").symlink_to(tmp_path / "linked", target_is_directory=True)
    (photos / "loop").symlink_to(photos, target_is_directory=True)  # a link loop ends
    assert [p.name for p in list_images(photos)] == ["b.png", "a.png"]
    # hidden and thumbnail folders and the copies cvdenoise wrote are no training photos
    from cvdenoise.folder import OUTPUT_MARKER, Job, mark_output

    _write_image(photos / ".git" / "x.png", 96)
    _write_image(photos / "@eaDir" / "thumb.png", 96)
    _write_image(photos / "out" / "denoised.png", 96)
    mark_output(Job(photos / "sub" / "a.png", photos / "out" / "denoised.png", photos / "out" / OUTPUT_MARKER))
    assert [p.name for p in list_images(photos)] == ["b.png", "a.png"]
    # 12-bit data in a 16-bit PNG: at its own full scale, not as a dark 16-bit image
    twelve = (dead_leaves(96, np.random.default_rng(3)) * 4095).astype(np.uint16)
    cv2.imwrite(str(photos / "twelve.png"), twelve)
    # a truncated JPEG: skipped (its missing part would be a flat grey target)
    ok, jpg = cv2.imencode(".jpg", (dead_leaves(96, np.random.default_rng(4)) * 255).astype(np.uint8))
    (photos / "cut.jpg").write_bytes(jpg.tobytes()[: len(jpg) // 2])
    skipped: list[tuple[Path, str]] = []
    images = load_clean_images([photos / "twelve.png", photos / "cut.jpg"], min_size=32, skipped=skipped)
    assert len(images) == 1 and images[0].max() > 0.9 * 65535
    assert [(p.name, why) for p, why in skipped] == [("cut.jpg", "truncated JPEG (no end marker)")]


def test_a_resumed_fine_tune_keeps_its_init_in_the_recipe(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--resume --out RUN` of a fine-tune warned "--init X → None" (a change nobody typed) and its card's recipe
    said init None: the run looked trained from scratch. The --init file is not read again (it may be gone)."""
    start = tmp_path / "start"
    assert _train_cli(tmp_path, "--p-dead-leaves", "1", "--out", str(start)) == 0
    init = start / "color-fast.safetensors"
    assert _train_cli(tmp_path, "--p-dead-leaves", "1", "--init", str(init)) == 0
    (start / "color-fast.json").unlink()
    init.unlink()  # gone since the run started
    capsys.readouterr()
    assert main(["train", "--resume", "--steps", "2", "--out", str(tmp_path / "run")]) == 0
    out, err = capsys.readouterr()
    assert "resumed" in out and "another recipe" not in err
    resumed = [json.loads(l) for l in (tmp_path / "run" / "log.jsonl").read_text().splitlines() if "resumed_at_step" in l][-1]
    assert resumed["recipe"]["init"] == str(init) and resumed["changed"] == {}
    card = json.loads((tmp_path / "run" / "color-fast.json").read_text())
    assert card["training"]["recipe"]["init"] == str(init) and card["training"]["steps_done"] == 2


def test_size_and_init_that_disagree_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["train", "--steps", "1", "--batch", "2", "--crop", "32", "--val-size", "2", "--warmup", "1",
            "--out", str(tmp_path / "run"), "--init", "fast"]
    assert main([*argv, "--size", "default"]) == 2
    assert "--size default and --init fast disagree" in capsys.readouterr().err
    assert main([*argv, "--size", "fast"]) == 0  # agreeing is fine
    card = json.loads((tmp_path / "run" / "color-fast.json").read_text())
    assert card["training"]["recipe"]["size"] == "fast"


def test_a_killed_data_loader_worker_still_leaves_a_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGTERM to the whole process group (a job scheduler) kills the workers too: PyTorch then
    raises in the training process; the checkpoint is still written."""
    import multiprocessing
    import os
    import signal
    import time

    import cvdenoise.train as train_mod

    cfg = replace(_eight_step_run(tmp_path), workers=1, p_dead_leaves=1.0)
    calls = {"n": 0}

    def loss_killing_the_worker(pred: torch.Tensor, target: torch.Tensor, kind: str = "charbonnier") -> torch.Tensor:
        calls["n"] += 1
        if calls["n"] == 3:
            for child in multiprocessing.active_children():
                os.kill(child.pid, signal.SIGTERM)  # type: ignore[arg-type]
            time.sleep(2.0)  # PyTorch's SIGCHLD handler raises here (or at the next batch)
        return _loss(pred, target, kind)

    monkeypatch.setattr(train_mod, "_loss", loss_killing_the_worker)
    with pytest.raises(RuntimeError, match="DataLoader worker"):
        train(cfg)
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=False)["step"] >= 2
    assert not (tmp_path / "run" / "last.tmp").exists()


def test_run_folder_guards_cover_step_exports_renamed_resumes_and_duplicate_photos(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "color-fast-step7.safetensors").write_bytes(b"the user's")
    assert _train_cli(tmp_path, "--keep-exports") == 2
    assert "already holds" in capsys.readouterr().err
    (tmp_path / "run" / "color-fast-step7.safetensors").unlink()
    assert _train_cli(tmp_path, "--steps", "1") == 0
    (tmp_path / "run" / "mine.safetensors").write_bytes(b"the user's")
    assert _train_cli(tmp_path, "--steps", "2", "--resume", "--name", "mine") == 2
    assert "--resume --name mine" in capsys.readouterr().err
    assert (tmp_path / "run" / "mine.safetensors").read_bytes() == b"the user's"
    assert _train_cli(tmp_path, "--name", "x" * 240, "--out", str(tmp_path / "r2")) == 2
    assert "at most about 220 bytes" in capsys.readouterr().err
    # the same photos twice (a folder named twice, or nested): used once, with a warning
    photos = tmp_path / "photos"
    for i in range(3):
        _write_image(photos / f"{i}.png", 96 + 8 * i)
    assert _train_cli(tmp_path, str(photos), str(photos), "--downscale", "1", "--out", str(tmp_path / "r3")) == 0
    assert "3 image file(s) reached twice" in capsys.readouterr().err


def test_resume_never_runs_pickled_code_from_a_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    assert _train_cli(tmp_path, "--steps", "1") == 0
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    state["extra"] = argparse.Namespace(x=1)  # any pickled object (the same path as code that would run)
    torch.save(state, tmp_path / "run" / "last.pt")
    assert _train_cli(tmp_path, "--steps", "2", "--resume") == 2
    assert "--resume: cannot read" in capsys.readouterr().err


def _seed_all() -> None:
    """Seed the global torch, numpy and Python streams (nothing in cvdenoise draws from the numpy
    and Python ones today: what the tests below can catch is torch's stream and the thread count)."""
    torch.manual_seed(123)
    np.random.seed(7)
    random.seed(9)


def _draws() -> tuple[list[float], list[float], float]:
    """The next draws of the global torch, numpy and Python streams."""
    return torch.rand(3).tolist(), np.random.rand(3).tolist(), random.random()


def test_train_gives_the_caller_back_its_threads_and_random_streams(tmp_path: Path) -> None:
    """A run (in-process ``main(["train", "--threads", N])`` too) used to leave torch's thread count
    at N and the global torch RNG reseeded: the caller's own stream no longer continued. Kept the
    same when the run returns (here) and when it raises (below)."""
    torch.set_num_threads(1)
    _seed_all()
    expected = _draws()
    _seed_all()
    assert main(["train", "--out", str(tmp_path / "run"), "--size", "fast", "--steps", "1", "--batch", "1",
                 "--crop", "32", "--val-every", "1", "--val-size", "1", "--threads", "2", "--workers", "0",
                 "--warmup", "1"]) == 0
    assert torch.get_num_threads() == 1
    assert _draws() == expected


def test_train_gives_the_caller_back_its_threads_and_random_streams_when_it_raises(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import cvdenoise.train as train_mod

    torch.set_num_threads(1)
    _seed_all()
    expected = _draws()
    monkeypatch.setattr(train_mod, "_loss", _loss_failing_at(1, RuntimeError("boom")))
    _seed_all()
    with pytest.raises(RuntimeError, match="boom"):
        train(TrainConfig(out=str(tmp_path / "run2"), name="tiny", size="fast", steps=2, batch=2, crop=32,
                          val_every=2, val_size=2, warmup=1, threads=2, seed=3))
    assert torch.get_num_threads() == 1
    assert _draws() == expected


def test_a_run_closes_its_log_file_whether_it_ends_or_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """log.jsonl was never closed: a ResourceWarning at every run's end, and a file handle held by
    the traceback of a failed one."""
    import gc
    import warnings

    import cvdenoise.train as train_mod

    cfg = _eight_step_run(tmp_path)
    monkeypatch.setattr(train_mod, "_loss", _loss_failing_at(2, RuntimeError("out of memory")))
    with pytest.raises(RuntimeError) as failed:
        train(cfg)
    monkeypatch.setattr(train_mod, "_loss", _loss)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        train(replace(cfg, out=str(tmp_path / "second")))
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning) and "log.jsonl" in str(w.message)]
    log = str((tmp_path / "run" / "log.jsonl").resolve())
    assert failed.value is not None  # the failed run's error still alive: its log closed all the same
    if Path("/proc/self/fd").is_dir():
        assert not [fd for fd in Path("/proc/self/fd").iterdir() if os.path.realpath(fd) == log]


def test_pair_batches_of_a_resumed_run_do_not_replay_earlier_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Worker seeds were seed + step + 1000·(worker + 1): a run resumed at step 1000 made its
    worker 0 replay the first run's worker 1 (checkpoints come every 500 steps)."""
    worker = [0]

    class Info:  # torch.utils.data.get_worker_info() inside a DataLoader worker
        @property
        def id(self) -> int:
            return worker[0]

    monkeypatch.setattr(torch.utils.data, "get_worker_info", lambda: Info())
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)

    def first(seed: int, wid: int) -> torch.Tensor:
        worker[0] = wid
        return next(iter(PairBatches([], batch=1, seed=seed, crop=32, p_dead_leaves=1.0, leaves_pool=1)))[1]

    streams = [first(0, 1), first(0 + 1000, 0), first(0 + 1000, 1), first(0, 0)]  # (a run, and it resumed at step 1000)
    assert all(not torch.equal(a, b) for i, a in enumerate(streams) for b in streams[i + 1:])


def test_training_reads_a_pnm_at_its_declared_maxval_as_the_folder_run_does(tmp_path: Path) -> None:
    """The training reader ignored a PPM's maxval (40000 never reached white: 0.61) and a 16-bit
    PNG's sBIT; the folder command honours both."""
    from cvdenoise.data import _read_rgb

    pixels = np.full((4, 4, 3), 40000, ">u2")
    pixels[0, 0] = (20000, 0, 40000)
    (tmp_path / "a.ppm").write_bytes(b"P6\n4 4\n40000\n" + pixels.tobytes())
    img = _read_rgb(tmp_path / "a.ppm")
    assert img[1, 1] == pytest.approx([1.0, 1.0, 1.0]) and img[0, 0] == pytest.approx([0.5, 0.0, 1.0], abs=1e-4)


def test_a_diverged_run_stops_and_exports_no_nan_weights(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With --lr 10 the loss went NaN, the run went on to its end (exit 0) and exported weights
    that cvdenoise.load() refused as damaged; last.pt held NaN too."""
    from cvdenoise.cli import main as cli_main

    out = tmp_path / "run"
    rc = cli_main(["train", "--size", "fast", "--steps", "100", "--batch", "2", "--crop", "32", "--val-size", "2",
                     "--lr", "1e6", "--warmup", "1", "--seed", "0", "--out", str(out)])
    assert rc == 1 and "training diverged" in capsys.readouterr().err
    for weights in out.glob("*.safetensors"):
        load_model(weights)  # whatever was exported before the divergence loads (no NaN tensors)


def test_validation_pairs_are_degraded_even_when_the_first_draw_left_them_all_clean() -> None:
    """With every pair left clean all were kept: "input PSNR 100.00 dB", val PSNR -76 dB."""
    from cvdenoise.train import _mse, _validation_pairs

    noisy, clean = _validation_pairs(TrainConfig(degradation="camera-mix-clean", seed=3, val_size=1, crop=32), [])
    assert len(noisy) >= 1 and bool((_mse(noisy, clean) > 0).all())


def _tiny(tmp_path: Path, *argv: str) -> int:
    """``cvdenoise train`` with the smallest recipe (one step, one 32 px crop, one validation pair)."""
    return _train_cli(tmp_path, "--batch", "1", "--val-size", "1", "--threads", "1", *argv)


def test_an_out_that_cannot_be_written_fails_before_the_photos_load(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A read-only --out (or a file) failed with a raw traceback (exit 1), or one line, after every photo had loaded."""
    import cvdenoise.train as train_mod

    def no_loading(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("photos loaded before --out was checked")

    monkeypatch.setattr(train_mod, "load_clean_images", no_loading)
    _write_image(tmp_path / "photos" / "a.png", 96)
    (tmp_path / "run").mkdir()
    out = str(tmp_path / "run")
    # (root writes into a chmod 555 folder: the check's own seam stands in for a read-only file system)
    monkeypatch.setattr(train_mod, "creation_problem",
                        lambda path: f"{out} takes no new file (Read-only file system)" if str(path).startswith(out) else None,
                        raising=False)
    capsys.readouterr()
    assert _tiny(tmp_path, str(tmp_path / "photos")) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"cvdenoise train: error: --out {out}: cannot write in the run folder") and err.count("\n") == 1
    assert "Read-only file system" in err and not list((tmp_path / "run").iterdir())
    (tmp_path / "afile").write_text("not a folder")
    assert _tiny(tmp_path, str(tmp_path / "photos"), "--out", str(tmp_path / "afile")) == 2
    assert f"--out {tmp_path / 'afile'}: cannot create the run folder" in capsys.readouterr().err
    assert _tiny(tmp_path, str(tmp_path / "photos"), "--out", str(tmp_path / "afile" / "sub")) == 2
    assert "afile is a file" in capsys.readouterr().err


def test_a_second_run_into_an_out_in_use_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Two runs into one --out (or a --resume while the first still ran) both ran, interleaving the log and
    overwriting each other's checkpoint and weights."""
    import fcntl

    import cvdenoise.train as train_mod

    lock = tmp_path / "run" / ".cvdenoise-train.lock"
    lock.parent.mkdir()
    with open(lock, "w") as other:  # another run holds the --out (flock: per open file, so also within a process)
        other.write("4242\n")
        other.flush()
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        capsys.readouterr()
        assert _tiny(tmp_path) == 2
        err = capsys.readouterr().err
        assert f"--out {tmp_path / 'run'} is in use by another run (pid 4242)" in err and err.count("\n") == 1
        assert sorted(p.name for p in lock.parent.iterdir()) == [lock.name]
    held: list[bool] = []

    def loss_testing_the_lock(pred: torch.Tensor, target: torch.Tensor, kind: str = "charbonnier") -> torch.Tensor:
        with open(lock) as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                held.append(True)
            else:
                held.append(False)
        return _loss(pred, target, kind)

    monkeypatch.setattr(train_mod, "_loss", loss_testing_the_lock)
    assert _tiny(tmp_path, "--steps", "2") == 0  # the lock file a finished (or crashed) run left does not block
    assert held == [True, True]  # held while the run trains
    assert lock.read_text().strip() == str(os.getpid())
    with open(lock) as other:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert _tiny(tmp_path, "--steps", "3", "--resume") == 2
        assert "is in use by another run" in capsys.readouterr().err
    assert _tiny(tmp_path, "--steps", "3", "--resume") == 0


def test_a_full_disk_while_writing_the_checkpoint_or_the_weights_ends_with_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """ENOSPC in the checkpoint was a raw torch traceback ("unexpected pos") that left last.tmp behind; in the
    weights, a raw SafetensorError."""
    import errno

    out = tmp_path / "run"
    real_save = torch.save

    def save_on_a_full_disk(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
        real_save(obj, f, *args, **kwargs)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def leftovers() -> list[str]:
        return [p.name for p in out.iterdir() if p.suffix == ".tmp" or p.name.startswith(".cvdenoise-")
                and p.name != ".cvdenoise-train.lock"]

    monkeypatch.setattr(torch, "save", save_on_a_full_disk)
    capsys.readouterr()
    assert _tiny(tmp_path, "--steps", "2", "--val-every", "1") == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert errors == [f"cvdenoise train: error: cannot write checkpoint {out / 'last.pt'}: No space left on device"]
    assert not (out / "last.pt").exists() and not leftovers()
    monkeypatch.setattr(torch, "save", real_save)

    real_write_bytes = Path.write_bytes

    def weights_on_a_full_disk(self: Path, data: bytes) -> int:
        if self.suffix == ".safetensors":  # (the weights' temporary file)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write_bytes(self, data)

    monkeypatch.setattr(Path, "write_bytes", weights_on_a_full_disk)
    out = tmp_path / "run2"
    assert _tiny(tmp_path, "--out", str(out)) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert errors == [f"cvdenoise train: error: cannot write weights {out / 'color-fast.safetensors'}: "
                      "No space left on device"]
    assert not leftovers()


def test_resuming_a_fine_tune_needs_no_init_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--resume of a fine-tune read its --init file again: gone, the run could not go on (and a changed one
    changed the card's previous_stage)."""
    import shutil

    base, ft = tmp_path / "base", str(tmp_path / "ft")
    assert _tiny(tmp_path, "--out", str(base)) == 0
    init = str(base / "color-fast.safetensors")
    assert _tiny(tmp_path, "--steps", "2", "--init", init, "--out", ft) == 0
    before = json.loads((tmp_path / "ft" / "color-fast.json").read_text())["training"]
    assert before["previous_stage"]["init"] == init
    shutil.rmtree(base)
    assert _tiny(tmp_path, "--steps", "3", "--init", init, "--out", ft, "--resume") == 0, capsys.readouterr().err
    after = json.loads((tmp_path / "ft" / "color-fast.json").read_text())["training"]
    assert after["steps_done"] == 3 and after["previous_stage"] == before["previous_stage"]
    assert after["init_val_psnr_db"] == before["init_val_psnr_db"]
    assert _tiny(tmp_path, "--steps", "4", "--init", init, "--out", ft, "--resume", "--channels", "1") == 2
    assert "holds a model trained with" in capsys.readouterr().err  # the checkpoint's network is checked all the same
    # an --init file whose name says nothing: the resume goes on under the run's own name and size
    other, ft2 = tmp_path / "start.safetensors", str(tmp_path / "ft2")
    shutil.copy(tmp_path / "ft" / "color-fast.safetensors", other)
    assert _tiny(tmp_path, "--steps", "2", "--init", str(other), "--out", ft2) == 0
    other.unlink()
    assert _tiny(tmp_path, "--steps", "3", "--init", str(other), "--out", ft2, "--resume") == 0, capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "ft2").glob("*.safetensors")) == ["color-fast.safetensors"]
    recipe = json.loads((tmp_path / "ft2" / "color-fast.json").read_text())["training"]["recipe"]
    assert recipe["size"] == "fast" and recipe["steps"] == 3


def test_size_with_init_is_checked_against_the_network_in_the_file(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """--size was checked (and recorded) from the --init file's name: color-default-awgn took any --size, and a
    custom network in a file named color-fast counted as 'fast'."""
    argv = ["train", "--steps", "1", "--batch", "1", "--crop", "32", "--val-size", "1", "--warmup", "1", "--threads", "1"]
    capsys.readouterr()
    assert main([*argv, "--init", "color-default-awgn", "--size", "fast", "--out", str(tmp_path / "aw")]) == 2
    assert "--size fast and --init color-default-awgn disagree: --init trains the network it starts from (default)" \
        in capsys.readouterr().err
    assert _tiny(tmp_path, "--widths", "8", "16", "--enc-blocks", "1", "1", "--dec-blocks", "1", "--out",
                 str(tmp_path / "s2")) == 0
    custom = str(tmp_path / "s2" / "color-custom.safetensors")  # (a 2-level network: none of the named sizes)
    assert main([*argv, "--init", custom, "--size", "fast", "--out", str(tmp_path / "s12")]) == 2
    assert "(a custom one, none of the named sizes)" in capsys.readouterr().err
    assert main([*argv, "--init", custom, "--out", str(tmp_path / "s12")]) == 0
    card = json.loads((tmp_path / "s12" / "color-custom.json").read_text())
    assert card["config"]["widths"] == [8, 16] and card["training"]["recipe"]["size"] == "custom"


def test_the_python_api_names_a_run_after_its_size_and_channels(tmp_path: Path) -> None:
    """train(TrainConfig(...)) named every run color-default (a gray 'fast' network too)."""
    tiny = dict(steps=1, crop=32, batch=1, val_size=1, warmup=1, threads=1, size="fast")
    w = train(TrainConfig(out=str(tmp_path / "api"), channels=1, **tiny))  # type: ignore[arg-type]
    assert w == tmp_path / "api" / "gray-fast.safetensors" and load_model(w).config.channels == 1
    assert json.loads(w.with_suffix(".json").read_text())["training"]["recipe"]["name"] == "gray-fast"
    named = train(TrainConfig(out=str(tmp_path / "named"), name="color-default", **tiny))  # type: ignore[arg-type]
    assert named.name == "color-default.safetensors"  # a name given is kept


def test_validation_pairs_are_no_training_stream_of_a_run_resumed_at_step_10000() -> None:
    """Worker 0 of a run resumed at step 10000 (seed SeedSequence((seed + 10000, 0))) drew the validation
    sampler's stream (default_rng(10000 + seed)): it trained on the validation pairs."""
    from cvdenoise.train import _validation_pairs

    cfg = TrainConfig(seed=0, crop=96, val_size=2, batch=2)
    _, val = _validation_pairs(cfg, [])
    _, clean = next(iter(PairBatches([], 2, seed=cfg.seed + 10_000, degraded=2, crop=96, channels=3,
                                     degradation="mixed", p_dead_leaves=1.0, leaves_pool=2)))
    assert len(val) >= 1 and not any(torch.equal(a, b) for a in clean for b in val)


def test_a_one_level_architecture_can_be_given(tmp_path: Path) -> None:
    """--widths 16 --enc-blocks 1 asked for zero --dec-blocks entries, which the parser refused."""
    assert _tiny(tmp_path, "--widths", "16", "--enc-blocks", "1") == 0
    assert _tiny(tmp_path, "--widths", "16", "--enc-blocks", "1", "--dec-blocks", "--out", str(tmp_path / "r2")) == 0
    for out in ("run", "r2"):
        m = load_model(tmp_path / out / "color-custom.safetensors")
        assert m.config.widths == (16,) and m.config.dec_blocks == ()


def test_an_empty_name_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--name '' was silently replaced by the default name."""
    capsys.readouterr()
    assert _tiny(tmp_path, "--name", "") == 2
    assert "cvdenoise train: error: --name must be a file name without folders" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
    assert _tiny(tmp_path, "--name", "mine.safetensors") == 2  # (it wrote mine.safetensors.safetensors)
    assert "or suffix" in capsys.readouterr().err and not (tmp_path / "run").exists()


def test_resume_of_an_empty_or_corrupt_checkpoint_names_the_problem(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A zero-byte last.pt said "cannot read …/last.pt: " (no reason), a text file "cannot read …/last.pt: 101"."""
    assert _tiny(tmp_path) == 0
    ckpt = tmp_path / "run" / "last.pt"
    ckpt.write_bytes(b"")
    capsys.readouterr()
    assert _tiny(tmp_path, "--steps", "2", "--resume") == 2
    err = capsys.readouterr().err
    assert f"--resume: cannot read {ckpt}: the file is empty" in err and err.count("\n") == 1
    ckpt.write_text("101\n")
    assert _tiny(tmp_path, "--steps", "2", "--resume") == 2
    err = capsys.readouterr().err
    assert f"--resume: cannot read {ckpt}: no usable torch checkpoint: " in err and err.count("\n") == 1
    ckpt.write_bytes(b"hello world")
    assert _tiny(tmp_path, "--steps", "2", "--resume") == 2
    err = capsys.readouterr().err
    assert f"--resume: cannot read {ckpt}: no usable torch checkpoint: truncated, damaged or another kind of file" in err


def test_a_broken_symlink_among_the_photos_is_skipped_with_a_warning(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """A broken link x.png was skipped silently (docs/training.md: unreadable files are skipped with a warning)."""
    photos = tmp_path / "photos"
    _write_image(photos / "a.png", 96)
    _write_image(photos / "b.png", 96)
    (photos / "x.png").symlink_to(tmp_path / "gone.png")
    assert [p.name for p in list_images(photos)] == ["a.png", "b.png", "x.png"]
    capsys.readouterr()
    assert _tiny(tmp_path, str(photos), "--downscale", "1") == 0
    err = capsys.readouterr().err
    assert "skipped 1 of 3 image files" in err and f"{photos / 'x.png'}: a broken symbolic link (to {tmp_path / 'gone.png'})" in err


def test_resume_goes_on_with_the_recorded_recipe(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # `--resume --out RUN` asked for --size again, and with it trained a photo run on dead leaves
    # alone at the default crop and batch (the options not typed again fell back to their defaults)
    photos = tmp_path / "photos"
    for i in range(3):
        _write_image(photos / f"{i}.png", 80 + 8 * i)
    assert _train_cli(tmp_path, str(photos), "--p-dead-leaves", "0.1") == 0
    capsys.readouterr()
    assert main(["train", "--resume", "--steps", "2", "--out", str(tmp_path / "run")]) == 0
    out, err = capsys.readouterr()
    assert "resumed" in out and "another recipe" not in err
    resumed = [json.loads(l) for l in (tmp_path / "run" / "log.jsonl").read_text().splitlines() if "resumed_at_step" in l][-1]
    recipe = resumed["recipe"]
    assert recipe["folders"] == [str(photos)] and recipe["crop"] == 32 and recipe["batch"] == 2
    assert recipe["size"] == "fast" and recipe["p_dead_leaves"] == 0.1 and resumed["changed"] == {}
    # a typed option is this run's, also at its default value (--batch 16 was taken for "not typed")
    assert main(["train", "--resume", "--steps", "3", "--batch", "16", "--out", str(tmp_path / "run")]) == 0
    capsys.readouterr()
    resumed = [json.loads(l) for l in (tmp_path / "run" / "log.jsonl").read_text().splitlines() if "resumed_at_step" in l][-1]
    assert resumed["recipe"]["batch"] == 16 and resumed["recipe"]["crop"] == 32


def test_a_fine_tune_without_lr_starts_gently(tmp_path: Path) -> None:
    # --init with the from-scratch lr (1e-3) took a shipped model from 33.0 to 30.1 dB in 20 steps
    from cvdenoise.train import INIT_LR

    assert _train_cli(tmp_path, "--init", "fast", "--steps", "1") == 0
    card = json.loads((tmp_path / "run" / "color-fast.json").read_text())
    assert card["training"]["recipe"]["lr"] == INIT_LR < TrainConfig.lr
    assert _train_cli(tmp_path / "b", "--init", "fast", "--steps", "1", "--lr", str(TrainConfig.lr)) == 0  # typed: kept
    card = json.loads((tmp_path / "b" / "run" / "color-fast.json").read_text())
    assert card["training"]["recipe"]["lr"] == TrainConfig.lr


@pytest.mark.parametrize("field, value, message", [
    ("folders", "photos", "folders must be a list of folders"),  # (was read letter by letter: "no such folder: p")
    ("crop", "32", "crop must be an integer >= 1"),  # (a bare TypeError from a comparison)
    ("lr", "1e-3", "lr must be a number > 0"),
    ("loss", "l2", "loss must be one of charbonnier"),  # (a ValueError after log.jsonl was written)
    ("steps", 4.5, "steps must be an integer >= 1"),  # (accepted, recorded as 4.5)
    ("ema", 1.5, "ema must be a decay in"),
    ("weight_decay", -1.0, "weight-decay must be a number >= 0"),  # (torch's error, the lock file made)
])
def test_train_config_fields_are_checked_before_anything_is_written(tmp_path: Path, field: str, value: object,
                                                                     message: str) -> None:
    from dataclasses import replace

    from cvdenoise.train import TrainSetupError

    cfg = replace(TrainConfig(out=str(tmp_path / "run"), size="fast", steps=2, batch=2, crop=32, val_size=2), **{field: value})
    with pytest.raises(TrainSetupError, match=message):
        train(cfg)
    assert not (tmp_path / "run").exists()


def test_a_dead_leaves_share_without_photo_folders_is_said_to_have_no_effect(tmp_path: Path,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    # --p-dead-leaves 0 and no folder trained on dead leaves alone, bit for bit as the default, without a word
    assert _train_cli(tmp_path, "--p-dead-leaves", "0") == 0
    assert "no photo folders: every crop is procedural" in capsys.readouterr().err
    assert _train_cli(tmp_path / "b") == 0
    assert "no photo folders" not in capsys.readouterr().err


def test_the_card_says_whether_autocast_ran(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the recipe records amp as asked ("true" on a CPU where bf16 is slow and autocast stays off)
    import cvdenoise.train as train_module

    for fast_bf16, expected in ((False, None), (True, "bfloat16")):
        monkeypatch.setattr(train_module, "cpu_has_fast_bf16", lambda: fast_bf16)
        out = tmp_path / str(fast_bf16)
        assert _train_cli(out) == 0
        card = json.loads((out / "run" / "color-fast.json").read_text())
        assert card["training"]["recipe"]["amp"] is True and card["training"]["autocast"] == expected


def test_train_quiet_has_no_bar_and_the_finished_bar_is_drawn_once(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """``cvdenoise train`` took no ``-q`` (``denoise``/``video``/``detect`` do), and a log showed the
    finished bar twice: the last validation's line redrew it, then ``close()`` drew it again."""
    opts = ["--size", "fast", "--steps", "2", "--batch", "1", "--crop", "32", "--val-every", "1", "--val-size", "1",
            "--threads", "1", "--workers", "0", "--warmup", "1"]
    assert main(["train", "--out", str(tmp_path / "a"), *opts]) == 0
    out, err = capsys.readouterr()
    assert err.count("2/2 [") == 1, err
    assert "step 2: val PSNR" in out
    assert main(["train", "--out", str(tmp_path / "b"), "-q", *opts]) == 0
    out, err = capsys.readouterr()
    assert "step 1: val PSNR" in out and "step 2: val PSNR" in out
    assert "color-fast:" not in err + out and "it/s" not in err + out, err


def test_an_interrupt_after_a_validation_keeps_the_validated_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """The unvalidated export of an interrupted run overwrote the last validated weights."""
    import cvdenoise.train as train_mod

    cfg = _eight_step_run(tmp_path)
    run = tmp_path / "run"
    monkeypatch.setattr(train_mod, "_loss", _loss_failing_at(6, KeyboardInterrupt()))  # after step 4's validation
    with pytest.raises(KeyboardInterrupt):
        train(cfg)
    validated, card = (run / "tiny.safetensors").read_bytes(), json.loads((run / "tiny.json").read_text())
    assert card["training"]["steps_done"] == 4 and card["training"]["val_psnr_db"] is not None
    late = json.loads((run / "tiny-interrupted.json").read_text())["training"]
    assert late["steps_done"] == 5 and late["interrupted"] is True and late["val_psnr_db"] is None
    assert "the last validated ones stay in" in capsys.readouterr().out
    cvdenoise.load(run / "tiny-interrupted.safetensors", strength=1.0)
    # a second interrupt before the next validation replaces the interrupted export, not the validated one
    monkeypatch.setattr(train_mod, "_loss", _loss_failing_at(2, KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        train(cfg, resume=True)
    assert (run / "tiny.safetensors").read_bytes() == validated
    assert json.loads((run / "tiny-interrupted.json").read_text())["training"]["steps_done"] == 6
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert records[-1]["weights"] == str(run / "tiny-interrupted.safetensors")
    # weights whose card a cut-short save lost are not written over either: they cannot be told unvalidated
    (run / "tiny.json").unlink()
    monkeypatch.setattr(train_mod, "_loss", _loss_failing_at(2, KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        train(cfg, resume=True)
    assert (run / "tiny.safetensors").read_bytes() == validated
    assert json.loads((run / "tiny-interrupted.json").read_text())["training"]["steps_done"] == 7
    # a new run refuses a folder holding an interrupted export alone, as it refuses other weights
    other = tmp_path / "other"
    other.mkdir()
    (other / "tiny-interrupted.safetensors").write_bytes((run / "tiny-interrupted.safetensors").read_bytes())
    with pytest.raises(train_mod.TrainSetupError, match="already holds weights tiny-interrupted.safetensors"):
        train(replace(cfg, out=str(other)))
    # the next validation exports over the validated file and removes the stale interrupted one
    monkeypatch.setattr(train_mod, "_loss", _loss)
    train(cfg, resume=True)
    assert json.loads((run / "tiny.json").read_text())["training"]["steps_done"] == 8
    assert not (run / "tiny-interrupted.safetensors").exists() and not (run / "tiny-interrupted.json").exists()
