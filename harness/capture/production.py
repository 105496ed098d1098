"""``harness.capture.install``: one call in the app, and its Agents SDK traces are kept.

::

    import harness.capture
    harness.capture.install("traces/", sample=0.2, redact=[r"\\b\\d{16}\\b"])
    ...
    harness.capture.feedback(trace_id, score=0.0, comment="wrong specialist")

Capture never blocks the app and never raises into it: a trace goes to a bounded queue when it
ends, and a background thread scrubs and writes it (:mod:`harness.capture.writer`). Secrets are
scrubbed exactly as cassettes scrub them, then ``redact`` patterns and ``redact_fn`` apply,
before anything is written.
"""

from __future__ import annotations

import atexit
import logging
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.capture.assemble import record_line
from harness.capture.interception import Capture, CaptureProcessor, OpenTrace, new_trace_id
from harness.capture.record import FeedbackRecord
from harness.capture.writer import CaptureStats, Redactor, TraceWriter
from harness.core.clock import utc_now
from harness.engine import observing, routing
from harness.engine.cassette.scrub import Scrubber

__all__ = ["install", "uninstall", "trace", "feedback", "flush", "stats", "CaptureError"]

log = logging.getLogger(__name__)


class CaptureError(ValueError):
    """A capture setting out of its range (raised by :func:`install`, before anything starts)."""


@dataclass
class _Finished:
    opened: OpenTrace
    sample: float

    def line(self, redactor: Redactor) -> bytes:
        return record_line(self.opened, redactor, self.sample)


@dataclass
class _Feedback:
    record: FeedbackRecord

    def line(self, redactor: Redactor) -> bytes:
        comment = None if self.record.comment is None else redactor.text(self.record.comment)
        return self.record.model_copy(update={"comment": comment}).model_dump_json().encode() + b"\n"


@dataclass
class _Installed:
    folder: Path
    writer: TraceWriter
    capture: Capture
    processor: CaptureProcessor


_state: dict[str, _Installed] = {}
_lock = threading.Lock()


def _check(sample: float, redact: Sequence[str], max_file_bytes: int, queue_size: int) -> None:
    if not 0.0 < sample <= 1.0:
        raise CaptureError(f"sample must be in (0, 1] (the share of traces kept), got {sample!r}")
    if max_file_bytes < 4096:
        raise CaptureError(f"max_file_bytes must be at least 4096, got {max_file_bytes!r}")
    if queue_size < 1:
        raise CaptureError(f"queue_size must be at least 1, got {queue_size!r}")
    for pattern in redact:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise CaptureError(f"redact pattern {pattern!r} is not a regular expression: {exc}") from None


def install(folder: str | Path, *, sample: float = 1.0, redact: Sequence[str] = (),
            redact_fn: Callable[[str], str] | None = None, max_file_bytes: int = 64 * 2**20,
            queue_size: int = 1000) -> Path:
    """Capture every trace the sample keeps into ``folder``; returns the folder.

    A trace is an Agents SDK trace, a :func:`trace` block, or a plain ``openai`` call made outside
    both (a trace of its own).

    ``sample``: the share of traces kept, in (0, 1], decided by trace id. ``redact``: regular
    expressions replaced by ``<REDACTED>``; ``redact_fn``: a function every stored string goes
    through last. Files rotate past ``max_file_bytes``; at most ``queue_size`` finished traces wait
    for the writer (more are dropped and counted in :func:`stats`). Calling it again replaces the
    previous capture.
    """
    from agents.tracing import add_trace_processor

    from harness.engine.sdk_tracing import record_guardrail_reasons

    _check(sample, redact, max_file_bytes, queue_size)
    uninstall()
    redactor = Redactor(Scrubber(patterns=list(redact)), redact_fn)
    writer = TraceWriter(Path(folder), redactor, max_bytes=max_file_bytes, queue_size=queue_size)

    def finished(opened: OpenTrace) -> None:
        writer.stats.captured += 1
        writer.submit(_Finished(opened, sample))

    def sampled_out() -> None:
        writer.stats.sampled_out += 1

    capture = Capture(sample, finished, sampled_out)
    processor = CaptureProcessor(capture)
    with _lock:
        _state["current"] = _Installed(Path(folder), writer, capture, processor)
    routing.install()  # the one hook into the app's clients: a harness run routes there, capture observes
    observing.observe(capture.observe)
    add_trace_processor(processor)
    record_guardrail_reasons()  # a captured guardrail span says why it fired, as in a run
    return Path(folder)


def uninstall(timeout: float = 10.0) -> None:
    """Stop capturing: write what is queued, remove the processor and the observer."""
    with _lock:
        installed = _state.pop("current", None)
    if installed is None:
        return
    from agents.tracing import get_trace_provider

    provider = get_trace_provider()
    multi = getattr(provider, "_multi_processor", None)
    kept = [p for p in getattr(multi, "_processors", ()) if p is not installed.processor]
    if multi is not None:
        multi.set_processors(kept)
    observing.unobserve(installed.capture.observe)
    installed.writer.close(timeout)


@contextmanager
def trace(name: str, *, trace_id: str | None = None, group_id: str | None = None,
          metadata: dict[str, Any] | None = None) -> Iterator[str]:
    """Capture the model calls made in the block as one trace named ``name``; yields its id.

    For apps that call ``openai`` without the Agents SDK: without it, each call is a trace of its
    own. ``metadata={"input": ...}`` names what the app was asked (else the first call's user
    turn is the trace's input). Inside an SDK trace, or another ``trace`` block, the block's calls
    stay in that trace; without :func:`install` (or inside a harness run) it only yields an id.
    """
    trace_id = trace_id or new_trace_id()
    installed = _state.get("current")
    opened = None if installed is None else installed.capture.open(
        trace_id, name, group_id=group_id, metadata=metadata, source="openai")
    try:
        yield trace_id
    finally:
        if installed is not None and opened is not None:
            installed.capture.close(opened)


def feedback(trace_id: str, score: float, comment: str | None = None) -> None:
    """Attach a user's verdict to a captured trace (any time after it ran; the latest counts)."""
    installed = _state.get("current")
    if installed is None:
        log.warning("harness.capture.feedback(%r) before harness.capture.install(): not kept", trace_id)
        return
    installed.writer.submit(_Feedback(FeedbackRecord(trace_id=trace_id, score=float(score), comment=comment,
                                                     at=utc_now())))


def flush(timeout: float = 10.0) -> bool:
    """Wait until every trace finished so far is written (tests, and an app shutting down)."""
    installed = _state.get("current")
    return True if installed is None else installed.writer.flush(timeout)


def stats() -> CaptureStats:
    """Traces captured, written, dropped (queue full), sampled out, failed; files written."""
    installed = _state.get("current")
    return CaptureStats() if installed is None else replace(installed.writer.stats)


atexit.register(flush, 5.0)
