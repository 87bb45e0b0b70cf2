"""Optimizers, learning-rate schedules, loss and metrics from the `train:` config section."""

from __future__ import annotations

import math

import keras
from keras import ops

from cnnzoo.config import TrainConfig


@keras.saving.register_keras_serializable(package="cnnzoo")
class WarmupSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up, then a constant, cosine or step learning rate, by optimizer step.

    The position in the schedule is the optimizer's `iterations` counter, which checkpoints save,
    so a resumed run continues the schedule where it stopped.
    """

    def __init__(
        self,
        learning_rate: float,
        total_steps: int,
        warmup_steps: int = 0,
        kind: str = "constant",
        step_size: int = 1,
        decay_factor: float = 0.1,
        min_learning_rate: float = 0.0,
    ) -> None:
        self.learning_rate = learning_rate
        self.total_steps = total_steps
        self.warmup_steps = warmup_steps
        self.kind = kind
        self.step_size = step_size
        self.decay_factor = decay_factor
        self.min_learning_rate = min_learning_rate

    def __call__(self, step):
        step = ops.cast(step, "float32")
        peak = self.learning_rate
        after = ops.maximum(step - self.warmup_steps, 0.0)
        if self.kind == "cosine":
            span = float(max(self.total_steps - self.warmup_steps, 1))
            progress = ops.minimum(after / span, 1.0)
            low = self.min_learning_rate
            rate = low + (peak - low) * 0.5 * (1.0 + ops.cos(math.pi * progress))
        elif self.kind == "step":
            rate = peak * ops.power(self.decay_factor, ops.floor(after / self.step_size))
        else:
            rate = peak * ops.ones_like(step)
        if self.warmup_steps:
            ramp = peak * (step + 1.0) / self.warmup_steps
            rate = ops.where(step < self.warmup_steps, ramp, rate)
        return rate

    def get_config(self) -> dict:
        """Constructor arguments, for saving."""
        return {
            "learning_rate": self.learning_rate,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "kind": self.kind,
            "step_size": self.step_size,
            "decay_factor": self.decay_factor,
            "min_learning_rate": self.min_learning_rate,
        }


def build_schedule(train: TrainConfig, steps_per_epoch: int) -> WarmupSchedule | float:
    """The learning rate: a step-indexed schedule, or a float that `plateau` lowers."""
    if train.schedule == "plateau":
        return train.learning_rate
    return WarmupSchedule(
        learning_rate=train.learning_rate,
        total_steps=train.epochs * steps_per_epoch,
        warmup_steps=train.warmup_epochs * steps_per_epoch,
        kind=train.schedule,
        step_size=train.step_epochs * steps_per_epoch,
        decay_factor=train.decay_factor,
        min_learning_rate=train.min_learning_rate,
    )


def build_optimizer(train: TrainConfig, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """The configured optimizer with its schedule and decoupled weight decay."""
    rate = build_schedule(train, steps_per_epoch)
    decay = train.weight_decay or None
    if train.optimizer == "adam":
        return keras.optimizers.Adam(rate, weight_decay=decay)
    if train.optimizer == "adamw":
        return keras.optimizers.AdamW(rate, weight_decay=train.weight_decay)
    if train.optimizer == "sgd":
        return keras.optimizers.SGD(rate, momentum=train.momentum, weight_decay=decay)
    assert train.optimizer == "rmsprop", train.optimizer
    return keras.optimizers.RMSprop(rate, weight_decay=decay)


def build_loss(train: TrainConfig) -> keras.losses.Loss:
    """Categorical cross-entropy on one-hot labels, with optional label smoothing."""
    return keras.losses.CategoricalCrossentropy(label_smoothing=train.label_smoothing)


def build_metrics(train: TrainConfig) -> list[keras.metrics.Metric]:
    """The configured metrics, named as they appear in the history."""
    made = {
        "accuracy": lambda: keras.metrics.CategoricalAccuracy(name="accuracy"),
        "top5_accuracy": lambda: keras.metrics.TopKCategoricalAccuracy(k=5, name="top5_accuracy"),
    }
    return [made[name]() for name in dict.fromkeys(train.metrics)]


class WarmupRamp(keras.callbacks.Callback):
    """For `plateau`: raise the learning rate linearly over the warm-up epochs, epoch by epoch."""

    def __init__(self, learning_rate: float, warmup_epochs: int) -> None:
        super().__init__()
        self.learning_rate = learning_rate
        self.warmup_epochs = warmup_epochs

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if epoch <= self.warmup_epochs:
            fraction = min(1.0, (epoch + 1) / self.warmup_epochs)
            self.model.optimizer.learning_rate = self.learning_rate * fraction


def current_learning_rate(optimizer: keras.optimizers.Optimizer) -> float:
    """The learning rate the next step will use."""
    return float(ops.convert_to_numpy(optimizer.learning_rate))
