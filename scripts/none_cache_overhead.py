"""What `data.cache: none`'s guard costs: a pass with it vs the bare decode it wraps.

With `data.cache: none` every epoch decodes the files again; `pipeline._every_pass` wraps that
decode so a file failing mid-run is named (with its epoch) and replaced instead of vanishing.
This times one pass over a folder of JPEGs both ways, in this process, after a warm-up pass:

  guarded   pipeline._every_pass: what `data.cache: none` runs each epoch
  bare      pipeline._scan (decode + ignore_errors): the pass before the guard existed

    python scripts/none_cache_overhead.py FOLDER [--size 128 128] [--channels 3] [--passes 3]

FOLDER holds class folders (e.g. `python scripts/make_digits.py folders data/digits --layout
classes --size 64` and its train/, or a monkeys training/training folder).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def _timed(make, passes: int) -> tuple[float, float]:
    """Median wall and CPU seconds of one full pass, after one warm-up pass."""
    walls, cpus = [], []
    for index in range(passes + 1):
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in make():
            pass
        if index:
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
    return sorted(walls)[len(walls) // 2], sorted(cpus)[len(cpus) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--size", type=int, nargs=2, default=[128, 128])
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--passes", type=int, default=3)
    args = parser.parse_args()

    from cnnzoo.config.schema import resolve
    from cnnzoo.data import pipeline
    from cnnzoo.datasets.sources import split_source

    data = {"dataset": "directory", "path": str(args.folder), "validation_split": 0.0}
    data.update(image_size=list(args.size), channels=args.channels, cache="none")
    config = resolve({"data": data, "output_dir": "/tmp/none-cache-overhead"}, "overhead")
    split, _ = split_source(config.data, config.seed, "train")
    first = next(pipeline._scan(split, config).as_numpy_iterator())
    ways = {
        "guarded": lambda: pipeline._every_pass(split, config, first[1:]),
        "bare": lambda: pipeline._scan(split, config),
    }
    print(f"{len(split)} files of {args.folder}, decoded to {args.size} x {args.channels}")
    results = {name: _timed(make, args.passes) for name, make in ways.items()}
    for name, (wall, cpu) in results.items():
        print(
            f"{name:8s} {len(split) / wall:8.0f} images/s wall  {len(split) / cpu:8.0f} per CPU s"
        )
    ratio = results["bare"][1] / results["guarded"][1]
    print(f"guarded/bare throughput per CPU second: {ratio:.2f}")


if __name__ == "__main__":
    main()
