"""Traces: one span tree per task — agents, handoffs, tool calls, model calls, custom spans.

Three sources feed one :class:`Trajectory`:

* the HTTP transport records a ``model`` span for each model call (plain ``openai`` flows get
  them with no code in the flow);
* :mod:`harness.engine.sdk_tracing` turns the OpenAI Agents SDK's spans into ``agent``, ``handoff``,
  ``tool`` and ``guardrail`` spans (its generation spans are dropped: the HTTP span *is* that
  call, so an SDK model call is one span, not two);
* flows add their own with :func:`span` (``route``, ``round``, ``branch``…).

Span ids are ``<branch path>:<n>``, numbered per branch, so a trajectory replayed from cassettes
has the same ids as the recorded one whatever the scheduling order.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Literal

from pydantic import BaseModel, Field

from harness.core.context import current_branch

__all__ = ["Span", "SpanKind", "Trajectory", "TraceRecorder", "span", "current_recorder", "ToolCall", "LogLine"]

SpanKind = Literal["model", "agent", "handoff", "tool", "guardrail", "custom"]


class Span(BaseModel):
    """One timed step of a task. ``attributes`` holds what the step's kind defines (see docs/trace.md)."""

    id: str
    parent_id: str | None = None
    kind: SpanKind
    name: str
    branch: str = "0"
    start_s: float = 0.0
    end_s: float | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None

    @property
    def duration_s(self) -> float | None:
        return None if self.end_s is None else self.end_s - self.start_s


class ToolCall(BaseModel):
    """A tool call as graders see it, from an SDK function span or a model's tool-call request."""

    name: str
    arguments: Any = None
    result: Any = None
    agent: str | None = None
    error: str | None = None


class LogLine(BaseModel):
    """A log record a library (the Agents SDK, openai, httpx) emitted while the task ran.

    Kept with the task, not printed: the row already says what failed, and a terminal full of
    the SDK's own error lines hides the run's summary (``harness run -v`` prints them too).
    """

    t_s: float
    level: str
    logger: str
    message: str
    #: The span open when it was logged (a model call, an agent), if any.
    span_id: str | None = None


class Trajectory(BaseModel):
    """The spans of one task in start order, with the views graders and reports ask for."""

    spans: list[Span] = Field(default_factory=list)
    #: What third-party loggers said during the task (see :class:`LogLine`); not part of ``structure``.
    logs: list[LogLine] = Field(default_factory=list)

    def of_kind(self, kind: SpanKind) -> list[Span]:
        return [s for s in self.spans if s.kind == kind]

    def named(self, name: str) -> list[Span]:
        return [s for s in self.spans if s.name == name]

    @property
    def agents(self) -> list[str]:
        """Agents in the order they started running (repeats kept)."""
        return [s.name for s in self.of_kind("agent")]

    @property
    def handoffs(self) -> list[tuple[str, str]]:
        return [
            (str(s.attributes.get("from_agent")), str(s.attributes.get("to_agent")))
            for s in self.of_kind("handoff")
        ]

    @property
    def handoff_path(self) -> list[str]:
        """The chain of agents control passed through: first agent, then each handoff target."""
        path = self.agents[:1]
        path += [to for _, to in self.handoffs]
        return path

    @property
    def final_agent(self) -> str | None:
        agents = self.agents
        return agents[-1] if agents else None

    @property
    def tool_calls(self) -> list[ToolCall]:
        """Tool calls executed (SDK function spans), in start order."""
        return [
            ToolCall(
                name=s.name,
                arguments=s.attributes.get("arguments"),
                result=s.attributes.get("result"),
                agent=s.attributes.get("agent"),
                error=s.error,
            )
            for s in self.of_kind("tool")
        ]

    @property
    def model_calls(self) -> list[Span]:
        return self.of_kind("model")

    @property
    def input_tokens(self) -> int:
        return int(self.usage()["input_tokens"])

    @property
    def output_tokens(self) -> int:
        return int(self.usage()["output_tokens"])

    @property
    def cost_usd(self) -> float:
        return float(self.usage()["cost_usd"])

    def usage(self) -> dict[str, int | float]:
        """``model_calls``, ``input_tokens``, ``output_tokens``, ``cost_usd`` and ``unpriced_calls`` in
        one pass over the spans (a result row's usage; the properties took a pass each)."""
        calls = input_tokens = output_tokens = unpriced = 0
        cost = 0.0
        for s in self.spans:
            if s.kind != "model":
                continue
            calls += 1
            input_tokens += int(s.attributes.get("input_tokens") or 0)
            output_tokens += int(s.attributes.get("output_tokens") or 0)
            cost += float(s.attributes.get("cost_usd") or 0.0)
            # A call that failed (an HTTP error) is not billed: it is not an unknown cost.
            unpriced += s.error is None and "cost_usd" in s.attributes and s.attributes["cost_usd"] is None
        return {"model_calls": calls, "input_tokens": input_tokens, "output_tokens": output_tokens,
                "cost_usd": cost, "unpriced_calls": unpriced}

    @property
    def usage_unknown_calls(self) -> list[Span]:
        """Model calls whose reply did not say how many tokens they used (counted as unknown, not 0)."""
        return [s for s in self.model_calls if s.attributes.get("usage_unknown")]

    @property
    def unpriced_calls(self) -> int:
        """Model calls whose cost is unknown (``cost_usd`` null: no price for the model, or no usage in the reply)."""
        return int(self.usage()["unpriced_calls"])

    def custom(self, name: str) -> list[Span]:
        return [s for s in self.spans if s.kind == "custom" and s.name == name]

    def structure(self) -> list[dict[str, Any]]:
        """The trajectory without timings, in canonical (id) order: equal for a recording and its replay.

        ``spans`` is a timeline, and parallel branches interleave differently from run to run;
        span ids do not, so sorting by id gives one order for every run.
        """
        ordered = sorted(self.spans, key=lambda s: _id_key(s.id))
        return [s.model_dump(exclude={"start_s", "end_s"}) | {"attributes": _untimed(s.attributes)} for s in ordered]


