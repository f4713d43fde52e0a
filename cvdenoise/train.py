"""Training loop: clean images → random crops → on-the-fly degradation → residual autoencoder.

Recipe: Charbonnier (smooth L1) loss, AdamW, linear warm-up then cosine decay, gradient clipping, an exponential moving
average (EMA) of the weights that is validated and exported, bfloat16 mixed precision on CUDA and
on CPUs with AMX or AVX512-BF16 units (``--no-amp`` for float32), fixed
seeds, checkpoints every few minutes and ``--resume``.

Run ``cvdenoise train --help`` (or ``python -m cvdenoise.train``) for the options.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

import torch
from tqdm import tqdm

from .data import PairBatches, PairSampler, load_clean_images
from .degrade import PRESETS
from .degrade_torch import TorchDegrader
from .denoiser import cpu_has_fast_bf16
from .model import CONFIGS, DenoiseAutoencoder, ModelConfig
from .weights import FAMILIES, color_to_gray, grow, load_model, save_weights

__all__ = ["TrainConfig", "train", "psnr", "add_arguments", "main"]


@dataclass
class TrainConfig:
    """Everything that defines a training run (stored in checkpoints and model cards)."""

    out: str = "runs/default"
    name: str = "color-default"
    size: str = "default"
    channels: int = 3
    # architecture overrides of the named size, or of the --init model (grown: weights.grow)
    widths: tuple[int, ...] | None = None
    enc_blocks: tuple[int, ...] | None = None
    dec_blocks: tuple[int, ...] | None = None
    unshuffle: int | None = None
    folders: list[str] = field(default_factory=list)
    downscale: float = 0.5
    p_dead_leaves: float = 0.3
    degradation: str = "mixed"
    crop: int = 64
    batch: int = 16
    steps: int = 20000
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup: int = 300
    ema: float = 0.999
    val_every: int = 500
    val_size: int = 32
    ckpt_minutes: float = 3.0
    seed: int = 0
    threads: int = 0
    device: str = "cpu"
    init: str | None = None  # weights to start from (a .safetensors path or shipped name)
    loss: str = "charbonnier"
    amp: bool = True  # bfloat16 autocast on CUDA and on CPUs with AMX/AVX512-BF16 (~2-3× faster there)
    workers: int = 0  # data-loader processes making pairs (0: in the training process)
    minutes: float = 0.0  # wall-clock budget: the schedule runs on max(step/steps, time/budget)
    device_degrade: float = 0.0  # share of each batch degraded on the training device (TorchDegrader)
    keep_exports: bool = False  # also keep each validation's weights as <name>-step<N>.safetensors


def _mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image mean squared error of ``(B,C,H,W)`` tensors, in float32; returns ``(B,)``."""
    return ((a.float() - b.float()) ** 2).flatten(1).mean(1)


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB of ``(B,C,H,W)`` tensors in ``[0,1]``; returns ``(B,)``."""
    return -10.0 * torch.log10(_mse(a, b).clamp_min(1e-10))


def _loss(pred: torch.Tensor, target: torch.Tensor, kind: str = "charbonnier") -> torch.Tensor:
    """The training loss of a batch ``(B,C,H,W)``, a scalar.

    ``charbonnier`` (smooth L1); ``log-charbonnier`` averages its per-image logarithm (every
    image counts alike, however degraded); ``psnr`` averages the per-image logarithm of the
    mean squared error, i.e. it maximises the mean per-image PSNR (a final fine-tune for PSNR).
    """
    if kind == "psnr":
        return 10.0 * torch.log10(_mse(pred, target) + 1e-6).mean()  # −mean PSNR, capped at 60 dB
    charb = torch.sqrt((pred.float() - target.float()) ** 2 + 1e-6).flatten(1).mean(1)
    if kind == "log-charbonnier":
        return torch.log(charb + 2e-3).mean()
    if kind != "charbonnier":
        raise ValueError(f"unknown loss {kind!r}")
    return charb.mean()


def _lr_at(step: int, cfg: TrainConfig, progress: float | None = None) -> float:
    """Warm-up then cosine decay to 1 % of ``cfg.lr``; ``progress`` in ``[0,1]`` overrides
    the step-based position after warm-up (time-budgeted runs)."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    t = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup) if progress is None else progress
    return 1e-2 * cfg.lr + 0.5 * (cfg.lr - 1e-2 * cfg.lr) * (1 + math.cos(math.pi * min(1.0, t)))


