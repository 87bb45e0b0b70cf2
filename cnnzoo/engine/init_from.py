"""`train.init_from`: start a model from an earlier cnnzoo run's weights, layer by layer.

Kept apart from finetune.py, which config validation imports: this module reads run folders.
`check_source` is also what `cnnzoo.engine.preflight` checks before a new run starts.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from cnnzoo.engine.finetune import CLASSIFIER
from cnnzoo.runs import files as runs
from cnnzoo.utils.errors import CnnzooError, ConfigError


def check_source(init_from: str) -> Path:
    """The model file of the run `init_from` names; a ConfigError unless it has one."""
    folder = Path(init_from)
    path = folder / runs.MODEL_FILE
    if not path.is_file():
        why = "does not exist" if not folder.exists() else f"has no {runs.MODEL_FILE}"
        raise ConfigError(
            f"train.init_from: {folder} {why}; point it at a completed cnnzoo run folder "
            f"(one with {runs.MODEL_FILE}). Received: {init_from!r}"
        )
    return path


def initialize(
    model: Any, init_from: str, class_names: list[str], log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Copy an earlier run's weights into `model`, layer by layer where name and shapes match.

    The classifier keeps its fresh initialisation when the earlier run's classes differ.
    Returns what was done (also logged as one line).
    """
    import keras

    path = check_source(init_from)
    classes_file = path.parent / runs.CLASSES_FILE
    old_classes = runs.read_json(classes_file) if classes_file.is_file() else None
    source = keras.saving.load_model(path, compile=False)
    source_layers = {layer.name: layer for layer in source.layers}
    loaded, skipped, values = [], {}, 0
    for layer in model.layers:
        if not layer.weights:
            continue
        other = source_layers.get(layer.name)
        shapes = [tuple(w.shape) for w in layer.weights]
        if other is None:
            skipped[layer.name] = "not in the earlier model"
        elif layer.name == CLASSIFIER and old_classes != list(class_names):
            skipped[layer.name] = "classes differ"
        elif [tuple(w.shape) for w in other.weights] != shapes:
            skipped[layer.name] = "different shape"
        else:
            layer.set_weights(other.get_weights())
            loaded.append(layer.name)
            values += sum(int(w.numpy().size) for w in layer.weights)
    if not loaded:
        raise CnnzooError(
            f"train.init_from: no layer of {path} matches this model by name and shape; was it "
            f"trained with another architecture? Received: {init_from!r}"
        )
    total = sum(1 for layer in model.layers if layer.weights)
    fresh = ", ".join(f"{name} ({why})" for name, why in skipped.items())
    log(
        f"Initialised from {path}: {len(loaded)} of {total} layers ({values:,} values)"
        + (f"; newly initialised: {fresh}." if fresh else ".")
    )
    return {"path": str(path), "loaded": loaded, "skipped": skipped, "values": values}
