"""Distributed training for real on the CPU: two logical devices, and two worker processes."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from cnnzoo.config.schema import load_config
from cnnzoo.engine.training import train_from_config
from cnnzoo.runs import files as runs

from .real_digits import with_model
from .tiny_runs import cli_env, finish, history, read, start_cli, tiny_config, wait_for_checkpoint

# BatchNormalization normalises per replica, so the 2-replica runs match each other exactly
# but a 1-device run only approximately; the data is easy enough that all of them learn it.
TRAIN = {"epochs": 2, "batch_size": 32, "steps_per_epoch": 6}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _tf_config(ports: list[int], index: int) -> str:
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    return json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})


@pytest.fixture(scope="module")
def trained(mnist_npz: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple]:
    """One device, MirroredStrategy on 2 logical CPUs, and 2 workers, trained side by side."""
    folder = tmp_path_factory.mktemp("distribute")
    config = str(tiny_config(folder, mnist_npz, train=TRAIN))
    ports = [_free_port(), _free_port()]
    started = {
        "mirrored": start_cli(
            "train", "-c", config, "-s", "hardware.cpu_devices=2", "-o", str(folder / "mirrored")
        ),
        **{
            f"worker{i}": start_cli(
                "train", "-c", config, "-o", str(folder / f"worker{i}"),
                env=cli_env(TF_CONFIG=_tf_config(ports, i)),
            )
            for i in range(2)
        },
    }  # fmt: skip
    # The one-device baseline trains in this process while the others run.
    train_from_config(load_config(config), folder / "single")
    return {name: (*finish(process), folder / name) for name, process in started.items()}


def _learned(run_dir: Path) -> float:
    return history(run_dir)[-1]["val_accuracy"]


def test_mirrored_strategy_over_two_logical_cpus(trained: dict) -> None:
    code, out, err, run_dir = trained["mirrored"]
    assert code == 0, err
    assert "Using CPU x2 logical" in out and "MirroredStrategy, 2 replicas" in out
    assert "batch 32 global = 16 per replica" in out
    plan = read(run_dir, "environment.json")["plan"]
    assert (plan["strategy"], plan["replicas"], plan["batch_per_replica"]) == ("mirrored", 2, 16)
    assert read(run_dir, "run.json")["status"] == "completed"
    single_dir = run_dir.parent / "single"
    assert _learned(run_dir) >= 0.9 and _learned(single_dir) >= 0.9
    assert abs(history(run_dir)[-1]["loss"] - history(single_dir)[-1]["loss"]) < 0.1


def test_multi_worker_strategy_with_two_processes(trained: dict) -> None:
    (code0, out0, err0, chief_dir), (code1, out1, err1, worker_dir) = (
        trained["worker0"],
        trained["worker1"],
    )
    assert code0 == 0, err0
    assert code1 == 0, err1
    assert "MultiWorkerMirroredStrategy (worker 0 of 2), 2 replicas" in out0
    assert "Worker finished; the chief task writes the run folder." in out1
    # The health probe runs on every worker without a complaint (a failing probe warns).
    assert "warning:" not in err0 and "warning:" not in err1, err0 + err1
    assert not worker_dir.exists()  # only the chief writes a run folder
    plan = read(chief_dir, "environment.json")["plan"]
    assert (plan["strategy"], plan["replicas"], plan["chief"]) == ("multi_worker", 2, True)
    for name in ("model.keras", "metrics.json", "history.png", "checkpoints/last.json"):
        assert (chief_dir / name).exists(), name
    # Two processes all-reducing over gRPC compute what two replicas in one process compute.
    mirrored = history(trained["mirrored"][3])
    for got, expected in zip(history(chief_dir), mirrored, strict=True):
        assert got == pytest.approx(expected, rel=1e-4, abs=1e-5)
    assert _learned(chief_dir) >= 0.9


def test_mirrored_run_saves_reestimated_batch_norm_statistics(trained: dict) -> None:
    # batch_norm_stats: reestimate (the default) under MirroredStrategy: model.keras holds the
    # statistics a one-device re-estimation of the same weights gives.
    from .test_batch_norm_stats import assert_carries_fresh_statistics

    code, out, err, run_dir = trained["mirrored"]
    assert code == 0, err
    assert_carries_fresh_statistics(run_dir, load_config(run_dir / runs.CONFIG_FILE))


# Trains one worker of a cluster with a callback that looks at Keras while fit runs.
_WORKER = """
import json, sys
import keras
from cnnzoo.utils import keras_compat
from cnnzoo.config.schema import load_config
from cnnzoo.engine.training import train_from_config

