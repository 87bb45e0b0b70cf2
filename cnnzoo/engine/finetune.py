"""Fine-tuning: start from an earlier run's weights, train the head first, then everything.

As keras.io's transfer-learning guide does it: for `train.freeze_epochs` epochs only the
classifier trains (the backbone frozen); then the whole model is recompiled trainable at
`train.finetune_learning_rate` from its first step (a warm-up belongs to the head phase). With
pretrained weights, by default, that rate is a tenth of `train.learning_rate` and the batch-norm
layers stay frozen in inference mode (`train.freeze_batch_norm`), so a small dataset's batches
do not overwrite the ImageNet statistics; from an earlier run (`train.init_from`) the rate stays
and batch norm trains, as measured in docs/finetuning.md. Which phase an epoch belongs to
follows from the config alone, so `--resume` continues in the right one, and each phase's
callbacks (plateau, early stopping) start afresh as a separate `fit` would.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from cnnzoo.config.schema import starts_from_weights

CLASSIFIER = "predictions"  # every cnnzoo architecture's output layer


@dataclass(frozen=True)
class Phase:
    """Epochs [start, end) trained with the backbone `frozen` or not, with `train` settings."""

    name: str
    start: int
    end: int
    frozen: bool
    train: Any  # TrainConfig with this phase's learning rate and length

    def describe(self, config: Any) -> str:
        """'Epochs 2-5: everything at learning rate 0.0001 (batch norm frozen)'."""
        epochs = f"Epochs {self.start + 1}-{self.end}"
        if self.frozen:
            return f"{epochs}: the classifier only (backbone frozen)."
        frozen = batch_norm_frozen(config)
        return f"{epochs}: everything at learning rate {self.train.learning_rate:g}" + (
            " (batch norm frozen)." if frozen else "."
        )


def batch_norm_frozen(config: Any) -> bool:
    """Whether batch-norm layers stay frozen in inference mode after the switch.

    `train.freeze_batch_norm` if set; by default yes with `model.weights` (keras.io's
    transfer-learning guide, for ImageNet statistics) and no with `train.init_from`: an earlier
    run's statistics come from another small dataset, and keeping them lost 9 points of
    validation accuracy in docs/finetuning.md's measurements.
    """
    if not starts_from_weights(config):
        return False
    chosen = config.train.freeze_batch_norm
    return bool(config.model.options.get("weights")) if chosen is None else chosen


def finetune_rate(config: Any) -> float:
    """The learning rate after the head phase: as set; else a tenth with `model.weights`
    (keras.io's guide), the same rate with `train.init_from` (a tenth lost 20-30 points on
    docs/finetuning.md's digits)."""
    train = config.train
    if train.finetune_learning_rate is not None:
        return train.finetune_learning_rate
    pretrained = bool(config.model.options.get("weights"))
    return train.learning_rate / 10 if pretrained else train.learning_rate


def all_phases(config: Any) -> list[Phase]:
    """The run's phases: the head alone for freeze_epochs, then the whole model."""
    train = config.train
    freeze = train.freeze_epochs
    phases = []
    if freeze:
        phases.append(Phase("head", 0, freeze, True, train.model_copy(update={"epochs": freeze})))
    if freeze < train.epochs:
        update: dict[str, Any] = {"epochs": train.epochs - freeze}
        if freeze:
            update.update(learning_rate=finetune_rate(config), warmup_epochs=0)
        phases.append(Phase("fine-tune" if freeze else "all", freeze, train.epochs, False,
                            train.model_copy(update=update)))  # fmt: skip
    return phases


def remaining_phases(config: Any, initial_epoch: int) -> list[Phase]:
    """The phases still to train when `initial_epoch` epochs are done (trimmed to start there)."""
    return [
        Phase(p.name, max(p.start, initial_epoch), p.end, p.frozen, p.train)
        for p in all_phases(config)
        if p.end > initial_epoch
    ]


def checkpoint_phase(config: Any, epochs_done: int) -> Phase | None:
    """The phase that wrote the checkpoint after `epochs_done` epochs (None before any)."""
    for phase in all_phases(config):
        if phase.start < epochs_done <= phase.end:
            return phase
    return None


def resumed_state(config: Any, state: Any, keep: tuple[str, ...] = ()) -> Any:
    """The checkpoint state (runs.CheckpointState) whose callback progress a resumed run restores.

    Each phase is its own `fit`, whose callbacks (plateau, early stopping) start afresh; resuming
    exactly at the switch restores none of the head phase's but the entries named in `keep`
    (the random-generator states, which run on across the switch); the run's best is kept.
    """
    written = state and checkpoint_phase(config, state.epoch)
    following = remaining_phases(config, state.epoch) if state else []
    if written and following and written.name != following[0].name:
        kept = {name: value for name, value in state.callbacks.items() if name in keep}
        return dataclasses.replace(state, callbacks=kept)
    return state


def set_trainable(model: Any, phase: Phase, config: Any) -> None:
    """Freeze the backbone in the head phase; later keep batch norm frozen if asked."""
    from keras import layers

    keep_statistics = batch_norm_frozen(config)
    for layer in model.layers:
        if layer.name == CLASSIFIER:
            layer.trainable = True
        elif phase.frozen:
            layer.trainable = False
        else:
            # A non-trainable BatchNormalization runs in inference mode (Keras 3).
            is_batch_norm = isinstance(layer, layers.BatchNormalization)
            layer.trainable = not (keep_statistics and is_batch_norm)


def load_weights_only(model: Any, path: str) -> None:
    """Load a checkpoint's layer weights without its optimizer state (at a phase switch)."""
    import keras

    source = keras.saving.load_model(path, compile=False)
    for layer in model.layers:
        if layer.weights:
            layer.set_weights(source.get_layer(layer.name).get_weights())
