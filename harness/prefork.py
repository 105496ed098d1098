"""A helper process forked early to do one job later, with its imports already done.

``harness run`` ends with gates and a report, whose libraries (scipy, pandas, pyarrow,
matplotlib) take about a second and a half of CPU to import: longer than replaying a small
suite. Imported at the end, they add that time to every run; imported in a thread, they
compete with the run for the one core a Python process can use. So the CLI forks a
:class:`Prefork` before it imports the runner: the helper imports the report's libraries on
another core while the run starts, then waits. When the run is done the parent hands it one
call; the helper runs it, sends the result back and exits.

Where ``fork`` is unavailable :meth:`Prefork.start` returns None and the caller does the work
itself; if the helper fails, :meth:`Prefork.call` raises :class:`PreforkFailed` and the
caller does the same.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from harness.core.lifeline import die_with_parent

__all__ = ["Prefork", "PreforkFailed"]

log = logging.getLogger(__name__)

#: How long to wait for a helper to exit once it has answered or been released.
JOIN_TIMEOUT_S = 5.0


class PreforkFailed(RuntimeError):
    """The helper died, or the call raised in it (the message holds its traceback)."""


class Prefork:
    """One forked helper: :meth:`start` it early, :meth:`call` it once, or :meth:`close` it."""

    def __init__(self, process: Any, pipe: Connection) -> None:
        self._process, self._pipe = process, pipe

    @classmethod
    def start(cls, prepare: Callable[[], Any]) -> Prefork | None:
        """Fork now and run ``prepare()`` (e.g. imports) in the helper. None without ``fork``."""
        if "fork" not in multiprocessing.get_all_start_methods():
            return None
        context = multiprocessing.get_context("fork")
        ours, theirs = context.Pipe()
        process = context.Process(target=_serve, args=(prepare, theirs, ours, os.getpid()), name="harness-prefork",
                                  daemon=True)
        process.start()
        theirs.close()
        return cls(process, ours)

    def call(self, function: Callable[..., Any], *args: Any) -> Any:
        """``function(*args)`` in the helper; its return value comes back pickled.

        ``function`` must be importable by name (a module-level function) and its result
        picklable. The helper exits afterwards: a Prefork serves one call.
        """
        try:
            self._pipe.send((function, args))
            ok, value = self._pipe.recv()
        except (EOFError, OSError) as exc:
            self.close()  # reaps the helper: until then its exit code can still read None
            raise PreforkFailed(f"the helper process exited with code {self._process.exitcode} "
                                "before answering") from exc
        finally:
            self.close()
        if not ok:
            raise PreforkFailed(value)
        return value

    def wait(self) -> None:
        """Wait until the helper's ``prepare`` is done, then release it: for a helper whose whole
        job is its preparation. Raises :class:`PreforkFailed` if it died on the way."""
        self.call(_prepared)

    def close(self) -> None:
        """Release the helper (it exits without doing anything if it was never called)."""
        self._pipe.close()
        self._process.join(JOIN_TIMEOUT_S)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join()


def _prepared() -> None:
    """What :meth:`Prefork.wait` calls: nothing, answered once the preparation is done."""


def _serve(prepare: Callable[[], Any], pipe: Connection, parents_end: Connection, parent_pid: int) -> None:
    die_with_parent(parent_pid)  # a helper of a killed run has no one to answer
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it closes the helper
    parents_end.close()  # inherited by the fork; with it open here, a released helper would never see EOF
    try:
        prepare()
    except Exception:  # noqa: BLE001 - the call below will fail (or import) and say why
        log.debug("prefork preparation failed:\n%s", traceback.format_exc())
    try:
        function, args = pipe.recv()
    except EOFError:
        return  # released: the parent needs nothing
    try:
        answer = (True, function(*args))
    except BaseException:  # noqa: BLE001 - every failure goes back to the parent as text
        answer = (False, traceback.format_exc())
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    pipe.send(answer)
    pipe.close()
