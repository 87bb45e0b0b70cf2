"""Fine-tuning: the phases, train.init_from, frozen batch norm, and --resume across the switch."""

from __future__ import annotations

import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from cnnzoo.config.schema import load_config
from cnnzoo.datasets.synthetic import make_class_folder
from cnnzoo.engine import batch_norm_stats, finetune
from cnnzoo.engine.training import RunInterrupted, train_from_config
from cnnzoo.models import pretrained
from cnnzoo.runs import files as runs
from cnnzoo.utils.errors import CnnzooError, ConfigError

from .tiny_runs import history, read, tiny_config


def _config(tmp_path: Path, *overrides: str):
    path = tmp_path / "c.yaml"
    path.write_text("model: {name: resnet18}\ndata: {dataset: monkeys}\n", encoding="utf-8")
    return load_config(path, list(overrides))


def test_phases_head_then_everything(tmp_path: Path) -> None:
    config = _config(tmp_path, "train.init_from=runs/a", "train.freeze_epochs=2", "train.epochs=5")
    head, tune = finetune.all_phases(config)
    assert (head.start, head.end, head.frozen, head.train.epochs) == (0, 2, True, 2)
    assert (tune.start, tune.end, tune.frozen, tune.train.epochs) == (2, 5, False, 3)
    assert tune.train.learning_rate == config.train.learning_rate  # from an earlier run
    weights = _config(tmp_path, "model.weights=imagenet", "train.freeze_epochs=2")
    rate = finetune.all_phases(weights)[1].train.learning_rate
    assert rate == pytest.approx(weights.train.learning_rate / 10)  # pretrained: a tenth
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
    with pytest.raises(ConfigError, match=r"warmup_epochs: .* at most train.freeze_epochs \(1\)"):
        _config(tmp_path, "train.init_from=a", "train.freeze_epochs=1", "train.warmup_epochs=2")


def test_batch_norm_frozen_by_default_with_pretrained_weights_only(
    tmp_path: Path,
) -> None:
    assert finetune.batch_norm_frozen(_config(tmp_path, "model.weights=imagenet"))
    assert not finetune.batch_norm_frozen(_config(tmp_path, "train.init_from=a"))
    head = ["train.init_from=a", "train.freeze_epochs=1"]
    assert not finetune.batch_norm_frozen(_config(tmp_path, *head))
    assert not finetune.batch_norm_frozen(_config(tmp_path))  # from scratch: nothing to keep
    chosen = ["train.init_from=a", "train.freeze_batch_norm=true"]
    assert finetune.batch_norm_frozen(_config(tmp_path, *chosen))
    off = ["model.weights=imagenet", "train.freeze_batch_norm=false"]
    assert not finetune.batch_norm_frozen(_config(tmp_path, *off))


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
    train.update(finetune_learning_rate=0.001, freeze_batch_norm=True)  # as for ImageNet weights
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


def _switch_config(tmp_path: Path, mnist_npz: Path, source_dir: Path, name: str, **train):
    hardware = {"precision": "float32"}
    # Plateau with a warm-up over the head phase's two epochs; a patience of one epoch, so a
    # plateau state carried over the switch would lower the rate within the fine-tune phase.
    settings = {
        "epochs": 4,
        "freeze_epochs": 2,
        "init_from": str(source_dir),
        "learning_rate": 0.01,
        "schedule": "plateau",
        "warmup_epochs": 2,
        "plateau_patience": 1,
        "early_stopping_patience": 3,
        **train,
    }
    return load_config(
        tiny_config(tmp_path, mnist_npz, name=name, train=settings, hardware=hardware)
    )


