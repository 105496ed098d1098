"""Forked helpers die with the process that forked them, however it ends — ``kill -9`` included.

A worker or helper that outlives its parent has no one to hand its results to: a run worker
would go on calling the model (spending money), write cassettes for units whose rows can never
be written, and then block forever writing to a pipe that a sibling still holds open. Python's
``atexit`` and ``finally`` do not run on ``SIGKILL``, so the child must watch for itself:

* on Linux the kernel does it: ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` kills the child the moment
  its parent dies (checked again right after, in case the parent died before it was armed);
* elsewhere a daemon thread polls ``os.getppid()`` (a child whose parent died is re-parented)
  and exits the process when it changes.

:func:`parent_alive` lets a child check before a side effect that only makes sense with the
parent there (a worker writing a unit's cassette, whose row only the parent can write).
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
import time

__all__ = ["die_with_parent", "parent_alive"]

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
#: How often the portable watcher looks at the parent (where the kernel cannot do it).
POLL_S = 0.5

_parent_pid: int | None = None


def die_with_parent(parent_pid: int) -> None:
    """Call first thing in a forked child: it is killed (or exits) when ``parent_pid`` dies."""
    global _parent_pid
    _parent_pid = parent_pid
    if not (sys.platform.startswith("linux") and _arm_pdeathsig()):
        threading.Thread(target=_watch, args=(parent_pid,), name="harness-lifeline", daemon=True).start()
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)


def parent_alive() -> bool:
    """False in a child whose parent died (always True in a process that is no such child)."""
    return _parent_pid is None or os.getppid() == _parent_pid


def _arm_pdeathsig() -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        log.debug("prctl(PR_SET_PDEATHSIG) is unavailable; watching the parent from a thread")
        return False


def _watch(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(POLL_S)
    os._exit(1)
