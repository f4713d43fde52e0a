"""scripts/publish_weights.py: the training history a published card records (``previous_stage``)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "publish_weights.py"


@pytest.fixture()
def pw(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("publish_weights", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setattr(mod, "HERE", tmp_path / "weights")
    (tmp_path / "weights").mkdir()
    return mod


def _card(path: Path, training: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"training": training}))


def _recipe(name: str, init: str | None, steps: int) -> dict:
    return {"name": name, "init": init, "steps": steps}


def test_run_that_is_the_shipped_model_resolves_to_the_shipped_card(pw, tmp_path):
    old = _recipe("color-default", "color-default", 1)
    _card(pw.HERE / "color-default.json", {"recipe": old, "previous_stage": {"recipe": _recipe("color-default", None, 0)}})
    _card(tmp_path / "run1" / "color-default.json", {"recipe": old})  # the run the shipped card came from
    new = _recipe("color-default", str(tmp_path / "run1" / "color-default.safetensors"), 2)
    prev = pw._previous_stage("color-default", new)
    assert prev["recipe"] == old and prev["previous_stage"]["recipe"]["steps"] == 0


def test_publishing_the_same_run_again_does_not_nest_its_card_in_itself(pw):
    first = {"recipe": _recipe("color-fast", None, 0)}
    this = _recipe("color-fast", str(pw.HERE / "color-fast.safetensors"), 1)
    _card(pw.HERE / "color-fast.json", {"recipe": this, "previous_stage": first})
    assert pw._previous_stage("color-fast", this) == first


def test_unpublished_run_card_gets_its_own_history(pw, tmp_path):
    color = {"recipe": _recipe("color-default", None, 5)}
    _card(pw.HERE / "color-default.json", color)
    _card(pw.HERE / "gray-default.json", {"recipe": _recipe("gray-default", None, 9)})  # an older gray model
    # a gray run started on another machine from a colour run whose file is not here
    gray_gpu = _recipe("gray-default", "/elsewhere/runs/color-default/color-default.safetensors", 6)
    _card(tmp_path / "g" / "gray-default.json", {"recipe": gray_gpu})
    prev = pw._previous_stage("gray-default", _recipe("gray-default", str(tmp_path / "g" / "gray-default.safetensors"), 7))
    assert prev["recipe"] == gray_gpu
    assert prev["previous_stage"] == color


def test_data_text_follows_the_recipe(pw):
    text = pw._data_text({"folders": ["P/photos", "P/extra"], "p_dead_leaves": 0.05, "downscale": 0.5, "degradation": "sensor"})
    assert "plus 5 % procedural dead-leaves" in text and "×0.5" in text and "'sensor'" in text
    assert "56 more images" in text and "high-resolution" not in text and "night scenes" not in text
    assert "10 % of the photo crops made night scenes" in pw._data_text({"folders": ["P/photos"], "p_lights": 0.1})
    assert "add_lights, 0 % of them with a glow)" in pw._data_text({"folders": ["P/photos"], "p_lights": 0.1, "lights_glow": 0.0})
    assert "glow" not in pw._data_text({"folders": ["P/photos"], "p_lights": 0.1, "lights_glow": 0.33})
    assert "with a glow, scene gain up to 1)" in pw._data_text({"p_lights": 0.1, "lights_glow": 0, "lights_max_gain": 1.0})
    assert "with a glow, 0 % anti-aliased)" in pw._data_text({"p_lights": 0.1, "lights_glow": 0, "lights_aa": 0.0})


def test_data_lines_of_the_whole_history_follow_their_recipes(pw):
    stale = "… plus 30 % procedural dead-leaves images …"
    oldest = {"recipe": {"steps": 1}, "data": "a record without the run's arguments"}
    gpu = {"recipe": {"folders": ["P/photos"], "p_dead_leaves": 0.3, "degradation": "mixed"}, "data": stale,
           "previous_stage": oldest}
    cpu = {"recipe": {"folders": ["P/photos", "P/more"], "p_dead_leaves": 0.05, "degradation": "sensor"}, "data": stale,
           "previous_stage": gpu}
    pw._rewrite_data_lines(cpu)
    assert "plus 5 % procedural" in cpu["data"] and "'sensor'" in cpu["data"] and "high-resolution" in cpu["data"]
    assert "plus 30 % procedural" in gpu["data"] and "'mixed'" in gpu["data"] and gpu["data"] != stale
    assert oldest["data"] == "a record without the run's arguments"


def test_published_cards_record_no_paths_of_the_build_machine(pw, tmp_path, monkeypatch):
    """Absolute paths of the machine a run was made on (``/work/runs/...``, an extracted data
    folder) become relative to the working folder, or only the folder's name, when published."""
    monkeypatch.chdir(tmp_path)
    earlier = {"recipe": {"out": "/elsewhere/runs/s6/color-fast", "folders": ["/tmp/x/usr/share/examples/data"],
                          "init": None, "steps": 1}, "recipe_doc": "weights/RECIPE.md"}
    _card(pw.HERE / "color-fast.json", earlier)
    recipe = {"name": "color-fast", "out": str(tmp_path / "runs" / "ft"), "folders": [".gpudata/photos", "/data/extra"],
              "init": "color-fast", "steps": 2, "device": "cpu"}
    training = {"recipe": recipe}
    pw._complete_training_record("color-fast", training)
    assert training["recipe"] == {**recipe, "out": "runs/ft", "folders": [".gpudata/photos", "extra"]}
    assert training["previous_stage"]["recipe"]["out"] == "color-fast"
    assert training["previous_stage"]["recipe"]["folders"] == ["data"]
    assert training["recipe_doc"] == "RECIPE.md" and "recipe_doc" not in training["previous_stage"]
    assert '"/' not in json.dumps(training)


