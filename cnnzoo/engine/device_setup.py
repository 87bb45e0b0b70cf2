"""What `devices.apply` does when TensorFlow has started already and refuses device changes.

`check_setup` is a pure function from the plan, the config and the devices TensorFlow kept to the
warnings to show (or an error): a setting is never dropped silently.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

from cnnzoo.config.schema import HardwareConfig
from cnnzoo.utils.errors import CnnzooError


class DeviceSetupWarning(UserWarning):
    """A device setting that could not be applied, TensorFlow having started already."""


@dataclass(frozen=True)
class Setup:
    """How TensorFlow's devices are set up when `apply` could not change them any more."""

    visible_gpus: tuple[int, ...]
    memory_growth: dict[int, bool | None]  # per visible GPU (None: not known)
    cpu_devices: int  # logical CPU devices


def check_setup(
    gpus: tuple[int, ...], cpu_devices: int, hardware: HardwareConfig, setup: Setup, why: str
) -> list[str]:
    """Compare the devices TensorFlow kept with the plan's (its `gpus` and `cpu_devices`):
    warnings to show, or a CnnzooError.

    Called when TensorFlow refused a change because it had started already (a notebook, a second
    run in one process). A setting the config asked for explicitly (hardware.gpus listed,
    memory_growth false, cpu_devices above 1) that did not take effect is an error; a default
    that did not is a warning naming the setting and what is used instead.
    """
    fresh = "Run it in a fresh process (a new `cnnzoo train`, or restart the notebook kernel)"
    errors, warnings_ = [], []
    if setup.cpu_devices < cpu_devices:
        errors.append(
            f"hardware.cpu_devices={cpu_devices} cannot be applied: {why}, with "
            f"{setup.cpu_devices} CPU device(s)"
        )
    if sorted(setup.visible_gpus) != sorted(gpus):
        visible = ",".join(map(str, setup.visible_gpus)) or "none"
        text = (
            f"hardware.gpus={hardware.gpus if hardware.gpus is not None else 'all'} (GPUs "
            f"{','.join(map(str, gpus)) or 'none'}) cannot be applied: {why}; TensorFlow "
            f"uses GPUs {visible}"
        )
        (errors if hardware.gpus is not None else warnings_).append(text)
    default_growth = HardwareConfig.model_fields["memory_growth"].default
    differs = [
        index
        for index in gpus
        if setup.memory_growth.get(index) not in (None, hardware.memory_growth)
    ]
    if differs:
        text = (
            f"hardware.memory_growth={str(hardware.memory_growth).lower()} cannot be applied to "
            f"GPU {','.join(map(str, differs))}: {why}"
        )
        (errors if hardware.memory_growth != default_growth else warnings_).append(text)
    if errors:
        raise CnnzooError(f"{'; '.join(errors)}. {fresh}.")
    return [f"{text}. {fresh} to apply it." for text in warnings_]


def warn_or_refuse(
    gpus: tuple[int, ...], cpu_devices: int, hardware: HardwareConfig, tf: Any, error: RuntimeError
) -> None:
    """Warn about each setting TensorFlow's refusal (`error`) left unapplied, or raise."""
    why = f"TensorFlow had already started in this process ({str(error).strip()})"
    for message in check_setup(gpus, cpu_devices, hardware, current_setup(tf), why):
        warnings.warn(message, DeviceSetupWarning, stacklevel=3)


def current_setup(tf: Any) -> Setup:
    """What TensorFlow uses now (the impure edge of `check_setup`)."""
    physical = tf.config.list_physical_devices("GPU")
    visible = tf.config.get_visible_devices("GPU")
    indices = tuple(i for i, device in enumerate(physical) if device in visible)
    growth: dict[int, bool | None] = {}
    for index in indices:
        try:
            growth[index] = tf.config.experimental.get_memory_growth(physical[index])
        except (RuntimeError, ValueError):
            growth[index] = None
    return Setup(indices, growth, len(tf.config.list_logical_devices("CPU")))
