"""The private Keras names cnnzoo relies on: present in this Keras, patched only while needed."""

from __future__ import annotations

from pathlib import Path

import keras
import pytest
import tensorflow as tf
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from cnnzoo.models.blocks import fused_batch_norm
from cnnzoo.utils import keras_compat


def _model() -> keras.Model:
    inputs = keras.Input((4,))
    return keras.Model(inputs, keras.layers.Dense(2, name="dense")(inputs))


def test_multi_worker_patch_holds_only_inside_the_block() -> None:
    original = keras_compat.current_reduce_per_replica()
    model = _model()
    own_build = model._maybe_symbolic_build
    with keras_compat.multi_worker_fit(model, tf.distribute.get_strategy()):
        assert keras_compat.current_reduce_per_replica() is not original
        assert model._maybe_symbolic_build != own_build
    assert keras_compat.current_reduce_per_replica() is original
    assert "_maybe_symbolic_build" not in vars(model)  # the class's method again
    assert model._maybe_symbolic_build == own_build


def test_multi_worker_patch_is_undone_when_fit_fails() -> None:
    original = keras_compat.current_reduce_per_replica()
    with (
        pytest.raises(RuntimeError, match="boom"),
        keras_compat.multi_worker_fit(_model(), tf.distribute.get_strategy()),
    ):
        raise RuntimeError("boom")
    assert keras_compat.current_reduce_per_replica() is original


def test_a_moved_private_name_is_one_clear_error() -> None:
    with pytest.raises(keras_compat.KerasInternalsMoved) as caught:
        keras_compat.private(keras.callbacks.EarlyStopping(), "_no_such_counter")
    message = str(caught.value)
    assert f"Keras {keras.__version__} has no `EarlyStopping._no_such_counter`" in message
    assert keras_compat.TESTED in message and "\n" not in message
    with pytest.raises(keras_compat.KerasInternalsMoved, match="module `keras.src.no_such`"):
        keras_compat.private_module("keras.src.no_such")


def test_replacing_a_layer_call_checks_the_signature() -> None:
    layer = fused_batch_norm("bn")  # replaced through keras_compat.replace_call
    assert "call" in vars(layer)
    other = keras.layers.BatchNormalization()
    with pytest.raises(keras_compat.KerasInternalsMoved, match="BatchNormalization.call"):
        keras_compat.replace_call(other, lambda inputs: inputs)


@pytest.mark.parametrize(
    ("callback", "keys"),
    [
        (keras.callbacks.EarlyStopping(patience=3), {"wait", "best", "best_epoch"}),
        (keras.callbacks.ReduceLROnPlateau(patience=2), {"wait", "best", "cooldown_counter"}),
    ],
)
def test_callback_state_round_trips(callback, keys) -> None:
    callback.set_model(_model())
    callback.on_train_begin()
    keras_compat.restore_callback_state(callback, {"wait": 2, "best": 0.25, "unknown": 1})
    state = keras_compat.callback_state(callback)
    assert set(state) == keys
    assert (state["wait"], state["best"]) == (2, 0.25)
    assert not hasattr(callback, "unknown")


def test_the_tested_range_is_the_installable_one() -> None:
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert f'"keras{keras_compat.TESTED}"' in pyproject
    assert Version(keras.__version__) in SpecifierSet(keras_compat.TESTED)