original = keras_compat.current_reduce_per_replica()
seen = []

class Spy(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        seen.append(keras_compat.current_reduce_per_replica() is not original)

train_from_config(load_config(sys.argv[1]), None, log=lambda line: None, callbacks=[Spy()])
after = keras_compat.current_reduce_per_replica() is original
print(json.dumps({"patched_during": seen, "restored_after": after}))
"""


def test_multi_worker_patch_is_applied_during_the_run_and_undone_after(
    mnist_npz: Path, tmp_path: Path
) -> None:
    train = {"epochs": 1, "batch_size": 32, "steps_per_epoch": 2}
    config = str(tiny_config(tmp_path, mnist_npz, train=train))
    ports = [_free_port(), _free_port()]
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, config],
            cwd=tmp_path,
            env=cli_env(TF_CONFIG=_tf_config(ports, i)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    for worker in workers:
        code, out, err = finish(worker)
        assert code == 0, err
        report = json.loads(out.strip().splitlines()[-1])
        assert report == {"patched_during": [True, True], "restored_after": True}


def test_fused_batch_norm_under_mirrored_strategy_killed_and_resumed(
    mnist_npz: Path, tmp_path: Path
) -> None:
    # The tutorial CNN (fused batch norm, dropout) on two logical CPUs, SIGKILLed after its second
    # checkpoint and resumed, against the same run left alone. Two replicas in one process
    # reduce in a fixed order: the runs agree to the bit, so no tolerance is needed.
    train = {"epochs": 10, "batch_size": 32, "steps_per_epoch": 3}
    config = str(
        with_model(tiny_config(tmp_path, mnist_npz, train=train), {"name": "tutorial_cnn"})
    )
    on_two = ("-s", "hardware.cpu_devices=2")
    unbroken = start_cli("train", "-c", config, *on_two, "-o", str(tmp_path / "unbroken"))
    killed_dir = tmp_path / "killed"
    killed = start_cli("train", "-c", config, *on_two, "-o", str(killed_dir))
    wait_for_checkpoint(killed_dir, 2, killed)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    saved = runs.last_checkpoint(killed_dir).epoch
    assert 2 <= saved < 10, "the run finished before it could be killed"
    assert read(killed_dir, "run.json")["status"] == "running"
    code, out, err = finish(unbroken)
    assert code == 0, err
    code, out, err = finish(start_cli("train", "--resume", str(killed_dir)))
    assert code == 0, err
    assert f"Resuming {killed_dir} from epoch {saved + 1} of 10." in out
    assert "MirroredStrategy, 2 replicas" in out and "warning:" not in err, err
    # Every column of every epoch, before and after the kill (wall seconds left out).
    assert history(killed_dir) == history(tmp_path / "unbroken")
    assert [row["epoch"] for row in history(killed_dir)] == list(range(1, 11))
    models = [
        keras.models.load_model(tmp_path / name / "model.keras") for name in ("killed", "unbroken")
    ]
    assert type(models[0].get_layer("bn1")) is keras.layers.BatchNormalization
    for got, expected in zip(models[0].weights, models[1].weights, strict=True):
        np.testing.assert_array_equal(got.numpy(), expected.numpy(), err_msg=got.path)
    # The resumed model.keras evaluates (the unbroken one, with the same weights, needs no run).
    code, out, err = finish(start_cli("evaluate", str(killed_dir)))
    assert code == 0, err
    (written,) = killed_dir.glob("evaluation*.json")
    evaluation = json.loads(written.read_text(encoding="utf-8"))
    assert evaluation["split"] == "test" and evaluation["accuracy"] >= 0.9, evaluation
