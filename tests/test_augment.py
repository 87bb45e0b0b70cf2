"""Augmentation: the fused affine warp against known transforms and the legacy generator."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from keras.src.legacy.preprocessing.image import ImageDataGenerator
from typer.testing import CliRunner

from cnnzoo.cli.app import app
from cnnzoo.config.schema import AugmentConfig
from cnnzoo.data import augment
from cnnzoo.datasets.synthetic import make_monkeys_folder

TUTORIAL = AugmentConfig(
    rotation_range=40,
    width_shift_range=0.2,
    height_shift_range=0.2,
    shear_range=0.2,
    zoom_range=0.2,
    horizontal_flip=True,
    fill_mode="nearest",
)
NO_MOVE = {"theta": 0.0, "tx": 0.0, "ty": 0.0, "shear": 0.0, "zx": 1.0, "zy": 1.0}


def smooth_image(height: int = 48, width: int = 48) -> np.ndarray:
    """A smooth, asymmetric float32 RGB image in 0..255 (bilinear sampling is nearly exact)."""
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    red = 128 + 100 * np.sin(cols / 7.0)
    green = 128 + 100 * np.cos(rows / 5.0)
    blue = (cols * 3 + rows * 2) % 255
    return np.stack([red, green, blue], axis=-1).astype(np.float32)


def ours(image: np.ndarray, params: dict, config: AugmentConfig) -> np.ndarray:
    """Apply explicit parameters to one image with the fused warp."""
    batch = {key: tf.constant([value]) for key, value in params.items()}
    return augment.apply_parameters(tf.constant(image[None]), batch, config)[0].numpy()


@pytest.mark.fast
def test_pure_horizontal_flip_mirrors_columns():
    image = smooth_image(16, 24)
    config = AugmentConfig(horizontal_flip=True)
    flipped = ours(image, {**NO_MOVE, "flip_horizontal": True, "flip_vertical": False}, config)
    np.testing.assert_allclose(flipped, image[:, ::-1], atol=1e-3)
    kept = ours(image, {**NO_MOVE, "flip_horizontal": False, "flip_vertical": False}, config)
    np.testing.assert_allclose(kept, image, atol=1e-3)


@pytest.mark.fast
def test_pure_shift_moves_pixels_and_fills_nearest():
    image = smooth_image(16, 24)
    config = AugmentConfig(width_shift_range=0.2, height_shift_range=0.2)
    flips = {"flip_horizontal": False, "flip_vertical": False}
    # Like the legacy matrix, a shift maps output (x, y) to input (x + tx, y + ty).
    shifted = ours(image, {**NO_MOVE, **flips, "tx": 3.0, "ty": -2.0}, config)
    np.testing.assert_allclose(shifted[2:, :-3], image[:-2, 3:], atol=1e-3)
    np.testing.assert_allclose(shifted[2:, -3:], image[:-2, -1:].repeat(3, axis=1), atol=1e-3)
    np.testing.assert_allclose(shifted[:2], shifted[2:3].repeat(2, axis=0), atol=1e-3)


@pytest.mark.fast
def test_quarter_turn_on_a_square_image_is_rot90():
    image = smooth_image(20, 20)
    config = AugmentConfig(rotation_range=90)
    params = {**NO_MOVE, "theta": 90.0, "flip_horizontal": False, "flip_vertical": False}
    np.testing.assert_allclose(ours(image, params, config), np.rot90(image, k=1), atol=1e-2)


@pytest.mark.parametrize(
    ("fill_mode", "tolerance"),
    [("nearest", 1e-3), ("reflect", 1e-3), ("constant", 1e-3), ("wrap", 1e-2)],
)
@pytest.mark.fast
def test_fused_warp_matches_legacy_apply_transform(fill_mode, tolerance):
    generator = ImageDataGenerator(fill_mode=fill_mode, cval=40.0)
    config = TUTORIAL.model_copy(
        update={"fill_mode": fill_mode, "cval": 40.0, "vertical_flip": True}
    )
    image = smooth_image()
    rng = np.random.default_rng(0)
    for _ in range(8):
        params = {
            "theta": rng.uniform(-40, 40),
            "tx": rng.uniform(-10, 10),
            "ty": rng.uniform(-10, 10),
            "shear": rng.uniform(-20, 20),
            "zx": rng.uniform(0.8, 1.2),
            "zy": rng.uniform(0.8, 1.2),
            "flip_horizontal": bool(rng.random() < 0.5),
            "flip_vertical": bool(rng.random() < 0.5),
        }
        expected = generator.apply_transform(image, params)
        assert np.abs(ours(image, params, config) - expected).mean() < tolerance, params


@pytest.mark.parametrize(
    "settings",
    [
        {"rotation_range": 40},
        {"width_shift_range": 0.2, "height_shift_range": 0.2},
        {"zoom_range": 0.2},
        {"shear_range": 20},
    ],
    ids=["rotation", "shift", "zoom", "shear"],
)
@pytest.mark.fast
def test_random_strength_roughly_matches_the_legacy_generator(settings):
    # Mean pixel change over 300 random draws; a 25% smaller range moves it by about 25%.
    image = smooth_image()
    generator = ImageDataGenerator(**settings)
    np.random.seed(0)
    legacy_change = np.mean(
        [np.abs(generator.random_transform(image) - image).mean() for _ in range(300)]
    )
    batch = tf.constant(np.repeat(image[None], 300, axis=0))
    changed = augment.augment_images(batch, AugmentConfig(**settings), tf.constant([0, 1]))
    assert np.abs(changed - batch).mean() == pytest.approx(legacy_change, rel=0.12)


@pytest.mark.parametrize("fill_mode", ["nearest", "reflect"])
@pytest.mark.fast
def test_warp_matches_the_tensorflow_projective_transform_op(fill_mode):
    images = tf.constant(np.random.default_rng(1).uniform(0, 255, (6, 20, 28, 3)), tf.float32)
    config = TUTORIAL.model_copy(update={"shear_range": 20, "vertical_flip": True})
    params = augment.sample_parameters(config, tf.constant(6), 20, 28, tf.constant([3, 4]))
    transforms = augment.affine_transforms(params, 20, 28)
    expected = tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=[20, 28],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode=fill_mode.upper(),
    )
    got = augment.warp(images, transforms, fill_mode, 0.0)
    np.testing.assert_allclose(got, expected, atol=1e-3)


def test_compiled_augmenter_equals_the_plain_function():
    config = TUTORIAL.model_copy(update={"brightness_range": [0.5, 1.5], "contrast_range": 0.3})
    images = tf.constant(np.random.default_rng(2).integers(0, 256, (5, 24, 24, 3)), tf.uint8)
    seed = tf.constant([5, 6])
    compiled = augment.make_augmenter(config, rescale=0.5)(images, seed)
    plain = augment.augment_images(tf.cast(images, tf.float32), config, seed) * 0.5
    np.testing.assert_allclose(compiled, plain, atol=1e-2)


@pytest.mark.fast
def test_same_seed_same_augmentation():
    batch = tf.constant(np.repeat(smooth_image()[None], 4, axis=0))
    first = augment.augment_images(batch, TUTORIAL, tf.constant([1, 2])).numpy()
    again = augment.augment_images(batch, TUTORIAL, tf.constant([1, 2])).numpy()
    other = augment.augment_images(batch, TUTORIAL, tf.constant([1, 3])).numpy()
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)
    assert not np.allclose(first[0], first[1])  # each image draws its own transform


@pytest.mark.fast
def test_sampled_parameters_stay_in_the_configured_ranges():
    config = TUTORIAL.model_copy(update={"brightness_range": [0.5, 1.5], "contrast_range": 0.3})
    params = augment.sample_parameters(config, tf.constant(2000), 30, 50, tf.constant([0, 0]))
    params = {key: value.numpy() for key, value in params.items()}
    assert np.abs(params["theta"]).max() <= 40 and np.abs(params["theta"]).max() > 35
    assert np.abs(params["tx"]).max() <= 0.2 * 50 and np.abs(params["ty"]).max() <= 0.2 * 30
    assert np.abs(params["shear"]).max() <= 0.2
    assert params["zx"].min() >= 0.8 and params["zx"].max() <= 1.2
    assert not np.allclose(params["zx"], params["zy"])  # independent zoom per axis, as legacy
    assert 0.4 < params["flip_horizontal"].mean() < 0.6 and not params["flip_vertical"].any()
    assert params["brightness"].min() >= 0.5 and params["brightness"].max() <= 1.5
    assert params["contrast"].min() >= 0.7 and params["contrast"].max() <= 1.3


@pytest.mark.fast
def test_brightness_multiplies_and_clips():
    image = np.full((4, 4, 3), 100.0, np.float32)
    config = AugmentConfig(brightness_range=[0.5, 3.0])
    brighter = ours(image, {**NO_MOVE, "brightness": 2.0}, config)
    np.testing.assert_allclose(brighter, 200.0)
    np.testing.assert_allclose(ours(image, {**NO_MOVE, "brightness": 3.0}, config), 255.0)


@pytest.mark.fast
def test_nothing_configured_changes_nothing():
    batch = tf.constant(smooth_image()[None])
    config = AugmentConfig()
    assert not config.enabled and not augment.is_geometric(config)
    np.testing.assert_array_equal(augment.augment_images(batch, config, tf.constant([0, 0])), batch)


def test_augment_preview_writes_a_png_grid(tmp_path):
    from PIL import Image

    root = make_monkeys_folder(tmp_path / "monkeys", 2, 1, size=(40, 40))
    config = tmp_path / "preview.yaml"
    config.write_text(
        f"data: {{dataset: monkeys, path: {root}, image_size: [64, 64]}}\n"
        "augment: {rotation_range: 40, zoom_range: 0.2, horizontal_flip: true}\n",
        encoding="utf-8",
    )
    output = tmp_path / "grid.png"
    result = CliRunner().invoke(
        app, ["augment", "preview", "-c", str(config), "-o", str(output), "-n", "3"]
    )
    assert result.exit_code == 0, result.output
    assert str(output) in result.output
    with Image.open(output) as image:
        assert image.format == "PNG" and image.width > image.height  # 3 rows x 6 columns


def test_augment_preview_reports_a_missing_dataset_cleanly(tmp_path):
    config = tmp_path / "preview.yaml"
    config.write_text(f"data: {{dataset: directory, path: {tmp_path / 'nope'}}}\n")
    result = CliRunner().invoke(app, ["augment", "preview", "-c", str(config)])
    assert result.exit_code == 1
    assert "error: data.path: no folder at" in result.output
