"""A training job: everything one run needs, decided before its first step."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras

from cnnzoo.config.schema import Config
from cnnzoo.engine import devices
from cnnzoo.runs import files as runs


@dataclass(frozen=True)
class TrainingJob:
    """Everything one training run needs, decided before its first step."""

    config: Config
    plan: devices.Plan
    strategy: Any  # the tf.distribute.Strategy the plan asked for
    data: Any  # cnnzoo.data.pipeline.DataBundle (kept untyped: that module imports TensorFlow)
    run_dir: Path  # the run folder
    write_dir: Path  # where this task writes: the run folder, or scratch on a non-chief worker
    resume: bool = False
    checkpoint: runs.CheckpointState | None = None  # the checkpoint a resumed run starts from
    history: tuple[runs.HistoryRow, ...] = ()  # rows of the epochs already trained
    log: Callable[[str], None] = print
    callbacks: tuple[keras.callbacks.Callback, ...] = ()  # extra, after training's own

    @property
    def initial_epoch(self) -> int:
        """Epochs already trained (0 for a new run)."""
        return self.checkpoint.epoch if self.checkpoint else 0

    @property
    def steps_per_epoch(self) -> int:
        """Training steps per epoch: as configured, or one pass over the training split."""
        train = self.config.train
        return train.steps_per_epoch or math.ceil(self.data.num_train / train.batch_size)
