"""Where production capture meets the app: routing's observer hook and the Agents SDK's trace processors.

``harness.capture.install`` registers :meth:`Capture.observe` on the one interception point the
harness has in the app's clients — :mod:`harness.engine.routing`'s ``httpx2`` ``send``, where a
harness run routes its units' requests — and adds :class:`CaptureProcessor` to the SDK's trace
processors (the app's own processors, the export to OpenAI included, stay). Inside a harness
unit the unit's route takes the request and capture never sees it; outside one, capture observes
the request as the app sends it, unchanged.

A *capture unit* is opened per kept trace, in the context of the code that started it — the same
request scope and :class:`~harness.core.trace.TraceRecorder` a harness run opens per task — so
everything below is the harness's own machinery, not a second copy of it:

* agent, handoff, tool, guardrail and custom spans come from
  :class:`~harness.engine.sdk_tracing.HarnessTraceProcessor`, fed the SDK's spans;
* each model call made inside the unit, by any ``openai`` client, is keyed by branch and call
  number exactly as a run keys it (:func:`~harness.engine.transport.request_keys`), and its
  ``model`` span comes from the harness transport's own :class:`~harness.engine.transport.SpanWriter`
  — placed in the request path, where span ids are decided, and described (both bodies parsed)
  when the stored trace is read (trace format 2, :mod:`harness.capture.describe`).

A unit opens when an SDK trace starts, when the app enters :func:`harness.capture.trace`, or — for
a plain ``openai`` call made outside both — around that one call (a trace of its own).

Cost (issue 26, bench/capture_overhead.py): the request path keeps plain values (strings and
bytes), never the request and response objects; kept objects outlived the garbage collector's
young generation and made it collect the app's whole heap (callgrind: 460k of the 1.48M
instructions capture added per call went to the collector).

Nothing here may raise into the app or make it wait: routing logs what an observer raises, the
SDK callbacks catch and log, and a finished trace is handed to the writer's bounded queue
(:mod:`harness.capture.writer`).
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2
from agents.tracing import TracingProcessor

from harness.core.context import RequestContext, current_request, install_branch_factory, request_scope
from harness.core.trace import Span, TraceRecorder, recording
from harness.engine.sdk_tracing import HarnessTraceProcessor
from harness.engine.transport import SpanWriter, request_keys

__all__ = ["CAPTURE_SUITE", "OpenTrace", "RawExchange", "Capture", "CaptureProcessor", "keeps", "new_trace_id"]

log = logging.getLogger(__name__)

#: The suite name of capture units (their keys read ``harness-capture|flow|production|<trace>|…``).
CAPTURE_SUITE = "harness-capture"
CAPTURE_VARIANT = "production"
#: Paths of model calls (everything else an app sends passes unobserved).
MODEL_PATHS = ("/chat/completions", "/responses", "/completions", "/embeddings")
#: Response headers that describe the wire form of a body the capture keeps decoded.
DECODED_AWAY = {"content-encoding", "content-length", "transfer-encoding"}


def keeps(trace_id: str, sample: float) -> bool:
    """Whether the sample keeps a trace: decided by its id, so every process decides alike."""
    if sample >= 1.0:
        return True
    digest = hashlib.sha256(trace_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < sample


def new_trace_id() -> str:
    """A trace id as the Agents SDK writes them (``trace_`` and 32 hex digits)."""
    return f"trace_{uuid.uuid4().hex}"


def _header_lines(headers: httpx2.Headers) -> bytes:
    """Headers as ``name: value`` lines: one bytes object, which the collector never tracks.

    Each pair joined by ``bytes.join`` through ``map`` rather than formatted in a comprehension
    (callgrind, the bench's 16 request headers: 29.9k -> 24.9k instructions)."""
    return b"\n".join(map(b": ".join, headers.raw))


@dataclass(slots=True)
class RawExchange:
    """A model call as the request path kept it: plain values only. Reading the headers, scrubbing
    and storing them is the writer thread's work, never the app's."""

    key: str | None
    method: str
    url: str
    request_headers: bytes
    request_body: bytes
    started: float
    #: The harness's model-span writer: the span is placed in the request path, described on read.
    writer: SpanWriter | None = None
    span: Span | None = None
    status: int | None = None
    response_headers: bytes = b""
    body: bytes = b""
    latency_s: float = 0.0
    error: str | None = None


@dataclass(slots=True)
class OpenTrace:
    """One trace being captured: its recorder and the exchanges its model calls made."""

    trace_id: str
    workflow: str
    group_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    #: Unix time when the trace started (formatted in the writer thread).
    started_at: float = field(default_factory=time.time)
    started: float = field(default_factory=time.perf_counter)
    recorder: TraceRecorder = field(default_factory=TraceRecorder)
    #: ``agents-sdk`` (an SDK trace), ``openai`` (harness.capture.trace, or one plain call).
    source: str = "agents-sdk"
    #: False for a trace the sample left out: it is followed only so its calls are not captured alone.
    kept: bool = True
    #: A plain call made outside any trace: the trace ends when the call does.
    alone: bool = False
    exchanges: list[RawExchange] = field(default_factory=list)
    closed: bool = False
    latency_s: float = 0.0
    #: What :meth:`Capture.close` resets, in order: the trace's token in ``_open``, then the recording
    #: and the request scope entered in :meth:`Capture.open` (a sampled-out trace enters neither).
    #: The objects themselves, not a tuple of bound methods and a ``functools.partial`` made per
    #: trace to undo them (three objects fewer a trace; docs/capture.md's cost section, issue 26).
    token: contextvars.Token[OpenTrace | None] | None = None
    entered: tuple[recording, request_scope] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, exchange: RawExchange) -> None:
        with self.lock:
            self.exchanges.append(exchange)


