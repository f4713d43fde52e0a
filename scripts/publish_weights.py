"""Copy trained runs into weights/ as the shipped models, with complete model cards.

    python scripts/publish_weights.py RUNS_DIR

expects RUNS_DIR/<name>/<name>.safetensors (+ .json written by ``cvdenoise train``) for
color-default, color-fast, gray-default, gray-fast. A gray run that is missing is replaced by
the exact colour→gray conversion of its colour model (``cvdenoise.weights.color_to_gray``);
with ``--keep-missing`` any missing run keeps its shipped file instead.
Benchmark figures are added to the cards afterwards by ``benchmarks/quality.py --update-cards``.

    python scripts/publish_weights.py --specialist RUN.safetensors NAME

publishes a specialist fine-tuned from a shipped model (``color-default-awgn``: white Gaussian
noise only) as ``weights/NAME.safetensors``, with its training record.
"""

from __future__ import annotations

import json
import os
from pathlib import Path, PureWindowsPath

import torch

from cvdenoise.model import CONFIGS, DenoiseAutoencoder
from cvdenoise.weights import color_to_gray, load_model, save_weights

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "weights"
#: a card's ``recipe_doc``: RECIPE.md beside the card (weights/ in the repository, cvdenoise/_weights/ installed)
RECIPE_DOC = "RECIPE.md"
TRAINING_DATA = (
    "OpenCV sample photos (Debian package opencv-doc 4.6.0, examples/data){extra}; every 10th file held "
    "out for validation; downscaled ×{downscale:g}, plus {dead_leaves:g} % procedural dead-leaves images; degradations: "
    "cvdenoise.degrade preset '{preset}'"
)
EXTRA_DATA = (
    " and 56 more images (scripts/training_photos.py: Debian wallpaper photos and renders, scikit-image "
    "and matplotlib sample images that the quality benchmark does not use, Ultralytics' bus/zidane)"
)
MORE_DATA = (
    " and 20 high-resolution photographs (scripts/training_photos.py OUT/more: wallpapers of the Debian "
    "packages plasma-workspace-wallpapers and lomiri-wallpapers-16.04)"
)


def _data_text(recipe: dict) -> str:
    folders = [str(f).rstrip("/") for f in recipe.get("folders", [])]
    extra = (EXTRA_DATA if any(f.endswith("extra") for f in folders) else "") + (
        MORE_DATA if any(f.endswith("more") for f in folders) else ""
    )
    text = TRAINING_DATA.format(
        extra=extra, preset=recipe.get("degradation", "mixed"), downscale=recipe.get("downscale", 0.5),
        dead_leaves=round(100 * recipe.get("p_dead_leaves", 0.3), 1),
    )
    gain = recipe.get("p_colour_gain") or 0
    if gain:
        text += f"; {round(100 * gain, 1):g} % of the clean crops with random per-channel gains (dark saturated colours)"
    drawings = recipe.get("p_drawing") or 0
    if drawings:
        text += (f"; {round(100 * drawings, 1):g} % procedural drawings (cvdenoise.data.drawing: text in OpenCV's "
                 "fonts, lines and shapes on flat backgrounds)")
    lights = recipe.get("p_lights") or 0
    if lights:
        glow, gain, aa = recipe.get("lights_glow", 0.33), recipe.get("lights_max_gain", 0.5), recipe.get("lights_aa", 0.7)
        text += (f"; {round(100 * lights, 1):g} % of the photo crops made night scenes with full-white or saturated "
                 "lights (cvdenoise.data.add_lights" + ("" if glow == 0.33 else f", {round(100 * glow, 1):g} % of them with a glow")
                 + ("" if gain == 0.5 else f", scene gain up to {gain:g}")
                 + ("" if aa == 0.7 else f", {round(100 * aa, 1):g} % anti-aliased") + ")")
    return text


def _rewrite_data_lines(stage: dict | None) -> None:
    """Rewrite the data line of ``stage`` and of every earlier stage nested in it from its recipe.

    Cards published before the data line followed the recipe all said 30 % dead leaves; a stage
    whose recipe names no folders (a record without the run's arguments) keeps its line.
    """
    while stage:
        if stage.get("recipe", {}).get("folders"):
            stage["data"] = _data_text(stage["recipe"])
        stage = stage.get("previous_stage")


