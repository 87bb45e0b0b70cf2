"""cnnzoo's fused batch norm computes exactly what Keras' layer does, and saves as Keras' own."""

from __future__ import annotations

import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

from cnnzoo.models.blocks import fused_batch_norm


def _pair(epsilon: float, momentum: float, shape: tuple[int, ...]):
    rng = np.random.default_rng(0)
    keras_layer = layers.BatchNormalization(epsilon=epsilon, momentum=momentum)
    fused = fused_batch_norm("fused", epsilon=epsilon, momentum=momentum)
    for layer in (keras_layer, fused):
        layer.build(shape)
    channels = shape[-1]
    gamma, beta = rng.normal(1, 0.3, channels), rng.normal(0, 0.3, channels)
    for layer in (keras_layer, fused):
        layer.gamma.assign(gamma.astype(np.float32))
        layer.beta.assign(beta.astype(np.float32))
    return keras_layer, fused


def _train_step(layer, x, weights):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
        loss = tf.reduce_sum(tf.cast(y, tf.float32) * weights)
    return y, tape.gradient(loss, [x, layer.gamma, layer.beta])


@pytest.mark.parametrize(("epsilon", "momentum"), [(1e-3, 0.99), (1e-5, 0.9)])
def test_training_matches_keras(epsilon, momentum):
    rng = np.random.default_rng(1)
    shape = (8, 10, 12, 5)
    x = tf.constant(rng.normal(2, 3, shape).astype(np.float32))
    weights = tf.constant(rng.normal(size=shape).astype(np.float32))
    keras_layer, fused = _pair(epsilon, momentum, shape)
    for _ in range(3):  # moving statistics accumulate over steps
        expected, expected_grads = _train_step(keras_layer, x, weights)
        got, got_grads = _train_step(fused, x, weights)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    for g, e in zip(got_grads, expected_grads, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(fused.moving_mean, keras_layer.moving_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fused.moving_variance, keras_layer.moving_variance, rtol=1e-5)
    np.testing.assert_allclose(fused(x, training=False), keras_layer(x, training=False), atol=1e-5)


def test_the_fused_kernel_runs_in_training():
    layer = fused_batch_norm("bn")
    graph = tf.function(lambda x: layer(x, training=True)).get_concrete_function(
        tf.TensorSpec((2, 4, 4, 3), tf.float32)
    )
    kinds = {op.type for op in graph.graph.get_operations()}
    assert "FusedBatchNormV3" in kinds
    assert "Mean" not in kinds  # no separate moments


def test_bfloat16_policy_keeps_dtype_and_statistics_in_float32():
    rng = np.random.default_rng(2)
    x = rng.normal(1, 2, (4, 6, 6, 3)).astype(np.float32)
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        keras_layer, fused = _pair(1e-3, 0.9, x.shape)
        expected = keras_layer(tf.cast(x, tf.bfloat16), training=True)
        got = fused(tf.cast(x, tf.bfloat16), training=True)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert got.dtype == tf.bfloat16 and fused.moving_mean.dtype == "float32"
    np.testing.assert_allclose(
        tf.cast(got, tf.float32), tf.cast(expected, tf.float32), rtol=2e-2, atol=2e-2
    )
    np.testing.assert_allclose(fused.moving_mean, keras_layer.moving_mean, rtol=1e-4)


def test_other_ranks_use_keras_path():
    rng = np.random.default_rng(3)
    x = tf.constant(rng.normal(size=(16, 7)).astype(np.float32))
    keras_layer, fused = _pair(1e-3, 0.9, x.shape)
    np.testing.assert_allclose(
        fused(x, training=True), keras_layer(x, training=True), rtol=1e-5, atol=1e-5
    )


def test_a_saved_model_loads_with_plain_keras_and_predicts_the_same(tmp_path):
    from cnnzoo.models import MODELS

    model = MODELS.get("tutorial_cnn").builder()((32, 32, 3), 4)
    assert type(model.get_layer("bn1")) is layers.BatchNormalization
    x = np.random.default_rng(4).random((2, 32, 32, 3)).astype(np.float32)
    model(x, training=True)  # move the moving statistics off their initial values
    model.save(tmp_path / "model.keras")
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "expected.npy", model.predict(x, verbose=0))
    code = (  # a fresh Python that never imports cnnzoo
        "import sys, keras, numpy as np\n"
        "model = keras.saving.load_model(sys.argv[1] + '/model.keras')\n"
        "got = model.predict(np.load(sys.argv[1] + '/x.npy'), verbose=0)\n"
        "print(type(model.get_layer('bn1')).__name__, "
        "float(np.abs(got - np.load(sys.argv[1] + '/expected.npy')).max()))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    name, difference = result.stdout.split()[-2:]
    assert name == "BatchNormalization" and float(difference) < 1e-5
