"""Keras callbacks that keep a run folder current (history, checkpoints, a NaN guard), and the
list of callbacks a training run uses."""

from __future__ import annotations

import contextlib
import math
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keras

from cnnzoo.config.schema import Config
from cnnzoo.engine import timings
from cnnzoo.engine.optim import WarmupRamp, current_learning_rate
from cnnzoo.runs import files as runs
from cnnzoo.utils import keras_compat
from cnnzoo.utils.atomic import save_model


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM until the block ends, so a checkpoint is never half-recorded."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {
        signum: signal.signal(signum, lambda number, frame: caught.append(number))
        for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if caught:
            raise KeyboardInterrupt


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM (a scheduler's stop) like Ctrl-C: save state and exit cleanly."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class HistoryWriter(keras.callbacks.Callback):
    """Append each epoch's logs, learning rate and duration to history.csv/json as it ends."""

    def __init__(self, run_dir: Path, rows: list[dict[str, float]]) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.rows = list(rows)
        self._start = 0.0
        self._learning_rate = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start = time.perf_counter()
        self._learning_rate = current_learning_rate(self.model.optimizer)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if not math.isfinite(float((logs or {}).get("loss", 0.0))):
            # A diverged epoch (NanGuard stops training and says where) is left out: the
            # history ends at the last good epoch, as the checkpoints do, and plots stay finite.
            return
        row = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}}
        row["learning_rate"] = self._learning_rate
        row["seconds"] = round(time.perf_counter() - self._start, 3)
        self.rows = [r for r in self.rows if r["epoch"] < row["epoch"]] + [row]
        runs.write_history(self.run_dir, self.rows)


class NanGuard(keras.callbacks.Callback):
    """Stop training at the first NaN or infinite loss and remember where it happened."""

    def __init__(self) -> None:
        super().__init__()
        self.where: str | None = None
        self._epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and self.where is None and not math.isfinite(float(loss)):
            # With steps_per_execution N, Keras calls this after every N steps: `batch` is the
            # last of them, and the loss turned somewhere in the N.
            first = max(0, batch + 1 - getattr(self.model, "steps_per_execution", 1) or 1)
            steps = f"step {batch + 1}" if first == batch else f"steps {first + 1}-{batch + 1}"
            self.where = f"epoch {self._epoch + 1}, {steps}"
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        # Every step's loss finite but their mean not (it overflowed): stop here too, so the
        # epoch the history and checkpoints leave out is always reported.
        loss = (logs or {}).get("loss")
        if loss is not None and self.where is None and not math.isfinite(float(loss)):
            self.where = f"epoch {epoch + 1} (its mean loss)"
            self.model.stop_training = True


class PhaseMarks(keras.callbacks.Callback):
    """Marks in the timing record (`timings`, when enabled): each epoch's begin, its first step,
    its validation's begin and end, its end, and the training's end. Placed last, so an epoch's
    end comes after the checkpoints and its validation's begin after the batch-norm
    re-estimation."""

    def __init__(self) -> None:
        super().__init__()
        self._epoch = 0
        self._stepped = False

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch, self._stepped = epoch + 1, False
        timings.mark(f"epoch {self._epoch} begin")

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if not self._stepped:  # Keras calls this every steps_per_execution steps
            self._stepped = True
            timings.mark(f"epoch {self._epoch} first step")

    def on_test_begin(self, logs: dict | None = None) -> None:
        timings.mark(f"epoch {self._epoch} validation begin")

    def on_test_end(self, logs: dict | None = None) -> None:
        timings.mark(f"epoch {self._epoch} validation end")

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        timings.mark(f"epoch {epoch + 1} end")

    def on_train_end(self, logs: dict | None = None) -> None:
        timings.mark("train end")


RANDOM_STATE = "random_state"  # the checkpoint's record of the random-generator states


def _seed_states(model: keras.Model) -> list[Any]:
    """The model's random-generator states (dropout's seeds), in layer order."""
    return [v for v in model.non_trainable_variables if v.path.endswith("seed_generator_state")]


