"""Shipped weights: registry, safetensors save/load, model cards and checks.

Weights are stored as ``<name>.safetensors`` (never pickle) next to ``<name>.json``, a small
model card (architecture config, training recipe, parameter count, benchmark figures). The
architecture config is also embedded in the safetensors header, so a file is self-describing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load, save

from ._fs import atomic_write
from .model import DenoiseAutoencoder, ModelConfig, count_macs, count_params

__all__ = [
    "WEIGHTS_DIR",
    "FAMILIES",
    "GRAY_TWINS",
    "available",
    "resolve",
    "save_weights",
    "load_model",
    "read_card",
    "WeightsError",
    "color_to_gray",
    "grow",
]

#: Folder of the shipped weights (inside the installed package data or the source checkout).
WEIGHTS_DIR = Path(__file__).resolve().parent / "_weights"
if not WEIGHTS_DIR.is_dir():  # editable install / source checkout: repo-root weights/
    WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"

#: Short names → shipped file per channel count.
FAMILIES: dict[str, dict[int, str]] = {
    "default": {3: "color-default", 1: "gray-default"},
    "fast": {3: "color-fast", 1: "gray-fast"},
}
#: shipped colour-only weights → the gray model that denoises gray images for them (the colour
#: model on three equal planes: noise equal in every channel, which the white-noise specialist,
#: trained on noise independent per channel, read as detail — +0.15 dB on a gray σ=25 image,
#: where gray-default gains 8.6)
GRAY_TWINS: dict[str, str] = {"color-default-awgn": "gray-default"}


class WeightsError(ValueError):
    """A weights file is missing, unreadable or does not match the architecture."""


def available() -> list[str]:
    """Names of the shipped weight files (without suffix)."""
    return sorted(p.stem for p in WEIGHTS_DIR.glob("*.safetensors"))


def resolve(name: str | Path) -> Path:
    """Shipped name (``color-default``) or a path → existing ``.safetensors`` path.

    A shipped name given as a ``str`` means the shipped file even where a file or folder of that
    name exists in the working directory (e.g. an output folder named ``color-default``); a
    ``Path``, a name with a folder part or the ``.safetensors`` suffix means that path (found
    without its suffix too: ``runs/x/color-fast`` is ``runs/x/color-fast.safetensors``).
    """
    p = Path(name)
    if isinstance(name, str) and p.name == name and p.suffix != ".safetensors":
        shipped = WEIGHTS_DIR / f"{name}.safetensors"
        if shipped.is_file():
            return shipped
    if p.suffix == ".safetensors" or p.exists():
        if p.is_dir():
            raise WeightsError(f"weights must be a .safetensors file, got a folder: {p}")
        if not p.is_file():
            shipped_name = p.stem if p.name == str(name) and (WEIGHTS_DIR / p.name).is_file() else None
            raise WeightsError(f"weights file not found: {p}"
                               + (f" (the shipped weights of that name: pass {shipped_name!r})" if shipped_name else ""))
        return p
    for cand in (WEIGHTS_DIR / f"{name}.safetensors", Path(f"{name}.safetensors")):  # shipped, then a path without its suffix
        if cand.is_file():
            return cand
    if str(name) in FAMILIES:
        pair = FAMILIES[str(name)]
        raise WeightsError(
            f"{str(name)!r} names a colour + gray pair of files: use {pair[3]!r} or {pair[1]!r} here "
            f"(cvdenoise.load({str(name)!r}) picks the one matching each image's channels)"
        )
    names = sorted(set(available()) | set(FAMILIES))
    near = [n for n in names if n.lower() == p.name.lower().removesuffix(".safetensors")]
    hint = f" (did you mean {near[0]!r}? names are lower-case)" if near else ""
    raise WeightsError(f"unknown weights {str(name)!r}: not a file and not one of {names}{hint}")


#: the first bytes of files that get renamed .safetensors by mistake
_SIGNATURES = {b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image", b"II*\x00": "a TIFF image",
               b"MM\x00*": "a TIFF image", b"{": "a JSON or text file", b"\x08": "an ONNX model (protobuf)"}


def _damage_hint(data: bytes) -> str:
    """What the bytes of an unreadable ``.safetensors`` file are instead: truncated (its header
    describes more bytes than it holds), or another kind of file by its first bytes; ``""`` if
    neither is seen."""
    with contextlib.suppress(ValueError, UnicodeDecodeError, TypeError, AttributeError):
        n, header = _header(data)
        ends = [int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__" and isinstance(v, dict)]
        need, have = 8 + n + max(ends, default=0), len(data)
        if have < need:
            return (f" (truncated: its header describes {need} bytes, the file holds {have}; an interrupted copy or "
                    "download? copy it again)")
    kind = next((what for sig, what in _SIGNATURES.items() if data.startswith(sig)), None)
    return f" (its first bytes are those of {kind}, not of weights)" if kind else ""


def _header(data: bytes) -> tuple[int, dict[str, Any]]:
    """The length and the JSON object of a safetensors file's header (``ValueError`` if it is none)."""
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    if not isinstance(header, dict):
        raise ValueError(f"the header is a JSON {type(header).__name__}, not an object")
    return n, header


