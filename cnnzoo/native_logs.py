"""TensorFlow's native chatter kept off stderr while a command runs, live, line by line.

`devices.quiet_native_logs` holds stderr back around TensorFlow's import; a long command cannot
wait that long for its warnings, so `filtered_stderr` passes file descriptor 2 through a pipe
whose lines are forwarded as they come, minus the same known noise (libjpeg's complaints about a
bad file, which cnnzoo names itself; TensorFlow Lite's XNNPACK note; start-up lines).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from cnnzoo.devices import _is_noise


@contextlib.contextmanager
def filtered_stderr() -> Iterator[None]:
    """Forward stderr (Python's and native code's) line by line, dropping known noise."""
    gpu_driver = Path("/proc/driver/nvidia/version").exists()
    sys.stderr.flush()
    terminal = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    def forward() -> None:
        with os.fdopen(read_end, "rb") as source:
            for line in source:
                if not _is_noise(line.decode(errors="replace"), gpu_driver):
                    with contextlib.suppress(OSError):
                        os.write(terminal, line)

    thread = threading.Thread(target=forward, name="cnnzoo-stderr", daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(terminal, 2)  # closes our last write end of the pipe: the thread sees EOF
        thread.join(timeout=10)  # children that inherited the pipe may keep it open
        if not thread.is_alive():
            os.close(terminal)  # else leave it open: the thread may still write to it