class Checkpointer(keras.callbacks.Callback):
    """After each epoch, save the last and the best model with optimizer state, atomically.

    `checkpoints/last.json` names the last checkpoint file and records the epoch and the state of
    the stateful callbacks (early stopping, plateau); it is replaced only after the new file is
    complete, so a run killed at any moment resumes from a consistent, finished epoch.
    """

    def __init__(
        self,
        run_dir: Path,
        monitor: str,
        stateful: dict[str, keras.callbacks.Callback],
        state: runs.CheckpointState | None = None,
    ) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.folder = run_dir / runs.CHECKPOINT_DIR
        self.monitor = monitor
        self.stateful = stateful
        self.state = state
        self.best = state.best if state else runs.Best(monitor)

    def on_train_begin(self, logs: dict | None = None) -> None:
        for partial in self.folder.glob(".*.partial.keras"):  # left by a killed run
            partial.unlink(missing_ok=True)
        # Placed after the stateful callbacks, so their own on_train_begin resets come first.
        # Once: a later fit (the next fine-tuning phase) starts its callbacks afresh.
        saved = self.state.callbacks if self.state else {}
        self.state = None
        for name, callback in self.stateful.items():
            keras_compat.restore_callback_state(callback, saved.get(name, {}))
        # model.keras leaves out the random-generator states (dropout's): put them back once,
        # so a resumed run draws the masks an unbroken one would.
        seeds = saved.get(RANDOM_STATE, {}).get("seeds")
        if seeds and len(seeds) == len(_seed_states(self.model)):
            for variable, value in zip(_seed_states(self.model), seeds, strict=True):
                variable.assign(value)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        if not math.isfinite(float(logs.get("loss", 0.0))):
            return  # never checkpoint diverged weights
        self.folder.mkdir(parents=True, exist_ok=True)
        value = logs.get(self.monitor)
        with signals_deferred(), timings.phase(f"epoch {epoch + 1} checkpoint"):
            name = runs.checkpoint_file(epoch + 1)
            save_model(self.model, self.folder / name)
            if value is not None and (self.best.value is None or value > self.best.value):
                self.best = runs.Best(self.monitor, float(value), epoch + 1)
                _copy_file(
                    self.folder / name, self.folder / runs.BEST_CHECKPOINT
                )  # not saved twice
            state = runs.CheckpointState(
                epoch=epoch + 1,
                checkpoint=name,
                best=self.best,
                callbacks={
                    **{n: keras_compat.callback_state(c) for n, c in self.stateful.items()},
                    RANDOM_STATE: {"seeds": [v.numpy().tolist() for v in _seed_states(self.model)]},
                },
            )
            runs.write_checkpoint_state(self.run_dir, state)
            runs.write_status(self.run_dir, "running", epochs_completed=epoch + 1)
            for old in self.folder.glob("epoch-*.keras"):
                if old.name != name:
                    old.unlink(missing_ok=True)


def _copy_file(source: Path, target: Path) -> None:
    """Copy `source` over `target` so that readers never see a half-written file."""
    partial = target.with_name(f".{target.name}.partial.keras")  # what on_train_begin clears
    shutil.copyfile(source, partial)
    partial.replace(target)


def _stateful_callbacks(config: Config, split: str) -> dict[str, keras.callbacks.Callback]:
    """Early stopping and the plateau schedule: their progress is saved with each checkpoint."""
    train = config.train
    stateful: dict[str, keras.callbacks.Callback] = {}
    if train.early_stopping_patience:
        stateful["early_stopping"] = keras.callbacks.EarlyStopping(
            monitor=f"{split}loss", patience=train.early_stopping_patience, verbose=1
        )
    if train.schedule == "plateau":
        stateful["plateau"] = keras.callbacks.ReduceLROnPlateau(
            monitor=f"{split}loss",
            factor=train.decay_factor,
            patience=train.plateau_patience,
            min_lr=train.min_learning_rate,
            verbose=1,
        )
    return stateful


def warmup_callbacks(train: Any) -> list[keras.callbacks.Callback]:
    """For `plateau`, the ramp over `train.warmup_epochs` (a phase's settings), placed first."""
    if train.schedule == "plateau" and train.warmup_epochs:
        return [WarmupRamp(train.learning_rate, train.warmup_epochs)]
    return []


def run_callbacks(
    config: Config,
    write_dir: Path,
    validation: bool,
    rows: list[runs.HistoryRow],
    state: runs.CheckpointState | None,
) -> list[keras.callbacks.Callback]:
    """Early stopping, plateau, history, checkpoints, TensorBoard, in that order.

    The warm-up ramp is not among them: it belongs to one phase (`warmup_callbacks`).
    """
    train = config.train
    split = "val_" if validation else ""
    stateful = _stateful_callbacks(config, split)
    callbacks: list[keras.callbacks.Callback] = [
        *stateful.values(),
        HistoryWriter(write_dir, rows),
        Checkpointer(write_dir, f"{split}accuracy", stateful, state),
    ]
    if train.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(write_dir / runs.TENSORBOARD_DIR))
    return callbacks