#: Attributes that describe the environment of a run (timing, transient retries), not its behaviour.
_ENVIRONMENTAL = frozenset({"latency_s", "retries", "replayed", "timeline"})


def _untimed(attributes: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attributes.items() if k not in _ENVIRONMENTAL}


def _id_key(span_id: str) -> tuple[Any, ...]:
    """``0/2/draft#2:3`` -> (((0, ""), (2, ""), (-1, "draft", 2)), 3): numbered branches by number,
    labelled ones by label and use, then the span number."""
    path, _, number = span_id.rpartition(":")
    parts: list[tuple[Any, ...]] = []
    for part in path.split("/"):
        if part.isdigit():
            parts.append((int(part), ""))
            continue
        name, _, index = part.partition("#")
        parts.append((-1, name, int(index) if index.isdigit() else 1))
    return (tuple(parts), int(number) if number.isdigit() else 0)


class TraceRecorder:
    """Collects the spans of one task. Thread-safe: SDK tools may run in threads."""

    def __init__(self) -> None:
        self._t0 = time.perf_counter()
        self._spans: list[Span] = []
        self._open: dict[str, Span] = {}
        #: Spans numbered so far per branch. Plain ints, not ``itertools.count`` (one made and dropped
        #: per span by ``setdefault``): the collector never tracks a dict of strings and ints, so a
        #: trace production capture keeps until written holds two objects fewer for it to sweep
        #: (bench/capture_overhead.py; issue 26).
        self._counters: dict[str, int] = {}
        self._logs: list[LogLine] = []
        self._lock = threading.Lock()

    def now(self) -> float:
        return time.perf_counter() - self._t0

    def _new_id(self, branch: str) -> str:
        number = self._counters[branch] = self._counters.get(branch, 0) + 1
        return f"{branch}:{number}"

    def start(self, kind: SpanKind, name: str, /, parent_id: str | None = None, **attributes: Any) -> Span:
        branch = current_branch()
        path = branch.path if branch else "0"
        with self._lock:
            new = Span.model_validate({
                "id": self._new_id(path),
                "parent_id": parent_id if parent_id is not None else _current_span.get(),
                "kind": kind,
                "name": name,
                "branch": path,
                "start_s": self.now(),
                "attributes": attributes,
            })
            self._spans.append(new)
            self._open[new.id] = new
        return new

    def end(self, span_: Span, error: str | None = None, **attributes: Any) -> None:
        with self._lock:
            span_.end_s = self.now()
            span_.attributes.update(attributes)
            if error is not None:
                span_.error = error
            self._open.pop(span_.id, None)

    def add(self, kind: SpanKind, name: str, /, start_s: float, parent_id: str | None = None,
            error: str | None = None, **attributes: Any) -> Span:
        """Record a finished span in one step (the transport knows the whole call at once).

        Built whole, under one lock: :meth:`start` then :meth:`end` took the lock twice and
        changed the span after building it (27 against 15 us a model span, timeit on a busy machine).
        Spans (and trajectories, and result rows) are built with ``model_validate`` of a dict: the
        same validation as ``Span(**data)`` without its Python-level ``__init__`` (9.0 -> 6.9 us a
        span, 15.8 -> 12.6 a row: timeit).
        """
        branch = current_branch()
        path = branch.path if branch else "0"
        with self._lock:
            # The model's validator itself: ``model_validate``'s own wrapper was a third of the
            # validation (timeit: 1.55 -> 1.09 us a span; bench/capture_overhead.py, issue 26).
            done: Span = Span.__pydantic_validator__.validate_python({"id": self._new_id(path),
                              "parent_id": parent_id if parent_id is not None else _current_span.get(),
                              "kind": kind, "name": name, "branch": path, "start_s": start_s, "end_s": self.now(),
                              "attributes": attributes, "error": error})
            self._spans.append(done)
        return done

    #: Log lines kept per task at most (a library logging in a loop must not fill the results file).
    MAX_LOGS = 200

    def log(self, level: str, logger: str, message: str) -> None:
        """Keep a library's log record with the task (the first :attr:`MAX_LOGS`, then a count)."""
        with self._lock:
            if len(self._logs) < self.MAX_LOGS:
                self._logs.append(LogLine(t_s=self.now(), level=level, logger=logger, message=message[:4000],
                                          span_id=_current_span.get()))
            elif len(self._logs) == self.MAX_LOGS:
                self._logs.append(LogLine(t_s=self.now(), level="WARNING", logger="harness",
                                          message=f"more than {self.MAX_LOGS} log lines; the rest were not kept"))

    def model_spans(self) -> list[Span]:
        with self._lock:
            return [s for s in self._spans if s.kind == "model"]

    def spans(self) -> list[Span]:
        """The spans by start time: :meth:`trajectory`'s, without building (and validating) one
        (production capture's writer reads only these: 1.7 us a trace, timeit; issue 26)."""
        with self._lock:
            return sorted(self._spans, key=_start)

    def trajectory(self) -> Trajectory:
        """The spans as a timeline (by start time)."""
        with self._lock:
            # The model's validator itself, as in add: 1.25 -> 0.75 us a one-span trajectory (timeit; issue 25).
            built: Trajectory = Trajectory.__pydantic_validator__.validate_python(
                {"spans": sorted(self._spans, key=_start), "logs": list(self._logs)})
            return built


