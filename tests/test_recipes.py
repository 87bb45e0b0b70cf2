"""Recipes: from-scratch configs that learn small real-image folders where faithful ones stall."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cnnzoo.config.schema import load_config, to_dict
from cnnzoo.engine.health import recipes_for

from .helpers import REPO
from .real_digits import write_digits
from .tiny_runs import finish, history, read, start_cli


def test_the_advice_names_the_recipe_of_the_dataset() -> None:
    assert "recipe_monkeys_scratch" in recipes_for("monkeys")
    assert recipes_for("mnist") == ["recipe_mnist"]
    assert recipes_for("directory") == ["recipe_folder"]
    assert recipes_for("no_such_dataset") == []


def test_the_folder_recipe_is_the_monkeys_recipe_on_a_folder_of_class_folders() -> None:
    # One set of from-scratch settings for image folders: recipe_folder extends the monkeys one.
    folder = to_dict(load_config("recipe_folder"))
    monkeys = to_dict(load_config("recipe_monkeys_scratch"))
    assert (folder["name"], folder["data"]["dataset"]) == ("recipe_folder", "directory")
    for section in ("seed", "augment", "model", "train", "hardware"):
        assert folder[section] == monkeys[section], section
    shared = ("image_size", "channels")
    assert [folder["data"][key] for key in shared] == [monkeys["data"][key] for key in shared]


@pytest.mark.slow
def test_monkeys_recipe_learns_where_the_faithful_config_collapses(tmp_path: Path) -> None:
    # scikit-learn's real digits as JPEGs in the 10 Monkey Species layout (1,347 / 450 images).
    folder = write_digits(tmp_path, "folders", "--layout", "monkeys", "--size", "64")
    runs = {}
    for config, epochs in (("monkeys_tutorial", 4), ("recipe_monkeys_scratch", 6)):
        process = start_cli(
            *("train", "-c", config, "-o", str(tmp_path / config)),
            *("-s", f"data.path={folder}", "-s", f"train.epochs={epochs}"),
        )
        runs[config] = finish(process, timeout=1800)
    code, _, err = runs["monkeys_tutorial"]
    assert code == 0, err
    # Its dense ReLU layer dies in epoch 1 (the loss reaches chance in epoch 2): said at once.
    assert "warning: Training is not learning (dead activations): at epoch 1's end" in err
    assert "units of ReLU layer dense output zero" in err
    assert "cnnzoo train -c recipe_monkeys_" in err
    health = read(tmp_path / "monkeys_tutorial", "run.json")["health"]
    assert (health["kind"], health["epoch"]) == ("dead activations", 1)
    code, _, err = runs["recipe_monkeys_scratch"]
    assert code == 0, err
    assert "Training is not learning" not in err
    assert history(tmp_path / "recipe_monkeys_scratch")[-1]["val_accuracy"] >= 0.8


def test_make_digits_writes_each_layout_once(tmp_path: Path) -> None:
    folder = write_digits(
        tmp_path, "folders", "--layout", "monkeys", "--size", "16", "--limit", "30"
    )
    images = sorted(folder.glob("training/training/n*/*.jpg"))
    assert len(images) == 30 and len(list(folder.glob("validation/validation/n*/*.jpg"))) == 450
    assert (folder / "monkey_labels.txt").read_text().splitlines()[1].startswith("n0, digit_0")
    process = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "make_digits.py"), "npz", str(folder)],
        capture_output=True,
        text=True,
    )
    assert process.returncode == 2 and "exists" in process.stdout  # never overwritten


def test_time_to_accuracy_reports_the_epoch_and_seconds(tmp_path: Path) -> None:
    digits = write_digits(tmp_path)
    result = tmp_path / "result.json"
    process = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "time_to_accuracy.py"), "-c", "mnist_tutorial_cnn"]
        + ["--target", "0.8", "--stop", "--json", str(result), "-s", f"data.path={digits}"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert process.returncode == 0, process.stderr
    record = json.loads(result.read_text())
    reached = record["reached"]
    assert reached["test_accuracy"] >= 0.8 and record["num_test"] == 450
    assert [row["epoch"] for row in record["epochs"]] == list(range(1, reached["epoch"] + 1))
    assert 0 < reached["wall_seconds"] <= record["whole_process_wall_seconds"] + 0.1
    assert reached["cpu_seconds"] > 0
    assert "mnist_tutorial_cnn: target 80.0% reached at epoch" in process.stdout
