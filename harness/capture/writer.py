"""The capture's background writer: a bounded queue, one thread, size-rotated JSON-lines files.

The app's request path only puts a finished trace on the queue (never waits, never wakes the
thread): when the queue is full the trace is dropped and counted, so a slow disk can cost traces
but never latency. The thread turns each item into its record, scrubbing every string as it goes
(:class:`Redactor`: the cassette scrubber, then the user's redaction) and appends it as one line, flushed, to the current file; past
``max_bytes`` it starts the next file. Nothing unscrubbed ever reaches a file.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from harness.engine.cassette.scrub import Scrubber

__all__ = ["Redactor", "TraceWriter", "CaptureStats", "Renderable"]

log = logging.getLogger(__name__)

#: The file's write buffer. The writer flushes once a batch (a killed app loses only what was still
#: queued); with the default buffer every trace line was a write(2) of its own (strace, 600 traces
#: of bench/capture_overhead.py --arm writer: 637 writes, 35 with this buffer).
_BUFFER_BYTES = 1 << 20


@dataclass
class Redactor:
    """Scrubbing exactly as cassettes are (:class:`Scrubber`), then the user's redaction."""

    scrubber: Scrubber
    redact_fn: Callable[[str], str] | None = None
    #: Header lines the scrubber has been over (``harness.capture.assemble``), request and response
    #: apart: raw line -> (name, scrubbed value). Used by the writer thread only; valid as long as
    #: the scrubber is not changed (capture builds it once, at install).
    request_lines: dict[str, tuple[str, str]] = field(default_factory=dict, repr=False)
    response_lines: dict[str, tuple[str, str]] = field(default_factory=dict, repr=False)

    def text(self, value: str) -> str:
        return self.extra(self.scrubber.text(value))

    def extra(self, value: str) -> str:
        """Only the user's ``redact_fn`` (for text the scrubber has already been over)."""
        return self.redact_fn(value) if self.redact_fn is not None else value

    def value(self, data: Any, text: Callable[[str], str] | None = None) -> Any:
        """Every string inside ``data`` (dict keys included) through ``text`` (by default :meth:`text`)."""
        text = text or self.text
        if isinstance(data, str):
            return text(data)
        if isinstance(data, dict):
            return {text(k) if isinstance(k, str) else k: self.value(v, text) for k, v in data.items()}
        if isinstance(data, list | tuple):
            return [self.value(v, text) for v in data]
        return data


class Renderable(Protocol):
    """What the queue carries: something that becomes one scrubbed record line in the writer thread."""

    def line(self, redactor: Redactor) -> bytes:
        """The record as one JSON line (newline-terminated), every string in it scrubbed."""


@dataclass
class CaptureStats:
    """What the capture did since it was installed."""

    captured: int = 0
    written: int = 0
    dropped: int = 0
    sampled_out: int = 0
    failed: int = 0
    files: list[str] = field(default_factory=list)


class TraceWriter:
    """Appends records to ``folder`` from a daemon thread; :meth:`submit` never blocks."""

    def __init__(self, folder: Path, redactor: Redactor, *, max_bytes: int = 64 * 2**20,
                 queue_size: int = 1000, interval_s: float = 0.5) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.redactor = redactor
        self.max_bytes = max_bytes
        self.stats = CaptureStats()
        self.capacity = queue_size
        #: Finished traces waiting for the thread. A deque, not a queue.Queue: putting an item on a
        #: Queue wakes the writer, which then takes the GIL from the app mid-request —
        #: bench/capture_overhead.py measured +6 ms of latency per call that way. The writer wakes on
        #: its own every ``interval_s`` (or at once for flush) and writes what has gathered.
        self._pending: collections.deque[Renderable | None] = collections.deque()
        #: Released to wake the writer at once (flush, close). A lock used as a signal, not an Event:
        #: the writer waits every ``interval_s`` even when idle, and ``Event.wait`` runs a
        #: Condition's Python code each time where ``Lock.acquire(timeout=…)`` waits in C
        #: (callgrind, bench/capture_overhead.py: the writer thread's wake-ups; issue 26).
        self._wake = threading.Lock()
        self._wake.acquire()
        self.interval_s = interval_s
        self._stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        self._sequence = 0
        self._handle: Any = None
        self._size = 0
        self._warned = False
        self._thread = threading.Thread(target=self._run, name="harness-capture-writer", daemon=True)
        self._thread.start()

    def submit(self, item: Renderable) -> bool:
        """Queue an item; False (and counted as dropped) when ``queue_size`` items already wait."""
        if len(self._pending) >= self.capacity:
            self.stats.dropped += 1
            if not self._warned:
                self._warned = True
                log.warning("capture queue full: traces are being dropped (see harness.capture.stats())")
            return False
        self._pending.append(item)
        return True

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far is written; False when ``timeout`` ran out first."""
        if not self._thread.is_alive():
            return not self._pending
        done = threading.Event()
        self._pending.append(_Marker(done))
        self._signal()
        return done.wait(timeout)

    def close(self, timeout: float = 10.0) -> None:
        self.flush(timeout)
        self._pending.append(None)
        self._signal()
        self._thread.join(timeout)

    def _signal(self) -> None:
        try:
            self._wake.release()
        except RuntimeError:
            pass  # already signalled, not yet taken by the writer

    def _run(self) -> None:
        while True:
            self._wake.acquire(timeout=self.interval_s)  # taken: the signal is cleared with it
            while self._pending:
                item = self._pending.popleft()
                if item is None:
                    if self._handle is not None:
                        self._handle.close()
                    return
                if isinstance(item, _Marker):
                    if self._handle is not None:
                        self._handle.flush()
                    item.done.set()
                    continue
                self._write(item)
                if not self._pending and self._handle is not None:
                    self._handle.flush()  # once a batch: a killed app loses only what was still queued
                # Hand the GIL back between records: a burst of writes must not hold up a request the
                # app is serving for a whole switch interval (5 ms).
                time.sleep(0)

    def _write(self, item: Renderable) -> None:
        try:
            # Every string of the record was scrubbed as it was made (harness.capture.assemble): a
            # second pass over the whole line cost as much again (a user's redact pattern scans at
            # ~60 ns a character, bench/capture_overhead.py).
            self._append(item.line(self.redactor))
            self.stats.written += 1
        except Exception:  # capture never raises into the app
            self.stats.failed += 1
            log.exception("capture: a trace could not be written")

    def _append(self, data: bytes) -> None:
        if self._handle is None or (self._size and self._size + len(data) > self.max_bytes):
            self._rotate()
        self._handle.write(data)
        self._size += len(data)

    def _rotate(self) -> None:
        if self._handle is not None:
            self._handle.close()
        self._sequence += 1
        path = self.folder / f"traces-{self._stamp}-{os.getpid()}-{self._sequence:04d}.jsonl"
        self._handle = path.open("ab", buffering=_BUFFER_BYTES)
        self._size = path.stat().st_size
        self.stats.files.append(str(path))


@dataclass
class _Marker:
    done: threading.Event

    def line(self, redactor: Redactor) -> bytes:  # pragma: no cover - never rendered
        raise NotImplementedError