def _start(span_: Span) -> float:
    return span_.start_s


_recorder: ContextVar[TraceRecorder | None] = ContextVar("harness_recorder", default=None)
_current_span: ContextVar[str | None] = ContextVar("harness_current_span", default=None)


def current_recorder() -> TraceRecorder | None:
    return _recorder.get()


def current_span_id() -> str | None:
    return _current_span.get()


class recording:  # lower case: used as a function, ``with recording(recorder): ...``
    """Make ``recorder`` the one spans of this context go to. A class, not a ``@contextmanager``
    generator: every unit enters one (as :class:`harness.core.context.request_scope`)."""

    __slots__ = ("recorder", "_token")

    def __init__(self, recorder: TraceRecorder) -> None:
        self.recorder = recorder

    def __enter__(self) -> TraceRecorder:
        self._token = _recorder.set(self.recorder)
        return self.recorder

    def __exit__(self, *exc_info: object) -> None:
        _recorder.reset(self._token)


@contextmanager
def parent(span_id: str | None) -> Iterator[None]:
    """Make ``span_id`` the parent of spans started inside the block."""
    token = _current_span.set(span_id)
    try:
        yield
    finally:
        _current_span.reset(token)


@contextmanager
def span(name: str, /, kind: SpanKind = "custom", **attributes: Any) -> Iterator[Span | None]:
    """Record a span around a block: ``with span("route", category="refunds"): ...``.

    Yields the span so the block can add attributes (``s.attributes["rounds"] = 3``); yields
    ``None`` outside a task, so flows run unchanged in a plain script.
    """
    recorder = _recorder.get()
    if recorder is None:
        yield None
        return
    opened = recorder.start(kind, name, **attributes)
    token = _current_span.set(opened.id)
    try:
        yield opened
    except BaseException as exc:
        recorder.end(opened, error=f"{type(exc).__name__}: {exc}")
        raise
    else:
        recorder.end(opened)
    finally:
        _current_span.reset(token)


def event(name: str, /, **attributes: Any) -> Span | None:
    """Record an instant custom span (a decision, a vote): ``event("route", category="refunds")``."""
    recorder = _recorder.get()
    if recorder is None:
        return None
    return recorder.add("custom", name, start_s=recorder.now(), **attributes)
