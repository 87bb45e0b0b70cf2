"""Input pipeline speed, side by side: the chapter's generator, ours on 1 and 2 cores, Random*.

Generates a folder of JPEGs in the 10 Monkey Species layout (synthetic.make_monkeys_folder), then
measures images per second, each in a fresh process pinned to the named cores, of:

  legacy      the chapter's ImageDataGenerator(...).flow_from_directory (keras.src.legacy)
  pipeline    cnnzoo's tf.data pipeline, warm (after the decode/cache pass), same augmentation
  first pass  cnnzoo's one-off decode + bad-file check + cache fill (2 cores)
  layers      the cached uint8 images through a chain of Keras 3 Random* layers (2 cores)
  train step  what the tutorial CNN's training step consumes, from tensors in memory

all at the chapter's 128x128, batch 64, with its augmentation. Usage:

  python scripts/bench_pipeline.py [--per-class 100] [--size 300 400] [--batches 200]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TUTORIAL_AUGMENT = {
    "rotation_range": 40,
    "width_shift_range": 0.2,
    "height_shift_range": 0.2,
    "shear_range": 0.2,
    "zoom_range": 0.2,
    "horizontal_flip": True,
    "fill_mode": "nearest",
    "rescale": 1 / 255,
}
HEIGHT = WIDTH = 128
BATCH = 64


def _pin(cores: int) -> None:
    """Restrict this process (before TensorFlow starts its thread pools) to `cores` CPUs."""
    available = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, available[:cores])
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"


def _tf_threads(cores: int):
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(cores)
    tf.config.threading.set_inter_op_parallelism_threads(cores)
    options = tf.data.Options()
    options.threading.private_threadpool_size = cores
    return options


class Clock:
    """Wall and process CPU seconds (all threads) spent inside a `with` block."""

    def __enter__(self) -> Clock:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu

    def rates(self, images: int) -> dict:
        """Images per wall second, and per CPU second (steadier when other jobs share the cores)."""
        return {"images_per_s": images / self.wall, "images_per_cpu_s": images / self.cpu}


def _rate(iterator, batches: int, warmup: int = 1) -> dict:
    """Rates over `batches` batches, after `warmup` batches."""
    for _ in range(warmup):
        next(iterator)
    count = 0
    with Clock() as clock:
        for _ in range(batches):
            count += int(next(iterator)[0].shape[0])
    return clock.rates(count)


def _config(root: Path, workdir: Path):
    from cnnzoo.config import resolve

    return resolve(
        {
            "seed": 7,
            "output_dir": str(workdir / "runs"),
            "data": {"dataset": "monkeys", "path": str(root), "image_size": [HEIGHT, WIDTH]},
            "augment": TUTORIAL_AUGMENT,
            "train": {"batch_size": BATCH},
        },
        "bench",
    )


def measure_legacy(root: Path, workdir: Path, cores: int, batches: int) -> dict:
    """The chapter's generator, exactly as the Code Tutorial builds it."""
    from keras.src.legacy.preprocessing.image import ImageDataGenerator

    generator = ImageDataGenerator(**TUTORIAL_AUGMENT).flow_from_directory(
        str(root / "training" / "training"),
        target_size=(HEIGHT, WIDTH),
        batch_size=BATCH,
        seed=7,
        class_mode="categorical",
    )
    return {**_rate(iter(generator), max(10, batches // 10)), "images": generator.samples}


def measure_pipeline(root: Path, workdir: Path, cores: int, batches: int) -> dict:
    """cnnzoo's pipeline: the decode/cache pass timed once, then warm batches."""
    from cnnzoo.data.pipeline import decoded, stream
    from cnnzoo.data.sources import split_source

    options = _tf_threads(cores)
    config = _config(root, workdir)
    split, _ = split_source(config, "train")
    with Clock() as clock:
        images, count, _ = decoded(split, config)
    first_pass = clock.rates(count)
    train = stream(images, config, 10, count, training=True).with_options(options).repeat()
    # Warm up over a whole epoch, so XLA has compiled the full and the last, partial batch.
    return {**_rate(iter(train), batches, math.ceil(count / BATCH) + 1), "first_pass": first_pass}


def measure_layers(root: Path, workdir: Path, cores: int, batches: int) -> dict:
    """The same cached uint8 images through a chain of separate Keras 3 Random* layers."""
    import keras
    import tensorflow as tf
    from keras import layers

    from cnnzoo.data.pipeline import decoded
    from cnnzoo.data.sources import split_source

    options = _tf_threads(cores)
    config = _config(root, workdir)
    split, _ = split_source(config, "train")
    images, count, _ = decoded(split, config)
    # The legacy units translated (see cnnzoo/data/augment.py).
    chain = keras.Sequential(
        [
            layers.RandomRotation(40 / 360, fill_mode="nearest", name="rotation"),
            layers.RandomTranslation(0.2, 0.2, fill_mode="nearest", name="shift"),
            layers.RandomShear(math.sin(math.radians(0.2)), fill_mode="nearest", name="shear"),
            layers.RandomZoom((-0.2, 0.2), (-0.2, 0.2), fill_mode="nearest", name="zoom"),
            layers.RandomFlip("horizontal", name="flip"),
            layers.Rescaling(1 / 255, name="rescale"),
        ],
        name="legacy_as_layers",
    )
    dataset = images.shuffle(count, seed=7).batch(BATCH)
    dataset = dataset.map(
        lambda x, y: (chain(tf.cast(x, tf.float32), training=True), tf.one_hot(y, 10)),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    dataset = dataset.prefetch(tf.data.AUTOTUNE).with_options(options).repeat()
    return _rate(iter(dataset), batches, math.ceil(count / BATCH) + 1)


def measure_train_step(root: Path, workdir: Path, cores: int, batches: int) -> dict:
    """Images per second the tutorial CNN's training step consumes from tensors in memory."""
    from cnnzoo.models import MODELS

    if "tutorial_cnn" not in MODELS:
        return {"skipped": "model tutorial_cnn is not registered on this branch"}
    import numpy as np
    import tensorflow as tf

    _tf_threads(cores)
    model = MODELS.get("tutorial_cnn").builder()((HEIGHT, WIDTH, 3), 10)
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x = tf.constant(rng.random((BATCH, HEIGHT, WIDTH, 3), dtype=np.float32))
    y = tf.one_hot(rng.integers(0, 10, BATCH), 10)
    data = tf.data.Dataset.from_tensors((x, y)).repeat()
    steps = max(4, batches // 4)
    model.fit(data, steps_per_epoch=2, epochs=1, verbose=0)  # compile the step
    with Clock() as clock:
        model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
    return clock.rates(steps * BATCH)


MEASURES = {
    "legacy": measure_legacy,
    "pipeline": measure_pipeline,
    "layers": measure_layers,
    "train_step": measure_train_step,
}


def run_worker(name: str, root: Path, workdir: Path, cores: int, batches: int) -> dict:
    """Run one measurement in a fresh Python pinned to `cores` CPUs; return its JSON result."""
    command = [sys.executable, __file__, "--worker", name, "--cores", str(cores)]
    command += ["--root", str(root), "--workdir", str(workdir), "--batches", str(batches)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        sys.stderr.write(result.stderr[-3000:])
        raise SystemExit(f"{name} on {cores} core(s) failed (exit {result.returncode})")
    return json.loads(lines[-1])


def main() -> None:
    """Generate the folder, run every measurement, print the side-by-side table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=100, help="training images per class")
    parser.add_argument("--size", type=int, nargs=2, default=[300, 400], help="JPEG height width")
    parser.add_argument("--batches", type=int, default=200, help="batches timed per measurement")
    parser.add_argument("--workdir", type=Path, default=None, help="keep data here (default: tmp)")
    parser.add_argument("--worker", choices=sorted(MEASURES), help=argparse.SUPPRESS)
    parser.add_argument("--cores", type=int, default=2, help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        _pin(args.cores)
        result = MEASURES[args.worker](args.root, args.workdir, args.cores, args.batches)
        print(json.dumps(result))
        return

    from cnnzoo.data.synthetic import make_monkeys_folder

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="cnnzoo-bench-"))
    root = workdir / f"monkeys-{args.per_class}-{args.size[0]}x{args.size[1]}"
    if not (root / "monkey_labels.txt").exists():
        make_monkeys_folder(root, args.per_class, max(1, args.per_class // 5), tuple(args.size))
    cores = len(os.sched_getaffinity(0))
    print(f"{10 * args.per_class} JPEGs of {args.size[0]}x{args.size[1]} in {root}")
    print(f"{cores} cores available; {args.batches} batches of {BATCH} at {HEIGHT}x{WIDTH}\n")

    legacy = run_worker("legacy", root, workdir, 2, args.batches)
    single = run_worker("pipeline", root, workdir, 1, args.batches)
    double = run_worker("pipeline", root, workdir, 2, args.batches)
    layers = run_worker("layers", root, workdir, 2, args.batches)
    step = run_worker("train_step", root, workdir, 2, args.batches)
    rows = [
        ("legacy ImageDataGenerator.flow_from_directory", 2, legacy),
        ("cnnzoo pipeline, warm (cached uint8, fused warp)", 1, single),
        ("cnnzoo pipeline, warm (cached uint8, fused warp)", 2, double),
        ("cnnzoo first pass (decode, bad-file check, cache)", 2, double["first_pass"]),
        ("Keras Random* layer chain (cached uint8)", 2, layers),
    ]
    if "skipped" not in step:
        rows.append(("tutorial_cnn training step consumes", 2, step))

    base = legacy["images_per_s"]
    print(f"{'path':<52} {'cores':>5} {'images/s':>9} {'x legacy':>8} {'images/CPU-s':>12}")
    for label, count, rates in rows:
        rate = rates["images_per_s"]
        print(
            f"{label:<52} {count:>5} {rate:>9.0f} {rate / base:>7.1f}x "
            f"{rates['images_per_cpu_s']:>12.0f}"
        )
    warm = double["images_per_s"]
    print(f"\npipeline (2 cores) / legacy generator: {warm / base:.1f}x (target >= 5x)")
    if "skipped" in step:
        print(f"training step: skipped ({step['skipped']})")
    else:
        ratio = warm / step["images_per_s"]
        print(f"pipeline (2 cores) / training step: {ratio:.1f}x (target >= 5x)")
    print(f"legacy found {legacy['images']} images (it skips files without an image extension)")


if __name__ == "__main__":
    main()