_open: contextvars.ContextVar[OpenTrace | None] = contextvars.ContextVar("harness_capture_trace", default=None)


def current_trace() -> OpenTrace | None:
    """The trace being captured (or followed, sampled out) in this context, if any."""
    opened = _open.get()
    return None if opened is None or opened.closed else opened


def _api_name(request: httpx2.Request) -> str:
    """``POST …/v1/chat/completions`` -> ``chat.completions`` (a lone call's workflow name)."""
    path = request.url.path.rstrip("/")
    return next((p.lstrip("/").replace("/", ".") for p in MODEL_PATHS if path.endswith(p)), "openai")


class _Call:
    """routing's observation of one model call inside a capture unit (see harness.engine.observing)."""

    __slots__ = ("capture", "opened", "exchange")

    def __init__(self, capture: Capture, opened: OpenTrace, exchange: RawExchange) -> None:
        self.capture, self.opened, self.exchange = capture, opened, exchange

    def answered(self, response: httpx2.Response, body: bytes, error: str | None) -> None:
        """The call is over: place its span now (ids follow the order calls end in, as in a run);
        the stored trace is described from the bodies kept here when it is read."""
        exchange = self.exchange
        exchange.status, exchange.body, exchange.error = response.status_code, body, error
        exchange.response_headers = _header_lines(response.headers)
        exchange.latency_s = time.perf_counter() - exchange.started
        if exchange.writer is not None:
            exchange.span = exchange.writer.place(response.status_code)
        self._end()

    def failed(self, exc: BaseException) -> None:
        self.exchange.error = f"{type(exc).__name__}: {exc}"
        if self.exchange.writer is not None:
            self.exchange.writer.fail(exc)
        self._end()

    def _end(self) -> None:
        self.opened.add(self.exchange)
        if self.opened.alone:
            self.capture.close(self.opened)


