"""Training: devices, data and model from a config; fit with checkpoints; a complete run folder.

A run folder is complete (model.keras, metrics.json, history.png, run.json status "completed")
only when training ends normally. A failure, a NaN loss or Ctrl-C leaves it marked "failed" or
"interrupted" with the last finished epoch's checkpoint, from which `--resume` continues.
"""

from __future__ import annotations

import importlib.util
import math
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import keras

from cnnzoo import batch_norm_stats, devices, finetune, health, optim, runs
from cnnzoo.callbacks import Checkpointer, HistoryWriter, NanGuard, sigterm_as_interrupt
from cnnzoo.config import Config
from cnnzoo.errors import CnnzooError
from cnnzoo.models import MODELS
from cnnzoo.plots import plot_history
from cnnzoo.report import report_after_training


class RunInterrupted(CnnzooError):
    """Training stopped by Ctrl-C or SIGTERM; the run folder can be resumed (exit code 130)."""

    exit_code = 130


def build_model(config: Config, num_classes: int) -> keras.Model:
    """Build the configured architecture for the configured input shape."""
    build = MODELS.get(config.model.name).builder()
    return build(config.image_shape, num_classes, **config.model.options)


def train_from_config(
    config: Config,
    output: Path | None = None,
    *,
    resume: bool = False,
    log: Callable[[str], None] = print,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> Path | None:
    """Train as `config` says into a new run folder (or continue `output` if `resume`).

    Returns the run folder; None on a multi-worker task other than the chief, which writes it.
    """
    import tensorflow as tf

    plan = devices.decide(devices.detect(), config.hardware, config.train.batch_size)
    strategy = devices.apply(plan, config.hardware)
    log(plan.description)
    keras.utils.set_random_seed(config.seed)
    if config.hardware.deterministic:
        tf.config.experimental.enable_op_determinism()

    from cnnzoo.data.pipeline import build_datasets

    if config.train.tensorboard and importlib.util.find_spec("tensorboard") is None:
        raise CnnzooError(
            "train.tensorboard is true but TensorBoard is not installed. Install it with "
            "`pip install tensorboard`, or set train.tensorboard=false."
        )

    data = build_datasets(config)
    assert output is not None or not resume, "resume needs the run folder"
    run_dir = output if resume else runs.new_run_dir(config, output) if plan.chief else None
    with _writable_folder(run_dir, plan.chief) as write_dir:
        _train(
            config, plan, strategy, data, run_dir or write_dir, write_dir, resume, log, callbacks
        )
    return run_dir if plan.chief else None


@contextmanager
def _writable_folder(run_dir: Path | None, chief: bool) -> Iterator[Path]:
    """The run folder for the chief; a throw-away folder for other multi-worker tasks."""
    if chief:
        assert run_dir is not None
        yield run_dir
        return
    scratch = Path(tempfile.mkdtemp(prefix="cnnzoo-worker-"))
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _train(config, plan, strategy, data, run_dir, write_dir, resume, log, extra) -> None:
    train = config.train
    state = runs.last_checkpoint(run_dir) if resume else None
    initial_epoch = state["epoch"] if state else 0
    rows = runs.read_history(run_dir)[:initial_epoch] if resume else []
    steps_per_epoch = train.steps_per_epoch or math.ceil(data.num_train / train.batch_size)
    if plan.chief:
        _start_record(run_dir, config, plan, data.class_names, initial_epoch, resume)
    if resume:
        log(f"Resuming {run_dir} from epoch {initial_epoch + 1} of {train.epochs}.")

    try:
        with sigterm_as_interrupt():
            nan_guard = NanGuard()
            callbacks = _callbacks(config, write_dir, data.validation is not None, rows, state)
            monitor = health.monitor(config, len(data.class_names), rows, _recorder(run_dir, plan))
            callbacks = [*batch_norm_stats.callbacks(config), monitor, *callbacks, *extra]
            model = None
            # One phase, or two when fine-tuning (the head alone, then everything): finetune.py.
            for phase in finetune.remaining_phases(config, initial_epoch):
                if finetune.starts_from_weights(config):
                    log(phase.describe(config))
                num_classes = len(data.class_names)
                model = _compiled_model(
                    config, plan, strategy, num_classes, steps_per_epoch, state, phase, model,
                    data.class_names,
                )  # fmt: skip
                state = None
                model.fit(
                    data.train.repeat() if train.steps_per_epoch else data.train,
                    validation_data=data.validation,
                    epochs=phase.end,
                    initial_epoch=phase.start,
                    steps_per_epoch=train.steps_per_epoch,
                    callbacks=[nan_guard, *callbacks],
                    verbose=(1 if sys.stdout.isatty() else 2) if plan.chief else 0,
                    shuffle=False,
                )
                if model.stop_training:
                    break
    except KeyboardInterrupt:
        done = _epochs_done(write_dir)
        if plan.chief:
            runs.write_status(run_dir, "interrupted", epochs_completed=done)
        saved = f"epochs 1-{done} are saved" if done else "no epoch had finished yet"
        raise RunInterrupted(
            f"Interrupted during epoch {done + 1} of {train.epochs}; {saved}. "
            f"Resume with: cnnzoo train --resume {run_dir}"
        ) from None
    except Exception as error:
        text = getattr(error, "message", None) or str(error)
        reason = f"{type(error).__name__}: {text.strip().splitlines()[0][:300]}" if text else ""
        if plan.chief:
            runs.write_status(run_dir, "failed", error=reason or type(error).__name__)
        if isinstance(error, CnnzooError):
            raise
        raise CnnzooError(
            f"Training failed after {_epochs_done(write_dir)} epochs: {reason or repr(error)}. "
            f"The run folder {run_dir} is marked failed (add --debug for the traceback)."
        ) from error

    if nan_guard.where:
        message = (
            f"The loss became NaN or infinite at {nan_guard.where}; training stopped. Lower "
            f"train.learning_rate (now {train.learning_rate:g}) or check the data. The run "
            f"folder {run_dir} is marked failed; its last good epoch is in {runs.CHECKPOINT_DIR}/."
        )
        if plan.chief:
            runs.write_status(
                run_dir, "failed", error=message, epochs_completed=_epochs_done(write_dir)
            )
        raise CnnzooError(message)
    if monitor.finding and monitor.stop:
        message = f"{monitor.finding.message()}. Training stopped (train.on_collapse: stop)."
        if plan.chief:
            runs.write_status(
                run_dir, "failed", error=message, epochs_completed=_epochs_done(write_dir)
            )
        raise CnnzooError(message)
    if plan.chief:
        _finish_record(run_dir, model, config, data)
    else:
        model.save(write_dir / runs.MODEL_FILE)  # every worker saves: saving may synchronise


def _compiled_model(
    config, plan, strategy, num_classes, steps_per_epoch, state, phase=None, model=None, classes=()
) -> keras.Model:
    """Build (or reuse) and compile for `phase` (default the first); load checkpoint, init_from."""
    phase = phase or finetune.all_phases(config)[0]
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(plan.precision)
    try:
        with strategy.scope():
            if model is None:
                model = build_model(config, num_classes)
                if config.train.init_from and not state:
                    finetune.initialize(model, config.train.init_from, list(classes))
            finetune.set_trainable(model, phase, config)
            model.compile(
                optimizer=optim.build_optimizer(phase.train, steps_per_epoch),
                loss=optim.build_loss(config.train),
                metrics=optim.build_metrics(config.train),
                jit_compile=plan.xla,
            )
            if plan.strategy == "multi_worker":
                _multi_worker_compat(model, strategy)
            written_by = finetune.checkpoint_phase(config, state["epoch"]) if state else None
            if state and written_by and written_by.name != phase.name:
                # Resuming at the switch to fine-tuning: a fresh optimizer, as unbroken runs do.
                finetune.load_weights_only(model, state["path"])
            elif state:
                # Weights, optimizer slots, its step counter (the schedule position) and the
                # plateau-adjusted learning rate all live in the checkpoint.
                model.optimizer.build(model.trainable_variables)
                model.load_weights(state["path"])
    finally:
        keras.mixed_precision.set_global_policy(previous)
    return model


def _callbacks(config, write_dir, validation, rows, state) -> list[keras.callbacks.Callback]:
    """Warm-up ramp, early stopping, plateau, history, checkpoints, TensorBoard, in that order."""
    train = config.train
    split = "val_" if validation else ""
    stateful = _stateful_callbacks(config, split)
    callbacks: list[keras.callbacks.Callback] = []
    if train.schedule == "plateau" and train.warmup_epochs:
        callbacks.append(optim.WarmupRamp(train.learning_rate, train.warmup_epochs))
    callbacks += [
        *stateful.values(),
        HistoryWriter(write_dir, rows),
        Checkpointer(write_dir, f"{split}accuracy", stateful, state),
    ]
    if train.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(write_dir / runs.TENSORBOARD_DIR))
    return callbacks


