"""`cnnzoo plot`: curves and confusion heatmaps are written as valid images of a sensible size."""

from __future__ import annotations

import json
import shutil

import pytest
from PIL import Image
from typer.testing import CliRunner

from cnnzoo.cli.app import app
from cnnzoo.visualization.plots import best_epoch, plot_history

from .trained_runs import mnist_run, monkeys_run


@pytest.fixture(scope="session")
def mnist(tmp_path_factory):
    return mnist_run(tmp_path_factory)


@pytest.fixture(scope="session")
def monkeys(tmp_path_factory, evaluated_copy):
    """A private copy of the shared monkeys run, evaluated (the plots redraw its files)."""
    return evaluated_copy(monkeys_run(tmp_path_factory))[0]


def _assert_png(path, min_size=(600, 400)):
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.width >= min_size[0] and image.height >= min_size[1], image.size
        colours = image.convert("L").getextrema()
        assert colours[0] < 100 < colours[1], "a blank image"


def test_plot_one_run_redraws_curves_and_the_confusion_heatmap(monkeys):
    (monkeys / "confusion-validation.png").unlink()
    result = CliRunner().invoke(app, ["plot", str(monkeys)])
    assert result.exit_code == 0, result.output
    assert f"Wrote {monkeys / 'history.png'}" in result.output
    _assert_png(monkeys / "history.png")
    _assert_png(monkeys / "confusion-validation.png", min_size=(700, 700))


def test_several_runs_overlaid_into_one_file(mnist, monkeys, tmp_path):
    output = tmp_path / "both.png"
    result = CliRunner().invoke(app, ["plot", str(mnist), str(monkeys), "-o", str(output)])
    assert result.exit_code == 0, result.output
    _assert_png(output)


def test_svg_on_request(mnist, tmp_path):
    output = tmp_path / "curves"
    result = CliRunner().invoke(app, ["plot", str(mnist), "-o", str(output), "--format", "svg"])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "curves.svg").read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    assert "mnist_lenet (lenet)" in text


def test_a_run_still_in_progress_can_be_plotted(mnist, tmp_path):
    # What a run folder holds after its first epoch: config, classes, one history row, no model.
    running = tmp_path / "running"
    running.mkdir()
    for name in ("config.yaml", "classes.json"):
        shutil.copy(mnist / name, running / name)
    first_epoch = json.loads((mnist / "history.json").read_text())[:1]
    (running / "history.json").write_text(json.dumps(first_epoch))
    result = CliRunner().invoke(app, ["plot", str(running)])
    assert result.exit_code == 0, result.output
    _assert_png(running / "history.png")


def test_a_run_without_any_epoch_is_refused(mnist, tmp_path):
    shutil.copy(mnist / "config.yaml", tmp_path / "config.yaml")
    result = CliRunner().invoke(app, ["plot", str(tmp_path)])
    assert result.exit_code == 1
    assert "no epoch has finished yet" in result.output


def test_plot_history_keeps_the_training_signature(tmp_path):
    rows = [
        {"epoch": 1, "loss": 1.0, "accuracy": 0.5, "val_loss": 1.1, "val_accuracy": 0.4},
        {"epoch": 2, "loss": 0.5, "accuracy": 0.8, "val_loss": 0.7, "val_accuracy": 0.7},
        {"epoch": 3, "loss": 0.3, "accuracy": 0.9, "val_loss": 0.8, "val_accuracy": 0.6},
    ]
    path = plot_history(rows, tmp_path / "history.png", title="demo")
    _assert_png(path)
    assert best_epoch(rows) == (2, "val_accuracy")
    assert best_epoch([{k: v for k, v in r.items() if "val" not in k} for r in rows]) == (
        3,
        "accuracy",
    )
