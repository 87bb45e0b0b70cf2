"""Dead activations and exploding gradients: probed on a fixed batch, reported, and stopped."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
from keras import layers

from cnnzoo.engine.health import diagnose_network
from cnnzoo.engine.probes import NetworkProbe, Probe

from .real_digits import with_model, write_digits
from .tiny_runs import finish, read, start_cli, tiny_config


def _probe(norm: float, **dead: float) -> Probe:
    return Probe(norm, dead, {name: 128 for name in dead}, 64)


def test_a_healthy_network_is_not_flagged() -> None:
    # What healthy runs on the digits show: the norm falls, some units die (the monkeys recipe
    # has 53% of its dense layer dead after epoch 1, and learns).
    start = _probe(33.2, conv1=0.0, dense=0.02)
    for now in (_probe(4.1, conv1=0.03, dense=0.53), _probe(0.7, conv1=0.06, dense=0.16)):
        assert diagnose_network(start, now, 2, 0.001) is None
    assert diagnose_network(start, _probe(3000.0, dense=0.1), 2, 0.001) is None  # 90 times


def test_a_non_finite_or_thousandfold_gradient_norm_has_exploded() -> None:
    start = _probe(33.2, dense=0.0)
    finding = diagnose_network(start, _probe(float("nan"), dense=0.0), 1, 5.0)
    assert finding is not None and (finding.kind, finding.epoch) == ("exploding gradients", 1)
    assert "gradient norm on 64 fixed training images is nan" in finding.seen
    assert "33.2 when training started" in finding.seen and "try 0.5" in finding.advice
    finding = diagnose_network(start, _probe(4.0e4, dense=0.0), 3, 0.1)
    assert finding is not None and finding.kind == "exploding gradients"
    assert "grew from 33.2 when training started to 4e+04 at epoch 3's end (1,205 times)" in (
        finding.seen
    )


def test_most_units_of_a_layer_dying_is_reported_with_the_layer() -> None:
    start = _probe(33.2, conv1=0.0, conv2=0.0, dense=0.02)
    now = _probe(1.2, conv1=0.22, conv2=0.85, dense=0.92)
    finding = diagnose_network(start, now, 1, 0.03, ["recipe_mnist"])
    assert finding is not None and finding.kind == "dead activations"
    assert finding.seen.startswith(
        "at epoch 1's end 92% of the 128 units of ReLU layer dense output zero for all 64 fixed "
        "training images (2% when training started); also dead: conv2 85%"
    )
    assert "a warm-up" in finding.advice and "cnnzoo train -c recipe_mnist" in finding.advice


def test_units_dead_from_the_start_are_not_a_finding() -> None:
    # Small maps (GoogLeNet at 28x28 has 1x1 maps deep inside) can leave units silent from
    # initialisation: only a share that rose since the start counts.
    start = _probe(0.25, inception_4a_pool_proj=0.7)
    assert diagnose_network(start, _probe(0.2, inception_4a_pool_proj=0.85), 1, 0.001) is None
    finding = diagnose_network(start, _probe(0.2, inception_4a_pool_proj=0.95), 1, 0.001)
    assert finding is not None and finding.kind == "dead activations"


def _model(*between: keras.layers.Layer) -> keras.Model:
    inputs = keras.Input((6,))
    x = layers.Dense(5, activation="relu", name="hidden")(inputs)
    for layer in between:
        x = layer(x)
    outputs = layers.Dense(3, activation="softmax", name="out")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss=keras.losses.CategoricalCrossentropy())
    return model


def _batches(batch_size: int):
    import tensorflow as tf

    rng = np.random.default_rng(0)
    images = rng.random((10, 6)).astype("float32")  # inputs >= 0
    labels = np.eye(3, dtype="float32")[rng.integers(0, 3, 10)]
    return tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch_size), labels


def _set_hidden_bias(model: keras.Model, bias: list[float]) -> None:
    kernel, _ = model.get_layer("hidden").get_weights()  # inputs >= 0, kernel >= 0: bias decides
    model.get_layer("hidden").set_weights([np.abs(kernel), np.array(bias, "float32")])


def test_the_probe_counts_dead_units_and_changes_nothing() -> None:
    model = _model(layers.BatchNormalization(name="bn"), layers.Dropout(0.5, name="drop"))
    _set_hidden_bias(model, [-100.0, -100.0, -100.0, -100.0, 0.5])  # four units never fire
    before = [np.array(v.numpy()) for v in model.variables]  # weights, statistics, seeds
    probe = NetworkProbe(_batches(4)[0])(model)  # reads 10 images across three batches
    assert probe.dead == {"hidden": pytest.approx(0.8)} and probe.units == {"hidden": 5}
    assert probe.images == 10 and probe.gradient_norm > 0
    for variable, value in zip(model.variables, before, strict=True):
        np.testing.assert_array_equal(variable.numpy(), value, err_msg=variable.path)


def test_the_gradient_norm_is_the_global_l2_norm() -> None:
    # Every hidden unit dead: the only non-zero gradient is the output bias's, the batch mean of
    # softmax(bias) - label (cross-entropy's gradient), computed here by hand.
    model = _model()
    _set_hidden_bias(model, [-100.0] * 5)
    batches, labels = _batches(10)
    probe = NetworkProbe(batches)(model)
    assert probe.dead == {"hidden": 1.0}
    out_bias = model.get_layer("out").get_weights()[1].astype(np.float64)
    softmax = np.exp(out_bias) / np.exp(out_bias).sum()
    expected = np.linalg.norm((softmax - labels).mean(axis=0))
    assert probe.gradient_norm == pytest.approx(expected, rel=1e-5)


@pytest.fixture(scope="module")
def digits_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_digits(tmp_path_factory.mktemp("digits"))


def _tutorial(folder: Path, digits: Path, name: str, **train) -> Path:
    defaults = {"epochs": 2, "batch_size": 64, "steps_per_epoch": None, "on_collapse": "stop"}
    # float32 on every CPU (`precision: auto` is mixed_bfloat16 on a bf16 one): the verdicts
    # depend on the numerics.
    hardware = {"precision": "float32"}
    config = tiny_config(folder, digits, name=name, train={**defaults, **train}, hardware=hardware)
    return with_model(config, {"name": "tutorial_cnn"})


@pytest.fixture(scope="module")
def runs(digits_npz: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple]:
    """The tutorial CNN on the real digits three ways, in parallel CLI processes."""
    folder = tmp_path_factory.mktemp("probed")
    configs = {
        "healthy": _tutorial(folder, digits_npz, "healthy", learning_rate=0.001),
        # Adam at 50x the default rate: the dense ReLU layer dies in epoch 1 while the loss
        # is neither at chance nor far above it.
        "dead": _tutorial(folder, digits_npz, "dead", learning_rate=0.05),
        # Plain SGD at 5 for four steps: epoch 1 ends with a finite loss but non-finite
        # gradients. A whole epoch (19 steps) is a knife-edge: with oneDNN's kernels (TensorFlow's
        # default on x86) the loss itself is NaN at step 6, even in float32, and the NaN guard
        # stops the run before the epoch-end probe; with Eigen's the epoch ends finite.
        "exploding": _tutorial(
            folder, digits_npz, "exploding", optimizer="sgd", learning_rate=5.0, steps_per_epoch=4
        ),
    }
    started = {
        name: start_cli("train", "-c", str(config), "-o", str(folder / name))
        for name, config in configs.items()
    }
    return {name: (*finish(process), folder / name) for name, process in started.items()}


def _warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("warning:")]


def test_a_healthy_run_says_nothing(runs: dict) -> None:
    code, out, err, run_dir = runs["healthy"]
    assert code == 0, err
    assert _warnings(err) == [], err
    record = read(run_dir, "run.json")
    assert record["status"] == "completed" and record.get("health") is None


@pytest.mark.parametrize(
    ("name", "kind", "seen"),
    [
        ("dead", "dead activations", "of the 128 units of ReLU layer dense output zero for all 64"),
        ("exploding", "exploding gradients", "the gradient norm on 64 fixed training images is"),
    ],
)
def test_a_sick_network_is_reported_after_one_epoch_and_stopped(
    runs: dict, name: str, kind: str, seen: str
) -> None:
    code, out, err, run_dir = runs[name]
    assert code == 1, err
    warnings = _warnings(err)
    assert len(warnings) == 1, err
    assert f"warning: Training is not learning ({kind}): at epoch 1's end" in warnings[0]
    assert seen in warnings[0] and "What usually helps: a lower train.learning_rate" in warnings[0]
    assert "a warm-up" in warnings[0] and "cnnzoo train -c recipe_mnist" in warnings[0]
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Training stopped (train.on_collapse: stop)" in errors[0], err
    assert "Traceback" not in err
    record = read(run_dir, "run.json")
    assert record["status"] == "failed" and record["epochs_completed"] == 1
    health = record["health"]
    assert (health["kind"], health["epoch"], health["stopped"]) == (kind, 1, True)
    assert health["probe"]["now"]["images"] == 64
    if kind == "dead activations":
        assert health["probe"]["now"]["dead_fraction"]["dense"] >= 0.5
        assert health["probe"]["start"]["dead_fraction"]["dense"] < 0.25
    else:
        assert health["probe"]["now"]["gradient_norm"] in ("nan", "inf")
        assert health["probe"]["start"]["gradient_norm"] > 0


def test_a_probe_that_fails_is_said_once_and_training_goes_on() -> None:
    import tensorflow as tf

    from cnnzoo.engine.health import HealthMonitor, TrainingHealthWarning

    model = _model()
    images_only = tf.data.Dataset.from_tensor_slices(np.zeros((4, 6), "float32")).batch(2)
    monitor = HealthMonitor(3, 0.001, probe=NetworkProbe(images_only))
    monitor.set_model(model)
    with pytest.warns(TrainingHealthWarning, match="probe of dead activations and gradient"):
        monitor.on_train_begin()
    assert monitor.probe is None and monitor.start is None
    monitor.on_epoch_end(0, {"loss": 0.5, "accuracy": 0.9})  # the loss checks still run
    assert monitor.finding is None and monitor.rows == [{"loss": 0.5, "accuracy": 0.9}]