_ARCH_FIELDS = ("widths", "enc_blocks", "dec_blocks", "unshuffle")


def _arch_overrides(cfg: TrainConfig) -> dict[str, Any]:
    return {k: getattr(cfg, k) for k in _ARCH_FIELDS if getattr(cfg, k) is not None}


def _build_model(cfg: TrainConfig) -> DenoiseAutoencoder:
    overrides = _arch_overrides(cfg)
    if cfg.init:
        # a family name ("default", "fast") starts from its member with the run's channel count
        m = load_model(FAMILIES[cfg.init][cfg.channels] if cfg.init in FAMILIES else cfg.init)
        if m.config.channels == 3 and cfg.channels == 1:
            m = color_to_gray(m)
        if m.config.channels != cfg.channels:
            raise ValueError(f"--init has {m.config.channels} channels, training wants {cfg.channels}")
        if overrides:  # more capacity, same function: weights.grow
            m = grow(m, ModelConfig(**{**m.config.__dict__, **overrides}), seed=cfg.seed)
        return m.train()
    if cfg.size not in CONFIGS:
        raise ValueError(f"unknown size {cfg.size!r}; choose from {sorted(CONFIGS)}")
    base = CONFIGS[cfg.size]
    return DenoiseAutoencoder(ModelConfig(**{**base.__dict__, **overrides, "channels": cfg.channels}))


