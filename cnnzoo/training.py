"""Training: build data and model from a config, fit, and leave a complete run folder."""

from __future__ import annotations

import time
from pathlib import Path

import keras

from cnnzoo import runs
from cnnzoo.config import Config
from cnnzoo.models import MODELS
from cnnzoo.plots import plot_history


class HistoryWriter(keras.callbacks.Callback):
    """Append each epoch's logs to history.csv/json as soon as the epoch ends."""

    def __init__(self, run_dir: Path) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.history: dict[str, list[float]] = {}
        self._start = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = {**(logs or {}), "seconds": time.perf_counter() - self._start}
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))
        runs.write_history(self.run_dir, self.history)


def build_model(config: Config, num_classes: int) -> keras.Model:
    """Build the configured architecture for the configured input shape."""
    build = MODELS.get(config.model.name).builder()
    return build(config.image_shape, num_classes, **config.model.options)


def train_from_config(config: Config, output: Path | None = None) -> Path:
    """Train as `config` says; return the run folder."""
    from cnnzoo.data.pipeline import build_datasets

    keras.utils.set_random_seed(config.seed)
    data = build_datasets(config)
    run_dir = runs.new_run_dir(config, output)
    runs.write_config(run_dir, config)
    runs.write_json(run_dir / runs.ENVIRONMENT_FILE, runs.environment(config))
    runs.write_json(run_dir / runs.CLASSES_FILE, data.class_names)

    model = build_model(config, len(data.class_names))
    model.compile(
        optimizer=keras.optimizers.Adam(config.train.learning_rate),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.train.label_smoothing),
        metrics=["accuracy"],
    )
    writer = HistoryWriter(run_dir)
    model.fit(
        data.train,
        validation_data=data.validation,
        epochs=config.train.epochs,
        steps_per_epoch=config.train.steps_per_epoch,
        callbacks=[writer],
        verbose=2,
    )
    model.save(run_dir / runs.MODEL_FILE)
    final = {key: values[-1] for key, values in writer.history.items()}
    runs.write_json(run_dir / runs.METRICS_FILE, {"final": final, "epochs": config.train.epochs})
    plot_history(runs.read_history(run_dir), run_dir / runs.HISTORY_PLOT, title=config.name)
    return run_dir