def _previous_stage(name: str, recipe: dict, depth: int = 0) -> dict | None:
    """The training record of the weights this run started from (``--init``), if known.

    ``--init`` may be a run's weights file (its card sits beside it), a shipped name (``name``,
    its family, or another model such as the colour twin of a gray run) or a shipped file. A run
    card that was itself published is replaced by its shipped card, which also holds the history
    before it (``training.previous_stage``, nested); an unpublished run card gets its own
    ``previous_stage`` the same way (e.g. a gray run started from a colour run on another machine,
    whose ``--init`` path is that run's: resolved through the shipped card of that name).
    """
    init = str(recipe.get("init") or "")
    if not init or depth > 20:
        return None
    if init.endswith(f"{name}.safetensors") or init in (name, name.split("-")[1]):  # file, name or family
        shipped_name = name
    else:
        shipped_name = Path(init).stem if init.endswith(".safetensors") else init
    shipped_card = HERE / f"{shipped_name}.json"
    shipped = json.loads(shipped_card.read_text()).get("training") if shipped_card.is_file() else None
    if shipped is not None:
        shipped = {k: v for k, v in shipped.items() if k != "recipe_doc"}
    sibling = Path(init).with_suffix(".json")
    if sibling.is_file():  # a run folder's card (or the shipped card when --init weights/<name>...)
        record = json.loads(sibling.read_text()).get("training", {})
        # (compared as published: a shipped card's paths are portable, a run card's may not be)
        if _portable_recipe(record.get("recipe")) == _portable_recipe(recipe):  # this very run, already published
            return record.get("previous_stage")
        if shipped:
            _graft_history(record, shipped)
        if (shipped and "previous_stage" not in record
                and _portable_recipe(shipped.get("recipe")) == _portable_recipe(record.get("recipe"))):
            return shipped  # that run is the shipped model: its card keeps the earlier stages too
        if "previous_stage" not in record and record.get("recipe"):
            earlier = _previous_stage(str(record["recipe"].get("name") or name), record["recipe"], depth + 1)
            if earlier is not None:
                record["previous_stage"] = earlier
        return record
    return shipped


def _graft_history(record: dict, shipped: dict) -> None:
    """Complete ``record``'s chain of ``previous_stage`` in place where it ends at the shipped model's own
    stage without that stage's history (a run card written at training time records the stage it started
    from, not the stages before that): the shipped card holds them."""
    node = record
    while isinstance(node.get("previous_stage"), dict):
        node = node["previous_stage"]
    if (node is not record and "previous_stage" in shipped
            and _portable_recipe(node.get("recipe")) == _portable_recipe(shipped.get("recipe"))):
        node["previous_stage"] = shipped["previous_stage"]


def _portable_path(value: str) -> str:
    """``value`` as a published card records it: no path of the machine a run was made on.

    A relative path stays as it is; an absolute one becomes relative to the repository or the
    working folder when it lies inside them, else only its last part (the run's or data folder's name).
    """
    if PureWindowsPath(value).is_absolute() and not os.path.isabs(value):  # C:\... seen on POSIX
        return PureWindowsPath(value).name
    expanded = os.path.expanduser(value)
    if not os.path.isabs(expanded):
        return value
    path = Path(expanded).resolve()
    for base in (ROOT, Path.cwd()):
        try:
            return path.relative_to(base.resolve()).as_posix()
        except ValueError:
            pass
    return path.name


def _portable_recipe(recipe: dict | None) -> dict | None:
    """``recipe`` with every path value (``out``, ``folders``, ``init``, ...) made portable."""
    if not isinstance(recipe, dict):
        return recipe
    return {k: _portable_path(v) if isinstance(v, str)
            else [_portable_path(x) if isinstance(x, str) else x for x in v] if isinstance(v, list) else v
            for k, v in recipe.items()}


def _make_portable(stage: dict | None) -> None:
    """Make the recipe paths of ``stage`` and of every earlier stage nested in it portable, in place."""
    while stage:
        if "recipe" in stage:
            stage["recipe"] = _portable_recipe(stage["recipe"])
        if "recipe_doc" in stage:
            stage["recipe_doc"] = RECIPE_DOC
        stage = stage.get("previous_stage")