def _multi_worker_compat(model: keras.Model, strategy: Any) -> None:
    """Let Keras 3's fit run under MultiWorkerMirroredStrategy (keras-team/keras#20585).

    Keras 3.15 averages a sample batch across workers just to learn input shapes, and averages
    each step's scalar metrics along axis 0; collective all-reduce supports neither. A local
    replica's batch has the shapes, and scalars average with axis=None.
    """
    from keras import tree
    from keras.src.backend.tensorflow import trainer as tf_trainer

    def symbolic_build(iterator=None, data_batch=None):
        if iterator is not None:
            for _, _, batches in iterator:
                first = next(batches)
                data_batch = tree.map_structure(
                    lambda v: strategy.experimental_local_results(v)[0], first
                )
                break
        with strategy.scope():
            model._symbolic_build(data_batch=data_batch)

    model._maybe_symbolic_build = symbolic_build
    reduce = getattr(tf_trainer.reduce_per_replica, "original", tf_trainer.reduce_per_replica)

    def reduce_per_replica(values, strategy, reduction="auto"):
        if reduction in ("auto", "mean") and tf_trainer._collective_all_reduce_multi_worker(
            strategy
        ):
            return tree.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
        return reduce(values, strategy, reduction)

    reduce_per_replica.original = reduce
    tf_trainer.reduce_per_replica = reduce_per_replica


