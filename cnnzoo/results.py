"""Reading a run folder back for the CLI: `open_run` and the `RunFolder` it returns.

A run may be finished or still in progress (history written epoch by epoch, no model yet), so
every optional file is optional here. The layout itself (file names, records) is `runs`'s; this
module only reads through it. Nothing here imports TensorFlow until a model is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnzoo import processes, runs
from cnnzoo.config import Config, load_config
from cnnzoo.data.catalog import DATASETS
from cnnzoo.errors import CnnzooError


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
        import keras

        try:
            return keras.saving.load_model(self.model_path, compile=False)
        except (OSError, ValueError) as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise CnnzooError(f"Cannot load {self.model_path}: {first}") from None

    def _unfinished(self) -> str:
        """Why a run has no model yet, and the command that finishes it."""
        status = runs.read_status(self.path)
        if status is None:
            return "no run.json records how far it got. Train it again, or pick a finished run."
        done = f"{status.epochs_completed or 0} of {status.epochs} epochs"
        resume = f"`cnnzoo train --resume {self.path}`"
        if status.status != "running":
            return f"its training was {status.status} after {done}. Continue it with {resume}."
        alive = _process_alive(status)
        if alive is None:
            return (
                f"it is marked as being trained by process {status.pid} on {status.host} "
                f"({done} done). Wait for it; if that process is gone, continue with {resume}."
            )
        if alive:
            return (
                f"it is still being trained by process {status.pid} ({done} done). Wait for it "
                "to finish, or pick a finished run."
            )
        return (
            f"its training stopped after {done} without finishing (process {status.pid} is "
            f"gone: killed or crashed). Continue it with {resume}."
        )


def _process_alive(status: runs.RunRecord) -> bool | None:
    """Whether the run's training process is alive; None when it ran on another host."""
    return processes.alive_here(status.pid, status.host)


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