def _fixed_metadata_order(data: bytes) -> bytes:
    """safetensors bytes with the header's ``__metadata__`` keys in sorted order: safetensors
    writes them in a random order per process, so the same weights gave files of other bytes
    (checksums differed). Tensor entries and data are kept as they are; the header stays padded
    with spaces to a multiple of 8 bytes, as safetensors pads it."""
    n, header = _header(data)
    if isinstance(header.get("__metadata__"), dict):
        header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text + data[8 + n :]


def save_weights(
    model: DenoiseAutoencoder,
    path: str | Path,
    card: dict[str, Any] | None = None,
    storage: torch.dtype = torch.float32,
) -> Path:
    """Write ``path`` (.safetensors, config in the header) and ``path.with_suffix('.json')``.

    ``storage=torch.float16`` halves the file (the shipped default models use it); loading
    always builds a float32 model, so only the weights' rounding changes (< 0.01 dB here).
    """
    if storage not in (torch.float32, torch.float16):
        raise ValueError(f"storage must be torch.float32 or torch.float16, got {storage}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cfg = model.config.to_dict()
    state = {k: v.detach().cpu().to(storage).contiguous() for k, v in model.state_dict().items()}
    data = _fixed_metadata_order(save(state, metadata={"format": "cvdenoise", "config": json.dumps(cfg)}))
    # a card must not outlive the bytes it hashes: a save stopped between the two writes leaves
    # weights without a card (they load), not new weights beside the old card (refused as damaged)
    path.with_suffix(".json").unlink(missing_ok=True)
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))
    full = {
        "name": path.stem,
        "architecture": "DenoiseAutoencoder",
        "config": cfg,
        "parameters": count_params(model),
        "macs_per_pixel": round(count_macs(model)),
        "multiple": model.config.multiple,
        "storage_dtype": str(storage).removeprefix("torch."),
        "input": f"(B,{model.config.channels},H,W) float32 in [0,1], RGB order" if model.config.channels == 3
        else "(B,1,H,W) float32 in [0,1]",
    }
    card = card or {}
    other = card.get("config", cfg) != cfg  # another model's card: its rule and figures are not these weights'
    # a card passed on adds what the file cannot say (training record, strength rule); the file's own facts win
    full.update({k: v for k, v in card.items() if k not in full and not (other and k in ("auto_strength", "gate_reading", "benchmark"))})
    full["file_sha256"] = hashlib.sha256(data).hexdigest()
    text = json.dumps(full, indent=2) + "\n"
    atomic_write(path.with_suffix(".json"), lambda tmp: Path(tmp).write_text(text))
    return path


def read_card(name: str | Path) -> dict[str, Any]:
    """The JSON model card of shipped or local weights (empty dict when a weights file has none).

    ``name``: a shipped file name (``"color-fast"``) or a ``.safetensors`` path; a family name
    (``"fast"``) names a colour + gray pair, so it has no single card.

    Raises:
        WeightsError: an unknown name or a family name, a weights file that does not exist, or a
            card that is not a readable JSON object.
    """
    p = resolve(name).with_suffix(".json")
    if not p.is_file():
        return {}
    try:
        card = json.loads(p.read_text())
    except (ValueError, OSError, RecursionError) as e:  # (RecursionError: a hostile, deeply nested card)
        raise WeightsError(f"{p}: the model card is not readable JSON: {e}") from e
    if not isinstance(card, dict):
        raise WeightsError(f"{p}: the model card must be a JSON object, got {type(card).__name__}")
    return card


