"""Grad-CAM checked against known answers; `cnnzoo explain` and `featuremaps` as users run them."""

from __future__ import annotations

import shutil
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from cnnzoo.cli.app import app
from cnnzoo.explain import gradcam as explain
from cnnzoo.models import MODELS

from .trained_runs import mnist_run

runner = CliRunner()


def _png_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size


# --- Grad-CAM against answers known in advance ------------------------------------------


def test_gradcam_equals_the_analytic_gradient_of_a_hand_set_model() -> None:
    """conv(relu) -> global average pooling -> dense: d logit_c / d A_k = W[k, c] / (h * w)."""
    kernel = np.array([[[1.0, -0.5], [0.0, 0.5], [-1.0, 0.25]]] * 3, dtype=np.float32).reshape(
        3, 3, 1, 2
    )
    kernel[1, 1, 0, 0] = 2.0
    conv_bias = np.array([0.1, -0.2], np.float32)
    dense = np.array([[1.5, -1.0, 0.2], [-0.5, 2.0, 0.7]], np.float32)  # [channels, classes]
    inputs = keras.Input((6, 6, 1))
    features = keras.layers.Conv2D(2, 3, activation="relu", name="conv")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D(name="gap")(features)
    outputs = keras.layers.Dense(3, activation="softmax", name="predictions")(pooled)
    model = keras.Model(inputs, outputs)
    model.get_layer("conv").set_weights([kernel, conv_bias])
    model.get_layer("predictions").set_weights([dense, np.array([0.0, 0.3, -0.1], np.float32)])
    images = np.random.default_rng(0).normal(size=(3, 6, 6, 1)).astype(np.float32)

    # Independent numpy: valid cross-correlation, ReLU, channel weights from the dense kernel.
    activations = np.zeros((3, 4, 4, 2), np.float32)
    for i in range(4):
        for j in range(4):
            patch = images[:, i : i + 3, j : j + 3, :]  # [n, 3, 3, 1]
            activations[:, i, j, :] = np.tensordot(patch, kernel, axes=([1, 2, 3], [0, 1, 2]))
    activations = np.maximum(activations + conv_bias, 0)
    for target in range(3):
        expected = np.maximum(np.einsum("nhwk,k->nhw", activations, dense[:, target] / 16), 0)
        cam = explain.grad_cam(model, images, "conv", np.full(3, target))
        assert cam.layer == "conv"
        np.testing.assert_allclose(cam.maps, expected, rtol=1e-5, atol=1e-6)
    # Without a class, the predicted one is explained, and the probabilities are the model's.
    cam = explain.grad_cam(model, images)
    np.testing.assert_allclose(cam.probabilities, model.predict(images, verbose=0), atol=1e-6)
    np.testing.assert_array_equal(cam.class_indices, cam.probabilities.argmax(axis=1))


GLYPH, SIZE, CLASSES = 9, 28, 4


def _glyph_images(count: int, rng: np.random.Generator):
    """Noise with one of four fixed 9x9 glyphs (the class) pasted at a random place."""
    glyphs = np.random.default_rng(11).random((CLASSES, GLYPH, GLYPH)) > 0.5
    images = rng.integers(0, 120, (count, SIZE, SIZE, 1)).astype(np.float32)
    labels = rng.integers(0, CLASSES, count)
    corners = rng.integers(0, SIZE - GLYPH + 1, (count, 2))
    for image, label, (row, column) in zip(images, labels, corners, strict=True):
        image[row : row + GLYPH, column : column + GLYPH, 0] = np.where(glyphs[label], 255, 0)
    return images / 255.0, labels, corners


def test_gradcam_mass_sits_on_the_class_evidence() -> None:
    """A convnet trained to tell glyphs apart looks at the glyph, wherever it was pasted."""
    keras.utils.set_random_seed(1)
    rng = np.random.default_rng(3)
    x_train, y_train, _ = _glyph_images(1500, rng)
    x_test, y_test, corners = _glyph_images(60, rng)
    x = inputs = keras.Input((SIZE, SIZE, 1))
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1")(x)
    x = keras.layers.MaxPooling2D(name="pool1")(x)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv3")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(CLASSES, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, outputs)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=6, batch_size=32, verbose=0)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy > 0.9

    assert explain.default_layer(model) == "conv3"  # the last stage, found from the graph
    cam = explain.grad_cam(model, x_test)
    heatmaps = explain.upsample(cam.maps, (SIZE, SIZE))
    share = GLYPH * GLYPH / (SIZE * SIZE)  # 0.103 of the image
    inside = np.array(
        [
            heat[r : r + GLYPH, c : c + GLYPH].sum() / heat.sum()
            for heat, (r, c) in zip(heatmaps, corners, strict=True)
        ]
    )
    assert np.mean(inside) > 4 * share, inside
    assert (inside > share).all(), inside  # every single map, not just on average


@pytest.mark.parametrize("name", MODELS.names())
def test_every_architecture_has_stages_and_a_default_layer(name: str) -> None:
    spec = MODELS.get(name)
    # The large networks through their Resizing layer (`resize_to`), as the book feeds them digits.
    options = {"resize_to": max(64, spec.min_input_size)} if "resize_to" in spec.options else {}
    shape = (28, 28, 1) if options else (48, 48, 3) if name == "tutorial_cnn" else (28, 28, 1)
    model = spec.builder()(shape, 5, **options)
    stages = explain.convolution_stages(model)
    assert len(stages) >= 2
    assert explain.default_layer(model) == stages[-1]
    cam = explain.grad_cam(model, np.random.default_rng(0).random((2, *shape), np.float32))
    assert cam.maps.ndim == 3 and cam.maps.shape[0] == 2
    assert np.isfinite(cam.maps).all() and (cam.maps >= 0).all()
    assert explain.upsample(cam.maps, shape[:2]).shape == (2, *shape[:2])


