"""`cnnzoo sweep`: hyperparameter search over a config with Optuna, every trial a run folder.

The study lives in a database (an SQLite file in the sweep folder, or any RDB URL), so several
processes, on one machine or many, share it and each runs different trials. A sweep killed at any
moment continues when the same command runs again: a trial whose process died is marked failed
(at once if it ran on this machine, else when its heartbeat goes stale) and queued again with the
same parameters, and its retry resumes the same run folder from its last checkpoint. The budget
counts finished trials (complete or pruned), so it stays what was asked whatever was interrupted.
"""

from __future__ import annotations

import os
import socket
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.trial import TrialState

from cnnzoo.config.schema import to_dict
from cnnzoo.sweep import folder as sweep_folder
from cnnzoo.sweep import storage as sweep_storage
from cnnzoo.sweep.folder import STUDY_FILE
from cnnzoo.sweep.settings import PRUNERS, SAMPLERS, Sweep, SweepSettings
from cnnzoo.sweep.space import check_space
from cnnzoo.sweep.states import FINISHED, SKIPPED
from cnnzoo.utils import processes
from cnnzoo.utils.errors import CnnzooError, ConfigError

MAX_FAILURES_IN_A_ROW = 3  # trials failing by error before this process gives up

optuna.logging.set_verbosity(optuna.logging.ERROR)  # cnnzoo reports trials itself
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def prepare(settings: SweepSettings) -> Sweep:
    """Check everything (space against config, sampler, database) before any trial starts."""
    if settings.sampler not in SAMPLERS:
        raise ConfigError(
            f"--sampler must be one of {', '.join(SAMPLERS)}. Received: {settings.sampler!r}"
        )
    if settings.pruner not in PRUNERS:
        raise ConfigError(
            f"--pruner must be one of {', '.join(PRUNERS)}. Received: {settings.pruner!r}"
        )
    base = check_space(settings.space, settings.config, settings.overrides)
    budget = settings.trials
    if settings.sampler == "grid":
        size = settings.space.grid_size()
        if budget > size:
            warnings.warn(
                f"--trials {budget} is more than the grid's {size} points; running {size}.",
                SweepWarning,
                stacklevel=2,
            )
            budget = size
    folder = (
        settings.output or Path(base.output_dir) / f"{base.name}-sweep-{settings.space.path.stem}"
    )
    study_name = settings.study or f"{base.name}-{settings.space.path.stem}"
    record = sweep_folder.study_record(
        study_name,
        settings.space.as_dict(),
        settings.space.path,
        settings.config,
        settings.overrides,
        to_dict(base),
    )
    what = "--output" if settings.output else "sweep folder"
    earlier = sweep_folder.check_folder(folder, record, what)  # before anything is created
    adopting = earlier is None and sweep_folder.is_older_sweep(folder)
    if settings.storage is None:
        folder.mkdir(parents=True, exist_ok=True)
        storage = sweep_storage.open_storage(
            f"sqlite:///{(folder / STUDY_FILE).resolve()}", settings.heartbeat_grace
        )
    else:
        storage = sweep_storage.open_storage(settings.storage, settings.heartbeat_grace)
        folder.mkdir(parents=True, exist_ok=True)
    if adopting:
        sweep_folder.check_adopted(folder, optuna.get_all_study_names(storage), study_name)
    sweep = Sweep(settings, base, folder, storage, study_name, budget)
    _create_study(sweep)
    if earlier is None:
        sweep_folder.claim(folder, record)
    return sweep


class SweepWarning(UserWarning):
    """Printed as one `warning:` line by the CLI."""

    __module__ = "cnnzoo.sweep.study"


def _create_study(sweep: Sweep) -> None:
    """Create the study, or check that the existing one searches the same space."""
    space = sweep.settings.space.as_dict()
    study = optuna.create_study(
        study_name=sweep.study_name,
        storage=sweep.storage,
        direction="maximize",
        load_if_exists=True,
    )
    recorded = study.user_attrs.get("space")
    if recorded is None:
        study.set_user_attr("space", space)
        study.set_user_attr("sampler", sweep.settings.sampler)
    elif recorded != space:
        raise ConfigError(
            f"Study {sweep.study_name!r} was started with a different search space than "
            f"{sweep.settings.space.path}. Run it with the same space, or start a new study "
            "in a new --output folder (with --study NAME when --storage is shared)."
        )


