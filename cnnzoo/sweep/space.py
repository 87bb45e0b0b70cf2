"""Search spaces for `cnnzoo sweep`: a YAML mapping of `--set` keys to ranges, checked up front.

A space file maps config keys, in the vocabulary of `--set`, to one parameter each:

    train.learning_rate: {type: float, low: 1e-4, high: 1e-2, log: true}
    train.batch_size: {type: int, low: 32, high: 128, step: 32}
    model.variant: {choices: [classic, modern]}

Every key and every end of every range, and their combinations, are applied to the base config
and checked as a new run is (`cnnzoo.engine.preflight`) before anything starts, so a typo, an
impossible value or a config without validation images is one line, not a failed trial. No
TensorFlow or Optuna import here.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cnnzoo.config.files import SHIPPED_DIR, read_yaml
from cnnzoo.config.schema import Config, source_name
from cnnzoo.engine.preflight import load_new_run_config
from cnnzoo.utils.errors import ConfigError
from cnnzoo.utils.registry import did_you_mean

KINDS = ("float", "int", "categorical")
FIELDS = ("type", "low", "high", "log", "step", "choices")
# Keys the sweep sets itself for each trial.
RESERVED = ("name", "output_dir")
# A grid over an integer range larger than this is almost certainly a mistake.
MAX_GRID_VALUES = 1000
# Checking one config takes about a millisecond: every combination of range ends and choices
# is checked up front when there are at most this many (a second), else each key's alone.
MAX_CHECKED_COMBINATIONS = 1000

Value = bool | int | float | str | None


@dataclass(frozen=True)
class Parameter:
    """One searched config key: a float or int range, or categorical choices."""

    key: str
    kind: str
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple[Value, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The parameter as written in a space file (normalised)."""
        if self.kind == "categorical":
            return {"choices": list(self.choices)}
        spec: dict[str, Any] = {"type": self.kind, "low": self.low, "high": self.high}
        if self.log:
            spec["log"] = True
        if self.step is not None:
            spec["step"] = self.step
        return spec

    def extremes(self) -> tuple[Value, ...]:
        """The values to validate against the config: both ends of a range, or every choice."""
        return self.choices if self.kind == "categorical" else (self.low, self.high)

    def grid(self) -> list[Value]:
        """Every value a grid search visits, or a ConfigError if the range is continuous."""
        if self.kind == "categorical":
            return list(self.choices)
        if self.kind == "int":
            step = int(self.step or 1)
            return list(range(int(self.low), int(self.high) + 1, step))  # type: ignore[arg-type]
        if self.step is None:
            raise ConfigError(
                f"{self.key}: --sampler grid needs a finite set of values; give this float range "
                "a step, or list its values as choices."
            )
        count = int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1  # type: ignore[operator]
        return [round(self.low + i * self.step, 12) for i in range(count)]  # type: ignore[operator]


@dataclass(frozen=True)
class Space:
    """The parameters of a search space, in file order."""

    path: Path
    parameters: tuple[Parameter, ...]

    def as_dict(self) -> dict[str, Any]:
        """The normalised space (what the study records, to refuse a changed space later)."""
        return {p.key: p.as_dict() for p in self.parameters}

    def grid(self) -> dict[str, list[Value]]:
        """The grid for Optuna's GridSampler."""
        grid = {p.key: p.grid() for p in self.parameters}
        for key, values in grid.items():
            if len(values) > MAX_GRID_VALUES:
                raise ConfigError(
                    f"{key}: the grid would have {len(values)} values for this key alone. "
                    f"Received: {self.path}. Give the range a larger step."
                )
        return grid

    def grid_size(self) -> int:
        """How many points the grid has."""
        return math.prod(len(values) for values in self.grid().values())


def _number(where: str, name: str, value: Any, kind: str) -> float | int:
    # PyYAML reads `1e-4` (no dot) as a string: accept any string Python reads as a number.
    if isinstance(value, str) and kind == "float":
        with contextlib.suppress(ValueError):
            value = float(value)
    numeric = (int,) if kind == "int" else (int, float)
    if isinstance(value, bool) or not isinstance(value, numeric):
        expected = "an integer" if kind == "int" else "a number"
        raise ConfigError(
            f"{where}: {name} must be {expected} for type {kind}. Received: {value!r}"
        )
    return float(value) if kind == "float" else value


def _parameter(path: Path, key: str, spec: Any) -> Parameter:
    where = f"{path}: {key}"
    if not isinstance(spec, dict):
        raise ConfigError(
            f"{where}: expected a mapping such as {{type: float, low: 0.0001, high: 0.01, "
            f"log: true}} or {{choices: [a, b]}}. Received: {spec!r}"
        )
    for field in spec:
        if field not in FIELDS:
            raise ConfigError(
                f'{where}: unknown field "{field}".'
                + did_you_mean(str(field), list(FIELDS))
                + f" Known fields: {', '.join(FIELDS)}."
            )
    kind = spec.get("type", "categorical" if "choices" in spec else None)
    if kind not in KINDS:
        raise ConfigError(
            f"{where}: type must be one of {', '.join(KINDS)} (or give choices). "
            f"Received: {kind!r}" + did_you_mean(str(kind), list(KINDS))
        )
    if kind == "categorical":
        return _categorical(where, key, spec)
    if "choices" in spec:
        raise ConfigError(f"{where}: a {kind} range takes low and high, not choices.")
    missing = [name for name in ("low", "high") if name not in spec]
    if missing:
        raise ConfigError(f"{where}: a {kind} range needs {' and '.join(missing)}.")
    low, high = (_number(where, name, spec[name], kind) for name in ("low", "high"))
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError(f"{where}: log must be true or false. Received: {log!r}")
    step = None if spec.get("step") is None else _number(where, "step", spec["step"], kind)
    if low > high:
        raise ConfigError(f"{where}: low must not exceed high. Received: low={low}, high={high}")
    if log and low <= 0:
        raise ConfigError(f"{where}: a log range needs low > 0. Received: low={low}")
    if step is not None and (step <= 0 or log):
        problem = "step cannot be combined with log" if log else "step must be positive"
        raise ConfigError(f"{where}: {problem}. Received: step={step}")
    return Parameter(key, kind, low, high, log, step)


