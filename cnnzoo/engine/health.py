"""Training health: say early, once, when a run is not learning, and what usually helps.

Two failures are recognised from the epoch-end training logs (`diagnose`, a pure function):
- collapse: the loss sits at the chance level ln(num_classes) with training accuracy near
  1/num_classes for `CHANCE_EPOCHS` epochs in a row: the network gives every image the same
  answer (dead ReLUs, or a step too large for the batch-norm-free head); it never recovers;
- divergence: the loss far above the chance level (the weights have blown up: confidently wrong),
  or rising by half over its best for two epochs in a row.
Two more from probes of the network on one fixed training batch (`cnnzoo/engine/probes.py`) when
fitting starts and at each epoch end (`diagnose_network`, a pure function):
- exploding gradients: a non-finite gradient norm at a finite loss, or 1,000 times the start's;
- dead activations: 80% of a ReLU layer's units zero for every probe image, and more than at
  the start (small maps can start silent): they pass no gradient and rarely come back.
NaN and infinite losses are stopped at once by training's NaN guard. `HealthMonitor` reports the
first finding (by `KINDS` when several show in one epoch) as a cnnzoo `warning:` line and to the
run record, then goes on or stops training as `train.on_collapse` says.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import keras

from cnnzoo.engine import timings
from cnnzoo.engine.probes import NetworkProbe, Probe

CHANCE_EPOCHS = 2  # consecutive epochs at the chance level before a collapse is reported
CHANCE_LOSS_BAND = 0.1  # |loss - ln(C)| within this fraction of ln(C) is "at chance"
CHANCE_ACCURACY_FACTOR = 1.5  # training accuracy at most this many times 1/C is "at chance"
DIVERGED_LOSS_FACTOR = 3.0  # a loss this many times ln(C) means the weights have blown up
RISING_FACTOR = 1.5  # loss above its best by this factor, twice in a row, is divergence
# At or above this rate a step is not too small to move SGD or Adam: a network stuck at chance
# there (GoogLeNet, no batch norm, SGD at 0.1 on a few thousand digits) needs smaller steps or
# another recipe, never ten times the rate.
LARGE_RATE = 0.01
EXPLODING_FACTOR = 1000.0  # a gradient norm this many times the start's has exploded
DEAD_FRACTION = 0.8  # a ReLU layer with at least this share of dead units...
DEAD_RISE = 0.25  # ...up by at least this much since fitting started
# When one epoch shows several: the cause before its consequences.
KINDS = ("exploding gradients", "divergence", "dead activations", "collapse")


class TrainingHealthWarning(UserWarning):
    """The run is not learning (collapse at chance, or divergence)."""


@dataclass(frozen=True)
class Finding:
    """What was seen, at which epoch (1-based), and what usually helps."""

    kind: str  # one of KINDS
    epoch: int
    seen: str
    advice: str

    def message(self) -> str:
        """The one-line report."""
        return f"Training is not learning ({self.kind}): {self.seen}. {self.advice}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _advice(learning_rate: float, recipes: Sequence[str], lower: bool = True) -> str:
    recipe = (
        f", or start from a recipe config (cnnzoo train -c {recipes[0]})"
        if recipes
        else ", or start from a recipe config (`cnnzoo config list` shows them)"
    )
    if not lower:  # never above chance: the steps may be too small to move at all
        return (
            f"What usually helps: a higher train.learning_rate (now {learning_rate:g}; try "
            f"{learning_rate * 10:g}), or checking that the labels match the images{recipe}"
        )
    return (
        f"What usually helps: a lower train.learning_rate (now {learning_rate:g}; try "
        f"{learning_rate / 10:g}), a warm-up (train.warmup_epochs: 2 with train.schedule: cosine)"
        f"{recipe}"
    )


def diagnose(
    rows: Sequence[dict[str, float]],
    num_classes: int,
    learning_rate: float,
    recipes: Sequence[str] = (),
) -> Finding | None:
    """The first sign in epoch logs `rows` (`loss`, maybe `accuracy`) that training fails."""
    chance = math.log(num_classes)
    if not rows or num_classes < 2:
        return None
    epoch = len(rows)
    loss = float(rows[-1]["loss"])
    advice = _advice(learning_rate, recipes)
    if loss >= DIVERGED_LOSS_FACTOR * chance:
        return Finding(
            "divergence",
            epoch,
            f"epoch {epoch}'s training loss is {loss:.3g}, {loss / chance:.0f} times the chance "
            f"level ln({num_classes}) = {chance:.3f}",
            advice,
        )
    losses = [float(row["loss"]) for row in rows]
    if len(losses) >= 3:
        best = min(losses[:-2])
        if all(value > RISING_FACTOR * best for value in losses[-2:]) and losses[-1] > losses[-2]:
            return Finding(
                "divergence",
                epoch,
                f"the training loss rose from its best {best:.3g} to {losses[-2]:.3g} and "
                f"{losses[-1]:.3g} in epochs {epoch - 1}-{epoch}",
                advice,
            )
    recent = rows[-CHANCE_EPOCHS:]
    if len(recent) == CHANCE_EPOCHS and all(_at_chance(row, num_classes) for row in recent):
        accuracy = rows[-1].get("accuracy")
        # A loss that jumped above chance first means steps too large, as does any rate of
        # LARGE_RATE or more; one that never left it at a small rate means steps too small.
        lower = max(losses) > (1 + CHANCE_LOSS_BAND) * chance or learning_rate >= LARGE_RATE
        shown = f" and training accuracy {accuracy:.1%} (chance {1 / num_classes:.1%})"
        return Finding(
            "collapse",
            epoch,
            f"the training loss has stayed at the chance level ln({num_classes}) = {chance:.3f} "
            f"(now {loss:.3f}){shown if accuracy is not None else ''} for {CHANCE_EPOCHS} "
            "epochs: the network gives every image the same answer",
            _advice(learning_rate, recipes, lower=lower),
        )
    return None


def diagnose_network(
    start: Probe, now: Probe, epoch: int, learning_rate: float, recipes: Sequence[str] = ()
) -> Finding | None:
    """The first sign in network probes (`start` of fitting, `now` at `epoch`'s end) of trouble."""
    advice = _advice(learning_rate, recipes)
    on = f"on {now.images} fixed training images"
    norm, before = now.gradient_norm, start.gradient_norm
    if not math.isfinite(norm):
        return Finding(
            "exploding gradients",
            epoch,
            f"at epoch {epoch}'s end the gradient norm {on} is {norm} while the loss is still "
            f"finite (it was {before:.3g} when training started)",
            advice,
        )
    if before > 0 and norm >= EXPLODING_FACTOR * before:
        return Finding(
            "exploding gradients",
            epoch,
            f"the gradient norm {on} grew from {before:.3g} when training started to {norm:.3g} "
            f"at epoch {epoch}'s end ({norm / before:,.0f} times)",
            advice,
        )
    dead = [
        name
        for name, share in now.dead.items()
        if share >= DEAD_FRACTION and share - start.dead.get(name, 0.0) >= DEAD_RISE
    ]
    if not dead:
        return None
    worst = max(dead, key=lambda name: now.dead[name])
    others = [f"{name} {now.dead[name]:.0%}" for name in dead if name != worst]
    return Finding(
        "dead activations",
        epoch,
        f"at epoch {epoch}'s end {now.dead[worst]:.0%} of the {now.units.get(worst, '?')} units "
        f"of ReLU layer {worst} output zero for all {now.images} fixed training images "
        f"({start.dead.get(worst, 0.0):.0%} when training started)"
        + (f"; also dead: {', '.join(others)}" if others else "")
        + ": dead ReLUs pass no gradient and rarely recover",
        advice,
    )


def _at_chance(row: dict[str, float], num_classes: int) -> bool:
    chance = math.log(num_classes)
    if abs(float(row["loss"]) - chance) > CHANCE_LOSS_BAND * chance:
        return False
    accuracy = row.get("accuracy")
    return accuracy is None or float(accuracy) <= CHANCE_ACCURACY_FACTOR / num_classes


class HealthMonitor(keras.callbacks.Callback):
    """Diagnose each epoch's logs (and the network, with a probe); report the first finding once;
    stop if asked."""

    def __init__(
        self,
        num_classes: int,
        learning_rate: float,
        *,
        stop: bool = False,
        recipes: Sequence[str] = (),
        record: Callable[[dict[str, Any]], None] | None = None,
        rows: Sequence[dict[str, float]] = (),
        probe: NetworkProbe | None = None,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.learning_rate = learning_rate
        self.stop = stop
        self.recipes = list(recipes)
        self.record = record
        self.rows = [row for row in rows if "loss" in row]
        self.probe = probe
        self.start: Probe | None = None
        self.finding: Finding | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        # Each fit (fine-tuning's two phases, a resumed run) measures from its own start.
        self.start = self._probe() if self.finding is None else None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        if "loss" not in logs or self.finding is not None:
            return
        row = {"loss": float(logs["loss"])}
        if "accuracy" in logs:
            row["accuracy"] = float(logs["accuracy"])
        self.rows = [*self.rows[:epoch], row]
        if not math.isfinite(row["loss"]):
            return  # the NaN guard reports it
        found = [diagnose(self.rows, self.num_classes, self.learning_rate, self.recipes)]
        now = self._probe() if self.start is not None else None
        if now is not None and self.start is not None:
            found.append(
                diagnose_network(self.start, now, epoch + 1, self.learning_rate, self.recipes)
            )
        findings = sorted((f for f in found if f is not None), key=lambda f: KINDS.index(f.kind))
        if findings:
            self._report(findings[0], now)

    def _probe(self) -> Probe | None:
        if self.probe is None:
            return None
        try:
            with timings.phase("health probe"):
                return self.probe(self.model)
        except Exception as error:  # a probe must never end a run: say so and train on
            self.probe = None
            warnings.warn(
                f"The training-health probe of dead activations and gradient norms stopped: "
                f"{type(error).__name__}: {' '.join(str(error).split())[:200]}. Training "
                "goes on; the loss checks still run.",
                TrainingHealthWarning,
                stacklevel=2,
            )
            return None

    def _report(self, finding: Finding, now: Probe | None) -> None:
        self.finding = finding
        action = (
            "Training stopped (train.on_collapse: stop)"
            if self.stop
            else "Training goes on (set train.on_collapse: stop to stop such runs)"
        )
        warnings.warn(
            f"{finding.message()}. {action}.",
            TrainingHealthWarning,
            stacklevel=2,
        )
        if self.record is not None:
            record = {**finding.to_dict(), "stopped": self.stop}
            if now and self.start:
                record["probe"] = {"start": self.start.to_dict(), "now": now.to_dict()}
            self.record(record)
        if self.stop:
            self.model.stop_training = True


def recipes_for(dataset: str) -> list[str]:
    """Names of the shipped recipe configs (`recipe_*.yaml`) that train on `dataset`."""
    from cnnzoo.config.files import read_with_bases, shipped_configs

    names = []
    for name, path in shipped_configs().items():
        if name.startswith("recipe_"):
            data = read_with_bases(path).get("data") or {}
            if data.get("dataset") == dataset:
                names.append(name)
    return names


def monitor(
    config: Any,
    num_classes: int,
    rows: Sequence[dict[str, float]],
    record,
    sample: Any = None,
) -> HealthMonitor:
    """The health monitor `cnnzoo train` runs for `config` (`record` receives a finding); with
    `sample`, a batched dataset of (image, one-hot label) training pairs, it probes the network."""
    return HealthMonitor(
        num_classes,
        config.train.learning_rate,
        stop=config.train.on_collapse == "stop",
        recipes=recipes_for(config.data.dataset),
        record=record,
        rows=rows,
        probe=NetworkProbe(sample) if sample is not None else None,
    )
