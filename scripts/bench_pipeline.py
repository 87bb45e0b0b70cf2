"""Input pipeline speed, side by side: the chapter's generator, ours on 1 and 2 cores, Random*.

Generates a folder of JPEGs in the 10 Monkey Species layout (synthetic.make_monkeys_folder), then
measures images per second, each in a fresh process pinned to the named cores, of:

  legacy      the chapter's ImageDataGenerator(...).flow_from_directory (keras.src.legacy)
  pipeline    cnnzoo's tf.data pipeline, warm (after the decode/cache pass), same augmentation
  first pass  cnnzoo's one-off decode + bad-file check + cache fill (2 cores)
  layers      the cached uint8 images through a chain of Keras 3 Random* layers (2 cores)
  train step  what the tutorial CNN's training step consumes, from tensors in memory

all at the chapter's 128x128, batch 64, with its augmentation. Usage:

  python scripts/bench_pipeline.py [--per-class 100] [--size 300 400] [--batches 60]
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


def _rate(iterator, batches: int) -> float:
    """Images per second over `batches` batches, after one warm-up batch."""
    next(iterator)
    count, start = 0, time.perf_counter()
    for _ in range(batches):
        images = next(iterator)[0]
        count += int(images.shape[0])
    return count / (time.perf_counter() - start)


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
    return {"images_per_s": _rate(iter(generator), batches), "images": generator.samples}


def measure_pipeline(root: Path, workdir: Path, cores: int, batches: int) -> dict:
    """cnnzoo's pipeline: the decode/cache pass timed once, then warm batches."""
    from cnnzoo.data.pipeline import build_datasets

    options = _tf_threads(cores)
    start = time.perf_counter()
    bundle = build_datasets(_config(root, workdir))
    first_pass = bundle.num_train / (time.perf_counter() - start)
    train = bundle.train.with_options(options).repeat()
    return {"images_per_s": _rate(iter(train), batches), "first_pass_per_s": first_pass}


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
    return {"images_per_s": _rate(iter(dataset), batches)}


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
    start = time.perf_counter()
    model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
    return {"images_per_s": steps * BATCH / (time.perf_counter() - start)}


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
    parser.add_argument("--batches", type=int, default=60, help="batches timed per measurement")
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

    rows, warm = [], 0.0
    legacy = run_worker("legacy", root, workdir, 2, args.batches)
    rows.append(("legacy ImageDataGenerator.flow_from_directory", 2, legacy["images_per_s"]))
    for count in (1, 2):
        result = run_worker("pipeline", root, workdir, count, args.batches)
        rows.append(
            ("cnnzoo pipeline, warm (cached uint8, fused warp)", count, result["images_per_s"])
        )
        if count == 2:
            warm = result["images_per_s"]
            first = result["first_pass_per_s"]
            rows.append(("cnnzoo first pass (decode, bad-file check, cache)", 2, first))
    layers = run_worker("layers", root, workdir, 2, args.batches)
    rows.append(("Keras Random* layer chain (cached uint8)", 2, layers["images_per_s"]))
    step = run_worker("train_step", root, workdir, 2, args.batches)
    if "skipped" not in step:
        rows.append(("tutorial_cnn training step consumes", 2, step["images_per_s"]))

    base = legacy["images_per_s"]
    print(f"{'path':<52} {'cores':>5} {'images/s':>10} {'x legacy':>9}")
    for label, count, rate in rows:
        print(f"{label:<52} {count:>5} {rate:>10.0f} {rate / base:>8.1f}x")
    print(f"\npipeline (2 cores) / legacy generator: {warm / base:.1f}x (target >= 5x)")
    if "skipped" in step:
        print(f"training step: skipped ({step['skipped']})")
    else:
        print(
            f"pipeline (2 cores) / training step: {warm / step['images_per_s']:.1f}x (target >= 5x)"
        )
    print(f"legacy found {legacy['images']} images (it skips files without an image extension)")


if __name__ == "__main__":
    main()
