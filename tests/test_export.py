"""`cnnzoo export`: exported models predict what the .keras model predicts on real images."""

from __future__ import annotations

import subprocess
import sys

import keras
import numpy as np
import pytest
from trained_runs import mnist_run
from typer.testing import CliRunner

from cnnzoo.cli import app
from cnnzoo.export import export_run, load_exported


@pytest.fixture(scope="session")
def mnist(tmp_path_factory):
    return mnist_run(tmp_path_factory)


@pytest.fixture(scope="session")
def test_images(mnist):
    """Eight MNIST test images, preprocessed as training does, and the Keras model's outputs."""
    with np.load(mnist.parent.parent / "mnist.npz") as data:
        images = data["x_test"][:8, ..., None].astype(np.float32) / 255.0
    model = keras.saving.load_model(mnist / "model.keras")
    return images, model.predict(images, verbose=0)


@pytest.mark.parametrize("fmt", ["savedmodel", "tflite", "onnx"])
def test_export_predicts_like_the_keras_model(mnist, test_images, tmp_path, fmt):
    if fmt == "onnx":
        pytest.importorskip("tf2onnx")
        pytest.importorskip("onnxruntime")
    images, expected = test_images
    result = export_run(mnist, fmt, tmp_path / f"model.{fmt}", check_inputs=images)
    assert result.path.exists()
    predict = load_exported(result.path, fmt)
    outputs = predict(images)
    # float32 graphs reorder sums differently (TFLite and ONNX fuse ops): 1e-5 is ample.
    np.testing.assert_allclose(outputs, expected, atol=1e-5)
    np.testing.assert_array_equal(outputs.argmax(axis=1), expected.argmax(axis=1))
    assert result.max_difference is not None and result.max_difference < 1e-5


def test_cli_exports_into_the_run_folder_and_reports_the_check(mnist):
    result = CliRunner().invoke(app, ["export", str(mnist), "--format", "tflite"])
    assert result.exit_code == 0, result.output
    assert f"Exported tflite: {mnist / 'export' / 'model.tflite'}" in result.output
    assert "Max |probability difference| vs model.keras:" in result.output
    assert (mnist / "export" / "model.tflite").stat().st_size > 10_000


def test_unknown_format_fails_with_one_line(mnist):
    result = subprocess.run(
        [sys.executable, "-m", "cnnzoo", "export", str(mnist), "--format", "coreml"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: --format must be one of savedmodel, tflite, onnx. Received: 'coreml'"
    )
