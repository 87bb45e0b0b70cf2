"""Batch-norm statistics re-estimated at each epoch end, on real digits (scikit-learn's 1,797)."""

from __future__ import annotations

import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from cnnzoo.config.schema import load_config
from cnnzoo.engine.batch_norm_stats import batch_norm_layers, reestimate, training_sample
from cnnzoo.engine.training import train_from_config
from cnnzoo.runs import files as runs
from cnnzoo.runs.resume import resume_config

from .helpers import REPO
from .real_digits import with_model, write_digits
from .tiny_runs import history, tiny_config

sys.path.insert(0, str(REPO / "scripts"))
from compare_batch_norm_stats import FreshStatistics, split_arrays  # noqa: E402


@pytest.fixture(scope="module")
def digits_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """scikit-learn's real digits as an mnist.npz-format file: 1,347 train, 450 test, 28x28."""
    return write_digits(tmp_path_factory.mktemp("digits"))


def _config(folder: Path, digits: Path, model: dict, **train):
    # A fifth held out, as the real monkeys are split (1,078 training images, 269 held out):
    # 2 points is 5 images there; with a tenth held out (135) it was 2 and ran into the noise
    # of which borderline images flip, on one CPU and not another.
    return with_model(
        tiny_config(
            folder,
            digits,
            data={"validation_split": 0.2},
            train={"epochs": 3, "batch_size": 64, "learning_rate": 0.001, "steps_per_epoch": None}
            | train,
        ),
        model,
    )


def _statistics(model: keras.Model) -> list[np.ndarray]:
    return [
        np.asarray(v)
        for layer in batch_norm_layers(model)
        for v in (layer.moving_mean, layer.moving_variance)
    ]


# Every architecture with batch normalisation (AlexNet and GoogLeNet, the book's versions, have
# none); ResNet-18 at the digits' own 28x28 (its maps run 14, 7, 7, 4, 2, 1 wide).
MODELS = {
    "lenet_modern": {"name": "lenet", "variant": "modern"},
    "tutorial_cnn": {"name": "tutorial_cnn"},
    "resnet18": {"name": "resnet18"},
}


@pytest.fixture(scope="module")
def trained(digits_npz: Path, tmp_path_factory: pytest.TempPathFactory):
    """Train a model on the digits once per module, each epoch set against fresh statistics."""
    done: dict[str, tuple] = {}

    def train(name: str) -> tuple[list[dict], Path, object]:
        if name not in done:
            folder = tmp_path_factory.mktemp(name)
            config = load_config(_config(folder, digits_npz, MODELS[name]))
            fresh = FreshStatistics(*split_arrays(config), momentum=None)
            run_dir = train_from_config(
                config, folder / "run", log=lambda x: None, callbacks=[fresh]
            )
            done[name] = (fresh.rows, run_dir, config)
        return done[name]

    return train


@pytest.mark.parametrize("name", MODELS)
def test_validation_agrees_with_fresh_statistics_every_epoch(name: str, trained) -> None:
    # The claim, on real data: every epoch's val_accuracy (inference mode, the default
    # statistics) is within 2 points of the same weights with statistics computed from scratch
    # over the whole training split in one pass (a separate, plain-Keras computation).
    rows, _, _ = trained(name)
    assert [row["epoch"] for row in rows] == [1, 2, 3]
    for row in rows:
        assert abs(row["reported"] - row["fresh"]) <= 0.02, rows
    assert rows[-1]["reported"] >= 0.85, rows  # and the model does learn


def test_running_statistics_lag_and_training_is_unchanged(digits_npz: Path, tmp_path: Path) -> None:
    # What the default fixes (Keras' momentum 0.99 on ~20 steps an epoch), and that re-estimating
    # changes only the statistics: the training losses and accuracies are the same numbers.
    model = {"name": "lenet", "variant": "modern"}
    folders = {}
    for stats in ("running", "reestimate"):
        (tmp_path / stats).mkdir()
        config = _config(tmp_path / stats, digits_npz, model, batch_norm_stats=stats, epochs=2)
        config = load_config(config, ["hardware.deterministic=true"])
        folders[stats] = train_from_config(config, tmp_path / stats / "run", log=lambda x: None)
    running, reestimated = (history(folders[s]) for s in ("running", "reestimate"))
    for before, after in zip(running, reestimated, strict=True):
        assert before["loss"] == after["loss"] and before["accuracy"] == after["accuracy"]
    assert running[0]["val_accuracy"] < 0.5 < 0.8 < reestimated[0]["val_accuracy"]


def assert_carries_fresh_statistics(run_dir: Path, config) -> None:
    """model.keras and the last checkpoint hold what re-estimating the saved weights gives."""
    saved = keras.models.load_model(run_dir / runs.MODEL_FILE)
    checkpoint = keras.models.load_model(runs.last_checkpoint(run_dir).path(run_dir))
    again = keras.models.clone_model(saved)
    again.set_weights(saved.get_weights())
    assert reestimate(again, training_sample(config)) > 0
    ours_all, fresh_all, kept_all = (_statistics(m) for m in (saved, again, checkpoint))
    assert ours_all
    for ours, fresh, kept in zip(ours_all, fresh_all, kept_all, strict=True):
        np.testing.assert_allclose(ours, fresh, rtol=1e-2, atol=1e-3)
        np.testing.assert_array_equal(ours, kept)


def test_saved_model_carries_the_reestimated_statistics(trained) -> None:
    _, run_dir, config = trained("tutorial_cnn")
    assert_carries_fresh_statistics(run_dir, config)
    assert len(list(training_sample(config).unbatch())) == 512  # train.batch_norm_images


def test_the_sample_is_seeded_mixed_and_as_large_as_asked(digits_npz: Path, tmp_path: Path) -> None:
    # train.batch_norm_images training images, the same ones every time (a resumed run
    # re-estimates from them), in batches that mix the classes as training batches do.
    path = _config(tmp_path, digits_npz, MODELS["lenet_modern"])
    config = load_config(path, ["train.batch_norm_images=100"])
    batches = list(training_sample(config, labels=True).as_numpy_iterator())
    again = list(training_sample(config, labels=True).as_numpy_iterator())
    assert [len(images) for images, _ in batches] == [64, 36]
    for (images, labels), (images_again, labels_again) in zip(batches, again, strict=True):
        np.testing.assert_array_equal(images, images_again)
        np.testing.assert_array_equal(labels, labels_again)
    assert len(set(np.argmax(batches[0][1], axis=1))) >= 8  # not one class after another
    more = load_config(path, ["train.batch_norm_images=5000"])  # more than the split has
    assert len(list(training_sample(more).unbatch())) == 1078  # all 80% of 1,347


def test_mixed_precision_and_resume_keep_reestimated_statistics(
    digits_npz: Path, tmp_path: Path
) -> None:
    config = _config(tmp_path, digits_npz, {"name": "lenet", "variant": "modern"}, epochs=1)
    config = load_config(config, ["hardware.precision=mixed_float16"])
    run_dir = train_from_config(config, tmp_path / "run", log=lambda line: None)
    resumed = resume_config(run_dir, overrides=["train.epochs=2"])
    train_from_config(resumed, run_dir, resume=True, log=lambda line: None)
    assert [row["epoch"] for row in history(run_dir)] == [1, 2]
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        assert_carries_fresh_statistics(run_dir, resumed)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert history(run_dir)[-1]["val_accuracy"] >= 0.85
