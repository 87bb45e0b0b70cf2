"""The chapter's Code Tutorial against `cnnzoo train`, side by side, with the model-only bound.

Generates one folder of JPEGs in the 10 Monkey Species layout (synthetic.make_monkeys_folder), then
runs, one after another in fresh processes, for the same number of epochs:

  chapter   the Code Tutorial as written: ImageDataGenerator (keras.src.legacy) with its
            augmentation, flow_from_directory 128x128 batch 64 seed 7, the Sequential model,
            compile adam + CategoricalCrossentropy + accuracy, fit with validation
  float32   cnnzoo train --config configs/monkeys_tutorial.yaml, hardware.precision=float32
  auto      the same with hardware.precision=auto (what cnnzoo picks on this machine)
  --also    the same with each further precision named (default mixed_bfloat16)
  bound     the same model and batch: one training epoch and one validation pass over batches
            already in memory (no input, augmentation or bookkeeping), per precision used

An epoch's seconds are the wall time between the ends of successive epochs as printed by Keras
(training, validation pass, checkpoints and history files all included); the median over the
epochs after the first is reported. Training images/s = training images / epoch seconds.

    python scripts/bench_tutorial.py [--per-class 128] [--val-per-class 32] [--size 300 400]
                                     [--epochs 5] [--also mixed_bfloat16] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "configs" / "monkeys_tutorial.yaml"
EPOCH_END = re.compile(r"^\d+/\d+ - ")  # Keras' verbose=2 line printed when an epoch ends
HEIGHT = WIDTH = 128
BATCH = 64


def chapter(root: Path, epochs: int, output: Path) -> None:
    """The chapter's Code Tutorial, as written.

    Two changes Keras 3 forces: ImageDataGenerator now lives in keras.src.legacy, and pooling
    accepts only lower-case padding names ("same", where the chapter writes 'SAME').
    """
    from keras.src.legacy.preprocessing.image import ImageDataGenerator

    train_dir = str(root / "training" / "training")
    val_dir = str(root / "validation" / "validation")
    train_datagen = ImageDataGenerator(
        rotation_range=40,
        width_shift_range=0.2,
        height_shift_range=0.2,
        shear_range=0.2,
        zoom_range=0.2,
        horizontal_flip=True,
        fill_mode="nearest",
        rescale=1.0 / 255,
    )
    val_datagen = ImageDataGenerator(rescale=1.0 / 255)
    height, width, channels, batch_size, num_classes = 128, 128, 3, 64, 10
    training_set = train_datagen.flow_from_directory(
        train_dir,
        target_size=(height, width),
        batch_size=batch_size,
        seed=7,
        class_mode="categorical",
    )
    val_set = val_datagen.flow_from_directory(
        val_dir,
        target_size=(height, width),
        batch_size=batch_size,
        seed=7,
        shuffle=False,
        class_mode="categorical",
    )

    from keras import losses
    from keras.layers import BatchNormalization, Conv2D, Dense, Dropout, Flatten, MaxPooling2D
    from keras.models import Sequential

    cnn = Sequential()
    cnn.add(
        Conv2D(
            filters=32,
            kernel_size=3,
            padding="SAME",
            activation="relu",
            input_shape=(width, height, channels),
        )
    )
    cnn.add(BatchNormalization())
    cnn.add(MaxPooling2D(pool_size=2, strides=2, padding="same"))
    cnn.add(Conv2D(filters=64, kernel_size=3, activation="relu"))
    cnn.add(BatchNormalization())
    cnn.add(MaxPooling2D(pool_size=2, strides=2, padding="same"))
    cnn.add(Conv2D(filters=128, kernel_size=3, activation="relu"))
    cnn.add(BatchNormalization())
    cnn.add(MaxPooling2D(pool_size=2, strides=2, padding="same"))
    cnn.add(Flatten())
    cnn.add(Dense(128, activation="relu"))
    cnn.add(Dropout(0.25))
    cnn.add(Dense(num_classes, activation="softmax"))
    cnn.compile(optimizer="adam", loss=losses.CategoricalCrossentropy(), metrics=["accuracy"])
    history = cnn.fit(training_set, validation_data=val_set, epochs=epochs, verbose=2)
    record = {"images": training_set.samples, "history": history.history}
    output.write_text(json.dumps(record), encoding="utf-8")


def bound(root: Path, precision: str, output: Path) -> None:
    """Time cnnzoo's compiled tutorial model alone on batches already in memory."""
    import keras
    import numpy as np
    import tensorflow as tf

    from cnnzoo import devices, optim
    from cnnzoo.config import load_config
    from cnnzoo.training import build_model

    config = load_config(CONFIG, [f"data.path={root}", f"hardware.precision={precision}"])
    plan = devices.decide(devices.detect(), config.hardware, config.train.batch_size)
    counts = [len(list((root / s / s).rglob("*.*"))) for s in ("training", "validation")]
    num_train, num_validation = counts[0] + 1, counts[1]  # + the training file with no suffix
    rng = np.random.default_rng(0)

    def batches(count: int) -> tf.data.Dataset:
        images = rng.random((count, *config.image_shape), dtype=np.float32)
        labels = np.eye(10, dtype=np.float32)[rng.integers(0, 10, count)]
        return tf.data.Dataset.from_tensor_slices((images, labels)).batch(BATCH).cache()

    train, validation = batches(num_train), batches(num_validation)
    for _ in train.concatenate(validation):  # fill the caches: from here on, memory only
        pass
    keras.mixed_precision.set_global_policy(plan.precision)
    model = build_model(config, 10)
    steps = -(-num_train // BATCH)
    model.compile(
        optimizer=optim.build_optimizer(config.train, steps),
        loss=optim.build_loss(config.train),
        metrics=optim.build_metrics(config.train),
        jit_compile=plan.xla,
    )
    model.fit(train, epochs=1, verbose=0)  # trace and compile, full and last partial batch
    model.evaluate(validation, verbose=0)
    wall, cpu = [], []
    for _ in range(3):
        start, start_cpu = time.perf_counter(), time.process_time()
        model.fit(train, epochs=1, verbose=0)
        model.evaluate(validation, verbose=0)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    record = {
        "precision": plan.precision,
        "images": num_train,
        "epoch_seconds": statistics.median(wall),
        "epoch_cpu_seconds": statistics.median(cpu),
    }
    output.write_text(json.dumps(record), encoding="utf-8")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far, all its threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_lines(command: list[str], log: Path) -> tuple[list[tuple[float, float]], float]:
    """Run `command`; (wall s after start, CPU s) when each epoch ended, and the total wall s.

    CPU seconds are the steadier figure on a shared machine: another job taking a core
    stretches the wall time of an epoch but not the CPU time it needs.
    """
    environment = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    start = time.perf_counter()
    ends = []
    with open(log, "w", encoding="utf-8") as record:
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert process.stdout is not None
        for line in process.stdout:
            now = time.perf_counter() - start
            record.write(line)
            if EPOCH_END.match(line):
                ends.append((now, cpu_seconds(process.pid)))
        process.wait()
    if process.returncode:
        tail = log.read_text(encoding="utf-8").splitlines()[-15:]
        raise SystemExit(f"{' '.join(command)} failed:\n" + "\n".join(tail))
    return ends, time.perf_counter() - start


def summarise(label: str, ends: list, total: float, images: int, history: dict) -> dict:
    """Median epoch wall and CPU seconds (after the first), rates and accuracy of one variant."""
    epochs = [(b[0] - a[0], b[1] - a[1]) for a, b in zip(ends, ends[1:], strict=False)] or ends[:1]
    seconds = statistics.median(wall for wall, _ in epochs)
    accuracy = history.get("val_accuracy") or [float("nan")]
    training = history.get("accuracy") or [float("nan")]
    return {
        "label": label,
        "images": images,
        "epoch_seconds": seconds,
        "epoch_cpu_seconds": statistics.median(cpu for _, cpu in epochs),
        "images_per_s": images / seconds,
        "val_accuracy": accuracy[-1],
        "best_val_accuracy": max(accuracy),
        "train_accuracy": training[-1],
        "total_seconds": total,
    }


def run_chapter(root: Path, workdir: Path, epochs: int) -> dict:
    """The chapter's code in a fresh process."""
    output = workdir / "chapter.json"
    command = [sys.executable, __file__, "--worker", "chapter", "--root", str(root)]
    command += ["--epochs", str(epochs), "--result", str(output)]
    ends, total = timed_lines(command, workdir / "chapter.log")
    record = json.loads(output.read_text(encoding="utf-8"))
    return summarise("chapter's code", ends, total, record["images"], record["history"])


def run_cnnzoo(root: Path, workdir: Path, epochs: int, precision: str) -> dict:
    """`cnnzoo train` on the tutorial config in a fresh process."""
    run_dir = workdir / f"run-{precision}-{time.strftime('%H%M%S')}"
    command = [sys.executable, "-m", "cnnzoo", "train", "--config", str(CONFIG)]
    for setting in (f"data.path={root}", f"train.epochs={epochs}", f"output_dir={workdir}"):
        command += ["--set", setting]
    command += ["--set", f"hardware.precision={precision}", "--output", str(run_dir)]
    ends, total = timed_lines(command, workdir / f"cnnzoo-{precision}.log")
    rows = json.loads((run_dir / "history.json").read_text(encoding="utf-8"))
    columns = {
        key: [row[key] for row in rows if key in row] for key in ("accuracy", "val_accuracy")
    }
    plan = json.loads((run_dir / "environment.json").read_text(encoding="utf-8")).get("plan", {})
    images = sum(1 for p in (root / "training" / "training").rglob("*") if p.is_file())
    return {
        **summarise(f"cnnzoo {precision}", ends, total, images, columns),
        "precision": plan.get("precision", precision),
        # Epoch begin to end as history.json records it: training and validation, without the
        # checkpoints saved after it, so the difference from epoch_seconds is that bookkeeping.
        "fit_seconds": statistics.median(row["seconds"] for row in rows[1:] or rows),
    }


def run_bound(root: Path, workdir: Path, precision: str) -> dict:
    """The model-only bound in a fresh process."""
    output = workdir / f"bound-{precision}.json"
    command = [sys.executable, __file__, "--worker", "bound", "--root", str(root)]
    command += ["--precision", precision, "--result", str(output)]
    timed_lines(command, workdir / f"bound-{precision}.log")
    record = json.loads(output.read_text(encoding="utf-8"))
    return {
        **record,
        "label": f"bound {record['precision']}",
        "images_per_s": record["images"] / record["epoch_seconds"],
    }


def table(rows: list[dict], chapter: dict, bounds: dict[str, dict]) -> str:
    """The side-by-side table with ratios to the chapter's code and to the bound."""
    header = f"{'variant':<30}{'images/s':>9}{'s/epoch':>8}{'CPU s':>7}{'train acc':>10}"
    lines = [header + f"{'val acc':>8}{'best':>6}{'x chapter':>10}{'of bound':>9}{'(CPU)':>6}"]
    for row in rows:
        accuracy = row.get("val_accuracy")
        bound_row = bounds.get(row.get("precision", ""))
        of_bound = ""
        if "bound" not in row["label"] and bound_row:
            wall = row["images_per_s"] / bound_row["images_per_s"]
            cpu = bound_row["epoch_cpu_seconds"] / row["epoch_cpu_seconds"]
            of_bound = f"{wall:>9.0%}{cpu:>6.0%}"
        accuracies = f"{'':>24}"
        if accuracy is not None:
            accuracies = (
                f"{row['train_accuracy']:>10.3f}{accuracy:>8.3f}{row['best_val_accuracy']:>6.3f}"
            )
        lines.append(
            f"{row['label']:<30}{row['images_per_s']:>9.1f}{row['epoch_seconds']:>8.2f}"
            f"{row['epoch_cpu_seconds']:>7.1f}{accuracies}"
            f"{row['images_per_s'] / chapter['images_per_s']:>9.2f}x{of_bound}"
        )
    return "\n".join(lines)


def main() -> None:
    """Generate the folder, run the four variants, print the table and the targets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=128, help="training images per class")
    parser.add_argument("--val-per-class", type=int, default=32, help="validation images per class")
    parser.add_argument("--size", type=int, nargs=2, default=[300, 400], help="JPEG height width")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument(
        "--also",
        nargs="*",
        default=["mixed_bfloat16"],
        help="further precisions to run cnnzoo train with, beside float32 and auto",
    )
    parser.add_argument("--workdir", type=Path, default=None, help="keep data here (default: tmp)")
    parser.add_argument("--worker", choices=("chapter", "bound"), help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--precision", default="float32", help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == "chapter":
        return chapter(args.root, args.epochs, args.result)
    if args.worker == "bound":
        return bound(args.root, args.precision, args.result)

    from cnnzoo.data.synthetic import make_monkeys_folder

    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="cnnzoo-tutorial-"))).resolve()
    root = workdir / f"monkeys-{args.per_class}-{args.val_per_class}-{args.size[0]}x{args.size[1]}"
    if not (root / "monkey_labels.txt").exists():
        make_monkeys_folder(root, args.per_class, args.val_per_class, tuple(args.size))
    print(
        f"{10 * args.per_class} training + {10 * args.val_per_class} validation JPEGs of "
        f"{args.size[0]}x{args.size[1]} in {root}; {args.epochs} epochs, batch {BATCH}, "
        f"{HEIGHT}x{WIDTH}x3; {len(os.sched_getaffinity(0))} cores; "
        f"load average {os.getloadavg()[0]:.2f} at start",
        flush=True,
    )
    chapter_row = run_chapter(root, workdir, args.epochs)
    float32 = run_cnnzoo(root, workdir, args.epochs, "float32")
    auto = run_cnnzoo(root, workdir, args.epochs, "auto")
    auto["label"] = f"cnnzoo auto ({auto['precision']})"
    extra = [run_cnnzoo(root, workdir, args.epochs, p) for p in args.also if p != auto["precision"]]
    bounds = {}
    for precision in dict.fromkeys(
        ["float32", auto["precision"], *(r["precision"] for r in extra)]
    ):
        bounds[precision] = run_bound(root, workdir, precision)
    rows = [chapter_row, float32, auto, *extra, *bounds.values()]
    base = chapter_row["images_per_s"]
    print(table(rows, chapter_row, bounds))
    for row in (float32, auto, *extra):
        print(
            f"{row['label']}: {row['fit_seconds']:.2f} s/epoch inside fit (history.json), "
            f"{row['epoch_seconds'] - row['fit_seconds']:.2f} s more between epoch ends "
            "(checkpoints, history, status files)"
        )
    limit = bounds["float32"]
    of_bound = float32["images_per_s"] / limit["images_per_s"]
    of_bound_cpu = limit["epoch_cpu_seconds"] / float32["epoch_cpu_seconds"]
    print(
        f"\nfloat32: {of_bound:.0%} of its bound in wall time, {of_bound_cpu:.0%} in CPU time "
        f"(target >= 90%); {float32['images_per_s'] / base:.2f}x the chapter's code "
        f"(target >= 1.2x)\nauto ({auto['precision']}): {auto['images_per_s'] / base:.2f}x the "
        f"chapter's code (target >= 1.5x)\nchapter's code: {base / limit['images_per_s']:.0%} of "
        f"the float32 bound; load average {os.getloadavg()[0]:.2f} at the end"
    )
    (workdir / "bench_tutorial.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
