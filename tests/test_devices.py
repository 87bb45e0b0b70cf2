"""The device decision: one pure function from what was found and what was asked to a Plan."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cnnzoo.config.schema import HardwareConfig
from cnnzoo.engine.devices import (
    CPU_FLAGS_ENV,
    Cluster,
    Found,
    Gpu,
    Plan,
    cpu_has_bf16,
    decide,
    parse_tf_config,
)
from cnnzoo.utils.errors import CnnzooError, ConfigError

from .helpers import REPO

H100 = Gpu(0, "NVIDIA H100", (9, 0))
P100 = Gpu(1, "Tesla P100", (6, 0))
T4 = Gpu(1, "Tesla T4", (7, 5))
WORKER0 = Cluster("worker", 0, num_workers=2)
WORKER1 = Cluster("worker", 1, num_workers=2)
CHIEF = Cluster("chief", 0, num_workers=3, has_chief_task=True)
WORKER0_WITH_CHIEF = Cluster("worker", 0, num_workers=3, has_chief_task=True)

CPU = Found()
CPU_BF16 = Found(cpu_bf16=True)
ONE_GPU = Found(gpus=(H100,))
TWO_GPUS = Found(gpus=(H100, T4))

G1 = Found(gpus=(Gpu(0, "V100", (7, 0)),))
OLD = Found(gpus=(Gpu(0, "P100", (6, 0)),))
UNKNOWN = Found(gpus=(Gpu(0, "GPU", None),))
MIXED = Found(gpus=(H100, P100))
W0, W1 = Found(cluster=WORKER0), Found(cluster=WORKER1)
SOLO = Found(cluster=Cluster("worker", 0, 1))


def case(found: Found, expected: str, batch: int = 64, pays: bool = False, **asked) -> tuple:
    """One row: what was found, what was asked (hardware keys), the batch, bf16 speed on CPU."""
    return found, asked, batch, pays, expected


# Expected: "precision xla strategy gpus replicas x batch-per-replica chief|worker".
CASES = {
    "cpu": case(CPU, "float32 off default - 1x64 chief"),
    "cpu-bf16-slower": case(CPU_BF16, "float32 off default - 1x64 chief"),
    "cpu-bf16-faster": case(CPU_BF16, "mixed_bfloat16 off default - 1x64 chief", pays=True),
    "cpu-no-bf16": case(CPU, "float32 off default - 1x64 chief", pays=True),
    "gpu-hopper": case(ONE_GPU, "mixed_float16 on default 0 1x64 chief"),
    "gpu-volta": case(G1, "mixed_float16 on default 0 1x32 chief", batch=32),
    "gpu-pascal": case(OLD, "float32 on default 0 1x64 chief"),
    "gpu-unknown-cc": case(UNKNOWN, "float32 on default 0 1x64 chief"),
    "two-gpus": case(TWO_GPUS, "mixed_float16 on mirrored 0,1 2x32 chief"),
    "two-gpus-one-old": case(MIXED, "float32 on mirrored 0,1 2x32 chief"),
    "pick-gpu-1": case(TWO_GPUS, "mixed_float16 on default 1 1x64 chief", gpus=[1]),
    "gpus-empty-cpu": case(TWO_GPUS, "float32 off default - 1x64 chief", gpus=[]),
    "two-gpus-default": case(TWO_GPUS, "mixed_float16 on default 0 1x64 chief", strategy="default"),
    "asked-float32": case(ONE_GPU, "float32 on default 0 1x64 chief", precision="float32"),
    "asked-bf16-cpu": case(
        CPU, "mixed_bfloat16 off default - 1x64 chief", precision="mixed_bfloat16"
    ),
    "asked-fp16-cpu": case(
        CPU, "mixed_float16 off default - 1x64 chief", precision="mixed_float16"
    ),
    "xla-on-cpu": case(CPU, "float32 on default - 1x64 chief", xla="on"),
    "xla-off-gpu": case(ONE_GPU, "mixed_float16 off default 0 1x64 chief", xla="off"),
    "cpu-logical-2": case(CPU, "float32 off mirrored - 2x32 chief", cpu_devices=2),
    "cpu-logical-2-default": case(
        CPU, "float32 off default - 1x64 chief", cpu_devices=2, strategy="default"
    ),
    "mirrored-one-cpu": case(CPU, "float32 off mirrored - 1x64 chief", strategy="mirrored"),
    "tf-config-worker0": case(W0, "float32 off multi_worker - 2x32 chief"),
    "tf-config-worker1": case(W1, "float32 off multi_worker - 2x32 worker"),
    "tf-config-chief": case(
        Found(cluster=CHIEF), "float32 off multi_worker - 3x20 chief", batch=60
    ),
    "tf-config-worker0-with-chief": case(
        Found(cluster=WORKER0_WITH_CHIEF), "float32 off multi_worker - 3x20 worker", batch=60
    ),
    "tf-config-two-gpus": case(
        Found(gpus=(H100, T4), cluster=WORKER0), "mixed_float16 on multi_worker 0,1 4x16 chief"
    ),
    "tf-config-one-task": case(SOLO, "float32 off default - 1x64 chief"),
    "tf-config-ignored": case(W1, "float32 off default - 1x64 chief", strategy="default"),
    "multi-worker-no-tf-config": case(
        CPU, "float32 off multi_worker - 1x64 chief", strategy="multi_worker"
    ),
}


def _summary(plan: Plan) -> str:
    gpus = ",".join(str(i) for i in plan.gpus) or "-"
    return (
        f"{plan.precision} {'on' if plan.xla else 'off'} {plan.strategy} {gpus} "
        f"{plan.replicas}x{plan.batch_per_replica} {'chief' if plan.chief else 'worker'}"
    )


@pytest.mark.parametrize(
    ("found", "asked", "batch_size", "pays", "expected"), CASES.values(), ids=CASES
)
@pytest.mark.fast
def test_decide(found: Found, asked: dict, batch_size: int, pays: bool, expected: str) -> None:
    plan = decide(found, HardwareConfig(**asked), batch_size, cpu_bf16_pays=pays)
    assert _summary(plan) == expected
    assert plan.replicas * plan.batch_per_replica == batch_size


@pytest.mark.fast
def test_description_says_what_was_found_and_decided() -> None:
    plan = decide(TWO_GPUS, HardwareConfig(), 64)
    line = plan.description
    assert "\n" not in line
    for part in ("2 GPUs", "NVIDIA H100 cc 9.0", "mixed_float16", "XLA on", "MirroredStrategy"):
        assert part in line
    assert "batch 64 global = 32 per replica" in line
    cpu = decide(CPU_BF16, HardwareConfig(), 64, cpu_bf16_pays=False).description
    assert "no GPU" in cpu and "native bf16" in cpu and "bf16 measured no faster" in cpu


@pytest.mark.fast
def test_reasons_flag_odd_requests() -> None:
    assert "slower" in decide(CPU, HardwareConfig(precision="mixed_float16"), 8).description
    assert (
        "TF_CONFIG ignored"
        in decide(Found(cluster=WORKER1), HardwareConfig(strategy="default"), 8).description
    )


@pytest.mark.fast
def test_missing_gpu_is_refused_with_the_gpus_found() -> None:
    with pytest.raises(CnnzooError, match=r"GPU 3.*0 \(NVIDIA H100\)"):
        decide(ONE_GPU, HardwareConfig(gpus=[3]), 64)
    with pytest.raises(CnnzooError, match="has GPUs: none"):
        decide(CPU, HardwareConfig(gpus=[0]), 64)


@pytest.mark.fast
def test_batch_must_split_over_replicas() -> None:
    with pytest.raises(ConfigError, match=r"multiple of 2, e\.g\. 66.*batch_size=65"):
        decide(TWO_GPUS, HardwareConfig(), 65)


@pytest.mark.fast
def test_cpu_bf16_flags() -> None:
    assert cpu_has_bf16("flags\t: fpu avx512f avx512_bf16 amx_tile")
    assert cpu_has_bf16("flags\t: fpu amx_bf16 amx_tile")
    assert not cpu_has_bf16("flags\t: fpu avx2 avx512f avx512_vnni")


@pytest.mark.fast
def test_tf_config_parsing() -> None:
    config = {"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}
    assert parse_tf_config(json.dumps(config)) == Cluster("worker", 1, 2)
    assert parse_tf_config(None) is None and parse_tf_config("") is None
    chief = {
        "cluster": {"chief": ["c:1"], "worker": ["a:1"]},
        "task": {"type": "chief", "index": 0},
    }
    assert parse_tf_config(json.dumps(chief)).chief
    with pytest.raises(ConfigError, match="TF_CONFIG must be JSON"):
        parse_tf_config("{not json")
    with pytest.raises(ConfigError, match="ps"):
        parse_tf_config(
            json.dumps({"cluster": {"ps": ["a:1"]}, "task": {"type": "ps", "index": 0}})
        )


DETECT = (
    "from cnnzoo.engine.devices import detect, describe_found\nprint(describe_found(detect()))\n"
)


def _detect(cpu_flags: str | None = None) -> subprocess.CompletedProcess:
    """`describe_found(detect())` in a fresh process, as training calls it: on this machine's
    CPU, or deciding from `cpu_flags` ($CNNZOO_CPU_FLAGS) instead."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    for name in ("TF_CONFIG", CPU_FLAGS_ENV):
        env.pop(name, None)
    env.update({CPU_FLAGS_ENV: cpu_flags} if cpu_flags is not None else {})
    return subprocess.run(
        [sys.executable, "-c", DETECT],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )


