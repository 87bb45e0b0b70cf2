"""Training-step throughput per precision (float32, mixed_bfloat16, mixed_float16) on this machine.

Trains the chapter's tutorial CNN (`tutorial_cnn`) on random in-memory batches through
`model.fit`, the model compiled exactly as `cnnzoo train` compiles it for each precision, and
prints images per second (wall and CPU) side by side with the ratio to float32, then the precision
`hardware.precision: auto` chooses here. Each variant is timed `--repeats` times in rotation and
the best run kept, which filters out noise from other processes sharing the CPU.

    python scripts/bench_precision.py                    # tutorial CNN, 128x128x3, batch 64
    python scripts/bench_precision.py --xla --repeats 5  # also float32 with XLA
    python scripts/bench_precision.py --model lenet --image-size 28 --channels 1 --steps 50
"""

from __future__ import annotations

import argparse

import benchkit

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
    args = benchkit.arguments(parser).parse_args()
    if args.quick:
        args.model, args.image_size, args.channels, args.steps, args.repeats = "lenet", 28, 1, 2, 1
    return args


def _step_rate(args: argparse.Namespace, precision: str, xla: bool) -> benchkit.Timer:
    """The best of one fit of `args.steps` steps, compiled as `cnnzoo train` would for it."""
    shape = (args.image_size, args.image_size, args.channels)
    config = benchkit.model_config(
        args.model, shape, args.batch_size, precision=precision, xla="on" if xla else "off"
    )
    model, _ = benchkit.compiled_model(config, 10, args.steps)
    data = benchkit.in_memory_batches(shape, 10, args.batch_size)
    return benchkit.best_step_seconds(model, data, args.steps, 1)


def main() -> None:
    """Time each precision, print the table and the precision `auto` picks here."""
    from cnnzoo.config.schema import HardwareConfig
    from cnnzoo.engine import devices

    args = _arguments()
    found = devices.detect()
    say = lambda text: benchkit.say(text, args.markdown)  # noqa: E731
    say(f"{devices.describe_found(found)}; {benchkit.machine()} at the start")
    say(
        f"model {args.model}, input {args.image_size}x{args.image_size}x{args.channels}, batch "
        f"{args.batch_size}, {args.steps} steps, best of {args.repeats}"
    )
    variants = [(p, False) for p in dict.fromkeys(["float32", *args.precisions])]
    if args.xla:
        variants.append(("float32", True))
    best: dict[tuple[str, bool], benchkit.Timer] = {}
    for _ in range(args.repeats):
        for variant in variants:
            timer = _step_rate(args, *variant)
            if variant not in best or timer.wall < best[variant].wall:
                best[variant] = timer

    images = args.steps * args.batch_size
    base = best[("float32", False)].rates(images)
    cells = []
    for (precision, xla), timer in best.items():
        rates = timer.rates(images)
        cells.append(
            [
                precision + (" + XLA" if xla else ""),
                f"{rates['images_per_s']:.1f}",
                benchkit.times(rates["images_per_s"] / base["images_per_s"]),
                f"{rates['images_per_cpu_s']:.1f}",
                benchkit.times(rates["images_per_cpu_s"] / base["images_per_cpu_s"]),
            ]
        )
    headers = ["precision", "images/s", "vs float32", "images/CPU-s", "vs float32 (CPU)"]
    print("\n" + benchkit.render(headers, cells, args.markdown) + "\n")
    if ("mixed_bfloat16", False) in best:
        bf16 = best[("mixed_bfloat16", False)].rates(images)["images_per_s"]
        ratio = bf16 / base["images_per_s"]
        pays = found.cpu_bf16 and ratio >= GAIN_THRESHOLD
        measured = devices.decide(found, HardwareConfig(), args.batch_size, cpu_bf16_pays=pays)
        current = devices.decide(found, HardwareConfig(), args.batch_size)
        say(
            f"bf16 / float32 = {benchkit.times(ratio)} (threshold "
            f"{benchkit.times(GAIN_THRESHOLD)}): this measurement says auto should pick "
            f"{measured.precision}; cnnzoo's auto picks {current.precision} "
            f"(devices.CPU_BF16_PAYS = {devices.CPU_BF16_PAYS})"
        )
    say(f"{benchkit.machine()} at the end")


if __name__ == "__main__":
    main()
