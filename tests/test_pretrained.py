"""Pretrained ResNet-18: KerasHub presets loaded into cnnzoo's model, offline, through KerasHub.

The preset is written by KerasHub's own `save_to_preset` from a randomly initialised KerasHub
ResNet-18 (every variable, batch-norm statistics included, set to distinct random values), so
a wrong mapping, a transposed kernel or a missed layer shows as a difference.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from cnnzoo.config.schema import load_config
from cnnzoo.datasets.synthetic import make_class_folder
from cnnzoo.utils.errors import ConfigError

from .helpers import run_cli
from .hub_standin import HubStandIn

keras_hub = pytest.importorskip("keras_hub", reason="the pretrained extra is not installed")
import keras  # noqa: E402

from cnnzoo.models import presets, resnet18  # noqa: E402

# An unusual normalisation, so the test fails if cnnzoo used ImageNet's instead of the preset's.
MEAN, STD = (0.3, 0.5, 0.7), (0.2, 0.25, 0.4)


@pytest.fixture(scope="module")
def preset_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A KerasHub ResNet-18 preset folder with random weights and its image converter."""
    folder = tmp_path_factory.mktemp("preset") / "resnet_18_random"
    backbone = keras_hub.models.ResNetBackbone(**presets.RESNET18_CONFIG)
    rng = np.random.default_rng(0)
    for variable in backbone.weights:
        values = rng.normal(0.0, 0.05, variable.shape)
        if "variance" in variable.path or "gamma" in variable.path:
            values = rng.uniform(0.5, 1.5, variable.shape)
        variable.assign(values.astype("float32"))
    backbone.save_to_preset(str(folder))
    converter = keras_hub.layers.ResNetImageConverter(
        image_size=(224, 224),
        scale=[1 / 255 / s for s in STD],
        offset=[-m / s for m, s in zip(MEAN, STD, strict=True)],
    )
    converter.save_to_preset(str(folder))
    return folder


@pytest.fixture(scope="module")
def loaded(preset_dir: Path):
    """cnnzoo's ResNet-18 built from the preset, and KerasHub's own backbone from it."""
    model = resnet18.build((64, 64, 3), 5, weights=str(preset_dir))
    backbone = keras_hub.models.Backbone.from_preset(str(preset_dir))
    return model, backbone


def test_every_copied_weight_equals_the_presets(loaded) -> None:
    model, backbone = loaded
    copied = 0
    for layer in (layer for layer in backbone.layers if layer.weights):
        for source, target in zip(
            layer.weights,
            model.get_layer(presets.torchvision_name(layer.name)).weights,
            strict=True,
        ):
            np.testing.assert_array_equal(np.asarray(target), np.asarray(source))
            copied += int(np.prod(source.shape))
    assert copied == 11_186_112  # ResNet-18 before the classifier, in both layouts
    assert model.get_layer("predictions").weights[0].shape == (512, 5)


def test_same_features_as_keras_hub_for_the_same_image(loaded) -> None:
    model, backbone = loaded
    image = np.random.default_rng(1).uniform(0, 1, (2, 64, 64, 3)).astype("float32")
    features = keras.Model(model.input, model.get_layer("layer4_1_relu2").output)(image)
    # KerasHub's converter maps 0-255 pixels p to p * scale + offset before the backbone.
    pixels = image * 255.0
    scale = np.array([1 / 255 / s for s in STD], "float32")
    offset = np.array([-m / s for m, s in zip(MEAN, STD, strict=True)], "float32")
    expected = np.asarray(backbone(pixels * scale + offset))
    assert expected.shape == (2, 2, 2, 512) and np.abs(expected).max() > 0.1
    # Float32 tolerance at the features' scale (random weights make them large).
    scale = np.abs(expected).max()
    np.testing.assert_allclose(np.asarray(features), expected, rtol=1e-4, atol=1e-5 * scale)


def test_grey_images_get_the_features_of_the_grey_image_in_colour(preset_dir: Path) -> None:
    # MNIST-shaped data on pretrained ResNet-18: a grey image through cnnzoo's 1-channel model
    # gives KerasHub's backbone features for that image repeated to RGB (the preset's own
    # unequal per-channel normalisation applied by the converter's scale and offset).
    model = resnet18.build((32, 32, 1), 10, weights=str(preset_dir))
    backbone = keras_hub.models.Backbone.from_preset(str(preset_dir))
    grey = np.random.default_rng(3).uniform(0, 1, (2, 32, 32, 1)).astype("float32")
    features = keras.Model(model.input, model.get_layer("layer4_1_relu2").output)(grey)
    converter = keras_hub.layers.ImageConverter.from_preset(str(preset_dir))
    colour = np.repeat(grey * 255.0, 3, axis=-1)
    expected = np.asarray(backbone(colour * np.asarray(converter.scale) + converter.offset))
    assert expected.shape == (2, 1, 1, 512) and np.abs(expected).max() > 0.1
    scale = np.abs(expected).max()
    np.testing.assert_allclose(np.asarray(features), expected, rtol=1e-4, atol=1e-5 * scale)
    assert model.get_layer("conv1").kernel.shape == (7, 7, 3, 64)  # the preset's, unchanged


