"""Opt-in wall-clock record of a run's phases: where the seconds before, between and after the
epochs go.

With `$CNNZOO_TIMINGS` naming a file, every `phase` block and `mark` appends one JSON line to it:
`{"phase": name, "start": t0, "end": t1}` in Unix seconds (`time.time()`, so another process, a
benchmark that started this one, can place them on its own clock). Without it nothing is written
and nothing is measured. scripts/bench_startup.py reads the file.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator

ENV = "CNNZOO_TIMINGS"


def enabled() -> bool:
    """Whether phases are being recorded."""
    return bool(os.environ.get(ENV))


def _write(name: str, start: float, end: float) -> None:
    path = os.environ.get(ENV)
    if not path:
        return
    line = json.dumps({"phase": name, "start": round(start, 4), "end": round(end, 4)})
    with open(path, "a", encoding="utf-8") as file:
        file.write(line + "\n")


def mark(name: str) -> None:
    """Record that `name` happened now (a phase of no length)."""
    if enabled():
        now = time.time()
        _write(name, now, now)


@contextlib.contextmanager
def phase(name: str) -> Iterator[None]:
    """Record how long the block took as phase `name` (also when it raises)."""
    if not enabled():
        yield
        return
    start = time.time()
    try:
        yield
    finally:
        _write(name, start, time.time())
