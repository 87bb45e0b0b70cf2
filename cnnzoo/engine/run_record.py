"""What a training run writes into its run folder: at start, on failure, and when it completes.

The file names and records are `runs`'s; `training` calls these at the points of a run.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from cnnzoo.engine import devices, timings
from cnnzoo.runs import files as runs
from cnnzoo.utils import outputs
from cnnzoo.utils.atomic import check_writable, save_model
from cnnzoo.utils.errors import CnnzooError

if TYPE_CHECKING:
    import keras

    from cnnzoo.config.schema import Config
    from cnnzoo.engine.job import TrainingJob


def check_new_run_dir(config: Config, output: Path | None = None) -> None:
    """Refuse, before any work starts, a run folder that cannot be made or is not new or empty."""
    if output is None:
        check_writable(Path(config.output_dir), "output_dir", folder=True)
        return
    if (output / runs.RUN_FILE).exists():
        raise CnnzooError(
            f"{output} already holds a run. Continue it with `cnnzoo train --resume {output}`, "
            "or pick a new --output folder."
        )
    outputs.check_destination(output, "run", folder=True)


def new_run_dir(config: Config, output: Path | None = None) -> Path:
    """Create `output`, or `<output_dir>/<name>/<timestamp>/`, and return it."""
    check_new_run_dir(config, output)
    if output is None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        output = Path(config.output_dir) / config.name / stamp
        suffix = 1
        while output.exists():
            output = output.with_name(f"{stamp}-{suffix}")
            suffix += 1
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CnnzooError(
            f"Cannot create the run folder {output}: {error.strerror}. Pick a writable folder "
            "(--output or output_dir)."
        ) from None
    return output


def health_recorder(job: TrainingJob) -> Callable[[dict[str, Any]], None]:
    """Record a training-health finding in run.json (the chief writes it)."""

    def record(finding: dict[str, Any]) -> None:
        if job.plan.chief:
            runs.write_status(job.run_dir, "running", health=finding)

    return record


def start(job: TrainingJob) -> None:
    """Write config, environment and status at start; clear results of an earlier finish."""
    run_dir, config = job.run_dir, job.config
    runs.write_config(run_dir, config)
    used = devices.environment(config.seed, job.plan)
    if job.resume:
        for name in runs.RESULT_FILES:
            (run_dir / name).unlink(missing_ok=True)
    runs.write_environment(run_dir, used, job.initial_epoch if job.resume else None)
    runs.write_classes(run_dir, job.data.class_names)
    runs.write_status(
        run_dir,
        "running",
        epochs=config.train.epochs,
        epochs_completed=job.initial_epoch,
        precision=job.plan.precision,
        pid=os.getpid(),
        host=socket.gethostname(),
        **({} if job.resume else {"started": used["started"]}),
    )


def finish(job: TrainingJob, model: keras.Model) -> None:
    """Save the final model, metrics and plot, then mark the run completed (its HTML page is
    written by the caller: `cnnzoo train`)."""
    run_dir, config = job.run_dir, job.config
    rows = runs.read_history(run_dir)
    with timings.phase("final save"):
        save_model(model, run_dir / runs.MODEL_FILE)
    state = runs.last_checkpoint(run_dir)
    done = int(rows[-1]["epoch"]) if rows else 0
    metrics = runs.Metrics(
        final={k: v for k, v in rows[-1].items() if k != "epoch"} if rows else {},
        best=state.best if state else None,
        epochs=done,
        epochs_planned=config.train.epochs,
        stopped_early=done < config.train.epochs,
        train_seconds=round(sum(row.get("seconds", 0.0) for row in rows), 3),
        num_train=job.data.num_train,
        num_validation=job.data.num_validation,
    )
    runs.write_metrics(run_dir, metrics)
    with timings.phase("history plot"):
        from cnnzoo.visualization.plots import plot_history

        plot_history(rows, run_dir / runs.HISTORY_PLOT, title=config.name)
    runs.write_status(run_dir, "completed", epochs_completed=done, finished=runs.now())


def fail(job: TrainingJob, message: str) -> NoReturn:
    """Mark the run failed with `message` (its checkpoints stay), then raise it."""
    if job.plan.chief:
        done = epochs_done(job.write_dir)
        runs.write_status(job.run_dir, "failed", error=message, epochs_completed=done)
    raise CnnzooError(message)


def epochs_done(write_dir: Path) -> int:
    state = runs.last_checkpoint(write_dir)
    return state.epoch if state else 0
