"""Device awareness: find the hardware, decide precision, XLA and distribution, set TensorFlow up.

`decide(found, hardware, batch_size)` is the one pure function that turns what was found (GPUs and
their compute capability, CPU bf16 support, a TF_CONFIG cluster) and what the config asked for
into a `Plan`; `detect()` and `apply()` are the thin impure edges around it. The CPU's facts are
its flags (`cpu_flags()`), which `$CNNZOO_CPU_FLAGS` replaces to decide as on another CPU.
"""

from __future__ import annotations

import os
import platform
import re
import socket
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from cnnzoo import __version__
from cnnzoo.config.schema import HardwareConfig
from cnnzoo.utils.cluster import Cluster, parse_tf_config
from cnnzoo.utils.errors import CnnzooError, ConfigError
from cnnzoo.utils.native_logs import quiet_native_logs

# Measured by scripts/bench_precision.py (docs/benchmarks.md): on the reference CPU (AVX512_BF16,
# TensorFlow 2.21 with oneDNN) mixed_bfloat16 trained the tutorial CNN 1.8x faster end to end than
# float32 (2.2x for the step alone; LeNet on 28x28 MNIST: no difference), so `precision: auto`
# picks it on CPUs with native bf16. Set to False if the benchmark shows no gain on your CPUs.
CPU_BF16_PAYS = True
MIN_FLOAT16_CAPABILITY = (7, 0)  # Volta tensor cores: float16 matmuls and convolutions gain.
CPU_FLAGS_ENV = "CNNZOO_CPU_FLAGS"  # the CPU facts to decide from instead of this CPU's

Strategy = Literal["default", "mirrored", "multi_worker"]


@dataclass(frozen=True)
class Gpu:
    """One physical GPU as TensorFlow lists it."""

    index: int
    name: str
    compute_capability: tuple[int, int] | None = None


@dataclass(frozen=True)
class Found:
    """What the machine offers: GPUs, CPU bf16 support, a TF_CONFIG cluster."""

    gpus: tuple[Gpu, ...] = ()
    cpu_bf16: bool = False
    cluster: Cluster | None = None


