"""Timestamps as run folders and cassettes store them: UTC, microseconds, one format everywhere."""

from __future__ import annotations

import math
import time

__all__ = ["utc_now"]


#: The last whole second :func:`utc_now` formatted, and its text.
_last_second: tuple[int, str] = (-1, "")


def utc_now(at: float | None = None) -> str:
    """Now (or the Unix time ``at``) in the one format: ``2026-12-07T21:49:54.123456Z``."""
    if at is None:
        # From the clock's nanoseconds, not a datetime: every row stamps two times, and this is 8 us
        # against datetime's 12 (isoformat; strftime was 3.7 us more), timeit on a busy machine
        # (bench/runner_throughput.py's per-task CPU). The seconds' text is kept while the second
        # lasts (a run writes many rows a second): 4.6 -> 0.9 us a stamp, timeit (issue 25).
        seconds, micros = divmod(time.time_ns() // 1000, 1_000_000)
        return f"{_second_text(seconds)}.{micros:06d}Z"
    # The fields as datetime.fromtimestamp rounds them (to the microsecond, half to even) without
    # building a datetime and replacing its zone: 24.7k -> 14.9k instructions a call (callgrind);
    # production capture's writer stamps every trace with it (issue 26).
    whole = math.floor(at)
    micros = round((at - whole) * 1_000_000)
    if micros == 1_000_000:
        whole, micros = whole + 1, 0
    return f"{_second_text(whole)}.{micros:06d}Z"


def _second_text(seconds: int) -> str:
    global _last_second
    last, text = _last_second
    if seconds != last:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        _last_second = (seconds, text)
    return text