def load_model(name: str | Path, config: ModelConfig | None = None) -> DenoiseAutoencoder:
    """Build the model described by a weights file and load it, checking every tensor.

    Raises:
        WeightsError: the file is missing or not safetensors, carries no/invalid config, or
            its tensors do not match the architecture (missing/unexpected keys, wrong shapes) or
            hold NaN/inf values.
    """
    path = resolve(name)
    head = b""
    if path.is_file():
        with open(path, "rb") as fh:
            head = fh.read(2)
    if head in (b"PK", b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05"):  # zip / pickle: torch.save output
        raise WeightsError(
            f"{path} is a PyTorch checkpoint (torch.save / pickle) or TorchScript file, not safetensors: cvdenoise "
            "loads weights only from .safetensors (a run's last.pt continues with cvdenoise train --resume; "
            "a TorchScript export is loaded by its .pt or .ts suffix)"
        )
    data = b""
    try:
        data = path.read_bytes()  # (read once: the bytes loaded are the bytes the card's digest is checked on)
        state = load(data)
        meta = _header(data)[1].get("__metadata__") or {}
    except (SafetensorError, OSError, ValueError) as e:  # corrupt header, truncated file, …
        from .backends import EXPORTED_SUFFIXES
        from .dicom import DICOM_SUFFIXES
        from .io import IMAGE_SUFFIXES, OTHER_IMAGE_SUFFIXES

        if path.suffix.lower() == ".json":  # (safetensors' own words, "header too large", would only mislead)
            raise WeightsError(f"{path} is a model card, not weights: pass the weights file next to it, "
                               f"{path.with_suffix('.safetensors').name}") from e
        if path.suffix.lower() == ".safetensors":
            hint = _damage_hint(data)
        elif path.suffix.lower() in EXPORTED_SUFFIXES:
            hint = " (an exported model, not weights: cvdenoise.load() runs it, the weights commands do not)"
        elif path.suffix.lower() in (*IMAGE_SUFFIXES, *OTHER_IMAGE_SUFFIXES, *DICOM_SUFFIXES):
            hint = " (an image, not weights)"
        else:
            hint = " (an exported model is loaded by its suffix: name an ONNX export .onnx, a TorchScript one .pt or .ts)"
        raise WeightsError(f"{path} is not a readable safetensors file: {e}{hint}") from e
    if config is None:
        if "config" not in meta:
            raise WeightsError(f"{path} has no cvdenoise architecture config in its header")
        try:
            config = ModelConfig.from_dict(json.loads(meta["config"]))
        except (ValueError, TypeError, RecursionError) as e:
            raise WeightsError(f"{path}: invalid architecture config: {e}") from e
    try:
        with torch.device("meta"):  # shapes only: a hostile header's config allocates nothing before the check
            expected = DenoiseAutoencoder(config).to(torch.float32).state_dict()  # (float32 whatever the default dtype)
    except (TypeError, ValueError, RuntimeError) as e:  # (a config ModelConfig's checks let through)
        raise WeightsError(f"{path}: cannot build the architecture {config}: {e}") from e
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} tensors (e.g. {missing[:3]})")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} tensors (e.g. {unexpected[:3]})")
        if wrong:
            parts.append(f"{len(wrong)} shape mismatches (e.g. {wrong[:2]})")
        raise WeightsError(f"{path} does not match architecture {config}: " + "; ".join(parts))
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:  # a damaged payload: the model would output NaN (uint8: all black)
        raise WeightsError(f"{path}: {len(bad)} tensors hold NaN or inf values (e.g. {bad[:3]}); the file is damaged")
    integer = sorted(k for k, v in state.items() if expected[k].is_floating_point() and not v.is_floating_point())
    if integer:  # e.g. weights cast to int8: they would load as garbage
        raise WeightsError(f"{path}: tensors must be floating point; {integer[0]} is {state[integer[0]].dtype}"
                           + (f" (and {len(integer) - 1} more)" if len(integer) > 1 else ""))
    _check_card(path, config, state, data)
    model = blank_model(config)
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()}, assign=True)
    return model.eval()


def _check_card(path: Path, config: ModelConfig, state: dict[str, torch.Tensor], data: bytes) -> None:
    """``WeightsError`` when the model card beside ``path`` does not describe it: its recorded
    ``file_sha256`` (written by :func:`save_weights`) is not that of ``data``, the file's bytes — a damaged
    payload (one flipped bit turned the shipped ``fast`` model's output into noise) or other
    weights copied over the file — or its ``config`` / ``parameters`` are another model's (whose
    automatic-strength rule would be applied). Cards without a digest (older ones) get the
    config and parameter checks alone."""
    card = read_card(path)
    name = path.with_suffix(".json").name
    recorded = card.get("file_sha256")
    if recorded is not None and not isinstance(recorded, str):  # (a hand-edited card: not a check skipped silently)
        raise WeightsError(f"{path}: its model card {name} has a file_sha256 entry that is no hex string: {recorded!r} "
                           f"(delete the entry, or the card, for weights of your own)")
    digest = hashlib.sha256(data).hexdigest() if isinstance(recorded, str) else ""
    if isinstance(recorded, str) and digest != recorded:
        raise WeightsError(
            f"{path}: its sha256 is {digest[:12]}…, but its model card {name} records {recorded[:12]}…: the "
            "weights file is damaged, was replaced by other weights or its save was interrupted (restore it; "
            f"for weights of your own, delete {name} or its file_sha256 entry)")
    other: list[str] = []
    if "config" in card:
        try:
            described = ModelConfig.from_dict(card["config"])
        except (ValueError, TypeError, RecursionError, AttributeError) as e:
            raise WeightsError(f"{path}: the config in its model card {name} is not readable ({e})") from e
        if described != config:
            other.append(f"config {card['config']!r} (the file's: {config.to_dict()!r})")
    n = sum(v.numel() for v in state.values())
    if "parameters" in card and card["parameters"] != n:
        other.append(f"{card['parameters']!r} parameters (the file holds {n})")
    if other:
        raise WeightsError(f"{path}: its model card {name} describes other weights: " + "; ".join(other)
                           + " — give the file its own card or none (benchmarks/strength.py --calibrate fits a rule)")


