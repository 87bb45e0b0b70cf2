"""Which architectures have pretrained weights, from where, and how `model.weights` is read.

Importable without TensorFlow or KerasHub: the config checks and `cnnzoo models` use it. The
loading itself (KerasHub's preset machinery, the weight mapping) is in `cnnzoo/models/presets.py`.

`model.weights` takes a weights name (`imagenet`), a KerasHub preset handle (`kaggle://...`,
`hf://...`) or a local preset folder (one written by KerasHub's `save_to_preset`, or a downloaded
copy of a published preset). KerasHub's loader caches downloads: Kaggle handles in kagglehub's
cache (`~/.cache/kagglehub`, or `$KAGGLEHUB_CACHE`), Hugging Face handles in huggingface_hub's
(`~/.cache/huggingface`, or `$HF_HOME`).
"""

from __future__ import annotations

import importlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from cnnzoo.utils.errors import CnnzooError, ConfigError

# keras-hub 0.30-0.32 pin kagglesdk==0.1.28 while kaggle 2.2.5 and kagglehub 1.0.3 need
# kagglesdk>=0.1.38; 0.29 has the same ResNet presets and loader without the pin.
INSTALL_HINT = 'pip install "cnnzoo[pretrained]" (or: pip install "keras-hub>=0.29,<0.30")'


@dataclass(frozen=True)
class Weights:
    """One set of published weights for an architecture."""

    preset: str  # KerasHub's built-in preset name
    handle: str  # where KerasHub downloads it from
    summary: str


# Per architecture, by the name `model.weights` uses.
PRETRAINED: dict[str, dict[str, Weights]] = {
    "resnet18": {
        "imagenet": Weights(
            preset="resnet_18_imagenet",
            handle="kaggle://keras/resnetv1/keras/resnet_18_imagenet/3",
            summary="ImageNet-1k, 224x224, KerasHub resnet_18_imagenet (ported from timm)",
        ),
    },
}
HANDLE_PREFIXES = ("kaggle://", "hf://")
# The handles KerasHub's loader takes (keras_hub/src/utils/preset_utils.py): a Kaggle model
# kaggle://OWNER/MODEL/keras/VARIANT[/VERSION] and a Hugging Face repository hf://[OWNER/]NAME.
_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]*"
HANDLE_FORMS = {
    "kaggle://": (re.compile(rf"{_NAME}/{_NAME}/{_NAME}/{_NAME}(/[0-9]+)?"),
                  "kaggle://OWNER/MODEL/keras/VARIANT[/VERSION]"),
    "hf://": (re.compile(rf"({_NAME}/)?{_NAME}"), "hf://OWNER/NAME"),
}  # fmt: skip


def describe(model_name: str) -> str:
    """'imagenet (ImageNet-1k, ... from kaggle://...)' for `cnnzoo models`, or '' if none."""
    return "; ".join(
        f"{name} ({weights.summary}, from {weights.handle})"
        for name, weights in PRETRAINED.get(model_name, {}).items()
    )


def no_weights(model_name: str) -> str:
    """Why `model.weights` is refused for `model_name`, naming the models that have weights."""
    have = ", ".join(f"{m} ({', '.join(w)})" for m, w in PRETRAINED.items())
    return (
        f'model "{model_name}" has no pretrained weights; the models that do: {have}. Remove '
        f"model.weights to train from scratch."
    )


def check_weights(model_name: str, value: object) -> object:
    """Return `value` if it is a valid `model.weights` for `model_name`; else raise ValueError.

    (A ValueError, so the model's pydantic schema can call it; the config names the key.)
    """
    available = PRETRAINED.get(model_name)
    if not available:
        raise ValueError(no_weights(model_name))
    if value is None:
        return value
    if not isinstance(value, str) or not value.strip():
        raise ValueError(
            f"expected {', '.join(available)}, a kaggle:// or hf:// KerasHub preset handle, or "
            f"a local preset folder"
        )
    if value in available:
        return value
    for prefix, (form, written) in HANDLE_FORMS.items():
        if value.startswith(prefix):
            if not form.fullmatch(value.removeprefix(prefix)):
                raise ValueError(f"a {prefix} KerasHub preset handle has the form {written}")
            return value
    value = os.path.expanduser(value)
    if not (Path(value) / "config.json").is_file():
        raise ValueError(
            f"{value!r} is neither a weights name ({', '.join(available)}), a kaggle:// or "
            f"hf:// handle, nor a KerasHub preset folder (a folder with config.json and "
            f"model.weights.h5)"
        )
    return value


def check_input(channels: int, rescale: float) -> None:
    """Raise a ConfigError unless images reach the model in [0, 1], as the weights need.

    Any `data.channels` (1 or 3) works: grey images are repeated to RGB inside the model.
    """
    if abs(rescale * 255.0 - 1.0) > 1e-6:
        raise ConfigError(
            f"model.weights: the model normalises inputs in [0, 1] as the weights expect: keep "
            f"augment.rescale at 1/255 (0.00392156862745098). Received: {rescale!r}"
        )


def preset_for(model_name: str, value: str) -> str:
    """The KerasHub preset to load for `model.weights: value` (name -> built-in preset)."""
    known = PRETRAINED.get(model_name, {})
    if value in known:
        return known[value].preset
    return value  # a handle, or a local folder (`~` expanded by check_weights)


def require_keras_hub() -> None:
    """Raise a one-line CnnzooError when KerasHub (the optional extra) is not installed."""
    try:
        importlib.import_module("keras_hub")
    except ImportError:
        raise CnnzooError(
            f"model.weights needs KerasHub, which is not installed: {INSTALL_HINT}"
        ) from None


def offline_hint(model_name: str, value: str) -> str:
    """What to do when a preset cannot be downloaded (no network, no credentials)."""
    known = PRETRAINED.get(model_name, {})
    handle = known[value].handle if value in known else value
    if handle.startswith("kaggle://"):
        fetch = (
            f"python -c \"import kagglehub; print(kagglehub.model_download('"
            f"{handle.removeprefix('kaggle://')}'))\""
        )
    elif handle.startswith("hf://"):
        fetch = f"huggingface-cli download {handle.removeprefix('hf://')} --local-dir PRESET_DIR"
    else:
        return "check that the preset folder holds config.json and model.weights.h5"
    return (
        f"on a machine with internet, run {fetch}, copy the folder it prints here and set "
        f"model.weights to that folder (e.g. --set model.weights=PRESET_DIR)"
    )