class Capture:
    """Opens a capture unit per kept trace and hands it to ``finished`` when the trace ends."""

    def __init__(self, sample: float, finished: Callable[[OpenTrace], None], sampled_out: Callable[[], None]) -> None:
        self.sample = sample
        self.finished = finished
        self.sampled_out = sampled_out

    def open(self, trace_id: str, workflow: str, *, group_id: str | None = None,
             metadata: dict[str, Any] | None = None, source: str = "agents-sdk") -> OpenTrace | None:
        """Open a unit in the current context; None where none opens: a harness run is recording
        this code, or a trace is already being captured here (the new one joins it)."""
        running = current_request()
        if (running is not None and running.suite != CAPTURE_SUITE) or current_trace() is not None:
            return None
        kept = keeps(trace_id, self.sample)
        opened = OpenTrace(trace_id=trace_id, workflow=workflow, group_id=group_id, metadata=dict(metadata or {}),
                           source=source, kept=kept)
        if kept:
            try:
                install_branch_factory()  # concurrent strands become branches, as in a run
            except RuntimeError:
                pass  # no running loop: sync code has no concurrent strands to number
            scope = request_scope(RequestContext(CAPTURE_SUITE, CAPTURE_VARIANT, trace_id))
            recorded = recording(opened.recorder)
            scope.__enter__()
            recorded.__enter__()
            opened.entered = (recorded, scope)
        else:
            self.sampled_out()
        opened.token = _open.set(opened)
        return opened

    def close(self, opened: OpenTrace) -> None:
        opened.closed = True
        opened.latency_s = time.perf_counter() - opened.started
        # Undone one by one, not with an ExitStack: its machinery was ~20% of what opening and
        # closing a trace cost the app (callgrind: 85k -> 65k instructions a trace; issue 26).
        token, entered = opened.token, opened.entered
        opened.token = opened.entered = None
        # Each reset on its own: one that fails leaves the others to do.
        if token is not None:
            try:
                _open.reset(token)
            except ValueError:
                pass  # ended in another context than it started in (run_streamed): nothing to reset here
        for scope in entered or ():
            try:
                scope.__exit__(None, None, None)
            except ValueError:
                pass  # as above
        if opened.kept:
            self.finished(opened)

    def observe(self, request: httpx2.Request) -> _Call | None:
        """routing's observer: follow a model call made outside any harness unit."""
        if request.method != "POST" or not request.url.path.rstrip("/").endswith(MODEL_PATHS):
            return None
        opened = current_trace()
        if opened is None:
            if current_request() is not None:
                return None  # a harness unit without a route: it is never production
            return self._alone(request)
        if not opened.kept:
            return None
        keys = request_keys(request)
        return self._call(opened, request, None if keys is None else keys.key)

    def _alone(self, request: httpx2.Request) -> _Call | None:
        """A plain call outside any trace: a trace of its own (one exchange), keyed as a unit's first call."""
        trace_id = new_trace_id()
        if not keeps(trace_id, self.sample):
            self.sampled_out()
            return None
        opened = OpenTrace(trace_id=trace_id, workflow=_api_name(request), source="openai", alone=True)
        with request_scope(RequestContext(CAPTURE_SUITE, CAPTURE_VARIANT, trace_id)):
            keys = request_keys(request)
        return self._call(opened, request, None if keys is None else keys.key)

    def _call(self, opened: OpenTrace, request: httpx2.Request, key: str | None) -> _Call:
        exchange = RawExchange(key, request.method, str(request.url), _header_lines(request.headers),
                               request.content, time.perf_counter(),
                               writer=SpanWriter(opened.recorder, request, key=key))
        return _Call(self, opened, exchange)


class CaptureProcessor(TracingProcessor):
    """The SDK's side: a unit per kept SDK trace, and the trace's spans recorded into it."""

    def __init__(self, capture: Capture) -> None:
        self.capture = capture
        self.spans = HarnessTraceProcessor()
        self._traces: dict[str, OpenTrace] = {}
        self._lock = threading.Lock()

    def on_trace_start(self, trace: Any) -> None:
        try:
            exported = trace.export() or {}
            opened = self.capture.open(str(trace.trace_id), str(exported.get("workflow_name") or trace.name),
                                       group_id=exported.get("group_id"), metadata=exported.get("metadata"))
            if opened is not None:
                with self._lock:
                    self._traces[opened.trace_id] = opened
        except Exception:  # capture never raises into the app
            log.exception("capture: could not start capturing trace %s", getattr(trace, "trace_id", "?"))

    def on_trace_end(self, trace: Any) -> None:
        try:
            with self._lock:
                opened = self._traces.pop(str(trace.trace_id), None)
            if opened is not None:
                self.capture.close(opened)
        except Exception:  # capture never raises into the app
            log.exception("capture: could not finish trace %s", getattr(trace, "trace_id", "?"))

    def on_span_start(self, span: Any) -> None:
        self._forward("on_span_start", span)

    def on_span_end(self, span: Any) -> None:
        self._forward("on_span_end", span)

    def _forward(self, event: str, span: Any) -> None:
        """Hand a span event of a kept trace to the recorder's processor; never raise into the app."""
        opened = _open.get()
        if opened is None or not opened.kept:
            return
        try:
            getattr(self.spans, event)(span)
        except Exception:  # capture never raises into the app
            log.exception("capture: %s", event)

    def shutdown(self) -> None:
        return None

    def force_flush(self) -> None:
        return None