@pytest.mark.parametrize(
    ("flags", "found"),
    [("fpu avx avx2 fma", "without native bf16"), ("avx2 avx512f avx512_bf16", "with native bf16")],
)
def test_the_cpu_facts_can_be_another_cpus(flags: str, found: str) -> None:
    # What `pytest --cpu-flags=...` (tests/conftest.py) relies on: auto decides from these.
    assert f"a CPU {found}" in _detect(flags).stdout


def test_this_machine_is_detected_without_native_log_noise() -> None:
    result = _detect()
    cpuinfo = Path("/proc/cpuinfo")
    flags = cpuinfo.read_text() if cpuinfo.exists() else ""
    expected = "a CPU with native bf16" if cpu_has_bf16(flags) else "a CPU without native bf16"
    assert expected in result.stdout
    for noise in ("absl::InitializeLog", "oneDNN custom operations", "cudart_stub"):
        assert noise not in result.stderr
    if not os.path.exists("/proc/driver/nvidia/version"):
        assert "cuInit" not in result.stderr


@pytest.mark.fast
def test_yaml_on_and_off_mean_xla_on_and_off() -> None:
    # YAML reads a bare `on` as true: `--set hardware.xla=on` must still mean "on".
    assert HardwareConfig.model_validate({"xla": True}).xla == "on"
    assert HardwareConfig.model_validate({"xla": False}).xla == "off"
    assert HardwareConfig.model_validate({"xla": "auto"}).xla == "auto"
