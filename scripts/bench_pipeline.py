"""Input pipeline speed, side by side: the chapter's generator, ours on 1 and 2 cores, Random*.

Generates a folder of JPEGs in the 10 Monkey Species layout (synthetic.make_monkeys_folder), then
measures images per second, each in a fresh process pinned to the named cores, of:

  generator   the chapter's ImageDataGenerator(...).flow_from_directory: decodes every JPEG of
              every batch, then augments
  pipeline    cnnzoo's tf.data pipeline, warm (after its decode/cache pass), same augmentation
  first pass  cnnzoo's one-off decode + bad-file check + cache fill
  generator, decoded   the chapter's ImageDataGenerator(...).flow over the same images already
              decoded into memory (like for like with the warm pipeline: both on decoded arrays)
  layers      the cached uint8 images through a chain of Keras 3 Random* layers
  train step  what the tutorial CNN's training step consumes (compiled as `cnnzoo train`
              compiles it), from tensors in memory

all at the chapter's 128x128, batch 64, with its augmentation. Usage:

  python scripts/bench_pipeline.py [--per-class 100] [--size 300 400] [--batches 200]
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
from pathlib import Path

import benchkit

BATCH = benchkit.CHAPTER_BATCH


def _threads(cores: int):
    """TensorFlow's thread pools sized to `cores`; the tf.data options to match."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(cores)
    tf.config.threading.set_inter_op_parallelism_threads(cores)
    options = tf.data.Options()
    options.threading.private_threadpool_size = cores
    return options


def _rate(iterator, batches: int, warmup: int = 1) -> dict:
    """Images per wall and per CPU second over `batches` batches, after `warmup` batches."""
    for _ in range(warmup):
        next(iterator)
    count = 0
    with benchkit.Timer() as timer:
        for _ in range(batches):
            count += int(next(iterator)[0].shape[0])
    return timer.rates(count)


def _config(root: Path, *overrides: str):
    from cnnzoo.config.schema import load_config

    path = benchkit.config_file("monkeys_tutorial")
    return load_config(path, [f"data.path={root}", *overrides])


def _datasets(root: Path, cores: int, cache: str = "memory"):
    """(cnnzoo's datasets as `cnnzoo train` builds them, first-pass rates, tf.data options)."""
    from cnnzoo.data.pipeline import build_datasets

    options = _threads(cores)
    with benchkit.Timer() as timer:
        data = build_datasets(_config(root, f"data.cache={cache}"))
    return data, timer.rates(data.num_train + data.num_validation), options


