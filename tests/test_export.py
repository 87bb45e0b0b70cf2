"""`cnnzoo export`: exported models predict what the .keras model predicts on real images."""

from __future__ import annotations

import subprocess
import sys

import keras
import numpy as np
import pytest
from typer.testing import CliRunner

from cnnzoo.cli.app import app
from cnnzoo.engine.export import export_run, load_exported

from .helpers import sha256_tree


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


def test_a_mixed_precision_model_exports_to_tflite_in_float32(mnist, test_images, tmp_path):
    # What a GPU run with hardware.precision=mixed_float16 saves: float16 compute, float32 softmax.
    import shutil

    from cnnzoo.models.lenet import build

    run_dir = tmp_path / "mixed"
    run_dir.mkdir()
    for name in ("config.yaml", "classes.json"):
        shutil.copy(mnist / name, run_dir / name)
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = build((28, 28, 1), 10, variant="modern")
    finally:
        keras.config.set_dtype_policy("float32")
    # The trained weights make confident predictions, so float16 noise cannot flip the argmax.
    model.set_weights(keras.saving.load_model(mnist / "model.keras").get_weights())
    model.save(run_dir / "model.keras")
    images, expected = test_images
    result = export_run(run_dir, "tflite", check_inputs=images)
    # float16 arithmetic in the .keras model against float32 in the export: about 1e-3 at most.
    assert result.max_difference is not None and result.max_difference < 5e-3
    outputs = load_exported(result.path, "tflite")(images)
    np.testing.assert_array_equal(outputs.argmax(axis=1), expected.argmax(axis=1))
    np.testing.assert_allclose(outputs, expected, atol=1e-5)  # the float32 model, recovered


def test_cli_exports_into_the_run_folder_and_reports_the_check(mnist, private_run):
    mnist = private_run(mnist)
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
    assert result.returncode == 2  # a usage error, refused by the parser
    assert result.stderr.strip() == (
        "error: Invalid value for '--format': 'coreml' is not one of 'savedmodel', 'tflite', "
        "'onnx'. (see: cnnzoo export --help)"
    )


def _refused(result) -> str:
    """The whole output of a refused export: one `error:` line, exit code 1."""
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def test_export_never_deletes_a_folder_it_did_not_export(mnist, tmp_path):
    mydocs = tmp_path / "mydocs"
    (mydocs / "letters").mkdir(parents=True)
    (mydocs / "thesis.txt").write_text("two years of work\n")
    (mydocs / "letters" / "mum.txt").write_text("dear mum\n")
    before = sha256_tree(mydocs, mnist)
    runner = CliRunner()
    for target in (mydocs, mnist):
        line = _refused(
            runner.invoke(app, ["export", str(mnist), "--format", "savedmodel", "-o", str(target)])
        )
        assert f"--output: {target} " in line and "it is left as it is" in line
    assert sha256_tree(mydocs, mnist) == before


def test_export_replaces_only_its_own_earlier_export_and_only_with_force(mnist, tmp_path):
    mine = {tmp_path / "my.tflite": b"my model", tmp_path / "my.onnx": b"my other model"}
    for path, content in mine.items():
        path.write_bytes(content)
    before = sha256_tree(tmp_path, mnist)
    runner = CliRunner()
    targets = [("tflite", tmp_path / "my.tflite"), ("onnx", tmp_path / "my.onnx")]
    targets.append(("tflite", mnist / "model.keras"))
    for fmt, target in targets:
        line = _refused(
            runner.invoke(app, ["export", str(mnist), "--format", fmt, "-o", str(target)])
        )
        assert f"--output: {target} " in line, line
    assert sha256_tree(tmp_path, mnist) == before
    ours = tmp_path / "ours.tflite"
    args = ["export", str(mnist), "--format", "tflite", "-o", str(ours)]
    assert runner.invoke(app, args).exit_code == 0
    exported = ours.read_bytes()
    assert "Pass --force to replace it" in _refused(runner.invoke(app, args))
    assert ours.read_bytes() == exported
    again = runner.invoke(app, [*args, "--force"])
    assert again.exit_code == 0, again.output
    assert f"Exported tflite: {ours}" in again.output