def _stateful_callbacks(config: Config, split: str) -> dict[str, keras.callbacks.Callback]:
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


def _start_record(run_dir, config, plan, class_names, initial_epoch, resume) -> None:
    """Write config, environment and status at start; clear results of an earlier finish."""
    runs.write_config(run_dir, config)
    environment = runs.environment(config, plan.to_dict())
    if resume:
        for name in runs.RESULT_FILES:
            (run_dir / name).unlink(missing_ok=True)
        previous = runs.read_json(run_dir / runs.ENVIRONMENT_FILE)
        resumed = {**environment, "from_epoch": initial_epoch}
        environment = {**previous, "resumed": [*previous.get("resumed", []), resumed]}
    runs.write_json(run_dir / runs.ENVIRONMENT_FILE, environment)
    runs.write_json(run_dir / runs.CLASSES_FILE, class_names)
    runs.write_status(
        run_dir,
        "running",
        epochs=config.train.epochs,
        epochs_completed=initial_epoch,
        precision=plan.precision,
        pid=os.getpid(),
        host=socket.gethostname(),
        **({} if resume else {"started": environment["started"]}),
    )


def _finish_record(run_dir: Path, model: keras.Model, config: Config, data: Any) -> None:
    """Save the final model, metrics and plot, then mark the run completed."""
    rows = runs.read_history(run_dir)
    runs.save_model(model, run_dir / runs.MODEL_FILE)
    state = runs.last_checkpoint(run_dir) or {}
    done = rows[-1]["epoch"] if rows else 0
    metrics: dict[str, Any] = {
        "final": {k: v for k, v in rows[-1].items() if k != "epoch"} if rows else {},
        "best": state.get("best"),
        "epochs": done,
        "epochs_planned": config.train.epochs,
        "stopped_early": done < config.train.epochs,
        "train_seconds": round(sum(row.get("seconds", 0.0) for row in rows), 3),
        "num_train": data.num_train,
        "num_validation": data.num_validation,
    }
    runs.write_json(run_dir / runs.METRICS_FILE, metrics)
    plot_history(rows, run_dir / runs.HISTORY_PLOT, title=config.name)
    runs.write_status(run_dir, "completed", epochs_completed=done, finished=runs.now())
    report_after_training(run_dir)


def _recorder(run_dir: Path, plan: Any) -> Callable[[dict[str, Any]], None]:
    """Record a training-health finding in run.json (the chief writes it)."""

    def record(finding: dict[str, Any]) -> None:
        if plan.chief:
            runs.write_status(run_dir, "running", health=finding)

    return record


def _epochs_done(write_dir: Path) -> int:
    state = runs.last_checkpoint(write_dir)
    return state["epoch"] if state else 0
