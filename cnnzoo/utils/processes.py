"""Whether a process that a file names (a run, a sweep trial, a cache being written) is alive.

Run folders, trials and partial caches record the pid (and host) of the process writing them; a
later process uses this to tell work in progress from work left behind by a kill or a crash.
"""

from __future__ import annotations

import os
import socket


def is_alive(pid: int) -> bool:
    """Whether process `pid` exists on this machine (one owned by another user counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def alive_here(pid: object, host: object) -> bool | None:
    """Whether `pid` on `host` is alive; None when that cannot be told from here (another host,
    or no pid recorded)."""
    if not isinstance(pid, int) or pid <= 0 or host != socket.gethostname():
        return None
    return is_alive(pid)
