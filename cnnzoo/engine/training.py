"""Training: devices, data and model from a config; fit with checkpoints; a complete run folder.

A run folder is complete (model.keras, metrics.json, history.png, run.json status "completed")
only when training ends normally. A failure, a NaN loss or Ctrl-C leaves it marked "failed" or
"interrupted" with the last finished epoch's checkpoint, from which `--resume` continues.

`train_from_config` decides everything a run needs into one `TrainingJob` (training_job.py);
`run_job` trains it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import keras

from cnnzoo.config.schema import Config, starts_from_weights
from cnnzoo.data import bad_files
from cnnzoo.engine import (
    batch_norm_stats,
    devices,
    finetune,
    health,
    init_from,
    optim,
    run_record,
    timings,
)
from cnnzoo.engine.callbacks import (
    RANDOM_STATE,
    NanGuard,
    PhaseMarks,
    run_callbacks,
    sigterm_as_interrupt,
    warmup_callbacks,
)
from cnnzoo.engine.job import TrainingJob
from cnnzoo.models import MODELS
from cnnzoo.runs import files as runs
from cnnzoo.utils import keras_compat
from cnnzoo.utils.errors import CnnzooError


class RunInterrupted(CnnzooError):
    """Training stopped by Ctrl-C or SIGTERM; the run folder can be resumed (exit code 130)."""

    exit_code = 130


def build_model(config: Config, num_classes: int) -> keras.Model:
    """Build the configured architecture for the configured input shape."""
    build = MODELS.get(config.model.name).builder()
    return build(config.image_shape, num_classes, **config.model.options)


def compile_model(
    config: Config,
    plan: devices.Plan,
    strategy: Any,
    num_classes: int,
    steps_per_epoch: int,
    checkpoint: str | Path | None = None,
    *,
    phase: finetune.Phase | None = None,
    model: keras.Model | None = None,
    optimizer_state: bool = True,
) -> keras.Model:
    """Build and compile as `cnnzoo train` does: under the strategy, in the plan's precision.

    With `checkpoint` (a `.keras` file written by training) the weights, optimizer slots, its
    step counter (the schedule position) and the plateau-adjusted learning rate are loaded too
    (the weights alone without `optimizer_state`). `phase` is a fine-tuning phase (default the
    config's first); `model` recompiles an existing model for it. The global precision policy
    is restored afterwards.
    """
    phase = phase or finetune.all_phases(config)[0]
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(plan.precision)
    try:
        with strategy.scope():
            model = model or build_model(config, num_classes)
            finetune.set_trainable(model, phase, config)
            model.compile(
                optimizer=optim.build_optimizer(phase.train, steps_per_epoch),
                loss=optim.build_loss(config.train),
                metrics=optim.build_metrics(config.train),
                jit_compile=plan.xla,
                steps_per_execution=steps_per_execution(config, steps_per_epoch),
            )
            if checkpoint is not None and not optimizer_state:
                finetune.load_weights_only(model, str(checkpoint))
            elif checkpoint is not None:
                model.optimizer.build(model.trainable_variables)
                model.load_weights(checkpoint)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    return model


def steps_per_execution(config: Config, steps_per_epoch: int) -> int:
    """`train.steps_per_execution`, lowered with `train.steps_per_epoch` to its largest divisor.

    Keras runs whole executions: on a stream that goes on across epochs (`train.steps_per_epoch`)
    an execution that does not fit would take steps from the next epoch. One pass over the split
    ends at the data's end instead, so there the value is used as set.
    """
    asked = config.train.steps_per_execution
    if not config.train.steps_per_epoch:
        return asked
    return max(n for n in range(1, min(asked, steps_per_epoch) + 1) if steps_per_epoch % n == 0)


def train_from_config(
    config: Config,
    output: Path | None = None,
    *,
    resume: bool = False,
    log: Callable[[str], None] = print,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> Path | None:
    """Train as `config` says into a new run folder (or continue `output` if `resume`).

    `callbacks` are extra Keras callbacks, run after training's own. Returns the run folder;
    None on a multi-worker task other than the chief, which writes it.
    """
    import tensorflow as tf

    timings.mark("training starts")
    with timings.phase("device planning"):
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

    bad_files.forget()  # a new run reports its bad files again, also in the same process
    with timings.phase("data decode and cache fill"):
        data = build_datasets(config)
    assert output is not None or not resume, "resume needs the run folder"
    run_dir = output if resume else run_record.new_run_dir(config, output) if plan.chief else None
    checkpoint = runs.last_checkpoint(run_dir) if resume and run_dir else None
    done = checkpoint.epoch if checkpoint else 0
    history = tuple(runs.read_history(run_dir)[:done]) if resume and run_dir else ()
    with _writable_folder(run_dir, plan.chief) as write_dir:
        job = TrainingJob(
            config, plan, strategy, data, run_dir or write_dir, write_dir,
            resume, checkpoint, history, log, tuple(callbacks),
        )  # fmt: skip
        run_job(job)
    return run_dir if plan.chief else None


@contextlib.contextmanager
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


def run_job(job: TrainingJob) -> None:
    """Fit the job's model, keeping its run folder current; raise a CnnzooError on failure."""
    config, plan, run_dir = job.config, job.plan, job.run_dir
    if plan.chief:
        with timings.phase("run folder start"):
            run_record.start(job)
    if job.resume:
        job.log(f"Resuming {run_dir} from epoch {job.initial_epoch + 1} of {config.train.epochs}.")
    try:
        with sigterm_as_interrupt():
            model, nan_guard, monitor = _fit(job)
    except KeyboardInterrupt:
        done = run_record.epochs_done(job.write_dir)
        if plan.chief:
            runs.write_status(run_dir, "interrupted", epochs_completed=done)
        saved = f"epochs 1-{done} are saved" if done else "no epoch had finished yet"
        raise RunInterrupted(
            f"Interrupted during epoch {done + 1} of {config.train.epochs}; {saved}. "
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
            f"Training failed after {run_record.epochs_done(job.write_dir)} epochs: "
            f"{reason or repr(error)}. The run folder {run_dir} is marked failed (add --debug "
            "for the traceback)."
        ) from error

    if nan_guard.where:
        run_record.fail(job, _nan_message(job, nan_guard.where))
    if monitor.finding and monitor.stop:
        message = f"{monitor.finding.message()}. Training stopped (train.on_collapse: stop)."
        run_record.fail(job, message)
    if plan.chief:
        with timings.phase("run folder finish"):
            run_record.finish(job, model)
    else:
        model.save(job.write_dir / runs.MODEL_FILE)  # every worker saves: saving may synchronise


def _nan_message(job: TrainingJob, where: str) -> str:
    """What a diverged run says: where, what to change, and what was kept (if anything)."""
    state = runs.last_checkpoint(job.write_dir)
    if state is None:
        kept = "no epoch had finished, so no checkpoint or history was saved"
    else:
        kept = (
            f"epochs 1-{state.epoch} are in {runs.HISTORY_CSV} and the last good one in "
            f"{runs.CHECKPOINT_DIR}/{state.checkpoint}; the diverged epoch is left out"
        )
    return (
        f"The loss became NaN or infinite at {where}; training stopped. Lower "
        f"train.learning_rate (now {job.config.train.learning_rate:g}) or check the data. The "
        f"run folder {job.run_dir} is marked failed: {kept}."
    )


def _fit(job: TrainingJob) -> tuple[keras.Model, NanGuard, health.HealthMonitor]:
    """Compile (from the checkpoint when resuming) and fit; the model and its two watchers."""
    config, plan, data = job.config, job.plan, job.data
    checkpoint = job.checkpoint.path(job.run_dir) if job.checkpoint else None
    num_classes = len(data.class_names)
    nan_guard = NanGuard()
    # One seeded sample of training images for batch-norm re-estimation and the health probes.
    with timings.phase("batch-norm sample and health monitor"):
        sample = batch_norm_stats.training_sample(config, labels=True, decoded=data.train_images)
        data.train_images = None  # not kept for the run: the training stream holds its own copy
        recorder = run_record.health_recorder(job)
        monitor = health.monitor(config, num_classes, list(job.history), recorder, sample)
    state = finetune.resumed_state(config, job.checkpoint, keep=(RANDOM_STATE,))
    own = run_callbacks(
        config, job.write_dir, data.validation is not None, list(job.history), state
    )
    # Batch-norm re-estimation before the checkpoints, so they hold the fresh statistics.
    before = [nan_guard, *batch_norm_stats.callbacks(config, sample), monitor]
    steps = config.train.steps_per_epoch
    multi_worker = plan.strategy == "multi_worker"
    model = None
    # One phase, or two when fine-tuning (the head alone, then everything): finetune.py.
    starts = {phase.name: phase.start for phase in finetune.all_phases(config)}
    for phase in finetune.remaining_phases(config, job.initial_epoch):
        # The warm-up ramp is the phase's own (none after the switch: finetune.all_phases).
        callbacks = [*before, *warmup_callbacks(phase.train), *own, *job.callbacks]
        callbacks.append(bad_files.EpochNote())  # names the epoch in warnings about failing files
        if timings.enabled():
            callbacks.append(PhaseMarks())  # last: its epoch end comes after the checkpoints
        if starts_from_weights(config):
            job.log(phase.describe(config))
        # Resuming exactly at the switch: the weights, and a fresh optimizer as unbroken runs.
        written = checkpoint and finetune.checkpoint_phase(config, job.initial_epoch)
        fresh = model is None
        with timings.phase("model build and compile"):
            model = compile_model(
                config, plan, job.strategy, num_classes, job.steps_per_epoch, checkpoint,
                phase=phase, model=model, optimizer_state=not written or written.name == phase.name,
            )  # fmt: skip
        if fresh and config.train.init_from and not checkpoint:
            init_from.initialize(model, config.train.init_from, list(data.class_names), job.log)
        checkpoint = None
        fit_patch = keras_compat.multi_worker_fit(model, job.strategy)
        done = phase.start - starts[phase.name]
        with fit_patch if multi_worker else nullcontext(), timings.phase("fit"):
            model.fit(
                _stream(data.train, steps, done),
                validation_data=data.validation,
                epochs=phase.end,
                initial_epoch=phase.start,
                steps_per_epoch=steps,
                callbacks=callbacks,
                verbose=(1 if sys.stdout.isatty() else 2) if plan.chief else 0,
                shuffle=False,
            )
        if model.stop_training:
            break
    return model, nan_guard, monitor


def _stream(train: Any, steps: int | None, done: int) -> Any:
    """The training stream; with `train.steps_per_epoch`, one long stream across epochs, which a
    resumed fit (`done` of its epochs finished) continues where an unbroken one would be: the
    same batches in the same order (the input pipeline runs for the skipped batches). Without
    it each epoch is a new pass, whose shuffle order a resumed run does not reproduce."""
    return train.repeat().skip(done * steps) if steps else train
