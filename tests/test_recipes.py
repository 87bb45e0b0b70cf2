"""Recipes: from-scratch configs that learn small real-image folders where faithful ones stall."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnzoo.health import recipes_for

from .real_digits import write_digits
from .tiny_runs import finish, history, read, start_cli


def test_the_advice_names_the_recipe_of_the_dataset() -> None:
    assert "recipe_monkeys_scratch" in recipes_for("monkeys")
    assert recipes_for("mnist") == ["recipe_mnist"]
    assert recipes_for("no_such_dataset") == []


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
    assert "warning: Training is not learning (collapse)" in err
    assert "cnnzoo train -c recipe_monkeys_scratch" in err
    assert read(tmp_path / "monkeys_tutorial", "run.json")["health"]["kind"] == "collapse"
    code, _, err = runs["recipe_monkeys_scratch"]
    assert code == 0, err
    assert "Training is not learning" not in err
    assert history(tmp_path / "recipe_monkeys_scratch")[-1]["val_accuracy"] >= 0.8
