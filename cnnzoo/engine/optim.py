"""Optimizers, learning-rate schedules, loss and metrics from the `train:` config section."""

from __future__ import annotations

import keras
from keras import ops

from cnnzoo.config.schema import TrainConfig


def build_schedule(
    train: TrainConfig, steps_per_epoch: int
) -> keras.optimizers.schedules.LearningRateSchedule | float:
    """The learning rate by optimizer step, or a float for `plateau` (a callback lowers it).

    Only built-in Keras schedules are used, so a saved model loads with plain Keras. The position
    in a schedule is the optimizer's step counter, which checkpoints save, so a resumed run
    continues where it stopped. Warm-up rises linearly from 0 by step (by epoch for `step`).
    """
    rate = train.learning_rate
    warmup = train.warmup_epochs * steps_per_epoch
    if train.schedule == "plateau" or (train.schedule == "constant" and not warmup):
        return rate
    if train.schedule in ("constant", "cosine"):
        # A cosine that ends at alpha * rate; alpha = 1 keeps the rate constant after warm-up.
        alpha = 1.0 if train.schedule == "constant" else min(train.min_learning_rate / rate, 1.0)
        return keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=0.0 if warmup else rate,
            decay_steps=max(train.epochs * steps_per_epoch - warmup, 1),
            alpha=alpha,
            warmup_target=rate if warmup else None,
            warmup_steps=warmup,
        )
    assert train.schedule == "step", train.schedule
    size, total = train.step_epochs * steps_per_epoch, train.epochs * steps_per_epoch

    def rate_at(step: int) -> float:
        if step < warmup:
            return rate * (step // steps_per_epoch + 1) / train.warmup_epochs
        return rate * train.decay_factor ** ((step - warmup) // size)

    # The steps where the rate changes: each warm-up epoch, then every step_epochs.
    changes = [
        *range(steps_per_epoch, warmup + 1, steps_per_epoch),
        *range(warmup + size, total, size),
    ]
    if not changes:
        return rate
    return keras.optimizers.schedules.PiecewiseConstantDecay(
        [step - 1 for step in changes], [rate_at(0), *(rate_at(step) for step in changes)]
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