@dataclass(frozen=True)
class Plan:
    """What training will use, and why."""

    precision: str
    xla: bool
    strategy: Strategy
    gpus: tuple[int, ...]
    cpu_devices: int
    replicas: int
    batch_size: int
    chief: bool = True
    found: Found = field(default_factory=Found)
    reasons: tuple[str, ...] = ()

    @property
    def batch_per_replica(self) -> int:
        """The slice of each global batch one replica computes."""
        return self.batch_size // self.replicas

    @property
    def description(self) -> str:
        """One line: what was found and what was decided."""
        found = describe_found(self.found)
        if self.gpus:
            devices = "GPU " + ",".join(str(i) for i in self.gpus)
        else:
            devices = "CPU" + (f" x{self.cpu_devices} logical" if self.cpu_devices > 1 else "")
        strategy = {
            "default": "default strategy",
            "mirrored": "MirroredStrategy",
            "multi_worker": "MultiWorkerMirroredStrategy",
        }[self.strategy]
        if self.found.cluster and self.strategy == "multi_worker":
            cluster = self.found.cluster
            strategy += f" ({cluster.task_type} {cluster.task_index} of {cluster.num_workers})"
        why = f" [{'; '.join(self.reasons)}]" if self.reasons else ""
        return (
            f"Found {found}. Using {devices}, precision {self.precision}, "
            f"XLA {'on' if self.xla else 'off'}, {strategy}, {self.replicas} "
            f"replica{'s' if self.replicas > 1 else ''}, batch {self.batch_size} global = "
            f"{self.batch_per_replica} per replica{why}"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data for environment.json: every field, the batch split and the description."""
        return {
            **asdict(self),
            "batch_per_replica": self.batch_per_replica,
            "description": self.description,
        }


def describe_found(found: Found) -> str:
    """'2 GPUs (0: NVIDIA H100 cc 9.0, ...)' or 'no GPU', plus the CPU's bf16 support."""
    if found.gpus:
        listed = ", ".join(
            f"{g.index}: {g.name}"
            + (
                f" cc {g.compute_capability[0]}.{g.compute_capability[1]}"
                if g.compute_capability
                else ""
            )
            for g in found.gpus
        )
        gpus = f"{len(found.gpus)} GPU{'s' if len(found.gpus) > 1 else ''} ({listed})"
    else:
        gpus = "no GPU"
    cpu = "a CPU with native bf16" if found.cpu_bf16 else "a CPU without native bf16"
    cluster = ", TF_CONFIG cluster" if found.cluster else ""
    return f"{gpus}, {cpu}{cluster}"


def _select_gpus(found: Found, asked: list[int] | None) -> tuple[int, ...]:
    if asked is None:
        return tuple(g.index for g in found.gpus)
    known = {g.index for g in found.gpus}
    missing = [i for i in asked if i not in known]
    if missing:
        listed = ", ".join(f"{g.index} ({g.name})" for g in found.gpus) or "none"
        raise CnnzooError(
            f"hardware.gpus asks for GPU {missing[0]}, but this machine has GPUs: {listed}. "
            f"Pick from those, or set hardware.gpus=[] for the CPU. Received: gpus={asked}"
        )
    return tuple(dict.fromkeys(asked))


def _precision(
    found: Found, gpus: tuple[int, ...], asked: str, cpu_bf16_pays: bool
) -> tuple[str, str]:
    used = [g for g in found.gpus if g.index in gpus]
    if asked != "auto":
        if asked == "mixed_float16" and not used:
            return asked, "mixed_float16 on a CPU is usually slower than float32"
        return asked, ""
    if used:
        fast = all(
            g.compute_capability is not None and g.compute_capability >= MIN_FLOAT16_CAPABILITY
            for g in used
        )
        if fast:
            return "mixed_float16", ""
        return "float32", "auto: a GPU older than compute capability 7.0 gains nothing from float16"
    if found.cpu_bf16 and cpu_bf16_pays:
        return "mixed_bfloat16", ""
    if found.cpu_bf16:
        return "float32", "auto: bf16 measured no faster than float32 on CPU"
    return "float32", ""


def _strategy(found: Found, asked: str, local_devices: int) -> tuple[Strategy, str]:
    cluster = found.cluster
    if asked == "auto":
        if cluster is not None and cluster.num_workers > 1:
            return "multi_worker", ""
        return ("mirrored" if local_devices > 1 else "default"), ""
    note = ""
    if cluster is not None and asked != "multi_worker":
        note = f"TF_CONFIG ignored: strategy is {asked}"
    if asked == "default" and local_devices > 1:
        note = "; ".join(filter(None, [note, "the default strategy uses one device"]))
    return asked, note  # type: ignore[return-value]


def decide(
    found: Found,
    hardware: HardwareConfig,
    batch_size: int,
    cpu_bf16_pays: bool = CPU_BF16_PAYS,
) -> Plan:
    """Decide precision, XLA, strategy, devices and batch split from what was found and asked."""
    gpus = _select_gpus(found, hardware.gpus)
    cpu_devices = 1 if gpus else hardware.cpu_devices
    strategy, strategy_note = _strategy(found, hardware.strategy, len(gpus) or cpu_devices)
    if strategy == "default":
        gpus, cpu_devices = gpus[:1], 1
    precision, precision_note = _precision(found, gpus, hardware.precision, cpu_bf16_pays)
    xla = bool(gpus) if hardware.xla == "auto" else hardware.xla == "on"
    if strategy == "default":
        replicas = 1
    elif strategy == "mirrored":
        replicas = len(gpus) or cpu_devices
    else:  # MultiWorkerMirroredStrategy uses every local GPU, or the first CPU, on each worker.
        workers = found.cluster.num_workers if found.cluster else 1
        replicas = workers * (len(gpus) or 1)
    if batch_size % replicas:
        suggestion = batch_size + replicas - batch_size % replicas
        raise ConfigError(
            f"train.batch_size is the global batch and must split evenly over {replicas} "
            f"replicas; use a multiple of {replicas}, e.g. {suggestion}. "
            f"Received: batch_size={batch_size}"
        )
    chief = found.cluster.chief if (found.cluster and strategy == "multi_worker") else True
    return Plan(
        precision=precision,
        xla=xla,
        strategy=strategy,
        gpus=gpus,
        cpu_devices=cpu_devices,
        replicas=replicas,
        batch_size=batch_size,
        chief=chief,
        found=found,
        reasons=tuple(note for note in (precision_note, strategy_note) if note),
    )


def cpu_has_bf16(cpuinfo: str) -> bool:
    """Whether /proc/cpuinfo-style text lists native bf16 instructions (AVX512_BF16 or AMX)."""
    return re.search(r"\b(avx512_bf16|amx_bf16)\b", cpuinfo) is not None


def cpu_flags() -> str:
    """The CPU's flags as /proc/cpuinfo lists them, or `$CNNZOO_CPU_FLAGS` when set: decide as on
    another CPU (`CNNZOO_CPU_FLAGS="avx2 fma"`: an AVX2-only machine, where `precision: auto`
    is float32; `avx512_bf16`: a bf16 one, where it is mixed_bfloat16)."""
    if CPU_FLAGS_ENV in os.environ:
        return os.environ[CPU_FLAGS_ENV]
    try:
        return Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def detect() -> Found:
    """Look at the machine: GPUs TensorFlow sees, CPU bf16 flags, and TF_CONFIG."""
    with quiet_native_logs():
        import tensorflow as tf

        physical = tf.config.list_physical_devices("GPU")
        gpus = []
        for index, device in enumerate(physical):
            details = tf.config.experimental.get_device_details(device)
            gpus.append(
                Gpu(
                    index,
                    details.get("device_name", device.name),
                    details.get("compute_capability"),
                )
            )
    return Found(
        tuple(gpus), cpu_has_bf16(cpu_flags()), parse_tf_config(os.environ.get("TF_CONFIG"))
    )


def apply(plan: Plan, hardware: HardwareConfig) -> Any:
    """Make TensorFlow use the planned devices; return the `tf.distribute` strategy to train in."""
    import tensorflow as tf

    physical_gpus = tf.config.list_physical_devices("GPU")
    try:
        tf.config.set_visible_devices([physical_gpus[i] for i in plan.gpus], "GPU")
        for index in plan.gpus:
            tf.config.experimental.set_memory_growth(physical_gpus[index], hardware.memory_growth)
        if plan.cpu_devices > 1:
            cpu = tf.config.list_physical_devices("CPU")[0]
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration()] * plan.cpu_devices
            )
    except RuntimeError as error:
        # TensorFlow already started in this process (a notebook, a test): devices cannot change
        # after start-up. Keep what exists if it serves the plan; say what was not applied.
        from cnnzoo.engine.device_setup import warn_or_refuse

        warn_or_refuse(plan.gpus, plan.cpu_devices, hardware, tf, error)
    if plan.strategy == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if plan.strategy == "mirrored":
        kind = "GPU" if plan.gpus else "CPU"
        names = [d.name for d in tf.config.list_logical_devices(kind)]
        return tf.distribute.MirroredStrategy(names[: len(plan.gpus) or plan.cpu_devices])
    return tf.distribute.get_strategy()


def environment(seed: int, plan: Plan) -> dict[str, Any]:
    """What environment.json records: seed, library versions, devices and the device plan."""
    import keras
    import numpy
    import tensorflow as tf

    return {
        "seed": seed,
        "cnnzoo": __version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "devices": [d.name for d in tf.config.list_logical_devices()],
        "plan": plan.to_dict(),
        "started": datetime.now().isoformat(timespec="seconds"),
    }
