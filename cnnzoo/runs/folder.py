"""Reading a run folder back for the CLI: `open_run` and the `RunFolder` it returns.

A run may be finished or still in progress (history written epoch by epoch, no model yet), so
every optional file is optional here. The layout itself (file names, records) is `runs`'s; this
module only reads through it. Nothing here imports TensorFlow until a model is loaded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnzoo.config.schema import Config, load_config
from cnnzoo.datasets.catalog import DATASETS
from cnnzoo.runs import files as runs
from cnnzoo.utils import processes
from cnnzoo.utils.errors import CnnzooError


def default_split(config: Config) -> str:
    """The held-out split to evaluate on, as the dataset's plugin says (MNIST: its test set)."""
    return DATASETS.get(config.data.dataset).evaluation_split


@dataclass(frozen=True)
class RunFolder:
    """A run folder and its resolved config."""

    path: Path
    config: Config

    @property
    def name(self) -> str:
        """The run's name from its config."""
        return self.config.name

    @property
    def label(self) -> str:
        """A short human label: run name and model."""
        return f"{self.config.name} ({self.config.model.name})"

    @property
    def class_names(self) -> list[str] | None:
        """The class names the model predicts, or None if not written yet."""
        return runs.read_classes(self.path)

    def history(self) -> list[runs.HistoryRow]:
        """The history rows written so far (empty for a run that has not finished an epoch)."""
        return runs.read_history(self.path)

    def metrics(self) -> dict[str, Any]:
        """metrics.json, or {} for a run still in progress."""
        return runs.read_metrics(self.path)

    def evaluation(self, split: str) -> runs.EvaluationRecord | None:
        """The saved evaluation for `split`, or None if the run was not evaluated on it."""
        return runs.read_evaluation(self.path, split)

    def evaluations(self) -> dict[str, runs.EvaluationRecord]:
        """Every saved evaluation, by split."""
        found = {split: self.evaluation(split) for split in runs.SPLITS}
        return {split: result for split, result in found.items() if result is not None}

    @property
    def model_path(self) -> Path:
        """Where the trained model is (or will be) saved."""
        return self.path / runs.MODEL_FILE

    def require_writable(self, writes: str) -> None:
        """Refuse, before any work starts, a run folder this process may not write into."""
        if not os.access(self.path, os.W_OK | os.X_OK):
            raise CnnzooError(
                f"{self.path} is not writable (permission denied or a read-only file system), "
                f"and {writes}. Change its permissions, or copy the run folder somewhere "
                "writable and pass the copy."
            )

    def require_classes(self) -> list[str]:
        """The class names, or a clear error if classes.json is missing."""
        names = self.class_names
        if not names:
            raise CnnzooError(
                f"{self.path} has no {runs.CLASSES_FILE}: the run did not get far enough to "
                "record its classes. Train it again or pick a finished run."
            )
        return names

    def load_model(self):  # -> keras.Model, untyped to keep Keras out of imports
        """Load the trained Keras model, or explain why there is none and what to do."""
        if not self.model_path.is_file():
            raise CnnzooError(f"{self.path} has no {runs.MODEL_FILE} yet: {self._unfinished()}")
        from cnnzoo.utils.native_logs import start_tensorflow

        start_tensorflow()  # quietly, for the commands that need TensorFlow only on some paths
        import keras

        try:
            return keras.saving.load_model(self.model_path, compile=False)
        except (OSError, ValueError) as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise CnnzooError(f"Cannot load {self.model_path}: {first}") from None

    def state(self) -> RunState | None:
        """How far the run got and whether it can continue; None without run.json."""
        return run_state(self.path)

    def _unfinished(self) -> str:
        """Why a run has no model yet, and the command that finishes it."""
        state = self.state()
        if state is None:
            return "no run.json records how far it got. Train it again, or pick a finished run."
        done = state.epochs_done
        resume = f"`cnnzoo train --resume {self.path}`"
        if state.status != "running":
            return f"its training was {state.status} after {done}. Continue it with {resume}."
        if state.alive is None:
            return (
                f"it is marked as being trained by process {state.pid} on {state.host} "
                f"({done} done). Wait for it; if that process is gone, continue with {resume}."
            )
        if state.alive:
            return (
                f"it is still being trained by process {state.pid} ({done} done). Wait for it "
                "to finish, or pick a finished run."
            )
        return (
            f"its training {state.summary()} (process {state.pid} is gone: killed or crashed). "
            f"Continue it with {resume}."
        )


@dataclass(frozen=True)
class RunState:
    """A run's progress from run.json, and whether its training process is still alive."""

    status: str  # run.json's: running, completed, failed, interrupted (pruned in a sweep)
    done: int  # epochs completed
    planned: int | None
    pid: int | None = None
    host: str | None = None
    alive: bool | None = None  # for a run marked running: None when it runs on another host

    @property
    def epochs_done(self) -> str:
        """'3 of 10 epochs'."""
        return f"{self.done} of {self.planned if self.planned is not None else '?'} epochs"

    def summary(self) -> str:
        """One short phrase: 'completed', 'running, 3 of 10 epochs', 'stopped after 3 of 10
        epochs, resumable' (a killed run), 'failed after 1 of 10 epochs, resumable'..."""
        if self.status == "completed":
            return "completed"
        if self.status == "running" and self.alive is not False:
            where = f" on {self.host}" if self.alive is None and self.host else ""
            return f"running{where}, {self.epochs_done}"
        stopped = "stopped" if self.status == "running" else self.status  # killed: still marked
        resumable = self.status in ("running", "interrupted", "failed")  # not a pruned trial
        return f"{stopped} after {self.epochs_done}" + (", resumable" if resumable else "")


def run_state(path: Path) -> RunState | None:
    """The state of the run folder at `path`, or None if it has no run.json."""
    status = runs.read_status(path)
    if status is None:
        return None
    # Only a run marked running may be alive; None when it runs on another host (or no pid).
    alive = processes.alive_here(status.pid, status.host) if status.status == "running" else False
    return RunState(
        status.status, status.epochs_completed or 0, status.epochs, status.pid, status.host, alive
    )


def open_run(path: str | Path) -> RunFolder:
    """Open a run folder written by `cnnzoo train`, with one-line errors for anything else."""
    path = Path(path)
    if not path.exists():
        raise CnnzooError(
            f"Run folder not found: {path}. Pass the folder `cnnzoo train` printed "
            "(its last line, 'Run folder: ...')."
        )
    if not path.is_dir():
        raise CnnzooError(f"Expected a run folder, got a file: {path}.")
    if not (path / runs.CONFIG_FILE).is_file():
        raise CnnzooError(
            f"{path} is not a cnnzoo run folder: it has no {runs.CONFIG_FILE}. Pass a folder "
            "written by `cnnzoo train`."
        )
    return RunFolder(path, load_config(path / runs.CONFIG_FILE, saved=True))
