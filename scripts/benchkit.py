"""The benchmark scripts' shared kit: one timer, one way to compile, feed and tabulate.

Every script in scripts/ measures through these pieces, so that they agree with each other and
with what `cnnzoo train` runs:

- `Timer`: wall seconds (`time.perf_counter`) and process CPU seconds, all threads
  (`time.process_time`), of a `with` block. CPU seconds are the steadier figure on a shared
  machine: another job taking a core stretches the wall time, not the CPU time needed.
- `run_process`: a command in a fresh process, as a user waits for it: whole-process wall and CPU
  seconds, and the wall/CPU time at each line matching a pattern (Keras' epoch-end lines).
- `compiled_model`: the model built and compiled exactly as `cnnzoo train` does (its precision,
  XLA, strategy, optimizer, loss and metrics), from a config.
- `in_memory_batches`: random images and one-hot labels held in memory (no input cost).
- `chapter_generator`: the chapter's `ImageDataGenerator(...).flow_from_directory`.
- `render`: tables through cnnzoo.utils.tables (plain text, or Markdown with `--markdown`).

Scripts import it as `import benchkit` (Python puts the script's folder on the path).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnnzoo.utils.native_logs import is_noise

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parent.parent
# The chapter's Code Tutorial: 128x128 RGB, batch 64, and its ImageDataGenerator augmentation.
CHAPTER_SIZE = (128, 128)
CHAPTER_BATCH = 64
CHAPTER_AUGMENT = {
    "rotation_range": 40,
    "width_shift_range": 0.2,
    "height_shift_range": 0.2,
    "shear_range": 0.2,
    "zoom_range": 0.2,
    "horizontal_flip": True,
    "fill_mode": "nearest",
    "rescale": 1 / 255,
}
EPOCH_END = re.compile(r"^\d+/\d+ - ")  # the line Keras prints (verbose=2) when an epoch ends


class Timer:
    """Wall and process CPU seconds (all threads) spent inside a `with` block."""

    wall: float = 0.0
    cpu: float = 0.0

    def __enter__(self) -> Timer:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu

    def rates(self, images: int) -> dict[str, float]:
        """Images per wall second and per CPU second."""
        return {"images_per_s": images / self.wall, "images_per_cpu_s": images / self.cpu}


@dataclass
class Process:
    """A finished command: whole-process wall and CPU seconds, and its marked lines' times."""

    wall: float
    cpu: float
    marks: list[tuple[float, float]] = field(default_factory=list)  # (wall s, CPU s) since start
    output: str = ""
    started: float = 0.0  # Unix time (time.time()) at the start, to place the child's own stamps
    lines: list[tuple[float, str]] = field(default_factory=list)  # (wall s since start, line)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far, all its threads (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_process(
    command: Sequence[str],
    log: Path | None = None,
    mark: re.Pattern[str] | None = None,
    env: dict[str, str] | None = None,
) -> Process:
    """Run `command` to its end, as `time COMMAND` would; fail with its output's tail if it fails.

    Wall seconds run from the start to the exit (interpreter start-up, imports and clean-up
    included); CPU seconds are those of the process and the processes it waited for. Every
    output line is time-stamped as it comes (`Process.lines`); `env` adds environment variables.
    """
    environment = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        **(env or {}),
    }
    lines, marks, stamped = [], [], []
    started = time.time()
    cpu_before, start = _children_cpu(), time.perf_counter()
    process = subprocess.Popen(
        list(command), cwd=REPO, env=environment, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    for line in process.stdout:
        if is_noise(line):  # TensorFlow's start-up chatter, as `cnnzoo` hides it
            continue
        lines.append(line)
        stamped.append((time.perf_counter() - start, line.rstrip("\n")))
        if mark and mark.match(line):
            marks.append((time.perf_counter() - start, _cpu_seconds(process.pid)))
    process.wait()
    result = Process(time.perf_counter() - start, _children_cpu() - cpu_before, marks)
    result.output, result.started, result.lines = "".join(lines), started, stamped
    if log:
        log.write_text(result.output, encoding="utf-8")
    if process.returncode:
        tail = "".join(lines[-20:])
        raise SystemExit(f"{' '.join(command)} failed (exit {process.returncode}):\n{tail}")
    return result


def run_worker(
    script: str, worker: str, *arguments: str, mark: re.Pattern[str] | None = None
) -> tuple[dict[str, Any], Process]:
    """Run `script --worker WORKER ARGUMENTS` in a fresh process: its JSON result and timings."""
    with tempfile.TemporaryDirectory(prefix="cnnzoo-bench-") as folder:
        result = Path(folder) / "result.json"
        command = [sys.executable, script, "--worker", worker, "--result", str(result)]
        process = run_process([*command, *arguments], mark=mark)
        return json.loads(result.read_text(encoding="utf-8")), process


def write_result(path: Path, record: dict[str, Any]) -> None:
    """A worker's result, read back by `run_worker`."""
    path.write_text(json.dumps(record), encoding="utf-8")


def arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the options every script shares: --quick, --markdown and the hidden worker ones."""
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks it runs (tests)")
    parser.add_argument("--markdown", action="store_true", help="print tables as Markdown")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    return parser


def render(headers: Sequence[str], rows: Sequence[Sequence[Any]], markdown: bool = False) -> str:
    """A table through cnnzoo.utils.tables: aligned plain text, or Markdown."""
    from cnnzoo.utils.tables import markdown_table, text_table

    cells = [["" if cell is None else cell for cell in row] for row in rows]
    return (markdown_table if markdown else text_table)(headers, cells)


def times(value: float) -> str:
    """A ratio as "1.85x"."""
    return f"{value:.2f}x"


def say(text: str, markdown: bool = False) -> None:
    """Print a line of findings (a list item in Markdown, so that lines stay apart)."""
    print(f"- {text}" if markdown else text, flush=True)


def machine() -> str:
    """Cores, CPU model and the load average now, with a warning when others share the cores.

    The 1-minute load average counts this benchmark's own threads (up to one per core) too, so
    only a load above the core count means other jobs were running.
    """
    cores = len(os.sched_getaffinity(0))
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    load = os.getloadavg()[0]
    busy = load > cores + 0.5
    note = " (BUSY: other jobs share the cores; trust CPU seconds over wall)" if busy else ""
    return f"{cores} cores ({model}); load average {load:.2f}{note}"


CONFIG_FOLDERS = (REPO / "configs", REPO / "cnnzoo" / "configs")  # the repo's, or the package's


def config_files() -> list[Path]:
    """The shipped configs."""
    return sorted({path.name: path for f in CONFIG_FOLDERS for path in f.glob("*.yaml")}.values())


def config_file(name: str) -> Path:
    """A shipped config by name."""
    for path in config_files():
        if path.stem == name:
            return path
    raise SystemExit(f"no shipped config named {name}")


def model_config(model: str, input_shape: Sequence[int], batch_size: int, **hardware: Any) -> Any:
    """A config training `model` at `input_shape` with the defaults (adam 1e-3, float32).

    `hardware` overrides hardware settings, e.g. precision="mixed_bfloat16", xla="on".
    """
    from cnnzoo.config.schema import resolve

    # The kit feeds in-memory batches: the directory's folder (a required key) is never read.
    data = {"dataset": "directory", "path": "in-memory", "image_size": list(input_shape[:2])}
    data["channels"] = input_shape[2]
    return resolve(
        {
            "data": data,
            "model": {"name": model},
            "train": {"batch_size": batch_size},
            "hardware": {"precision": "float32", **hardware},
        },
        f"benchmark {model}",
    )


def compiled_model(config: Any, num_classes: int, steps_per_epoch: int) -> tuple[Any, Any]:
    """(model, plan): built and compiled exactly as `cnnzoo train` compiles it for `config`."""
    import keras

    from cnnzoo.engine import devices, training

    plan = devices.decide(devices.detect(), config.hardware, config.train.batch_size)
    strategy = devices.apply(plan, config.hardware)
    keras.backend.clear_session()
    # The one call into training: the same build, precision, XLA, optimizer, loss and metrics.
    # (`compile_model` is its public name; `_compiled_model` on a cnnzoo from before it.)
    compile_model = getattr(training, "compile_model", None) or training._compiled_model
    model = compile_model(config, plan, strategy, num_classes, steps_per_epoch, None)
    return model, plan


def in_memory_batches(
    input_shape: Sequence[int], num_classes: int, batch_size: int, images: int | None = None
) -> Any:
    """Random images with one-hot labels, in memory.

    Without `images`: one batch repeated forever (time with `steps_per_epoch`). With it: that
    many examples in batches, cached and read once, so an epoch over it costs no input work.
    """
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    count = images or batch_size
    x = rng.random((count, *input_shape), dtype=np.float32)
    y = np.eye(num_classes, dtype=np.float32)[rng.integers(0, num_classes, count)]
    if images is None:
        return tf.data.Dataset.from_tensors((x, y)).repeat()
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size).cache()
    for _ in data:  # fill the cache: from here on, memory only
        pass
    return data


def best_step_seconds(model: Any, data: Any, steps: int, repeats: int) -> Timer:
    """The fastest of `repeats` fits of `steps` steps on `data`, after a two-step warm-up."""
    model.fit(data, steps_per_epoch=2, epochs=1, verbose=0, shuffle=False)
    best = None
    for _ in range(repeats):
        with Timer() as timer:
            model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)
        if best is None or timer.wall < best.wall:
            best = timer
    assert best is not None
    return best


def chapter_generator(
    folder: Path, augment: bool = True, shuffle: bool = True, arrays: tuple | None = None
) -> Any:
    """The chapter's `ImageDataGenerator(...).flow_from_directory(...)`, 128x128, batch 64, seed 7.

    With `arrays` (images 0-255, one-hot labels): the same generator's `.flow` over them instead,
    its augmentation without the decoding.

    The chapter imports it from keras.preprocessing.image; Keras 3 keeps its code only in
    `keras.src.legacy`, the one private Keras path the scripts use (to run the chapter as written).
    """
    from keras.src.legacy.preprocessing.image import ImageDataGenerator

    settings = CHAPTER_AUGMENT if augment else {"rescale": CHAPTER_AUGMENT["rescale"]}
    if arrays is not None:
        x, y = arrays
        return ImageDataGenerator(**settings).flow(
            x, y, batch_size=CHAPTER_BATCH, shuffle=shuffle, seed=7
        )
    return ImageDataGenerator(**settings).flow_from_directory(
        str(folder),
        target_size=CHAPTER_SIZE,
        batch_size=CHAPTER_BATCH,
        seed=7,
        shuffle=shuffle,
        class_mode="categorical",
    )


def monkeys_folder(workdir: Path, per_class: int, val_per_class: int, size: Sequence[int]) -> Path:
    """A generated folder in the 10 Monkey Species layout, made once per size in `workdir`."""
    from cnnzoo.datasets.synthetic import make_monkeys_folder

    root = workdir / f"monkeys-{per_class}-{val_per_class}-{size[0]}x{size[1]}"
    if not (root / "monkey_labels.txt").exists():
        make_monkeys_folder(root, per_class, val_per_class, tuple(size))
    return root
