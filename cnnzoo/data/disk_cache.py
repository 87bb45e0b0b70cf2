"""`data.cache: disk`: tf.data file caches under `<output_dir>/cache/`, written once, then reused.

A cache is written under a temporary name that carries the writer's host and process id
(`NAME.partial-HOST-PID...`), then renamed; a `NAME.json` beside it lists the files that
decoded. A killed writer leaves its partial files behind: they are removed when the next run
finds them and that process is gone (never those of a live process, nor of another host).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cnnzoo.utils.processes import is_alive

if TYPE_CHECKING:
    from cnnzoo.config.schema import Config
    from cnnzoo.datasets.folders import Split

CACHE_VERSION = "1"  # bump when the decode changes, so old disk caches are not reused
# NAME.partial-HOST-PID or (older versions) NAME.partial-PID, then tf.data's own suffixes.
_PARTIAL = re.compile(r"\.partial-(?:(?P<host>.+?)-)?(?P<pid>\d+)(?:[._].*)?$")


def prefix(split: Split, config: Config) -> Path:
    """The cache's file prefix: the dataset, the split and a digest of its files and labels."""
    digest = hashlib.sha256(f"{CACHE_VERSION} {config.image_shape}".encode())
    for path, label in zip(split.paths, split.labels, strict=True):
        stat = path.stat()
        digest.update(f"{path.resolve()} {stat.st_size} {stat.st_mtime_ns} {label}\n".encode())
    name = f"{config.data.dataset}-{split.name}-{digest.hexdigest()[:16]}"
    return Path(config.output_dir) / "cache" / name


def remove_stale_partials(folder: Path) -> list[Path]:
    """Remove partial cache files whose writer (on this host) has exited; return them."""
    host = socket.gethostname()
    removed = []
    for path in folder.glob("*.partial-*") if folder.is_dir() else ():
        match = _PARTIAL.search(path.name)
        if match is None or match["host"] not in (None, host) or is_alive(int(match["pid"])):
            continue
        path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def write(split: Split, config: Config, scan: Callable) -> np.ndarray:
    """Fill the split's cache once (`scan(split, config)` gives (index, image, label)); return
    the indices of the files that decoded, from this pass or the one that wrote the cache."""
    target = prefix(split, config)
    report = target.with_name(target.name + ".json")
    if not report.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_partials(target.parent)
        partial = target.with_name(f"{target.name}.partial-{socket.gethostname()}-{os.getpid()}")
        indices = [
            index for index, _, _ in scan(split, config).cache(str(partial)).as_numpy_iterator()
        ]
        for piece in target.parent.glob(f"{partial.name}.*"):
            piece.rename(target.parent / piece.name.replace(partial.name, target.name, 1))
        report.write_text(json.dumps({"good": [int(i) for i in indices]}), encoding="utf-8")
    return np.asarray(json.loads(report.read_text(encoding="utf-8"))["good"], dtype=np.int64)
