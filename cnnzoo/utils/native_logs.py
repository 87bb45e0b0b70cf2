"""TensorFlow's native chatter on stderr, filtered out; everything else passes through.

`quiet_native_logs` holds stderr back around TensorFlow's import; a long command cannot wait that
long for its warnings, so `filtered_stderr` passes file descriptor 2 through a pipe whose lines are
forwarded as they come, minus the same known noise. `start_tensorflow` is the one quiet start every
command that needs TensorFlow goes through.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_NOISE = (
    "All log messages before absl::InitializeLog() is called are written to STDERR",
    "oneDNN custom operations are on",
    "Could not find cuda drivers on your machine",
    "This TensorFlow binary is optimized to use available CPU instructions",
    "To enable the following instructions:",
    "Unable to register cu",  # cuDNN/cuFFT/cuBLAS factory double registration
    "computation_placer.cc",
    "jpeg_mem.cc",  # libjpeg's complaints about a bad file, which cnnzoo names itself
    "jpeg::Uncompress failed",
    "Improper call to JPEG library",  # libjpeg on a file cut short in its header
    "Created TensorFlow Lite XNNPACK delegate",
)
_ABSL_LINE = re.compile(r"^([IWEF])\d{4} ")


def _gpu_driver() -> bool:
    return Path("/proc/driver/nvidia/version").exists()


def is_noise(line: str, gpu_driver: bool | None = None) -> bool:
    """Whether `line` is TensorFlow start-up chatter that cnnzoo keeps from the user."""
    if gpu_driver is None:
        gpu_driver = _gpu_driver()
    if any(text in line for text in _NOISE):
        return True
    if "failed call to cuInit" in line:
        return not gpu_driver  # without an NVIDIA driver, no GPU is the expected outcome
    match = _ABSL_LINE.match(line)
    level = int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") or 0)
    return bool(match) and "IWEF".index(match.group(1)) < level


@contextlib.contextmanager
def quiet_native_logs() -> Iterator[None]:
    """Drop TensorFlow's native start-up chatter from stderr; everything else passes through.

    TensorFlow logs through absl before honouring TF_CPP_MIN_LOG_LEVEL, so the level is applied
    here to those early lines; a failed cuInit is dropped only where no NVIDIA driver exists.
    """
    gpu_driver = _gpu_driver()
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            lines = capture.read().decode(errors="replace").splitlines(keepends=True)
            sys.stderr.write("".join(line for line in lines if not is_noise(line, gpu_driver)))
            sys.stderr.flush()


def start_tensorflow() -> Any:
    """Import TensorFlow and let it find its devices, its native start-up lines filtered out.

    Devices are listed here because the first device query prints its own lines (a failed cuInit
    on a machine without a GPU); later calls return at once.
    """
    with quiet_native_logs():
        import tensorflow as tf

        tf.config.list_physical_devices()
    return tf


@contextlib.contextmanager
def filtered_stderr() -> Iterator[None]:
    """Forward stderr (Python's and native code's) line by line, live, dropping known noise."""
    gpu_driver = _gpu_driver()
    sys.stderr.flush()
    terminal = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    def forward() -> None:
        with os.fdopen(read_end, "rb") as source:
            for line in source:
                if not is_noise(line.decode(errors="replace"), gpu_driver):
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