def _categorical(where: str, key: str, spec: dict[str, Any]) -> Parameter:
    extra = [name for name in ("low", "high", "log", "step") if name in spec]
    if extra:
        raise ConfigError(f"{where}: categorical choices take no {', '.join(extra)}.")
    choices = spec.get("choices")
    if not isinstance(choices, list) or not choices:
        raise ConfigError(f"{where}: choices must be a non-empty list. Received: {choices!r}")
    for choice in choices:
        if not isinstance(choice, bool | int | float | str | type(None)):
            raise ConfigError(
                f"{where}: each choice must be a single value (number, text, true/false, null). "
                f"Received: {choice!r}"
            )
    if len(set(map(json.dumps, choices))) != len(choices):
        raise ConfigError(f"{where}: choices repeat a value. Received: {choices!r}")
    return Parameter(key, "categorical", choices=tuple(choices))


def assignment(key: str, value: Value) -> str:
    """The `--set` override that puts `value` at `key` (JSON is valid YAML)."""
    text = json.dumps(value)
    mantissa, exponent, _ = text.partition("e")
    if isinstance(value, float) and exponent and "." not in mantissa:
        text = text.replace("e", ".0e", 1)  # YAML 1.1 reads 1e-06 as a string, 1.0e-06 as a float
    return f"{key}={text}"


def find_space(reference: str | Path) -> Path:
    """The space file `reference` names: a path, or a shipped space's name (`mnist_lenet`)."""
    path = Path(reference)
    if path.exists() or len(path.parts) > 1:
        return path  # a missing path is reported by read_yaml
    shipped = {p.stem: p for p in sorted((SHIPPED_DIR / "spaces").glob("*.yaml"))}
    if path.stem in shipped:
        return shipped[path.stem]
    raise ConfigError(
        f"No space file or shipped space named {str(reference)!r}."
        + did_you_mean(path.stem, list(shipped))
        + f" Shipped spaces: {', '.join(shipped)}."
    )


def _blank(path: Path) -> bool:
    """Whether the file exists and holds no YAML data at all (only comments or nothing)."""
    try:
        return path.is_file() and yaml.safe_load(path.read_text(encoding="utf-8")) in (None, {})
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False  # read_yaml reports it


def load_space(reference: str | Path) -> Space:
    """Read and check the shape of a space file (not yet against a config)."""
    path = find_space(reference)
    data = None if _blank(path) else read_yaml(path)
    if not data:
        raise ConfigError(
            f"{path}: the search space is empty. Add at least one key, e.g. "
            "train.learning_rate: {type: float, low: 0.0001, high: 0.01, log: true}"
        )
    parameters = []
    for key, spec in data.items():
        if not isinstance(key, str) or key in RESERVED:
            raise ConfigError(
                f"{path}: {key}: the sweep sets name and output_dir for each trial itself; "
                "search over other keys."
            )
        parameters.append(_parameter(Path(path), key, spec))
    return Space(Path(path), tuple(parameters))


def check_space(space: Space, config: Path, overrides: tuple[str, ...] = ()) -> Config:
    """Check, as a trial would be, the base config and each value the space can take: every
    key's range ends and choices alone, then every combination of them (up to
    MAX_CHECKED_COMBINATIONS). Return the base config."""
    base = load_new_run_config(config, overrides)
    check_sweepable(base, source_name(config, overrides))
    combinations = [
        {parameter.key: value} for parameter in space.parameters for value in parameter.extremes()
    ]
    corners = math.prod(len(parameter.extremes()) for parameter in space.parameters)
    if len(space.parameters) > 1 and corners <= MAX_CHECKED_COMBINATIONS:
        keys = [parameter.key for parameter in space.parameters]
        extremes = itertools.product(*(parameter.extremes() for parameter in space.parameters))
        combinations += [dict(zip(keys, values, strict=True)) for values in extremes]
    for params in combinations:
        shown = ", ".join(f"{key}={value!r}" for key, value in params.items())
        try:
            check_sweepable(trial_config(config, overrides, params))
        except ConfigError as error:
            first = str(error).splitlines()[0].split(" (with --set overrides): ", 1)[-1]
            raise ConfigError(f"{space.path}: {shown}: {first}") from None
    return base


def check_sweepable(config: Config, source: str = "") -> None:
    """Raise a ConfigError if trials of `config` could not be judged: they need validation."""
    if config.data.has_validation():
        return
    takes_val_path = "val_path" in type(config.data).model_fields
    where = f"{source}: " if source else ""
    raise ConfigError(where + no_validation(config.data.dataset, takes_val_path))


def no_validation(dataset: str, takes_val_path: bool) -> str:
    """What a sweep over a config without validation images says, and how to give it some."""
    return (
        f"cnnzoo sweep judges trials on validation accuracy, but this config gives the "
        f"{dataset} dataset no validation images. Set data.validation_split above 0 (e.g. 0.1)"
        + (" or data.val_path." if takes_val_path else ".")
    )


def trial_config(config: Path, overrides: tuple[str, ...], params: dict[str, Value]) -> Config:
    """The base config with one trial's parameter values applied, checked as for any new run."""
    return load_new_run_config(config, [*overrides, *(assignment(k, v) for k, v in params.items())])