def test_mixed_precision_models_are_explained_in_float32() -> None:
    build = MODELS.get("lenet").builder()
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        mixed = build((28, 28, 1), 10, variant="modern")
    finally:
        keras.mixed_precision.set_global_policy(previous)
    assert mixed.get_layer("conv2").compute_dtype == "bfloat16"
    exact = build((28, 28, 1), 10, variant="modern")
    exact.set_weights(mixed.get_weights())
    images = np.random.default_rng(1).random((4, 28, 28, 1), np.float32)
    converted = explain.as_float32(mixed)
    assert {layer.compute_dtype for layer in converted.layers} == {"float32"}
    np.testing.assert_allclose(
        explain.grad_cam(mixed, images).maps, explain.grad_cam(exact, images).maps, rtol=1e-5
    )


# --- the commands, on a run trained by `cnnzoo train` ----------------------------------


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the shared MNIST run (explain writes into the run folder)."""
    copy = tmp_path_factory.mktemp("explain") / "run"
    shutil.copytree(mnist_run(tmp_path_factory), copy)
    return copy


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory, run_dir: Path) -> list[Path]:
    """Four test digits of the run's dataset, as PNG files."""
    from cnnzoo.config.schema import load_config

    data = np.load(load_config(run_dir / "config.yaml").data.path)
    folder = tmp_path_factory.mktemp("digits")
    paths = []
    for index in range(4):
        path = folder / f"digit{index}.png"
        Image.fromarray(data["x_test"][index]).save(path)
        paths.append(path)
    return paths


def test_explain_writes_a_picture_and_heatmap_per_image(run_dir: Path, digits: list[Path]):
    result = runner.invoke(app, ["explain", str(run_dir), *map(str, digits), "--top-k", "2"])
    assert result.exit_code == 0, result.output
    predicted = runner.invoke(app, ["predict", str(run_dir), *map(str, digits), "--top-k", "2"])
    # The same classes and probabilities as `cnnzoo predict` (same preprocessing, same model).
    for line in predicted.output.strip().splitlines():
        assert line in result.output
    assert "Grad-CAM at layer conv2_relu" in result.output
    for digit in digits:
        heatmap = np.load(run_dir / "explain" / f"{digit.stem}.gradcam.npy")
        assert heatmap.shape == (28, 28) and heatmap.dtype == np.float32
        assert np.isfinite(heatmap).all() and heatmap.min() >= 0
        width, height = _png_size(run_dir / "explain" / f"{digit.stem}.gradcam.png")
        assert 600 <= width <= 1600 and 200 <= height <= 600


def test_explain_grid_and_another_layer(run_dir: Path, digits: list[Path], tmp_path: Path):
    out = tmp_path / "cams"
    args = ["explain", str(run_dir), *map(str, digits), "--grid", "--layer", "conv1_relu"]
    result = runner.invoke(app, [*args, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "Grad-CAM at layer conv1_relu" in result.output
    assert sorted(p.name for p in out.glob("*.png")) == ["gradcam-grid.png"]
    width, height = _png_size(out / "gradcam-grid.png")
    assert 300 <= width <= 1200 and 300 <= height <= 1200
    assert len(list(out.glob("*.gradcam.npy"))) == len(digits)


def test_explain_errors_are_one_line(run_dir: Path, digits: list[Path], tmp_path: Path):
    unknown = runner.invoke(app, ["explain", str(run_dir), str(digits[0]), "--layer", "conv9"])
    assert unknown.exit_code == 2
    assert unknown.output.count("error:") == 1
    assert "'conv9' is not a layer" in unknown.output and "conv1_relu, pool1" in unknown.output
    dense = runner.invoke(app, ["explain", str(run_dir), str(digits[0]), "--layer", "fc120"])
    assert dense.exit_code == 2 and "has no feature map" in dense.output

    not_a_run = runner.invoke(app, ["explain", str(tmp_path), str(digits[0])])
    assert not_a_run.exit_code == 1 and "is not a cnnzoo run folder" in not_a_run.output

    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    mixed = runner.invoke(app, ["explain", str(run_dir), str(broken), str(digits[1])])
    assert mixed.exit_code == 1
    assert f"error: {broken}:" in mixed.output
    assert str(digits[1]) in mixed.output  # the readable image is still explained


def test_featuremaps_draws_each_stage_and_the_filters(run_dir: Path, digits: list[Path]):
    result = runner.invoke(app, ["featuremaps", str(run_dir), str(digits[0])])
    assert result.exit_code == 0, result.output
    assert "Layers: conv1_relu, conv2_relu" in result.output
    folder = run_dir / "featuremaps"
    names = sorted(p.name for p in folder.glob("*.png"))
    assert names == ["digit0.01-conv1_relu.png", "digit0.02-conv2_relu.png", "filters-conv1.png"]
    for name in names:
        width, height = _png_size(folder / name)
        assert 300 <= width <= 1400 and 100 <= height <= 1400

    chosen = runner.invoke(
        app, ["featuremaps", str(run_dir), str(digits[0]), "--layer", "pool2", "--layer", "conv1"]
    )
    assert chosen.exit_code == 0 and "Layers: pool2, conv1" in chosen.output
    bad = runner.invoke(app, ["featuremaps", str(run_dir), str(digits[0]), "--layer", "x"])
    assert bad.exit_code == 2 and "Layers with feature maps: conv1," in bad.output
