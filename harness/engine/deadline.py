"""The task timeout (``--timeout``) of the units one runner worker runs, one after another.

``asyncio.timeout`` per unit schedules a timer on the event loop's heap and cancels it a moment
later (every unit finishes long before a timeout of minutes): 38.3 k instructions a unit, 7 % of
the harness's own cost per live call, against 5.5 k for a block of this one (issue 25; callgrind of
100 blocks in a loop, ``bench/live_overhead.py`` for the whole call). A worker runs
its units in turn, so it keeps one :class:`WorkerDeadline` with at most one timer armed. A unit
sets its due time; when the timer fires, a unit still running past its due time is cancelled,
and any other due time (a later unit's) re-arms the timer. A unit of a timeout of minutes that
finishes in milliseconds then costs no timer at all: about one timer per worker per timeout.

Cancellation and its translation follow ``asyncio.timeout`` (Python 3.11) exactly: the worker's
task is cancelled, and a ``CancelledError`` that is the deadline's own (no other cancellation
was requested meanwhile) leaves the block as ``TimeoutError``; anyone else's cancellation goes on.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Self

__all__ = ["WorkerDeadline"]


class WorkerDeadline:
    """``with deadline: ...`` bounds each unit of one worker task by ``timeout_s`` seconds.

    Enter it from the task it bounds only, one block at a time (a worker runs one unit at a time).
    A plain ``with``, where ``asyncio.timeout`` is an ``async with``: nothing in it awaits, and the
    two coroutines an ``async with`` makes are work a unit need not do.
    """

    __slots__ = ("timeout_s", "_loop", "_task", "_due", "_timer", "_expiring", "_expired", "_cancelling")

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[object] | None = None
        #: The running block's due time (loop time), None between blocks.
        self._due: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._expiring = False
        self._expired = False
        self._cancelling = 0

    def expired(self) -> bool:
        """Whether the last block was cancelled by its deadline (as ``asyncio.Timeout.expired``)."""
        return self._expired

    def __enter__(self) -> Self:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("WorkerDeadline must be used inside a task")
        if self._task is None:
            self._task, self._loop = task, asyncio.get_running_loop()
        elif task is not self._task:
            raise RuntimeError("a WorkerDeadline bounds the blocks of one task; this is another task")
        assert self._loop is not None
        self._expiring = self._expired = False
        self._cancelling = task.cancelling()
        due = self._due = self._loop.time() + self.timeout_s
        if self._timer is None:  # else the armed timer fires before `due` (an earlier block's) and re-arms
            self._timer = self._loop.call_at(due, self._on_timer)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._due = None
        if self._expiring:
            self._expiring, self._expired = False, True
            assert self._task is not None
            if self._task.uncancel() <= self._cancelling and exc_type is asyncio.CancelledError:
                raise TimeoutError from exc

    def _on_timer(self) -> None:
        self._timer = None
        due, loop, task = self._due, self._loop, self._task
        if due is None or loop is None or task is None or task.done():  # between blocks: the next one re-arms
            return
        if due > loop.time():  # a later block's due time (or the loop ran this a clock tick early)
            self._timer = loop.call_at(due, self._on_timer)
            return
        self._expiring = True
        task.cancel()

    def close(self) -> None:
        """Drop the armed timer (the worker is done)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