def _storage(model: DenoiseAutoencoder) -> torch.dtype:
    """float16 files for the ``default``-size models (half the download; < 0.01 dB change)."""
    return torch.float16 if model.config.widths == CONFIGS["default"].widths else torch.float32


def _complete_training_record(name: str, training: dict) -> None:
    """Fill a run card's ``training`` in place: data text, the record of the stage it started
    from (``previous_stage``), a pointer to RECIPE.md; paths of the build machine are left out
    (``_portable_path``)."""
    recipe = training.get("recipe", {})
    if recipe and "loss" not in recipe:  # runs started before --loss existed used this loss
        recipe["loss"] = "log-charbonnier"
    training["data"] = _data_text(recipe)
    previous = _previous_stage(name, recipe)
    if previous is not None:  # fine-tuned: keep the record of the stage before
        training["previous_stage"] = previous
    _rewrite_data_lines(training.get("previous_stage"))
    _make_portable(training)
    training["recipe_doc"] = RECIPE_DOC


def publish(runs: Path, keep_missing: bool = False) -> None:
    for size in ("default", "fast"):
        for ch in ("color", "gray"):
            name = f"{ch}-{size}"
            src = runs / name / f"{name}.safetensors"
            card: dict = {}
            if src.is_file():
                model = load_model(src)
                card = json.loads(src.with_suffix(".json").read_text())
            elif (HERE / f"{name}.safetensors").is_file() and keep_missing:
                print("kept", name)  # not retrained in this round: the shipped file stays
                continue
            elif ch == "gray":
                color = runs / f"color-{size}" / f"color-{size}.safetensors"
                model = color_to_gray(load_model(color))
                card = json.loads(color.with_suffix(".json").read_text())
                card["training"]["derived"] = f"exact colour→gray conversion of color-{size}, not fine-tuned"
            else:
                raise FileNotFoundError(src)
            keep = {"training": card.get("training", {}), "benchmark": card.get("benchmark", {})}
            shipped_card = HERE / f"{name}.json"
            before = json.loads(shipped_card.read_text()) if shipped_card.is_file() else {}
            # strength="auto" rule and gate reading of the weights before: refit with benchmarks/strength.py
            # --calibrate and benchmarks/gate.py --calibrate
            for entry in ("auto_strength", "gate_reading"):
                if value := card.get(entry) or before.get(entry):
                    keep[entry] = value
            _complete_training_record(name, keep["training"])
            save_weights(model, HERE / f"{name}.safetensors", keep, storage=_storage(model))
            print("published", name)


#: what each specialist is for (its card's ``role``)
ROLES = {
    "color-default-awgn": "white-noise specialist: color-default fine-tuned on additive white Gaussian noise alone; "
                          "higher PSNR on that noise, much lower on camera, low-light and compressed noise "
                          "(weights/RECIPE.md, stage 21). Load it by name for images known to carry white Gaussian noise.",
}


def publish_specialist(src: Path, name: str) -> None:
    """``src`` (a run's weights, fine-tuned from a shipped model) → ``weights/<name>``."""
    model = load_model(src)
    card = json.loads(src.with_suffix(".json").read_text())
    training = card.get("training", {})
    _complete_training_record(name, training)
    keep = {"role": ROLES.get(name, "specialist"), "training": training}
    save_weights(model, HERE / f"{name}.safetensors", keep, storage=_storage(model))
    print("published", name)


def main(argv: list[str] | None = None) -> None:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n", 1)[1])
    p.add_argument("runs", type=Path, nargs="?", help="RUNS_DIR holding <name>/<name>.safetensors per shipped model")
    p.add_argument("--keep-missing", action="store_true", help="a missing run keeps its shipped file")
    p.add_argument("--specialist", nargs=2, metavar=("RUN", "NAME"), help="publish RUN.safetensors as weights/NAME")
    args = p.parse_args(argv)
    if args.specialist:
        publish_specialist(Path(args.specialist[0]), args.specialist[1])
    elif args.runs is None:
        p.error("give RUNS_DIR, or --specialist RUN NAME")
    else:
        publish(args.runs, keep_missing=args.keep_missing)


if __name__ == "__main__":
    main()