def train(cfg: TrainConfig, resume: bool = False) -> Path:
    """Train (or resume) and return the path of the exported EMA ``.safetensors``."""
    if not 0.0 <= cfg.device_degrade <= 1.0:
        raise ValueError(f"device_degrade is a share of the batch in [0, 1], got {cfg.device_degrade}")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    device = torch.device(cfg.device)
    model = _build_model(cfg)  # before the (slow) photo loading: a bad architecture fails at once

    images = load_clean_images(cfg.folders, min_size=cfg.crop, downscale=cfg.downscale) if cfg.folders else []
    if cfg.folders and not images:
        raise ValueError(f"no readable images of at least {cfg.crop}px in {cfg.folders}")
    # hold out every 10th photo for validation
    val_imgs, train_imgs = images[::10], [im for i, im in enumerate(images) if i % 10]
    pair_kwargs: dict[str, Any] = dict(
        crop=cfg.crop, channels=cfg.channels, degradation=cfg.degradation,
        p_dead_leaves=cfg.p_dead_leaves if train_imgs else 1.0,
    )
    sampler = PairSampler(train_imgs, seed=cfg.seed, **pair_kwargs)
    val_sampler = PairSampler(
        val_imgs, crop=max(cfg.crop, 96), channels=cfg.channels, degradation=cfg.degradation,
        p_dead_leaves=0.0 if val_imgs else 1.0, seed=10_000 + cfg.seed, leaves_pool=8,
    )
    val_noisy, val_clean = val_sampler.batch(cfg.val_size)

    # oneDNN (CPU, bf16 AMX/AVX512-BF16 kernels) and cuDNN (tensor cores) are fastest in channels-last
    fmt = torch.channels_last
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    model = model.to(device).to(memory_format=fmt)
    ema = copy.deepcopy(model).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    use_amp = cfg.amp and (device.type == "cuda" or (device.type == "cpu" and cpu_has_fast_bf16()))
    step, best, elapsed_before = 0, -1.0, 0.0
    ckpt = out / "last.pt"
    if resume and ckpt.is_file():
        state = torch.load(ckpt, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["opt"])
        step, best, elapsed_before = state["step"], state["best"], state.get("elapsed", 0.0)
        sampler.rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        print(f"resumed {ckpt} at step {step}")
    log = (out / "log.jsonl").open("a")

    def export(tag: str, val_psnr: float) -> Path:
        card = {
            "training": {"recipe": asdict(cfg), "steps_done": step, "val_psnr_db": round(val_psnr, 3)},
        }
        return save_weights(ema, out / f"{cfg.name}{tag}.safetensors", card)

    def validate() -> float:
        ema.eval()
        with torch.inference_mode():
            outs = torch.cat([ema(val_noisy[i : i + 8].to(device)) for i in range(0, len(val_noisy), 8)])
        return float(psnr(outs.cpu(), val_clean).mean())

    # the first n_cpu crops of a batch are degraded by the albumentations chain (data workers),
    # the rest by the batched torch chain on the training device (a GPU outruns the workers)
    n_cpu = cfg.batch - round(cfg.batch * cfg.device_degrade)
    device_degrader = TorchDegrader(cfg.degradation, seed=cfg.seed + 7 + step) if n_cpu < cfg.batch else None
    batches: Iterator[tuple[torch.Tensor, torch.Tensor]]
    if cfg.workers > 0:
        # pairs are made in worker processes (the CPU side is the bottleneck on a GPU); resuming
        # restores the weights, optimiser and step but not the workers' random streams
        loader = torch.utils.data.DataLoader(
            PairBatches(train_imgs, cfg.batch, seed=cfg.seed + step, degraded=n_cpu, **pair_kwargs), batch_size=None,
            num_workers=cfg.workers, pin_memory=device.type == "cuda", prefetch_factor=4,
            persistent_workers=True,
        )
        batches = iter(loader)
    else:
        batches = iter(lambda: sampler.batch(cfg.batch, n_cpu), None)

    start = time.time() - elapsed_before  # wall-clock seconds trained, across resumes
    budget_s = cfg.minutes * 60

    def progress() -> float | None:
        """Schedule position after warm-up when a time budget is set (else step-based)."""
        if budget_s <= 0:
            return None
        by_steps = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
        return min(1.0, max(by_steps, (time.time() - start) / budget_s))

    def finished() -> bool:
        p = progress()
        return step >= cfg.steps or (p is not None and p >= 1.0)

    ema_params: list[torch.Tensor] = list(ema.parameters())
    model_params: list[torch.Tensor] = list(model.parameters())
    last_ckpt = time.time()
    bar = tqdm(total=cfg.steps, initial=step, desc=cfg.name, dynamic_ncols=True, mininterval=5)
    model.train()
    while not finished():
        noisy, clean = next(batches)
        noisy = noisy.to(device, non_blocking=True)
        clean = clean.to(device, non_blocking=True)
        if device_degrader is not None:
            noisy = torch.cat([noisy, device_degrader(clean[n_cpu:])])
        noisy = noisy.contiguous(memory_format=fmt)
        clean = clean.contiguous(memory_format=fmt)
        for g in opt.param_groups:
            g["lr"] = _lr_at(step, cfg, progress())
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
            pred = model(noisy)
        loss = _loss(pred, clean, cfg.loss)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            d = min(cfg.ema, (1 + step) / (10 + step))
            torch._foreach_lerp_(ema_params, model_params, 1 - d)
        step += 1
        bar.update(1)
        if step % 50 == 0:
            post = {"loss": f"{loss.item():.3f}", "lr": f"{opt.param_groups[0]['lr']:.1e}"}
            if budget_s > 0:
                post["left"] = f"{max(0.0, budget_s - (time.time() - start)) / 60:.1f} min"
            bar.set_postfix(post)
        done = finished()
        if step % cfg.val_every == 0 or done:
            v = validate()
            log.write(json.dumps({"step": step, "loss": loss.item(), "val_psnr": v, "time": time.time()}) + "\n")
            log.flush()
            tqdm.write(f"step {step}: val PSNR {v:.2f} dB")
            export("", v)
            if cfg.keep_exports:
                export(f"-step{step}", v)
            best = max(best, v)
        if time.time() - last_ckpt > cfg.ckpt_minutes * 60 or done:
            tmp = ckpt.with_suffix(".tmp")
            torch.save(
                {
                    "model": model.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(),
                    "step": step, "best": best, "rng": sampler.rng.bit_generator.state,
                    "torch_rng": torch.get_rng_state(), "config": asdict(cfg),
                    "elapsed": time.time() - start,
                },
                tmp,
            )
            tmp.replace(ckpt)
            last_ckpt = time.time()
    bar.close()
    return out / f"{cfg.name}.safetensors"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``cvdenoise train`` (shared with ``python -m cvdenoise.train``)."""
    d = TrainConfig()
    p.add_argument("folders", nargs="*", help="folders of clean images (none: dead leaves only)")
    p.add_argument("--out", default=d.out, help="run folder for checkpoints, logs and weights")
    p.add_argument("--name", default=None, help="weights name (default: <gray|color>-<size>)")
    p.add_argument("--size", default=d.size, choices=sorted(CONFIGS))
    p.add_argument("--channels", type=int, default=d.channels, choices=(1, 3))
    arch = "overrides --size's architecture, or grows the --init model to it (same output at the start)"
    p.add_argument("--widths", type=int, nargs="+", default=None, metavar="W", help=f"feature channels per level, {arch}")
    p.add_argument("--enc-blocks", type=int, nargs="+", default=None, metavar="N", help=f"residual blocks per encoder level, {arch}")
    p.add_argument("--dec-blocks", type=int, nargs="+", default=None, metavar="N", help=f"residual blocks per decoder level, {arch}")
    p.add_argument("--unshuffle", type=int, default=None, help=f"pixel-unshuffle factor, {arch}")
    p.add_argument("--steps", type=int, default=d.steps)
    p.add_argument("--batch", type=int, default=d.batch)
    p.add_argument("--crop", type=int, default=d.crop)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--warmup", type=int, default=d.warmup)
    p.add_argument("--downscale", type=float, default=d.downscale, help="shrink photos first (cleaner targets)")
    p.add_argument("--p-dead-leaves", type=float, default=d.p_dead_leaves)
    p.add_argument("--degradation", default=d.degradation, choices=sorted(PRESETS), metavar="PRESET",
                   help=f"degradation preset for the noisy inputs: {', '.join(sorted(PRESETS))} (default: {d.degradation})")
    p.add_argument("--val-every", type=int, default=d.val_every)
    p.add_argument("--val-size", type=int, default=d.val_size)
    p.add_argument("--ckpt-minutes", type=float, default=d.ckpt_minutes)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--threads", type=int, default=d.threads, help="torch CPU threads (0: torch default)")
    p.add_argument("--device", default=d.device)
    p.add_argument("--init", default=None,
                   help="start from these weights: a file, a shipped name or default/fast (colour → gray converted)")
    p.add_argument("--loss", default=d.loss, choices=("charbonnier", "log-charbonnier", "psnr"),
                   help="charbonnier (smooth L1), log-charbonnier (its per-image log), psnr (per-image log MSE)")
    p.add_argument("--no-amp", dest="amp", action="store_false",
                   help="train in float32 (default: bfloat16 autocast on CUDA and AMX/AVX512-BF16 CPUs)")
    p.add_argument("--workers", type=int, default=d.workers,
                   help="data-loader processes that make the pairs (use most CPU cores when training on a GPU)")
    p.add_argument("--minutes", type=float, default=d.minutes,
                   help="wall-clock budget; the cosine schedule then ends when the budget or --steps runs out")
    p.add_argument("--device-degrade", type=float, default=d.device_degrade,
                   help="share of each batch degraded on the training device by the batched torch chain "
                        "(cvdenoise.degrade_torch; 0.9 kept an H200 busy), the rest by the albumentations chain")
    p.add_argument("--keep-exports", action="store_true",
                   help="also keep the weights of every validation as <out>/<name>-step<N>.safetensors "
                        "(by default each validation overwrites <out>/<name>.safetensors)")
    p.add_argument("--resume", action="store_true", help="continue from <out>/last.pt")


def _tuple(v: list[int] | None) -> tuple[int, ...] | None:
    return None if v is None else tuple(v)


def main(args: argparse.Namespace) -> int:
    name = args.name or f"{'gray' if args.channels == 1 else 'color'}-{args.size}"
    cfg = TrainConfig(
        out=args.out, name=name, size=args.size, channels=args.channels, folders=list(args.folders),
        widths=_tuple(args.widths), enc_blocks=_tuple(args.enc_blocks), dec_blocks=_tuple(args.dec_blocks),
        unshuffle=args.unshuffle,
        downscale=args.downscale, p_dead_leaves=args.p_dead_leaves, degradation=args.degradation,
        crop=args.crop, batch=args.batch, steps=args.steps, lr=args.lr, warmup=args.warmup,
        val_every=args.val_every, val_size=args.val_size, ckpt_minutes=args.ckpt_minutes, seed=args.seed, threads=args.threads,
        device=args.device, init=args.init, loss=args.loss, amp=args.amp,
        workers=args.workers, minutes=args.minutes, device_degrade=args.device_degrade,
        keep_exports=args.keep_exports,
    )
    path = train(cfg, resume=args.resume)
    print(f"weights: {path}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m cvdenoise.train", description=__doc__)
    add_arguments(parser)
    raise SystemExit(main(parser.parse_args()))