def test_republishing_a_run_with_absolute_paths_still_finds_its_history(pw, tmp_path):
    """The shipped card holds the portable form of the run's recipe; publishing the same run card
    (absolute paths) again must not nest the shipped card in itself."""
    first = {"recipe": _recipe("color-fast", None, 0)}
    this = {**_recipe("color-fast", str(pw.HERE / "color-fast.safetensors"), 1), "out": "/elsewhere/runs/ft"}
    _card(pw.HERE / "color-fast.json", {"recipe": pw._portable_recipe(this), "previous_stage": first})
    assert pw._portable_recipe(this)["out"] == "ft"
    assert pw._previous_stage("color-fast", this) == first


def test_the_script_has_a_help_and_says_what_it_needs(pw, capsys) -> None:  # type: ignore[no-untyped-def]
    # (--help was taken for the runs folder: a FileNotFoundError traceback; no argument: an IndexError)
    with pytest.raises(SystemExit) as e:
        pw.main(["--help"])
    assert e.value.code == 0 and "--keep-missing" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        pw.main([])
    assert e.value.code == 2 and "give RUNS_DIR" in capsys.readouterr().err
    assert not list((pw.HERE).iterdir())  # nothing published


def test_a_run_card_that_stops_at_the_shipped_stage_gets_the_shipped_history(pw, tmp_path):
    # the shipped card: stage 2, started from stage 1 (its history); a run started from it (stage 3) records
    # stage 2 without its history; the next run (stage 4) starts from that run's file
    stage1 = {"recipe": _recipe("color-default", None, 1)}
    stage2 = {"recipe": _recipe("color-default", "weights/color-default.safetensors", 2)}
    _card(pw.HERE / "color-default.json", {**stage2, "previous_stage": stage1})
    stage3 = {"recipe": _recipe("color-default", "weights/color-default.safetensors", 3), "previous_stage": dict(stage2)}
    _card(tmp_path / "run3" / "color-default.json", stage3)
    stage4 = _recipe("color-default", str(tmp_path / "run3" / "color-default.safetensors"), 4)
    prev = pw._previous_stage("color-default", stage4)
    chain = []
    while prev:
        chain.append(prev["recipe"]["steps"])
        prev = prev.get("previous_stage")
    assert chain == [3, 2, 1]
