"""Time to accuracy (DAWNBench style): whole-process seconds until a target test accuracy.

Trains a config as `cnnzoo train` does, in this process, and after every epoch scores the same
weights on the test split (what `cnnzoo evaluate --split test` uses). The clock starts when this
process starts (interpreter, imports, data loading and model building all count); the per-epoch
test scoring is timed apart and left out, since a plain training run does not do it. Prints the
epoch and the wall and CPU seconds when the target was first reached, and the final accuracy.

    python scripts/make_digits.py npz data/digits.npz
    python scripts/time_to_accuracy.py -c recipe_mnist --target 0.985 \
        --set data.path=data/digits.npz

CPU seconds are user + system time of this process. On a shared machine wall time grows with
the other load while CPU time does not: report both.
"""

from __future__ import annotations

import os
import time

STARTED = time.perf_counter()  # before the heavy imports: they are part of the whole process

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-c", "--config", required=True, help="config name or path")
    parser.add_argument("--target", type=float, required=True, help="test accuracy, e.g. 0.985")
    parser.add_argument("-s", "--set", action="append", default=[], help="KEY=VALUE override")
    parser.add_argument("--stop", action="store_true", help="stop training at the target")
    parser.add_argument("--json", type=Path, help="also write the result as JSON here")
    args = parser.parse_args(argv)

    import keras
    import numpy as np

    from cnnzoo.config.schema import load_config
    from cnnzoo.data.pipeline import load_split
    from cnnzoo.engine.training import train_from_config

    with tempfile.TemporaryDirectory(prefix="cnnzoo-tta-") as out:
        config = load_config(args.config, [f"output_dir={out}", *args.set])
        test, _ = load_split(config, "test")
        images, labels = zip(*test.as_numpy_iterator(), strict=True)
        images, labels = np.concatenate(images), np.argmax(np.concatenate(labels), axis=1)

        class TestAccuracy(keras.callbacks.Callback):
            def __init__(self) -> None:
                super().__init__()
                self.rows: list[dict] = []
                self.probe_seconds = 0.0
                self.reached: dict | None = None

            def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
                start = time.perf_counter()
                scores = self.model.predict(images, batch_size=256, verbose=0)
                accuracy = float(np.mean(np.argmax(scores, axis=1) == labels))
                self.probe_seconds += time.perf_counter() - start
                row = {
                    "epoch": epoch + 1,
                    "test_accuracy": accuracy,
                    "wall_seconds": time.perf_counter() - STARTED - self.probe_seconds,
                    "cpu_seconds": _cpu_seconds(),
                }
                self.rows.append(row)
                print(
                    f"epoch {row['epoch']}: test accuracy {accuracy:.2%}, "
                    f"{row['wall_seconds']:.1f} s wall",
                    flush=True,
                )
                if self.reached is None and accuracy >= args.target:
                    self.reached = row
                    if args.stop:
                        self.model.stop_training = True

        probe = TestAccuracy()
        train_from_config(config, log=lambda line: None, callbacks=[probe])
    total = time.perf_counter() - STARTED - probe.probe_seconds
    result = {
        "config": args.config,
        "overrides": args.set,
        "target": args.target,
        "num_test": int(len(labels)),
        "reached": probe.reached,
        "final": probe.rows[-1] if probe.rows else None,
        "whole_process_wall_seconds": round(total, 1),
        "whole_process_cpu_seconds": round(_cpu_seconds(), 1),
        "epochs": probe.rows,
    }
    reached = probe.reached
    print(
        f"{args.config}: target {args.target:.1%} "
        + (
            f"reached at epoch {reached['epoch']} after {reached['wall_seconds']:.1f} s wall, "
            f"{reached['cpu_seconds']:.1f} s CPU"
            if reached
            else "not reached"
        )
        + f"; final test accuracy {result['final']['test_accuracy']:.2%} on {len(labels)} images"
        + f" after {total:.1f} s wall, {result['whole_process_cpu_seconds']:.1f} s CPU"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0 if reached else 1


if __name__ == "__main__":
    sys.exit(main())
