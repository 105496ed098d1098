"""Start-up speed-ups: the code that exists only so that a user waits less, and what each buys.

Each is measured alone with ``bench/speedups.py``: turned off by itself (``HARNESS_SPEEDUPS_OFF``,
a comma-separated list of the names below) against all of them on, on the two times a user
waits for: a 4,000-task replay with its report (``bench/replay_e2e.py``'s suite, two workers)
and a 20-task one (where start-up is most of the wait); it prints median wall and CPU seconds
and the off/on ratios. Kept: those buying at least 10 % of one of them. The CPU figures below
were measured on the 2-core development machine under heavy load from other jobs (load
average 13-34), so wall-time figures from that session are not quoted: rerun the bench.

``prefork`` (:mod:`harness.prefork`, started by ``harness run``)
    Fork a helper at start that imports the report's libraries (scipy, pandas, pyarrow,
    matplotlib: 1.5-4 s of CPU measured, more than the 20-task replay itself) on the other core
    while the run goes on; it writes the report at the end. It saves wall time, not CPU: the
    imports leave the critical path of every ``harness run``.
``sdk_hook`` (:func:`after_import`)
    The Agents SDK costs 1.8-2.3 s of CPU to import (measured, engine already imported): more
    than a 20-task replay. It is imported only by flows that use it; its trace capture is
    installed by a one-shot import hook the moment it is imported, instead of importing it at
    every run's start to install the capture.
``prefetch`` (:func:`read_ahead`)
    Replay reads one small cassette per unit inside the event loop; from a cold page cache each
    read stalls every unit in flight. ``POSIX_FADV_WILLNEED`` on every file the run will read,
    from a thread, lets the kernel read them ahead, many at once: a cold 4,000-task replay went
    from 8.7 s to 5.4 s when it was added (``bench/replay_e2e.py --cold``).
``gc_freeze`` (:func:`frozen_heap`, around a run's units)
    The objects that exist when a run starts (the imported libraries: ~100,000 of them) move to
    the garbage collector's permanent generation until it ends, so the full collections the run
    triggers (its in-flight units promote objects to the oldest generation) do not walk them all.
    A 3,000-call live run of bench/live_overhead.py's flow made 2-3 full collections, each
    walking ~114,000 objects, against ~12,000 with them frozen (gc callbacks); what that buys
    alone is not measured yet (bench/speedups.py switches it; the sitting that added it had
    both cores taken by other jobs).
``gc_sparse`` (:func:`sparse_gc`, around a run's units, and around gates and report at its end)
    Reading a run and building its report allocate long-lived objects, and the collections their
    growth triggers were a quarter to 40 % of the report's CPU for a 4,000-row run (0.81-1.13 s;
    0.64-0.67 s with a young generation 30x larger, 0.61 s with no collection at all: timeit of the
    report of bench/replay_e2e.py's run). Larger, not paused: cyclic garbage (pandas makes some) is
    still collected, so memory stays bounded on a 1M-row run. Around the units of a live run the
    64 units in flight survive every young collection, so each walks them again: in a 4,000-call
    run of bench/live_overhead.py's flow the collector took 78 ms (235 young, 21 middle and one
    full collection; gc callbacks), 20 us per call against the bare client's 1.5, and 28.5 ms
    (8 young collections) with the young generation at 20,000 (issue 25).
Measured with bench/speedups.py (medians of 3; off/on ratios; CPU is the reliable column):
sdk_hook off: CPU x1.73 (20 tasks) and x1.75 (4,000); prefork off: CPU x1.13 / x1.19, wall
x1.36 / x1.72; prefetch off (cold cache): wall x1.05 under that load, where a busy CPU hides
disk waits (x1.6 when it was added, on a quieter machine).

Removed, for buying nothing measurable: a CA-less TLS context for replay's clients (38 ms of CPU
a run; bench: CPU x0.96 / x1.22 with it off, i.e. noise) and ``gc.freeze()`` before forking
workers (bench: CPU x1.02 / x0.89 with it off).
"""

from __future__ import annotations

import gc
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["NAMES", "enabled", "after_import", "read_ahead", "frozen_heap", "sparse_gc"]

#: Every speed-up, by the name ``HARNESS_SPEEDUPS_OFF`` turns it off with.
NAMES = ("prefork", "sdk_hook", "prefetch", "gc_freeze", "gc_sparse")


def enabled(name: str) -> bool:
    """False when ``HARNESS_SPEEDUPS_OFF`` names this speed-up (how ``bench/speedups.py`` measures it)."""
    if name not in NAMES:
        raise ValueError(f"unknown speed-up {name!r} (known: {', '.join(NAMES)})")
    return name not in {part.strip() for part in os.environ.get("HARNESS_SPEEDUPS_OFF", "").split(",")}


def after_import(module: str, install: Callable[[], None]) -> None:
    """Call ``install()`` once ``module`` is imported: now if it is, else right after its import.

    With ``sdk_hook`` off, the module is imported now (what the hook saves a run that never
    uses it).
    """
    if module not in sys.modules and not enabled("sdk_hook"):
        importlib.import_module(module)
    if module in sys.modules:
        install()
    elif not any(isinstance(f, _AfterImport) and f.module == module for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterImport(module, install))


class _AfterImport(importlib.abc.MetaPathFinder):
    """A one-shot finder: wraps the module's loader so ``install`` runs right after it executes."""

    def __init__(self, module: str, install: Callable[[], None]) -> None:
        self.module, self.install = module, install

    def find_spec(self, name: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if name != self.module:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader = spec.loader
        original = loader.exec_module
        install = self.install

        def exec_module(module: Any) -> None:
            original(module)
            loader.exec_module = original  # type: ignore[method-assign]
            install()

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def read_ahead(paths: Iterable[Path]) -> int:
    """Ask the OS to read these files into the page cache; returns how many it asked for.

    Missing files are skipped. A no-op (0) where the OS lacks ``posix_fadvise`` or with
    ``prefetch`` off. It only makes syscalls: run it in a thread.
    """
    if not hasattr(os, "posix_fadvise") or not enabled("prefetch"):
        return 0
    asked = 0
    for path in paths:
        try:
            descriptor = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_WILLNEED)
            asked += 1
        finally:
            os.close(descriptor)
    return asked



@contextmanager
def frozen_heap() -> Iterator[None]:
    """Keep the objects that exist now out of the garbage collector's collections until the block
    ends (``gc.freeze``; ``gc.unfreeze`` after, so garbage among them is collected again then)."""
    if not enabled("gc_freeze"):
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


#: The young generation's threshold inside :func:`sparse_gc` (Python's default: 700 allocations).
SPARSE_GC_THRESHOLD = 20_000


@contextmanager
def sparse_gc() -> Iterator[None]:
    """Collect garbage less often inside the block: the young generation holds
    :data:`SPARSE_GC_THRESHOLD` allocations before a collection; the thresholds are restored after."""
    if not enabled("gc_sparse"):
        yield
        return
    thresholds = gc.get_threshold()
    gc.set_threshold(max(SPARSE_GC_THRESHOLD, thresholds[0]), *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
