"""What `cnnzoo sweep` was asked to do, and the checked sweep every trial reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from cnnzoo.config.schema import Config
from cnnzoo.sweep.space import Space
from cnnzoo.sweep.storage import GRACE_SECONDS

SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "none")


@dataclass(frozen=True)
class SweepSettings:
    """What `cnnzoo sweep` was asked to do."""

    config: Path
    space: Space
    overrides: tuple[str, ...] = ()
    trials: int = 20
    timeout: float | None = None
    sampler: str = "tpe"
    pruner: str = "median"
    storage: str | None = None
    study: str | None = None
    output: Path | None = None
    seed: int | None = None
    heartbeat_grace: float = GRACE_SECONDS


@dataclass
class Sweep:
    """A checked sweep: its base config, folder, storage and study."""

    settings: SweepSettings
    base: Config
    folder: Path
    storage: Any  # optuna.storages.RDBStorage
    study_name: str
    budget: int
    failures: list[str] = field(default_factory=list)

    @property
    def seed(self) -> int:
        """The sampler's seed: --seed, else the base config's seed."""
        return self.base.seed if self.settings.seed is None else self.settings.seed

    def study(self, seed_offset: int = 0) -> optuna.Study:
        """The study, with a sampler seeded for the next trial."""
        return optuna.load_study(
            study_name=self.study_name,
            storage=self.storage,
            sampler=_sampler(self.settings, self.seed + seed_offset),
            pruner=_pruner(self.settings.pruner),
        )


def _sampler(settings: SweepSettings, seed: int) -> optuna.samplers.BaseSampler:
    if settings.sampler == "grid":
        return optuna.samplers.GridSampler(settings.space.grid(), seed=seed)
    if settings.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def _pruner(name: str) -> optuna.pruners.BasePruner:
    if name == "none":
        return optuna.pruners.NopPruner()
    # Judge from the second epoch on (the first is too noisy), once three trials have finished.
    return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2)