@pytest.fixture(scope="module")
def source_run(mnist_npz: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny LeNet run the fine-tuning runs below start from."""
    folder = tmp_path_factory.mktemp("source")
    return train_from_config(
        load_config(tiny_config(folder, mnist_npz, name="source")), folder / "run"
    )


def test_first_fine_tune_epoch_runs_at_the_fine_tune_rate(
    mnist_npz: Path, tmp_path: Path, source_run: Path
) -> None:
    # The warm-up ramp (0.005, 0.01) belongs to the head phase; from the switch on the rate is
    # train.finetune_learning_rate, as history.csv's learning_rate column shows a user.
    config = _switch_config(tmp_path, mnist_npz, source_run, "tuned", finetune_learning_rate=0.002)
    run_dir = train_from_config(config, tmp_path / "tuned")
    rates = [row["learning_rate"] for row in history(run_dir)]
    assert rates == pytest.approx([0.005, 0.01, 0.002, 0.002])
    # By default from an earlier run: train.learning_rate, now without the ramp's fractions.
    config = _switch_config(tmp_path, mnist_npz, source_run, "default")
    rates = [row["learning_rate"] for row in history(train_from_config(config, tmp_path / "d"))]
    assert rates == pytest.approx([0.005, 0.01, 0.01, 0.01])


SWITCH = {
    "finetune_learning_rate": 0.05,
    "freeze_batch_norm": False,
    "batch_size": 1024,
    "steps_per_epoch": None,
}


@pytest.fixture(scope="module")
def unbroken(mnist_npz: Path, source_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run the resumed ones below must equal, trained without a break."""
    folder = tmp_path_factory.mktemp("unbroken")
    config = _switch_config(folder, mnist_npz, source_run, "unbroken", **SWITCH)
    return train_from_config(config, folder / "run")


@pytest.mark.parametrize("stop_at", [1, 2, 3])  # inside the head phase, at the switch, after
def test_resume_across_the_switch_equals_an_unbroken_run(
    mnist_npz: Path, tmp_path: Path, source_run: Path, unbroken: Path, stop_at: int
) -> None:
    # A fine-tune rate high enough that validation loss rises after the switch: a plateau or
    # early-stopping state wrongly carried over (or re-restored) would change the rates. Batch
    # norm trains (and is re-estimated) after the switch. One full batch per epoch in float32:
    # resumed epochs are shuffled differently (README), which then changes nothing but the
    # summation order.
    config = _switch_config(tmp_path, mnist_npz, source_run, "broken", **SWITCH)
    run_dir = tmp_path / "broken"
    with pytest.raises(RunInterrupted):
        train_from_config(config, run_dir, callbacks=[_InterruptAt(stop_at)])
    assert runs.last_checkpoint(run_dir).epoch == stop_at
    train_from_config(load_config(run_dir / runs.CONFIG_FILE), run_dir, resume=True)
    expected, rows = history(unbroken), history(run_dir)
    assert [row["epoch"] for row in rows] == [1, 2, 3, 4]
    # The rates exactly; the metrics to within what float32 summation order moves them by at
    # a rate of 0.05 (a carried-over plateau would give 0.005 at epoch 4).
    assert [r["learning_rate"] for r in rows] == [r["learning_rate"] for r in expected]
    for column in expected[0]:
        got, want = [r[column] for r in rows], [r[column] for r in expected]
        assert got == pytest.approx(want, rel=1e-2, abs=1e-6), column
    state, want = (runs.last_checkpoint(path) for path in (run_dir, unbroken))
    assert (state.epoch, state.best.epoch) == (want.epoch, want.best.epoch)
    assert state.callbacks.keys() == want.callbacks.keys()
    assert {"early_stopping", "plateau", "random_state"} <= want.callbacks.keys()
    assert state.callbacks.pop("random_state") == want.callbacks.pop("random_state")
    for name, values in want.callbacks.items():
        assert state.callbacks[name] == pytest.approx(values, rel=1e-2), name


def test_batch_norm_trained_after_the_switch_is_re_estimated(unbroken: Path) -> None:
    # The head phase freezes every batch-norm layer; after the switch they train, and their
    # inference statistics must be re-estimated like a from-scratch run's (train.batch_norm_stats
    # reestimate): model.keras holds what re-estimating its final weights gives.
    config = load_config(unbroken / runs.CONFIG_FILE, saved=True)
    model = keras.saving.load_model(unbroken / runs.MODEL_FILE)
    saved = {
        layer.name: layer.get_weights()[2:] for layer in batch_norm_stats.batch_norm_layers(model)
    }
    assert len(saved) == 4
    batch_norm_stats.reestimate(model, batch_norm_stats.training_sample(config))
    for layer in batch_norm_stats.batch_norm_layers(model):
        for fresh, kept in zip(layer.get_weights()[2:], saved[layer.name], strict=True):
            np.testing.assert_allclose(kept, fresh, rtol=1e-5, atol=1e-6)
