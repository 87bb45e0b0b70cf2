"""One sweep trial: its parameters, its run folder, training with pruning, and its value.

The trial trains through `training.train_from_config` like `cnnzoo train`, into
`SWEEP/trials/NNNN/`. A pruning callback reports the validation accuracy to Optuna at the end of
each epoch (after the checkpoint is saved) and stops a hopeless trial; its run folder is then
complete (model, metrics, plots) and marked "pruned". The trial's value is its best validation
accuracy; the test split is never looked at here.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from cnnzoo.config.schema import Config
from cnnzoo.runs import files as runs
from cnnzoo.sweep.settings import Sweep
from cnnzoo.sweep.space import Parameter, trial_config
from cnnzoo.sweep.states import FINISHED, SKIPPED, TRIALS_DIR
from cnnzoo.utils.errors import CnnzooError

MONITOR = "val_accuracy"


class PruningCallback(keras.callbacks.Callback):
    """Report each epoch's validation accuracy to the trial; stop training if it is hopeless."""

    def __init__(self, trial: optuna.Trial) -> None:
        super().__init__()
        self.trial = trial
        self.pruned_at: int | None = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        value = (logs or {}).get(MONITOR)
        if value is None:
            raise CnnzooError(
                "cnnzoo sweep judges trials on validation accuracy, but this config has no "
                "validation data. Set data.validation_split (e.g. 0.1) or data.val_path."
            )
        self.trial.report(float(value), step=epoch + 1)
        if self.trial.should_prune():
            self.pruned_at = epoch + 1
            self.model.stop_training = True


def suggest(trial: optuna.Trial, parameter: Parameter) -> Any:
    """Draw the parameter's value for this trial (a retried trial gets its original value)."""
    key = parameter.key
    if parameter.kind == "categorical":
        return trial.suggest_categorical(key, list(parameter.choices))
    if parameter.kind == "int":
        step = int(parameter.step or 1)
        return trial.suggest_int(
            key, int(parameter.low), int(parameter.high), step=step, log=parameter.log
        )
    return trial.suggest_float(
        key, float(parameter.low), float(parameter.high), step=parameter.step, log=parameter.log
    )


def best_value(run_dir: Path) -> float | None:
    """The best validation accuracy in the run's history."""
    return runs.best_validation_accuracy(runs.read_history(run_dir))


def objective(trial: optuna.Trial, sweep: Sweep, log: Callable[[str], None]) -> float:
    """Train the trial's config in its run folder; return its best validation accuracy."""
    from cnnzoo.engine.training import RunInterrupted, train_from_config

    trial.set_user_attr("host", socket.gethostname())
    trial.set_user_attr("pid", os.getpid())
    _check_budget(trial, sweep)
    params = {p.key: suggest(trial, p) for p in sweep.settings.space.parameters}
    original = RetryHeartbeatStaleTrialCallback.retried_trial_number(_frozen(sweep, trial))
    number = trial.number if original is None else original
    run_dir = trial_folder(sweep, number)
    trial.set_user_attr("run_dir", str(run_dir.relative_to(sweep.folder)))
    shown = ", ".join(f"{k}={_short(v)}" for k, v in params.items())
    try:
        config = config_for(sweep, params, number)
    except CnnzooError as error:  # a combination of values the schema refuses
        trial.set_user_attr("error", str(error).splitlines()[0])
        raise
    resume = prepare_folder(run_dir)
    again = f" (retry of trial {original}, resuming {run_dir})" if original is not None else ""
    log(f"Trial {trial.number}{again}: {shown}")

    status = getattr(runs.read_status(run_dir), "status", None)
    pruning = PruningCallback(trial)
    if status not in ("completed", "pruned"):
        try:
            train_from_config(
                config, run_dir, resume=resume, log=lambda _: None, callbacks=[pruning]
            )
        except RunInterrupted:
            # Queue the same parameters again; the retry resumes this run folder.
            retry = sweep.storage.get_heartbeat_stale_trial_callback()
            retry(trial.study, _frozen(sweep, trial))
            raise KeyboardInterrupt from None
        except CnnzooError as error:
            trial.set_user_attr("error", str(error).splitlines()[0])
            raise
    value = best_value(run_dir)
    if value is None:
        trial.set_user_attr("error", "no validation accuracy recorded")
        raise CnnzooError(f"Trial {trial.number} recorded no validation accuracy in {run_dir}.")
    trial.set_user_attr("epochs", len(runs.read_history(run_dir)))
    if pruning.pruned_at is not None or status == "pruned":
        epoch = pruning.pruned_at or getattr(runs.read_status(run_dir), "pruned_at_epoch", None)
        runs.write_status(run_dir, "pruned", pruned_at_epoch=epoch)
        log(f"Trial {trial.number} pruned after epoch {epoch}: best val accuracy {value:.4f}")
        raise optuna.TrialPruned(f"pruned after epoch {epoch}")
    log(f"Trial {trial.number} finished: best val accuracy {value:.4f}")
    return value


def trial_folder(sweep: Sweep, number: int) -> Path:
    """The run folder of the trial `number` (retries keep their original trial's folder)."""
    return sweep.folder / TRIALS_DIR / f"{number:04d}"


def prepare_folder(run_dir: Path) -> bool:
    """Whether the trial's run folder has a checkpoint to resume; clear it if it has none."""
    if runs.last_checkpoint(run_dir) is not None or getattr(
        runs.read_status(run_dir), "status", None
    ) in (
        "completed",
        "pruned",
    ):
        return True
    if run_dir.exists():
        shutil.rmtree(run_dir)  # killed before its first epoch ended: nothing to keep
    return False


def config_for(sweep: Sweep, params: dict[str, Any], number: int) -> Config:
    """The trial's config: the base config with the trial's values, named after the trial."""
    settings = sweep.settings
    config = trial_config(settings.config, settings.overrides, params)
    return config.model_copy(
        update={"name": f"{sweep.base.name}-trial{number:04d}", "output_dir": str(sweep.folder)}
    )


class BudgetReached(CnnzooError):
    """Other processes took the last trials of the budget while this one was asking."""


def _check_budget(trial: optuna.Trial, sweep: Sweep) -> None:
    """Run only if the trials finished or started before this one leave room in the budget."""
    ahead = sum(
        t.state in FINISHED or (t.state == TrialState.RUNNING and t.number < trial.number)
        for t in trial.study.get_trials(deepcopy=False)
    )
    if ahead >= sweep.budget:
        trial.set_user_attr("error", SKIPPED)
        raise BudgetReached(SKIPPED)


def _frozen(sweep: Sweep, trial: optuna.Trial) -> optuna.trial.FrozenTrial:
    """The trial's stored record (its system attributes tell whether it retries another)."""
    storage = sweep.storage
    study_id = storage.get_study_id_from_name(sweep.study_name)
    return storage.get_trial(
        storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
    )


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