def measure_generator(root: Path, cores: int, batches: int) -> dict:
    """The chapter's generator, exactly as the Code Tutorial builds it."""
    generator = benchkit.chapter_generator(root / "training" / "training")
    return {**_rate(iter(generator), max(10, batches // 10)), "images": generator.samples}


def _decoded_arrays(root: Path, cores: int):
    """The training images decoded and resized by cnnzoo, as uint8 arrays, and one-hot labels."""
    import numpy as np

    from cnnzoo.data.pipeline import load_split

    options = _threads(cores)
    split, _ = load_split(_config(root), "train")  # decoded, resized, rescaled to [0, 1]
    pairs = [(x.numpy(), y.numpy()) for x, y in split]
    x = np.concatenate([x for x, _ in pairs]) / benchkit.CHAPTER_AUGMENT["rescale"]
    return np.round(x).astype(np.uint8), np.concatenate([y for _, y in pairs]), options


def measure_generator_decoded(root: Path, cores: int, batches: int) -> dict:
    """The chapter's generator's augmentation alone: `.flow` over images already in memory."""
    x, y, _ = _decoded_arrays(root, cores)
    generator = benchkit.chapter_generator(root, arrays=(x.astype("float32"), y))
    return _rate(iter(generator), max(10, batches // 10))


def measure_pipeline(root: Path, cores: int, batches: int) -> dict:
    """cnnzoo's training stream: the decode/cache pass timed once, then warm batches."""
    data, first_pass, options = _datasets(root, cores)
    train = data.train.with_options(options).repeat()
    # Warm up over a whole epoch, so XLA has compiled the full and the last, partial batch.
    warmup = math.ceil(data.num_train / BATCH) + 1
    return {**_rate(iter(train), batches, warmup), "first_pass": first_pass}


def measure_pipeline_decoding(root: Path, cores: int, batches: int) -> dict:
    """cnnzoo's training stream with `data.cache: none`: every batch decoded from the JPEGs."""
    data, _, options = _datasets(root, cores, cache="none")
    train = data.train.with_options(options).repeat()
    return _rate(iter(train), max(10, batches // 10), math.ceil(data.num_train / BATCH) + 1)


def measure_layers(root: Path, cores: int, batches: int) -> dict:
    """The same cached uint8 images through a chain of separate Keras 3 Random* layers."""
    import keras
    import tensorflow as tf
    from keras import layers

    x, y, options = _decoded_arrays(root, cores)
    images, count = tf.data.Dataset.from_tensor_slices((x, y)), len(x)
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
        lambda x, y: (chain(tf.cast(x, tf.float32), training=True), y),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    dataset = dataset.prefetch(tf.data.AUTOTUNE).with_options(options).repeat()
    return _rate(iter(dataset), batches, math.ceil(count / BATCH) + 1)


def measure_train_step(root: Path, cores: int, batches: int) -> dict:
    """Images per second the tutorial CNN's training step consumes from tensors in memory."""
    _threads(cores)
    config = _config(root)
    model, _ = benchkit.compiled_model(config, 10, 1)
    data = benchkit.in_memory_batches(config.image_shape, 10, BATCH)
    timer = benchkit.best_step_seconds(model, data, max(4, batches // 4), 1)
    return timer.rates(max(4, batches // 4) * BATCH)


MEASURES = {
    "generator": measure_generator,
    "generator_decoded": measure_generator_decoded,
    "pipeline": measure_pipeline,
    "pipeline_decoding": measure_pipeline_decoding,
    "layers": measure_layers,
    "train_step": measure_train_step,
}


def worker(name: str, root: Path, cores: int, batches: int) -> dict:
    """Run one measurement in this process, pinned to `cores` CPUs before TensorFlow starts."""
    os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:cores])
    return MEASURES[name](root, cores, batches)


def main() -> None:
    """Generate the folder, run every measurement, print the side-by-side table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=100, help="training images per class")
    parser.add_argument("--size", type=int, nargs=2, default=[300, 400], help="JPEG height width")
    parser.add_argument("--batches", type=int, default=200, help="batches timed per measurement")
    parser.add_argument("--workdir", type=Path, default=None, help="keep data here (default: tmp)")
    parser.add_argument("--cores", type=int, default=2, help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    args = benchkit.arguments(parser).parse_args()
    if args.worker:
        record = worker(args.worker, args.root, args.cores, args.batches)
        return benchkit.write_result(args.result, record)
    if args.quick:
        args.per_class, args.size, args.batches = 4, (48, 64), 4

    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="cnnzoo-bench-"))).resolve()
    root = benchkit.monkeys_folder(workdir, args.per_class, max(1, args.per_class // 5), args.size)
    cores = min(2, len(os.sched_getaffinity(0)))
    say = lambda text: benchkit.say(text, args.markdown)  # noqa: E731
    say(
        f"{10 * args.per_class} JPEGs of {args.size[0]}x{args.size[1]}; {args.batches} batches "
        f"of {BATCH} at 128x128 per measurement; {benchkit.machine()} at the start"
    )

    def run(name: str, on: int) -> dict:
        arguments = ("--root", str(root), "--cores", str(on), "--batches", str(args.batches))
        return benchkit.run_worker(__file__, name, *arguments)[0]

    generator, decoding = run("generator", cores), run("pipeline_decoding", cores)
    decoded = run("generator_decoded", cores)
    single, double = run("pipeline", 1), run("pipeline", cores)
    layers, step = run("layers", cores), run("train_step", cores)
    rows = [
        ("chapter's generator: flow_from_directory (decodes every batch)", cores, generator),
        ("cnnzoo pipeline, data.cache=none (decodes every batch)", cores, decoding),
        ("cnnzoo first pass (decode, bad-file check, cache; once per run)", cores,
         double["first_pass"]),
        ("chapter's generator: flow over decoded images", cores, decoded),
        ("cnnzoo pipeline, warm (cached uint8, fused warp)", 1, single),
        ("cnnzoo pipeline, warm (cached uint8, fused warp)", cores, double),
        ("Keras Random* layer chain (cached uint8)", cores, layers),
        ("tutorial_cnn training step consumes (in memory)", cores, step),
    ]  # fmt: skip
    base = generator["images_per_s"]
    headers = ["path", "cores", "images/s", "x generator", "images/CPU-s"]
    cells = [
        [label, on, f"{r['images_per_s']:.0f}", benchkit.times(r["images_per_s"] / base),
         f"{r['images_per_cpu_s']:.0f}"]
        for label, on, r in rows
    ]  # fmt: skip
    print("\n" + benchkit.render(headers, cells, args.markdown) + "\n")
    warm = double["images_per_s"]
    say(
        f"like for like, both decoding JPEGs: cnnzoo / the chapter's generator = "
        f"{benchkit.times(decoding['images_per_s'] / base)}; both on decoded images: "
        f"{benchkit.times(warm / decoded['images_per_s'])} ({cores} cores)"
    )
    say(
        f"warm pipeline / what the training step consumes: "
        f"{benchkit.times(warm / step['images_per_s'])}"
    )
    say(
        f"the generator found {generator['images']} of {10 * args.per_class} images (it skips "
        f"files without an image extension); {benchkit.machine()} at the end"
    )


if __name__ == "__main__":
    main()
