"""The chapter's Code Tutorial against `cnnzoo train`, side by side, with the model-only bound.

Generates one folder of JPEGs in the 10 Monkey Species layout (synthetic.make_monkeys_folder), then
runs, one after another in fresh processes, for the same number of epochs:

  chapter   the Code Tutorial as written: ImageDataGenerator with its augmentation,
            flow_from_directory 128x128 batch 64 seed 7, the Sequential model,
            compile adam + CategoricalCrossentropy + accuracy, fit with validation
  float32   cnnzoo train --config monkeys_tutorial, hardware.precision=float32
  auto      the same with hardware.precision=auto (what cnnzoo picks on this machine)
  --also    the same with each further precision named (default mixed_bfloat16)
  bound     the model compiled as `cnnzoo train` compiles it, same batch: one training epoch and
            one validation pass over batches already in memory (no input, augmentation or
            bookkeeping), per precision used

"process s" is the whole process as a user waits for it (`time cnnzoo train ...`: start-up,
imports, the first pass over the JPEGs, every epoch, saving). An epoch's seconds are the wall time
between the ends of successive epochs as Keras prints them (training, validation, checkpoints and
history files included), median over the epochs after the first: the steady state.

    python scripts/bench_tutorial.py [--per-class 128] [--val-per-class 32] [--size 300 400]
                                     [--epochs 5] [--also mixed_bfloat16] [--workdir DIR]
    python scripts/bench_tutorial.py --per-class 110 --val-per-class 27 --epochs 30  # the chapter
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import benchkit

NUM_CLASSES = 10


def chapter(root: Path, epochs: int) -> dict:
    """The chapter's Code Tutorial, as written (Keras 3 needs `padding="same"` in lower case)."""
    training_set = benchkit.chapter_generator(root / "training" / "training")
    val_set = benchkit.chapter_generator(root / "validation" / "validation", False, False)

    from keras import losses
    from keras.layers import BatchNormalization, Conv2D, Dense, Dropout, Flatten, MaxPooling2D
    from keras.models import Sequential

    height, width, channels, num_classes = 128, 128, 3, NUM_CLASSES
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
    return {"images": training_set.samples, "history": history.history}


def _counts(root: Path) -> tuple[int, int]:
    """Training and validation files (the generated set, like Kaggle's, has one without suffix)."""
    return tuple(
        sum(1 for p in (root / s / s).rglob("*") if p.is_file() and p.name != ".DS_Store")
        for s in ("training", "validation")
    )  # type: ignore[return-value]


