"""Every private Keras name cnnzoo relies on, in one place, each checked when first used.

Keras keeps no promise about `keras.src` or underscored attributes, so each one is looked up
through `private()`, which fails with one line naming the installed Keras version and the range
cnnzoo is tested with if a release has moved it. Nothing else in cnnzoo touches Keras internals
(tests/test_imports.py checks that no other module imports `keras.src`).

What is used, and why:
- Multi-worker training (keras-team/keras#20585): `keras.src.backend.tensorflow.trainer`'s
  `reduce_per_replica` and `_collective_all_reduce_multi_worker`, and a model's
  `_maybe_symbolic_build` / `_symbolic_build`; patched only while a multi-worker run fits.
- The fused batch norm (models/blocks.py): a layer's `_call_signature`, which `Layer.__call__`
  binds arguments with before calling the instance's `call`.
- Resuming early stopping and the plateau schedule: the callbacks' undocumented counters.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import keras

TESTED = ">=3.15,<3.16"  # keep in step with pyproject.toml's keras requirement

# The undocumented attributes that hold a stateful callback's progress, per callback class.
CALLBACK_STATE: dict[type, tuple[str, ...]] = {
    keras.callbacks.EarlyStopping: ("wait", "best", "best_epoch"),
    keras.callbacks.ReduceLROnPlateau: ("wait", "best", "cooldown_counter"),
}


class KerasInternalsMoved(RuntimeError):
    """A private Keras name cnnzoo relies on is missing from the installed Keras."""


def _moved(what: str) -> KerasInternalsMoved:
    return KerasInternalsMoved(
        f"Keras {keras.__version__} has no {what}, which cnnzoo relies on (tested with keras"
        f"{TESTED}). Install a tested version: pip install 'keras{TESTED}'."
    )


def private(owner: Any, name: str) -> Any:
    """`owner.name` for a private Keras attribute, or one clear error if this Keras moved it."""
    try:
        return getattr(owner, name)
    except AttributeError:
        label = getattr(owner, "__name__", type(owner).__name__)
        raise _moved(f"`{label}.{name}`") from None


def private_module(path: str) -> Any:
    """Import a `keras.src` module, or one clear error if this Keras has no such module."""
    try:
        return importlib.import_module(path)
    except ImportError:
        raise _moved(f"module `{path}`") from None


# ---- multi-worker training ------------------------------------------------------------------


@contextlib.contextmanager
def multi_worker_fit(model: keras.Model, strategy: Any) -> Iterator[None]:
    """Let `model.fit` run under MultiWorkerMirroredStrategy inside the block; undo it after.

    Keras 3.15 averages a sample batch across workers just to learn input shapes, and averages
    each step's scalar metrics along axis 0; collective all-reduce supports neither. Inside the
    block a local replica's batch gives the shapes and scalars average with axis=None. The
    module-level `reduce_per_replica` is restored on exit, so other models in the process (and
    later runs) get Keras' own.
    """
    from keras import tree

    trainer = private_module("keras.src.backend.tensorflow.trainer")
    original = private(trainer, "reduce_per_replica")
    is_multi_worker = private(trainer, "_collective_all_reduce_multi_worker")
    symbolic_build = private(model, "_symbolic_build")
    private(model, "_maybe_symbolic_build")

    def maybe_symbolic_build(iterator=None, data_batch=None):
        if iterator is not None:
            for _, _, batches in iterator:
                first = next(batches)
                data_batch = tree.map_structure(
                    lambda v: strategy.experimental_local_results(v)[0], first
                )
                break
        with strategy.scope():
            symbolic_build(data_batch=data_batch)

    def reduce_per_replica(values, strategy, reduction="auto"):
        if reduction in ("auto", "mean") and is_multi_worker(strategy):
            return tree.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
        return original(values, strategy, reduction)

    model._maybe_symbolic_build = maybe_symbolic_build
    trainer.reduce_per_replica = reduce_per_replica
    try:
        yield
    finally:
        trainer.reduce_per_replica = original
        del model._maybe_symbolic_build  # the class's own method shows through again


def current_reduce_per_replica() -> Callable:
    """Keras' current `reduce_per_replica` (tests check a multi-worker run restores it)."""
    return private(private_module("keras.src.backend.tensorflow.trainer"), "reduce_per_replica")


# ---- layers -----------------------------------------------------------------------------------


def replace_call(layer: keras.layers.Layer, call: Callable) -> None:
    """Make this one layer instance run `call` instead of its class's `call`.

    `Layer.__call__` binds arguments with the signature it recorded at construction
    (`_call_signature`) and then calls `self.call`, so an instance attribute with the same
    parameters takes over while config, weights and saving stay the class's.
    """
    expected = list(private(layer, "_call_signature").parameters)
    given = list(inspect.signature(call).parameters)
    if given != expected:
        raise _moved(f"`{type(layer).__name__}.call({', '.join(given)})`")
    layer.call = call


# ---- callbacks ----------------------------------------------------------------------------------


def _state_keys(callback: keras.callbacks.Callback) -> tuple[str, ...]:
    for kind, keys in CALLBACK_STATE.items():
        if isinstance(callback, kind):
            return keys
    raise TypeError(f"No resumable state is known for {type(callback).__name__}.")


def callback_state(callback: keras.callbacks.Callback) -> dict[str, float | int | None]:
    """A stateful callback's progress (patience counter, best value, ...) as plain numbers."""
    state = {}
    for key in _state_keys(callback):
        value = private(callback, key)
        state[key] = value if value is None or isinstance(value, int) else float(value)
    return state


def restore_callback_state(callback: keras.callbacks.Callback, state: dict[str, Any]) -> None:
    """Put back what `callback_state` recorded (after the callback's own on_train_begin)."""
    keys = _state_keys(callback)
    for key, value in state.items():
        if key in keys:
            private(callback, key)  # the attribute must exist, or Keras renamed it
            setattr(callback, key, value)
