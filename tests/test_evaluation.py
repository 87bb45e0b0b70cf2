"""`cnnzoo evaluate`: metrics from saved predictions, checked against independent computations."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from typer.testing import CliRunner

from cnnzoo.cli.app import app
from cnnzoo.datasets.synthetic import make_class_folder
from cnnzoo.evaluation.evaluate import compute_metrics

from .trained_runs import directory_run


@pytest.fixture(scope="session")
def evaluated(mnist, evaluated_copy):
    return evaluated_copy(mnist)


def test_evaluate_prints_a_readable_report_and_writes_files(evaluated):
    run_dir, output = evaluated
    assert "Split: test (200 images)" in output
    assert "Top-5 accuracy" in output
    assert "precision" in output and "macro avg" in output
    for name in (
        "evaluation-test.json",
        "per_class-test.csv",
        "confusion-test.csv",
        "predictions-test.npz",
        "confusion-test.png",
    ):
        assert (run_dir / name).is_file(), name


def test_saved_predictions_are_the_models_outputs_on_the_test_set(evaluated):
    run_dir, _ = evaluated
    saved = np.load(run_dir / "predictions-test.npz")
    with np.load(run_dir.parent.parent / "mnist.npz") as mnist:
        images = mnist["x_test"][..., None].astype("float32") / 255.0
        labels = mnist["y_test"]
    model = keras.saving.load_model(run_dir / "model.keras")
    np.testing.assert_array_equal(saved["labels"], labels)
    np.testing.assert_allclose(saved["probabilities"], model.predict(images, verbose=0), atol=1e-5)


def test_metrics_agree_with_an_independent_computation(evaluated):
    run_dir, _ = evaluated
    saved = np.load(run_dir / "predictions-test.npz")
    probabilities, labels = saved["probabilities"], saved["labels"]
    report = json.loads((run_dir / "evaluation-test.json").read_text())

    one_hot = keras.ops.one_hot(labels, 10)
    keras_loss = keras.losses.categorical_crossentropy(one_hot, probabilities)
    assert report["loss"] == pytest.approx(float(np.mean(keras_loss)), rel=1e-5)
    in_top5 = tf.math.in_top_k(labels, probabilities, k=5)
    assert report["top_k_accuracy"] == pytest.approx(float(np.mean(in_top5)))
    predicted = [int(np.argmax(row)) for row in probabilities]
    hits = sum(p == t for p, t in zip(predicted, labels, strict=True))
    assert report["accuracy"] == pytest.approx(hits / len(labels))
    assert 0.2 < report["accuracy"] <= 1.0, "three epochs on this easy data beat chance"

    confusion = [[0] * 10 for _ in range(10)]
    for truth, guess in zip(labels, predicted, strict=True):
        confusion[truth][guess] += 1
    assert report["confusion_matrix"] == confusion
    with open(run_dir / "per_class-test.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    for digit, row in enumerate(table):
        true_positive = confusion[digit][digit]
        predicted_as = sum(confusion[t][digit] for t in range(10))
        support = sum(confusion[digit])
        precision = true_positive / predicted_as if predicted_as else 0.0
        recall = true_positive / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        assert row["class"] == str(digit)
        assert int(row["support"]) == support
        assert float(row["precision"]) == pytest.approx(precision)
        assert float(row["recall"]) == pytest.approx(recall)
        assert float(row["f1"]) == pytest.approx(f1)
    with open(run_dir / "confusion-test.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][1:] == [str(d) for d in range(10)]
    assert [[int(c) for c in row[1:]] for row in rows[1:]] == confusion


def test_compute_metrics_on_a_hand_worked_example():
    # Three classes; class "c" is never predicted, so its precision is 0 by convention.
    probabilities = np.array(
        [[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.6, 0.3, 0.1], [0.1, 0.8, 0.1]], dtype=np.float32
    )
    labels = np.array([0, 1, 2, 1])
    metrics = compute_metrics(probabilities, labels, ["a", "b", "c"], top_k=2)
    assert metrics["accuracy"] == pytest.approx(0.75)
    assert metrics["top_k"] == 2
    assert metrics["top_k_accuracy"] == pytest.approx(0.75)  # "c" ranks last in row 3
    assert metrics["confusion_matrix"] == [[1, 0, 0], [0, 2, 0], [1, 0, 0]]
    expected_loss = -np.mean(np.log([0.7, 0.5, 0.1, 0.8]))
    assert metrics["loss"] == pytest.approx(expected_loss, rel=1e-6)
    a, b, c = metrics["per_class"]
    assert (a["precision"], a["recall"], a["f1"], a["support"]) == pytest.approx((0.5, 1, 2 / 3, 1))
    assert (b["precision"], b["recall"], b["support"]) == (1.0, 1.0, 2)
    assert (c["precision"], c["recall"], c["f1"], c["support"]) == (0.0, 0.0, 0.0, 1)
    assert metrics["macro_avg"]["recall"] == pytest.approx(2 / 3)
    assert metrics["weighted_avg"]["recall"] == pytest.approx(0.75)


def test_evaluate_on_the_training_split_with_another_data_file(mnist, private_run, tmp_path):
    mnist = private_run(mnist)
    other = tmp_path / "copy.npz"
    shutil.copy(mnist.parent.parent / "mnist.npz", other)
    result = CliRunner().invoke(
        app, ["evaluate", str(mnist), "--split", "train", "--data", str(other), "--top-k", "3"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads((mnist / "evaluation-train-on-copy.json").read_text())
    assert not (mnist / "evaluation-train.json").exists()  # the run's own data is not `copy`
    assert report["data_path"] == str(other)
    assert report["num_examples"] == 540  # 600 less the 10% validation split
    assert "Top-3 accuracy" in result.output


def test_monkeys_report_uses_common_names(monkeys, private_run):
    monkeys = private_run(monkeys)
    result = CliRunner().invoke(app, ["evaluate", str(monkeys)])
    assert result.exit_code == 0, result.output
    assert "Split: validation (30 images)" in result.output
    assert "black_headed_night_monkey" in result.output
    report = json.loads((monkeys / "evaluation-validation.json").read_text())
    assert report["class_names"][0] == "mantled_howler"
    assert sum(row["support"] for row in report["per_class"]) == 30


def test_class_mismatch_is_refused_naming_the_difference(tmp_path_factory, tmp_path):
    run_dir = directory_run(tmp_path_factory)
    data = make_class_folder(tmp_path / "other", ["cat", "dog", "owl"], 2, size=(32, 32))
    result = CliRunner().invoke(app, ["evaluate", str(run_dir), "--data", str(data)])
    assert result.exit_code == 1
    assert result.output.startswith("error: The data's classes do not match the model's")
    assert "not known to the model: owl; missing from the data: fox" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_directory_run_evaluates_every_image_of_another_folder(
    tmp_path_factory, tmp_path, private_run
):
    run_dir = private_run(directory_run(tmp_path_factory))
    data = make_class_folder(tmp_path / "more", ["cat", "dog", "fox"], 4, size=(40, 40), seed=5)
    result = CliRunner().invoke(app, ["evaluate", str(run_dir), "--data", str(data)])
    assert result.exit_code == 0, result.output
    assert f"Split: validation of {data} (12 images)" in result.output
    assert (run_dir / "evaluation-validation-on-more.json").is_file()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "nowhere", "Run folder not found"),
        (lambda tmp: tmp, "is not a cnnzoo run folder"),
    ],
)
def test_bad_run_folders_fail_with_one_line(tmp_path, make, message):
    result = subprocess.run(
        [sys.executable, "-m", "cnnzoo", "evaluate", str(make(tmp_path))],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
