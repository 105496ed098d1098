"""The accepted range of every run setting, checked in one place before any work starts.

``harness run`` flags, the pytest plugin's options, :class:`~harness.engine.runner.RunOptions`,
:class:`~harness.engine.suite.Suite` and :class:`~harness.core.dataset.Dataset` all check their numbers
here, so a bad value gets the same message (with the range it must lie in) whichever way it
came in, and is refused before a run folder exists: ``--concurrency 0`` stored in ``run.json``
is a run that cannot be trusted, and a silently accepted one hides a typo.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

__all__ = ["SettingError", "Range", "RANGES", "check_setting", "check_settings"]


class SettingError(ValueError):
    """A run setting outside its accepted range; the message says the range."""


@dataclass(frozen=True)
class Range:
    """``low ≤ value ≤ high`` (``low < value`` when ``open_low``); ``whole``: an integer."""

    low: float
    high: float | None = None
    open_low: bool = False
    whole: bool = True
    why: str = ""

    def describe(self) -> str:
        kind = "a whole number" if self.whole else "a number"
        low = f"{self.low:g}"
        if self.high is not None:
            return f"{kind} from {low} to {self.high:g}"
        return f"{kind} above {low}" if self.open_low else f"{kind} of at least {low}"

    def holds(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.whole and not (isinstance(value, int) or value.is_integer()):
            return False
        if math.isnan(value):
            return False
        above = value > self.low if self.open_low else value >= self.low
        return above and (self.high is None or value <= self.high)


#: Units in flight beyond this stop helping: the client pool holds 256 connections, and each
#: unit holds a task, a trace and often a socket. Spread a bigger replay over ``--workers``.
MAX_CONCURRENCY = 1024

RANGES: dict[str, Range] = {
    "concurrency": Range(1, MAX_CONCURRENCY, why=f"more than {MAX_CONCURRENCY} units at once only queue for "
                                                 "connections; use --workers to spread a large replay"),
    "workers": Range(0, 1024, why="0 means one per CPU core"),
    "epochs": Range(1),
    "timeout_s": Range(0, open_low=True, whole=False, why="seconds per task"),
    "sample": Range(1),
    "limit": Range(1),
    "max_cost_usd": Range(0, open_low=True, whole=False, why="US dollars"),
    "max_tokens": Range(1),
    "pass_threshold": Range(0, 1, whole=False, why="a share of an item's epochs"),
    "max_error_rate": Range(0, 1, whole=False, why="a share of a variant's attempts"),
    "samples": Range(1, 100, why="judge samples per calibration item"),
    "port": Range(1, 65535, why="a TCP port"),
    "threads": Range(1, os.cpu_count() or 1, why="cores of this machine"),
}


def check_setting(name: str, value: Any, *, label: str | None = None) -> None:
    """Raise :class:`SettingError` unless ``value`` lies in ``name``'s range (``None``: unset, fine).

    ``label`` is how the caller's user spells the setting (``--timeout``, ``Suite(epochs=)``).
    """
    if value is None:
        return
    accepted = RANGES[name]
    if not accepted.holds(value):
        why = f" ({accepted.why})" if accepted.why else ""
        raise SettingError(f"{label or name} must be {accepted.describe()}{why}; got {value!r}")


def check_settings(values: dict[str, Any], labels: dict[str, str] | None = None) -> None:
    """Check several settings; one :class:`SettingError` lists every one that is out of range."""
    problems = []
    for name, value in values.items():
        try:
            check_setting(name, value, label=(labels or {}).get(name))
        except SettingError as exc:
            problems.append(str(exc))
    if problems:
        raise SettingError("; ".join(problems) if len(problems) == 1 else
                           "bad settings:\n" + "\n".join(f"  {p}" for p in problems))