@dataclass(frozen=True)
class Counts:
    """Trials of the study by what they mean for the budget."""

    finished: int
    running: int
    waiting: int


def count(study: optuna.Study) -> Counts:
    """Finished (complete or pruned), running and waiting (queued retries) trials."""
    states = [t.state for t in study.get_trials(deepcopy=False)]
    return Counts(
        finished=sum(s in FINISHED for s in states),
        running=states.count(TrialState.RUNNING),
        waiting=states.count(TrialState.WAITING),
    )


def fail_dead_local_trials(sweep: Sweep, study: optuna.Study) -> list[int]:
    """Fail and queue again the running trials of processes on this machine that died.

    (Trials of other machines are failed by Optuna's heartbeat check: `sweep_storage`.)
    """
    storage = sweep.storage
    study_id = storage.get_study_id_from_name(sweep.study_name)
    retry = storage.get_heartbeat_stale_trial_callback()
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        attrs = trial.user_attrs
        # Unknown (another host, no pid): left to the heartbeat.
        if processes.alive_here(attrs.get("pid"), attrs.get("host")) is not False:
            continue
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        try:
            if not storage.set_trial_state_values(trial_id, state=TrialState.FAIL):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another process got there first
        failed.append(trial.number)
        retry(study, storage.get_trial(trial_id))
    return failed


def run(sweep: Sweep, log: Callable[[str], None] = print) -> optuna.Study:
    """Run trials until the study has `budget` finished ones or the time is up."""
    from cnnzoo.sweep.trial import objective

    start = time.monotonic()
    timeout = sweep.settings.timeout
    waiting_said = False
    failures_in_a_row = 0
    grace = sweep.settings.heartbeat_grace
    while True:
        study = sweep.study()
        for number in fail_dead_local_trials(sweep, study):
            log(f"Trial {number} was interrupted (its process died); it will be resumed.")
        for number in sweep_storage.fail_stale_trials(study):
            log(
                f"Trial {number} sent no heartbeat for {grace:g} s (its "
                "process or machine died); it will be resumed."
            )
        counts = count(study)
        if counts.finished >= sweep.budget:
            log(f"The study has {counts.finished} finished trials (budget {sweep.budget}).")
            return study
        if timeout is not None and time.monotonic() - start >= timeout:
            done = f"{counts.finished} of {sweep.budget} trials finished"
            log(f"Time budget of {timeout:g} s used; {done}.")
            return study
        if counts.finished + counts.running >= sweep.budget and not counts.waiting:
            if not waiting_said:
                log(f"Waiting for {counts.running} running trial(s) of other processes to finish.")
                waiting_said = True
            time.sleep(sweep_storage.heartbeat_seconds(grace) / 2)
            continue
        # Seeded per trial, so a lone process is reproducible; processes running side by side
        # (others have trials running) draw differently.
        offset = len(study.trials) + (os.getpid() if counts.running else 0)
        study = sweep.study(seed_offset=offset)
        study.optimize(
            lambda trial: objective(trial, sweep, log),
            n_trials=1,
            catch=(CnnzooError,),
            gc_after_trial=True,
        )
        trial = _last_trial_of_this_process(study)
        if trial.user_attrs.get("error") == SKIPPED:
            continue
        if trial.state == TrialState.FAIL:
            failures_in_a_row += 1
            error = trial.user_attrs.get("error", "unknown error")
            log(f"Trial {trial.number} failed: {error}")
            if failures_in_a_row >= MAX_FAILURES_IN_A_ROW:
                raise CnnzooError(
                    f"{failures_in_a_row} trials failed in a row; the last: {error}. Fix the base "
                    "config or the space and run the same command again."
                )
        else:
            failures_in_a_row = 0


def _last_trial_of_this_process(study: optuna.Study) -> optuna.trial.FrozenTrial:
    me = {"pid": os.getpid(), "host": socket.gethostname()}
    mine = [
        t
        for t in study.get_trials(deepcopy=False)
        if {key: t.user_attrs.get(key) for key in me} == me
    ]
    return max(mine, key=lambda t: t.number)
