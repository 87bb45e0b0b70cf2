"""Fine-tuning: the phases, train.init_from, frozen batch norm, and --resume across the switch."""

from __future__ import annotations

import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from cnnzoo import finetune, pretrained, runs
from cnnzoo.config import load_config
from cnnzoo.data.synthetic import make_class_folder
from cnnzoo.errors import CnnzooError, ConfigError
from cnnzoo.training import RunInterrupted, train_from_config

from .tiny_runs import history, read, tiny_config


def _config(tmp_path: Path, *overrides: str):
    path = tmp_path / "c.yaml"
    path.write_text("model: {name: resnet18}\ndata: {dataset: monkeys}\n", encoding="utf-8")
    return load_config(path, list(overrides))


def test_phases_head_then_everything_at_a_tenth(tmp_path: Path) -> None:
    config = _config(tmp_path, "train.init_from=runs/a", "train.freeze_epochs=2", "train.epochs=5")
    head, tune = finetune.all_phases(config)
    assert (head.start, head.end, head.frozen, head.train.epochs) == (0, 2, True, 2)
    assert (tune.start, tune.end, tune.frozen, tune.train.epochs) == (2, 5, False, 3)
    assert tune.train.learning_rate == pytest.approx(config.train.learning_rate / 10)
    assert [p.name for p in finetune.remaining_phases(config, 2)] == ["fine-tune"]
    assert finetune.remaining_phases(config, 3)[0].start == 3
    assert finetune.checkpoint_phase(config, 2).name == "head"  # written before the switch
    assert finetune.checkpoint_phase(config, 3).name == "fine-tune"
    rate = _config(tmp_path, "train.init_from=a", "train.freeze_epochs=1", "train.epochs=2",
                   "train.finetune_learning_rate=0.0002")  # fmt: skip
    assert finetune.all_phases(rate)[1].train.learning_rate == 0.0002
    plain = _config(tmp_path)
    assert [(p.name, p.start, p.end) for p in finetune.all_phases(plain)] == [("all", 0, 10)]


def test_fine_tuning_settings_that_cannot_work_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="set model.weights .* or train.init_from"):
        _config(tmp_path, "train.freeze_epochs=2")
    with pytest.raises(ConfigError, match=r"at most train.epochs \(3\)"):
        _config(tmp_path, "train.init_from=a", "train.freeze_epochs=4", "train.epochs=3")


def test_missing_keras_hub_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "keras_hub", None)  # what `import keras_hub` sees if absent
    with pytest.raises(CnnzooError, match=r'KerasHub, which is not installed: pip install "cnnzoo'):
        pretrained.require_keras_hub()


class _InterruptAt(keras.callbacks.Callback):
    """Ctrl-C as the given epoch starts (0-based), as a user pressing it then would."""

    def __init__(self, epoch: int) -> None:
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        if epoch == self.epoch:
            raise KeyboardInterrupt


def _weights(model: keras.Model) -> dict[str, list[np.ndarray]]:
    return {layer.name: layer.get_weights() for layer in model.layers if layer.weights}


def test_init_from_freeze_then_resume_across_the_switch(
    mnist_npz: Path, tmp_path: Path, capsys
) -> None:
    source_dir = train_from_config(
        load_config(tiny_config(tmp_path, mnist_npz, name="source")), tmp_path / "source"
    )
    source = _weights(keras.saving.load_model(source_dir / runs.MODEL_FILE))
    train = {"epochs": 3, "freeze_epochs": 1, "init_from": str(source_dir), "learning_rate": 0.01}
    config = load_config(tiny_config(tmp_path, mnist_npz, name="tuned", train=train))
    run_dir = tmp_path / "tuned"

    # Interrupted as the second epoch, the first of fine-tuning, starts.
    with pytest.raises(RunInterrupted):
        train_from_config(config, run_dir, callbacks=[_InterruptAt(1)])
    out = capsys.readouterr().out
    assert f"Initialised from {source_dir / runs.MODEL_FILE}: 9 of 9 layers" in out
    assert "Epochs 1-1: the classifier only (backbone frozen)." in out
    assert runs.last_checkpoint(run_dir).epoch == 1
    head_only = _weights(keras.saving.load_model(runs.last_checkpoint(run_dir).path(run_dir)))
    for name, values in source.items():
        changed = any(
            not np.array_equal(a, b) for a, b in zip(values, head_only[name], strict=True)
        )
        assert changed == (name == "predictions"), name  # only the classifier trained

    train_from_config(load_config(run_dir / runs.CONFIG_FILE), run_dir, resume=True)
    out = capsys.readouterr().out
    assert "Epochs 2-3: everything at learning rate 0.001 (batch norm frozen)." in out
    assert "Initialised from" not in out  # resuming reads the checkpoint, not the source run
    rows = history(run_dir)
    assert [row["epoch"] for row in rows] == [1, 2, 3]
    assert [row["learning_rate"] for row in rows] == pytest.approx([0.01, 0.001, 0.001])
    assert read(run_dir, "run.json")["status"] == "completed"
    final = keras.saving.load_model(run_dir / runs.MODEL_FILE)
    tuned = _weights(final)
    assert not np.array_equal(tuned["conv1"][0], head_only["conv1"][0])  # the backbone trained
    for layer in final.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            # Frozen in inference mode throughout: the source run's statistics, untouched.
            for a, b in zip(tuned[layer.name], source[layer.name], strict=True):
                np.testing.assert_array_equal(a, b)
    # Fine-tuning's optimizer started afresh at the switch: 2 epochs x 3 steps.
    assert int(final.optimizer.iterations.numpy()) == 2 * 3


def test_init_from_other_classes_reinitialises_the_classifier(
    mnist_npz: Path, tmp_path: Path, capsys
) -> None:
    source_dir = train_from_config(
        load_config(tiny_config(tmp_path, mnist_npz, name="source", train={"epochs": 1})),
        tmp_path / "source",
    )
    folder = make_class_folder(tmp_path / "images", ["cat", "dog"], 4, size=(28, 28))
    data = {"dataset": "directory", "path": str(folder), "channels": 1, "image_size": [28, 28]}
    train = {"epochs": 1, "init_from": str(source_dir), "steps_per_epoch": 1, "batch_size": 4}
    config = load_config(tiny_config(tmp_path, mnist_npz, name="cats", data=data, train=train))
    run_dir = train_from_config(config, tmp_path / "cats")
    out = capsys.readouterr().out
    assert "8 of 9 layers" in out and "newly initialised: predictions (classes differ)" in out
    assert keras.saving.load_model(run_dir / runs.MODEL_FILE).output_shape == (None, 2)


def test_init_from_a_folder_without_a_model_says_so(mnist_npz: Path, tmp_path: Path) -> None:
    train = {"epochs": 1, "init_from": str(tmp_path / "nowhere")}
    config = load_config(tiny_config(tmp_path, mnist_npz, train=train))
    with pytest.raises(CnnzooError, match="nowhere does not exist; point it at a completed"):
        train_from_config(config, tmp_path / "run")
