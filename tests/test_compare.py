"""`cnnzoo compare`: a leaderboard of real runs as a table, Markdown and CSV."""

from __future__ import annotations

import csv
import io
import json
import shutil
import statistics

import keras
import pytest
from typer.testing import CliRunner

from cnnzoo.cli.app import app
from cnnzoo.evaluation.compare import COLUMNS

from .tiny_runs import NOISE, finish, start_cli
from .trained_runs import mnist_run


@pytest.fixture(scope="session")
def mnist(tmp_path_factory, evaluated_copy):
    """A private copy of the shared mnist run, evaluated on its test split."""
    return evaluated_copy(mnist_run(tmp_path_factory))[0]


def _csv(mnist, monkeys, *options):
    result = CliRunner().invoke(
        app, ["compare", str(mnist), str(monkeys), "--format", "csv", *options]
    )
    assert result.exit_code == 0, result.output
    return list(csv.DictReader(io.StringIO(result.output)))


def test_csv_leaderboard_holds_the_runs_figures(mnist, monkeys):
    rows = {row["dataset"]: row for row in _csv(mnist, monkeys)}
    assert list(rows["mnist"]) == list(COLUMNS)
    history = json.loads((mnist / "history.json").read_text())
    best = max(history, key=lambda row: (row["val_accuracy"], -row["epoch"]))
    evaluation = json.loads((mnist / "evaluation-test.json").read_text())
    model = keras.saving.load_model(mnist / "model.keras")

    row = rows["mnist"]
    assert row["model"] == "lenet"
    assert int(row["parameters"]) == model.count_params()
    # LeNet-5 on 28x28: conv1 6x25 per pixel on 28x28, conv2 16x150 on 10x10, then the dense layers.
    expected_macs = 6 * 25 * 28 * 28 + 16 * 150 * 10 * 10 + 400 * 120 + 120 * 84 + 84 * 10
    assert int(row["multiply_adds"]) == expected_macs
    assert float(row["best_val_accuracy"]) == pytest.approx(best["val_accuracy"])
    assert int(row["best_epoch"]) == best["epoch"]
    assert float(row["test_accuracy"]) == pytest.approx(evaluation["accuracy"])
    assert int(row["epochs"]) == 3
    seconds = statistics.median(r["seconds"] for r in history)
    assert float(row["seconds_per_epoch"]) == pytest.approx(seconds)
    # 600 generated training images less the 10% validation split, per median epoch.
    assert float(row["images_per_second"]) == pytest.approx(540 / seconds)
    assert rows["monkeys"]["model"] == "lenet"


def test_sort_puts_the_best_first_and_missing_figures_last(mnist, monkeys):
    by_accuracy = _csv(mnist, monkeys, "--sort", "best_val_accuracy")
    accuracies = [float(row["best_val_accuracy"]) for row in by_accuracy]
    assert accuracies == sorted(accuracies, reverse=True)
    by_parameters = _csv(mnist, monkeys, "--sort", "parameters")
    parameters = [int(row["parameters"]) for row in by_parameters]
    assert parameters == sorted(parameters)


def test_terminal_and_markdown_tables(mnist, monkeys):
    table = CliRunner().invoke(app, ["compare", str(mnist), str(monkeys)])
    assert table.exit_code == 0, table.output
    header, rule, *lines = table.output.strip().splitlines()
    assert header.split()[:3] == ["run", "model", "dataset"]
    assert set(rule) <= {"-", " "} and len(lines) == 2

    markdown = CliRunner().invoke(app, ["compare", str(mnist), "--format", "markdown"])
    assert markdown.exit_code == 0, markdown.output
    first, align, line = markdown.output.strip().splitlines()
    assert first.startswith("| run | model | dataset | parameters | multiply-adds |")
    assert align.startswith("| :-- | :-- | :-- | --: | --: |")
    assert line.count("|") == first.count("|")


def test_a_run_in_progress_is_listed_with_blanks(mnist, tmp_path):
    running = tmp_path / "running"
    running.mkdir()
    for name in ("config.yaml", "classes.json"):
        shutil.copy(mnist / name, running / name)
    (running / "history.json").write_text(
        json.dumps(json.loads((mnist / "history.json").read_text())[:1])
    )
    result = CliRunner().invoke(app, ["compare", str(running), "--format", "csv"])
    assert result.exit_code == 0, result.output
    (row,) = csv.DictReader(io.StringIO(result.output))
    assert row["epochs"] == "1" and row["test_accuracy"] == ""
    assert int(row["parameters"]) > 0  # counted on the configured model, built fresh


def test_unknown_sort_column_is_refused(mnist):
    result = CliRunner().invoke(app, ["compare", str(mnist), "--sort", "speed"])
    assert result.exit_code == 2  # a usage error, refused by the parser
    assert result.output.startswith("error: Invalid value for '--sort': 'speed' is not one of")
    assert "'test_accuracy'" in result.output and len(result.output.splitlines()) == 1


def test_a_page_comparing_runs_starts_tensorflow_quietly(mnist, monkeys, tmp_path):
    # Comparing runs loads their models (for sizes): TensorFlow starts on that path only, and its
    # native start-up lines (absl, oneDNN, cuInit without a GPU) must not reach the user.
    page = tmp_path / "cmp.html"
    code, out, err = finish(
        start_cli("report", str(mnist), str(monkeys), "-o", str(page), "--no-gradcam")
    )
    assert code == 0, err
    assert out.strip() == f"Wrote {page}"
    assert not [line for line in err.splitlines() if any(n in line for n in NOISE)], err