def blank_model(config: ModelConfig) -> DenoiseAutoencoder:
    """A model of ``config`` whose weights are about to be given (``load_state_dict(state,
    assign=True)``): built on the meta device, so no memory is filled with a random
    initialisation only to be overwritten (a third of a load's time); the caller's global torch
    random stream is left alone. Float32 whatever ``torch.get_default_dtype()`` is (with float64
    set there, the weights were cast to float64 and every call failed deep in ``conv2d``)."""
    with torch.random.fork_rng(devices=[]), torch.device("meta"):
        return DenoiseAutoencoder(config).to(torch.float32)


def color_to_gray(model: DenoiseAutoencoder) -> DenoiseAutoencoder:
    """Exact 1-channel twin of an RGB model.

    The gray model computes ``mean_c(color_model(gray.repeat(3)))``: input-conv weights of the
    three colour planes are summed, output-conv weights averaged. A starting point for
    fine-tuning on gray data.
    """
    cfg = model.config
    if cfg.channels != 3:
        raise ValueError("color_to_gray needs a 3-channel model")
    f2 = cfg.unshuffle**2
    gray = DenoiseAutoencoder(ModelConfig(**{**cfg.__dict__, "channels": 1}))
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    # pixel_unshuffle orders channels as c * f² + offset
    w = sd["head.weight"]
    sd["head.weight"] = w.view(w.shape[0], 3, f2, *w.shape[2:]).sum(1)
    tw, tb = sd["tail.weight"], sd["tail.bias"]
    sd["tail.weight"] = tw.view(3, f2, *tw.shape[1:]).mean(0)
    sd["tail.bias"] = tb.view(3, f2).mean(0)
    gray.load_state_dict(sd)
    return gray.eval()


def grow(model: DenoiseAutoencoder, config: ModelConfig, seed: int = 0) -> DenoiseAutoencoder:
    """A larger model that computes exactly what ``model`` computes (a warm start for more capacity).

    ``config`` may widen levels (``widths``) and add residual blocks (``enc_blocks``,
    ``dec_blocks``) but keeps ``channels``, ``unshuffle`` and the number of levels. Trained
    weights are copied into the leading slices; weights that *write* new channels get the
    usual random initialisation (so the new channels carry features and learn), weights that
    carry new channels into old ones are zero, and each added block's second convolution is
    zero (the block starts as the identity). The output is unchanged until training moves
    the zeros.

    Raises:
        ValueError: ``config`` shrinks the model or changes channels, unshuffle or depth.
    """
    old = model.config
    if (config.channels, config.unshuffle, len(config.widths)) != (old.channels, old.unshuffle, len(old.widths)):
        raise ValueError(
            f"grow keeps channels, unshuffle and the number of levels: {old.channels}/{old.unshuffle}/"
            f"{len(old.widths)} → {config.channels}/{config.unshuffle}/{len(config.widths)}"
        )
    pairs = zip(old.widths + old.enc_blocks + old.dec_blocks, config.widths + config.enc_blocks + config.dec_blocks)
    if any(n < o for o, n in pairs):
        raise ValueError(f"grow cannot shrink a model: {old} → {config}")
    with torch.random.fork_rng(devices=[]):  # seeded new weights, caller's RNG state untouched
        torch.manual_seed(seed)
        big = DenoiseAutoencoder(config)
    sd_old, sd = model.state_dict(), big.state_dict()
    transposed = {f"{k}.weight" for k, m in big.named_modules() if isinstance(m, torch.nn.ConvTranspose2d)}
    with torch.no_grad():
        for k, w in sd.items():
            if k not in sd_old:  # an added block: zero its output convolution → identity
                if ".conv2." in k:
                    w.zero_()
                continue
            o = sd_old[k]
            if o.ndim == 1:  # bias: old outputs keep theirs, new outputs keep the random init
                w[: o.shape[0]] = o
                continue
            out_dim, in_dim = (1, 0) if k in transposed else (0, 1)
            n_out, n_in = o.shape[out_dim], o.shape[in_dim]
            old_out = w.narrow(out_dim, 0, n_out)
            old_out.zero_()  # new inputs → old outputs: zero
            old_out.narrow(in_dim, 0, n_in).copy_(o)
    big.load_state_dict(sd)
    return big.train(model.training)