def test_saved_model_keeps_the_normalisation(loaded, tmp_path: Path) -> None:
    model, _ = loaded
    image = np.random.default_rng(2).uniform(0, 1, (1, 64, 64, 3)).astype("float32")
    model.save(tmp_path / "model.keras")
    reloaded = keras.saving.load_model(tmp_path / "model.keras")  # no preset, no download
    np.testing.assert_allclose(reloaded(image), model(image), rtol=1e-5, atol=1e-6)
    normalize = reloaded.get_layer("input_normalize")
    np.testing.assert_allclose(np.ravel(normalize.mean), MEAN, rtol=1e-5)


def test_preset_without_converter_uses_imagenet_statistics(preset_dir: Path, tmp_path) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("config.json", "metadata.json", "model.weights.h5"):
        (bare / name).write_bytes((preset_dir / name).read_bytes())
    preset = presets.load_preset("resnet18", str(bare), log=lambda line: None)
    assert preset.mean == presets.IMAGENET_MEAN and preset.std == presets.IMAGENET_STD


def test_layer_name_mapping() -> None:
    assert presets.torchvision_name("conv1_conv") == "conv1"
    assert presets.torchvision_name("conv1_bn") == "bn1"
    assert presets.torchvision_name("stack1_block0_0_conv") == "layer2_0_downsample_0"
    assert presets.torchvision_name("stack1_block0_0_bn") == "layer2_0_downsample_1"
    assert presets.torchvision_name("stack3_block1_2_bn") == "layer4_1_bn2"
    with pytest.raises(KeyError):
        presets.torchvision_name("post_bn")


def _config(tmp_path: Path, data: Path, **model: object) -> Path:
    config = {
        "name": "pretrained",
        "output_dir": str(tmp_path / "runs"),
        "data": {"dataset": "directory", "path": str(data), "image_size": [32, 32], "channels": 3},
        "model": {"name": "resnet18", **model},
        "train": {"epochs": 2, "batch_size": 4, "freeze_epochs": 1, "steps_per_epoch": 1},
    }
    path = tmp_path / "pretrained.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def test_train_downloads_a_hugging_face_preset_once(preset_dir: Path, tmp_path: Path) -> None:
    """`model.weights: hf://...` through KerasHub and huggingface_hub, against a stand-in Hub."""
    data = make_class_folder(tmp_path / "images", ["cat", "dog"], 4, size=(32, 32))
    config = _config(tmp_path, data, weights="hf://keras/resnet_18_random")
    env = {"HF_HOME": str(tmp_path / "hf-home"), "HF_HUB_DISABLE_TELEMETRY": "1"}
    with HubStandIn("keras/resnet_18_random", preset_dir) as hub:
        env["HF_ENDPOINT"] = hub.url
        first = run_cli("train", "-c", str(config), "-o", str(tmp_path / "run1"), env=env)
        assert first.returncode == 0, first.stderr
        assert "model.weights.h5" in hub.downloaded()
        fetched = len(hub.downloaded())
        build = "from cnnzoo.models import resnet18; resnet18.build((32, 32, 3), 2, weights={!r})"
        again = subprocess.run(
            [sys.executable, "-c", build.format("hf://keras/resnet_18_random")],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert again.returncode == 0, again.stderr
        assert "model.weights.h5" not in hub.downloaded()[fetched:]  # served from the cache
    assert "KerasHub preset hf://keras/resnet_18_random" in first.stdout
    assert "Epochs 1-1: the classifier only (backbone frozen)" in first.stdout
    assert "Epochs 2-2: everything at learning rate 0.0001 (batch norm frozen)" in first.stdout
    run = json.loads((tmp_path / "run1" / "history.json").read_text())
    assert run[1]["learning_rate"] == pytest.approx(run[0]["learning_rate"] / 10)


def test_no_network_is_one_line_that_says_what_to_do(tmp_path: Path) -> None:
    data = make_class_folder(tmp_path / "images", ["cat", "dog"], 2, size=(32, 32))
    config = _config(tmp_path, data, weights="imagenet")
    # kagglesdk's TEST environment is localhost:7777, where nothing listens: the download
    # fails as it does offline, without sending anything off this machine.
    env = {"KAGGLE_API_ENVIRONMENT": "TEST", "KAGGLEHUB_CACHE": str(tmp_path / "kagglehub")}
    result = run_cli("train", "-c", str(config), "-o", str(tmp_path / "run"), env=env)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "resnet_18_imagenet" in lines[0]
    assert "kagglehub.model_download('keras/resnetv1/keras/resnet_18_imagenet/3')" in lines[0]
    assert "model.weights" in lines[0]


def test_config_errors_name_the_models_with_weights(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("model: {name: lenet}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r'"lenet" has no pretrained weights.*resnet18'):
        load_config(config, ["model.weights=imagenet"])
    config.write_text("model: {name: resnet18}\ndata: {dataset: mnist}\n", encoding="utf-8")
    assert load_config(config, ["model.weights=imagenet"]).data.channels == 1  # grey is fine
    with pytest.raises(ConfigError, match="neither a weights name"):
        load_config(config, [f"model.weights={tmp_path / 'nowhere'}"])