def bound(root: Path, precision: str) -> dict:
    """cnnzoo's compiled tutorial model alone, on batches already in memory."""
    from cnnzoo.config.schema import load_config

    config = load_config(
        benchkit.config_file("monkeys_tutorial"),
        [f"data.path={root}", f"hardware.precision={precision}"],
    )
    num_train, num_validation = _counts(root)
    batch = config.train.batch_size
    model, plan = benchkit.compiled_model(config, NUM_CLASSES, -(-num_train // batch))
    train = benchkit.in_memory_batches(config.image_shape, NUM_CLASSES, batch, num_train)
    validation = benchkit.in_memory_batches(config.image_shape, NUM_CLASSES, batch, num_validation)
    model.fit(
        train, epochs=1, verbose=0, shuffle=False
    )  # trace and compile, full and last partial batch
    model.evaluate(validation, verbose=0)
    timers = []
    for _ in range(3):
        with benchkit.Timer() as timer:
            model.fit(train, epochs=1, verbose=0, shuffle=False)
            model.evaluate(validation, verbose=0)
        timers.append(timer)
    return {
        "precision": plan.precision,
        "images": num_train,
        "epoch_seconds": statistics.median(t.wall for t in timers),
        "epoch_cpu_seconds": statistics.median(t.cpu for t in timers),
    }


def steady(label: str, process: benchkit.Process, images: int, history: dict) -> dict:
    """Median epoch wall and CPU seconds after the first, rates, accuracies, whole process."""
    ends = process.marks
    epochs = [(b[0] - a[0], b[1] - a[1]) for a, b in zip(ends, ends[1:], strict=False)] or ends[:1]
    seconds = statistics.median(wall for wall, _ in epochs)
    accuracy = history.get("val_accuracy") or [float("nan")]
    return {
        "label": label,
        "images": images,
        "epoch_seconds": seconds,
        "epoch_cpu_seconds": statistics.median(cpu for _, cpu in epochs),
        "images_per_s": images / seconds,
        "val_accuracy": accuracy[-1],
        "best_val_accuracy": max(accuracy),
        "train_accuracy": (history.get("accuracy") or [float("nan")])[-1],
        "process_seconds": process.wall,
        "process_cpu_seconds": process.cpu,
    }


def run_chapter(root: Path, epochs: int) -> dict:
    """The chapter's code in a fresh process."""
    arguments = ("--root", str(root), "--epochs", str(epochs))
    record, process = benchkit.run_worker(__file__, "chapter", *arguments, mark=benchkit.EPOCH_END)
    return steady("chapter's code", process, record["images"], record["history"])


def run_cnnzoo(root: Path, workdir: Path, epochs: int, precision: str) -> dict:
    """`cnnzoo train` on the tutorial config in a fresh process, as a user runs it."""
    run_dir = workdir / f"run-{precision}-{time.strftime('%H%M%S')}"
    command = [sys.executable, "-m", "cnnzoo", "train", "--config"]
    command += [str(benchkit.config_file("monkeys_tutorial")), "--output", str(run_dir)]
    for setting in (f"data.path={root}", f"train.epochs={epochs}", f"output_dir={workdir}"):
        command += ["--set", setting]
    command += ["--set", f"hardware.precision={precision}"]
    process = benchkit.run_process(command, workdir / f"cnnzoo-{precision}.log", benchkit.EPOCH_END)
    rows = json.loads((run_dir / "history.json").read_text(encoding="utf-8"))
    columns = {
        key: [row[key] for row in rows if key in row] for key in ("accuracy", "val_accuracy")
    }
    environment = json.loads((run_dir / "environment.json").read_text(encoding="utf-8"))
    return {
        **steady(f"cnnzoo {precision}", process, _counts(root)[0], columns),
        "precision": environment.get("plan", {}).get("precision", precision),
        # Epoch begin to end as history.json records it: training and validation, without the
        # checkpoints saved after it, so the difference from epoch_seconds is that bookkeeping.
        "fit_seconds": statistics.median(row["seconds"] for row in rows[1:] or rows),
    }


def run_bound(root: Path, precision: str) -> dict:
    """The model-only bound in a fresh process."""
    record, _ = benchkit.run_worker(
        __file__, "bound", "--root", str(root), "--precision", precision
    )
    return {
        **record,
        "label": f"bound {record['precision']}",
        "images_per_s": record["images"] / record["epoch_seconds"],
    }


def table(rows: list[dict], chapter_row: dict, bounds: dict[str, dict], markdown: bool) -> str:
    """The side-by-side table with ratios to the chapter's code and to the bound."""
    headers = ["variant", "images/s", "s/epoch", "CPU s/epoch", "process s", "process CPU s"]
    headers += ["train acc", "val acc", "best val", "x chapter", "of bound", "of bound (CPU)"]
    cells = []
    for row in rows:
        bound_row = None if "bound" in row["label"] else bounds.get(row.get("precision", ""))
        measured = "process_seconds" in row
        cells.append(
            [
                row["label"],
                f"{row['images_per_s']:.1f}",
                f"{row['epoch_seconds']:.2f}",
                f"{row['epoch_cpu_seconds']:.1f}",
                f"{row['process_seconds']:.1f}" if measured else "",
                f"{row['process_cpu_seconds']:.1f}" if measured else "",
                f"{row['train_accuracy']:.3f}" if measured else "",
                f"{row['val_accuracy']:.3f}" if measured else "",
                f"{row['best_val_accuracy']:.3f}" if measured else "",
                benchkit.times(row["images_per_s"] / chapter_row["images_per_s"]),
                f"{row['images_per_s'] / bound_row['images_per_s']:.0%}" if bound_row else "",
                (
                    f"{bound_row['epoch_cpu_seconds'] / row['epoch_cpu_seconds']:.0%}"
                    if bound_row
                    else ""
                ),
            ]
        )
    return benchkit.render(headers, cells, markdown)


def main() -> None:
    """Generate the folder, run the variants, print the table and the ratios."""
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
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--precision", default="float32", help=argparse.SUPPRESS)
    args = benchkit.arguments(parser).parse_args()
    if args.worker == "chapter":
        return benchkit.write_result(args.result, chapter(args.root, args.epochs))
    if args.worker == "bound":
        return benchkit.write_result(args.result, bound(args.root, args.precision))
    if args.quick:
        args.per_class, args.val_per_class, args.size, args.epochs, args.also = (
            4,
            2,
            (48, 64),
            2,
            [],
        )

    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="cnnzoo-tutorial-"))).resolve()
    root = benchkit.monkeys_folder(workdir, args.per_class, args.val_per_class, args.size)
    num_train, num_validation = _counts(root)
    say = lambda text: benchkit.say(text, args.markdown)  # noqa: E731
    say(
        f"{num_train} training + {num_validation} validation JPEGs of {args.size[0]}x"
        f"{args.size[1]}; {args.epochs} epochs, batch {benchkit.CHAPTER_BATCH}, 128x128x3; "
        f"{benchkit.machine()} at the start"
    )
    chapter_row = run_chapter(root, args.epochs)
    float32 = run_cnnzoo(root, workdir, args.epochs, "float32")
    auto = run_cnnzoo(root, workdir, args.epochs, "auto")
    auto["label"] = f"cnnzoo auto ({auto['precision']})"
    extra = [run_cnnzoo(root, workdir, args.epochs, p) for p in args.also if p != auto["precision"]]
    precisions = dict.fromkeys(["float32", auto["precision"], *(r["precision"] for r in extra)])
    bounds = {precision: run_bound(root, precision) for precision in precisions}
    rows = [chapter_row, float32, auto, *extra, *bounds.values()]
    print("\n" + table(rows, chapter_row, bounds, args.markdown) + "\n")
    for row in (float32, auto, *extra):
        say(
            f"{row['label']}: {row['fit_seconds']:.2f} s/epoch inside fit (history.json), "
            f"{row['epoch_seconds'] - row['fit_seconds']:.2f} s more between epoch ends "
            "(checkpoints, history, status files)"
        )
    limit, base = bounds["float32"], chapter_row["images_per_s"]
    say(
        f"float32: {float32['images_per_s'] / limit['images_per_s']:.0%} of its bound in wall "
        f"time, {limit['epoch_cpu_seconds'] / float32['epoch_cpu_seconds']:.0%} in CPU time; "
        f"{benchkit.times(float32['images_per_s'] / base)} the chapter's code per epoch, "
        f"{benchkit.times(chapter_row['process_seconds'] / float32['process_seconds'])} "
        "by whole-process time"
    )
    say(
        f"auto ({auto['precision']}): {benchkit.times(auto['images_per_s'] / base)} the chapter's "
        f"code per epoch, "
        f"{benchkit.times(chapter_row['process_seconds'] / auto['process_seconds'])} "
        "by whole-process time"
    )
    say(f"{benchkit.machine()} at the end")
    (workdir / "bench_tutorial.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
