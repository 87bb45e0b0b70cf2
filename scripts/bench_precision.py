"""Training-step throughput per precision (float32, mixed_bfloat16, mixed_float16) on this machine.

Trains the chapter's tutorial CNN (`tutorial_cnn`; LeNet if that model is not registered yet) on
random in-memory batches through `model.fit`, the same path `cnnzoo train` takes, and prints images
per second side by side with the ratio to float32, then the precision `hardware.precision: auto`
chooses here. Each precision is timed `--repeats` times in rotation and the best run kept, which
filters out noise from other processes sharing the CPU.

    python scripts/bench_precision.py                    # tutorial CNN, 128x128x3, batch 64
    python scripts/bench_precision.py --model lenet --image-size 28 --channels 1 --steps 50
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from cnnzoo import devices  # noqa: E402
from cnnzoo.config import HardwareConfig  # noqa: E402
from cnnzoo.models import MODELS  # noqa: E402

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")  # float32 first: the baseline
# The ratio bf16 must beat float32 by before `auto` would prefer it: below this, noise decides.
GAIN_THRESHOLD = 1.10


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tutorial_cnn", help="registered model name")
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per measurement")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--xla", action="store_true", help="also time float32 with XLA")
    parser.add_argument(
        "--precisions", nargs="+", default=list(PRECISIONS), choices=PRECISIONS, metavar="P"
    )
    return parser.parse_args()


def _step_rate(
    model_name: str, precision: str, args: argparse.Namespace, xla: bool
) -> tuple[float, float]:
    """Images per wall-clock second and per CPU second of `model.fit` steps, after a warm-up."""
    import keras
    import tensorflow as tf

    keras.mixed_precision.set_global_policy(precision)
    try:
        shape = (args.image_size, args.image_size, args.channels)
        model = MODELS.get(model_name).builder()(shape, 10)
        model.compile(
            optimizer=keras.optimizers.Adam(1e-3),
            loss=keras.losses.CategoricalCrossentropy(),
            metrics=["accuracy"],
            jit_compile=xla,
        )
        images = tf.random.uniform((args.batch_size, *shape), seed=1)
        labels = tf.one_hot(tf.random.uniform((args.batch_size,), 0, 10, tf.int32, seed=2), 10)
        data = tf.data.Dataset.from_tensors((images, labels)).repeat()
        model.fit(
            data, steps_per_epoch=3, epochs=1, verbose=0, shuffle=False
        )  # trace, compile, warm caches
        start, cpu_start = time.perf_counter(), time.process_time()
        model.fit(data, steps_per_epoch=args.steps, epochs=1, verbose=0, shuffle=False)
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    finally:
        keras.mixed_precision.set_global_policy("float32")
    images = args.steps * args.batch_size
    return images / seconds, images / cpu_seconds


def main() -> None:
    """Time each precision, print the table and the precision `auto` picks here."""
    args = _arguments()
    model_name = args.model if args.model in MODELS else "lenet"
    found = devices.detect()
    print(f"{devices.describe_found(found)}")
    fallback = "" if model_name == args.model else f" ({args.model} is not registered)"
    print(
        f"model {model_name}{fallback}, "
        f"input {args.image_size}x{args.image_size}x{args.channels}, batch {args.batch_size}, "
        f"{args.steps} steps, best of {args.repeats}"
    )
    variants = [(p, False) for p in dict.fromkeys(["float32", *args.precisions])]
    if args.xla:
        variants.append(("float32", True))
    best: dict[tuple[str, bool], tuple[float, float]] = {}
    for _ in range(args.repeats):
        for variant in variants:
            wall, cpu = _step_rate(model_name, variant[0], args, variant[1])
            old_wall, old_cpu = best.get(variant, (0.0, 0.0))
            best[variant] = (max(old_wall, wall), max(old_cpu, cpu))

    base_wall, base_cpu = best[("float32", False)]
    print(
        f"{'precision':<22}{'images/s':>10}{'vs float32':>12}{'images/CPU-s':>14}{'vs float32':>12}"
    )
    for (precision, xla), (wall, cpu) in best.items():
        label = precision + (" + XLA" if xla else "")
        ratios = f"{wall / base_wall:>11.2f}x{cpu:>14.1f}{cpu / base_cpu:>11.2f}x"
        print(f"{label:<22}{wall:>10.1f}{ratios}")
    if ("mixed_bfloat16", False) not in best:
        return
    bf16_ratio = best[("mixed_bfloat16", False)][0] / base_wall
    pays = found.cpu_bf16 and bf16_ratio >= GAIN_THRESHOLD
    measured = devices.decide(found, HardwareConfig(), args.batch_size, cpu_bf16_pays=pays)
    current = devices.decide(found, HardwareConfig(), args.batch_size)
    print(
        f"bf16 / float32 = {bf16_ratio:.2f}x (threshold {GAIN_THRESHOLD:.2f}x): this measurement "
        f"says auto should pick {measured.precision}; cnnzoo's auto picks {current.precision} "
        f"(devices.CPU_BF16_PAYS = {devices.CPU_BF16_PAYS})."
    )


if __name__ == "__main__":
    main()
