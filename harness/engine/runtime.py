"""The runtime: clients, cassettes and capture for the duration of a run.

One :class:`Runtime` is open while a run (or a test) executes. It builds the ``openai``
clients over the harness transport, activates the cassette store (and the network guard in
record mode ``none``), installs the Agents SDK trace processor and the branch task factory,
and opens a *unit* per piece of work::

    async with Runtime(RuntimeConfig(record_mode="once")) as runtime:
        async with runtime.unit(RequestContext("suite", "v1", "task-1")) as unit:
            ...                      # model calls here are keyed, recorded, traced
        unit.trajectory              # the span tree of that unit

Judges use the same mechanism with their own channel, so their calls live in their own
cassettes: ``runtime.unit(RequestContext(..., channel="judge/relevance"))``.
"""

from __future__ import annotations

import contextvars
import dataclasses
import logging
import os
import time
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx2
from openai import AsyncOpenAI, OpenAI

from harness.core.context import RequestContext, cancel_abandoned_tasks, install_branch_factory, request_scope
from harness.core.conversation import UserSimulator
from harness.core.model_settings import ModelSettings
from harness.core.trace import TraceRecorder, Trajectory, recording
from harness.engine import routing, speedups
from harness.engine.backends import get_profile
from harness.engine.cassette.miss import CassetteMiss
from harness.engine.cassette.scrub import Scrubber
from harness.engine.cassette.storage import RecordingFiles
from harness.engine.cassette.store import CassetteStore, RecordMode
from harness.engine.library_logs import capture_library_logs
from harness.engine.transport import HarnessAsyncTransport, HarnessSyncTransport

__all__ = ["RuntimeConfig", "Runtime", "Unit", "current_runtime", "NoRuntime"]

log = logging.getLogger(__name__)

#: Used when no key is configured: replay and local servers need none, and the value is not secret.
PLACEHOLDER_KEY = routing.PLACEHOLDER_KEY


class NoRuntime(RuntimeError):
    pass


@dataclass
class RuntimeConfig:
    """Where model calls go and how they are recorded. Unset values come from the environment."""

    base_url: str | None = None
    api_key: str | None = None
    record_mode: RecordMode | str = RecordMode.NONE
    cassette_dir: Path = Path("cassettes")
    #: Backend profile name (see harness.engine.backends); ``None``: the suite's, then $HARNESS_BACKEND, then "openai".
    backend: str | None = None
    #: Retries of 429/5xx/timeouts by the openai client itself (0 while replaying).
    max_retries: int = 3
    request_timeout_s: float = 120.0
    judge_base_url: str | None = None
    judge_api_key: str | None = None
    judge_settings: ModelSettings = field(default_factory=lambda: ModelSettings(model="gpt-4o-mini", temperature=0.0))
    #: The model playing the customer in conversation tasks (``Suite(simulator=...)``); ``None``:
    #: only scripted customer turns can be sent.
    simulator: UserSimulator | None = None
    scrub_patterns: list[str] = field(default_factory=list)
    max_connections: int = 256
    #: Rewrite format-1 recordings that replay whole to the current format (``harness cassettes migrate``).
    migrate_cassettes: bool = False

    def resolved_base_url(self) -> str | None:
        return self.base_url or os.environ.get("OPENAI_BASE_URL") or None

    def resolved_api_key(self) -> str:
        return self.api_key or os.environ.get("OPENAI_API_KEY") or PLACEHOLDER_KEY


@dataclass
class Unit:
    """One piece of work inside a runtime: its request context and its trace."""

    request: RequestContext
    recorder: TraceRecorder
    cassette: Path | None = None
    #: Keep the recording although the block raised: the flow itself failed, deterministically
    #: given the replies it got, so replay must reproduce that failure rather than miss.
    keep_failed_recording: bool = False
    #: True when the unit was served from a recording.
    replayed: bool = False
    #: The recording exists but cannot be read: the unit must fail with this (and only this unit).
    unreadable: CassetteMiss | None = None
    #: The unit's latency: measured live, or the recorded one when replayed (replay speed says
    #: nothing about the model). Model spans get their recorded latencies the same way.
    latency_s: float = 0.0

    @property
    def trajectory(self) -> Trajectory:
        return self.recorder.trajectory()


_current: contextvars.ContextVar[Runtime | None] = contextvars.ContextVar("harness_runtime", default=None)


def current_runtime() -> Runtime:
    runtime = _current.get()
    if runtime is None:
        raise NoRuntime("no harness runtime is open: run this inside `harness run`, pytest, or `async with Runtime()`")
    return runtime


class Runtime:
    """Clients + cassette store + capture, opened around a run."""

    def __init__(self, config: RuntimeConfig | None = None, files: RecordingFiles | None = None) -> None:
        """``files``: where recordings are read and written (default: the cassette folder)."""
        self.config = config or RuntimeConfig()
        self.mode = RecordMode(self.config.record_mode)
        self.profile = get_profile(self.config.backend or os.environ.get("HARNESS_BACKEND") or "openai")
        scrubber = Scrubber(patterns=list(self.config.scrub_patterns))
        scrubber.add_secret(self.config.api_key)
        scrubber.add_secret(self.config.judge_api_key)
        self.store = CassetteStore(self.config.cassette_dir, self.mode, scrubber,
                                   migrate=self.config.migrate_cassettes, files=files)
        self._stack = ExitStack()
        self._warned: set[tuple[str, str, str]] = set()
        self._token: contextvars.Token[Runtime | None] | None = None
        retries = 0 if self.mode is RecordMode.NONE else self.config.max_retries
        self._tls = httpx2.create_ssl_context()  # one for the three clients: loading the CA bundle is most of their cost
        # An ``httpx2.Timeout``, not the float: the openai client hands its timeout to httpx2 with
        # every request, and ``Timeout(float)`` checks it against the ``SupportsFloat`` protocol
        # (11 us a call, timeit; 1.4 us for a Timeout), which the bare client, whose default is a
        # Timeout, never pays (bench/live_overhead.py, issue 25).
        self._timeout = httpx2.Timeout(self.config.request_timeout_s)
        flow_http = self._async_http()
        self.client = self._async_client(flow_http, self.config.resolved_base_url(), self.config.resolved_api_key(),
                                         retries)
        sync_http = httpx2.Client(transport=HarnessSyncTransport(
            httpx2.HTTPTransport(verify=self._tls, limits=self._limits()), self.profile),
            timeout=self._timeout)
        routing.own(sync_http)
        self.sync_client = OpenAI(base_url=self.config.resolved_base_url(), api_key=self.config.resolved_api_key(),
                                  max_retries=retries, http_client=sync_http, timeout=self._timeout)
        judge_url = self.config.judge_base_url or self.config.resolved_base_url()
        judge_key = self.config.judge_api_key or self.config.resolved_api_key()
        judge_http = self._async_http()
        self.judge_client = self._async_client(judge_http, judge_url, judge_key, retries)
        #: Where the requests of clients the harness did not build go, inside a unit (see
        #: harness.engine.routing): the SDK's default client, an app's own ``AsyncOpenAI()``.
        self.route = routing.Route(flow_http, sync_http, base_url=self.config.resolved_base_url(),
                                   api_key=self.config.resolved_api_key())
        #: The same inside a judge's unit: its endpoint and key (a grader with a client of its own).
        self.judge_route = routing.Route(judge_http, sync_http, base_url=judge_url, api_key=judge_key)

    def _limits(self) -> httpx2.Limits:
        n = self.config.max_connections
        return httpx2.Limits(max_connections=n, max_keepalive_connections=n)

    def _async_http(self) -> httpx2.AsyncClient:
        transport = HarnessAsyncTransport(httpx2.AsyncHTTPTransport(verify=self._tls, limits=self._limits()),
                                         self.profile)
        http = httpx2.AsyncClient(transport=transport, timeout=self._timeout)
        routing.own(http)
        return http

    def _async_client(self, http: httpx2.AsyncClient, base_url: str | None, api_key: str, retries: int) -> AsyncOpenAI:
        return AsyncOpenAI(base_url=base_url, api_key=api_key, max_retries=retries, http_client=http,
                           timeout=self._timeout)

    def describe(self) -> dict[str, Any]:
        """The backend as the run manifest records it (never the key)."""
        return {
            "base_url": self.config.resolved_base_url() or "https://api.openai.com/v1",
            "profile": self.profile.describe(),
            "record_mode": self.mode.value,
            "max_retries": self.client.max_retries,
            "judge": self.config.judge_settings.model_dump(exclude_none=True),
            **({"simulator": self.config.simulator.model.model_dump(exclude_none=True)} if self.config.simulator else {}),
        }

    async def __aenter__(self) -> Self:
        self.activate()
        self._token = _current.set(self)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._token is not None:
            _current.reset(self._token)
        await self.close()

    def activate(self) -> None:
        """Patch this process and event loop for the run: cassettes, network guard, capture.

        ``async with runtime`` does this and makes the runtime current. A long-lived worker
        that serves many calls (a Ray actor: each call is its own task, with its own context)
        activates once and wraps each call in :meth:`as_current`.
        """
        install_branch_factory()
        _install_sdk_capture()
        routing.install()
        self._stack.enter_context(routing.placeholder_key())
        if self.mode not in (RecordMode.NONE, RecordMode.OFF):
            self._stack.enter_context(routing.refuse_uncaptured())
        capture_library_logs()
        self._stack.enter_context(self.store.activate())

    @contextmanager
    def as_current(self) -> Iterator[None]:
        """Make this (activated) runtime the one :func:`current_runtime` returns, in this context."""
        token = _current.set(self)
        try:
            yield
        finally:
            _current.reset(token)

    async def close(self) -> None:
        """Undo :meth:`activate` and close the clients."""
        self._stack.close()
        await self.client.close()
        await self.judge_client.close()
        self.sync_client.close()

    def unit(self, request: RequestContext, meta: dict[str, Any] | None = None,
             model: str | None = None) -> AbstractAsyncContextManager[Unit]:
        """Run a block as one keyed, recorded, traced unit of work: ``async with runtime.unit(request) as unit``.

        Every ``openai`` request made in the block goes through the harness, whichever client
        makes it (:mod:`harness.engine.routing`); ``model``, when given, replaces the model of
        each request of a client the harness did not build (a variant overriding the app's choice).

        The unit's recording is written when the block exits without an exception. When it
        raises, the partial recording is discarded (so ``once`` records the task again whole),
        unless the caller set ``unit.keep_failed_recording`` because the flow's own code failed.
        """
        return _UnitBlock(self, request, meta, model)

    def _close_unit(self, unit: Unit, handle: Any, ok: bool) -> None:
        """End a unit's recording (or replay): its latency, recorded timings, and the cassette kept."""
        if handle is None:  # record mode off: the store began nothing, so it has nothing to end
            return
        unit.replayed = handle.mode == "replay" and not handle.missing
        if unit.replayed and handle.recorded_meta.get("timing"):
            _apply_recorded_timing(unit, handle.recorded_meta["timing"])
        # Timings are stored with a new recording only: building them for every live or
        # replayed unit (a sorted trajectory per unit) cost 35 us per unit under cProfile of
        # bench/runner_throughput.py, all of it thrown away.
        records = handle.mode == "record"
        unit.cassette = self.store.end(unit.request, ok or unit.keep_failed_recording,
                                       outcome="ok" if ok else "error", timing=_timing(unit) if records else None)
        if ok and records:
            self._warn_if_empty(unit)

    def _warn_if_empty(self, unit: Unit) -> None:
        """Once per variant: a unit recorded without a single model call (an empty recording)."""
        request = unit.request
        if unit.recorder.model_spans() or (request.suite, request.channel, request.variant) in self._warned:
            return
        self._warned.add((request.suite, request.channel, request.variant))
        log.warning("suite '%s', variant '%s': task '%s' recorded no model call, so its recording is empty. If "
                    "the flow calls a model, the call did not go through the harness (a client other than "
                    "openai's?); `harness cassettes status` lists empty recordings.",
                    request.suite, request.variant, request.task_id)


class _UnitBlock:
    """:meth:`Runtime.unit`'s block. A class, not an ``@asynccontextmanager`` generator: every unit
    enters one, and the generator's two coroutines a unit cost 5-8 us of the harness's own CPU per
    unit (cProfile of bench/runner_throughput.py)."""

    __slots__ = ("runtime", "request", "meta", "model", "unit", "handle", "started", "scope", "recording", "routing")

    def __init__(self, runtime: Runtime, request: RequestContext, meta: dict[str, Any] | None,
                 model: str | None) -> None:
        self.runtime, self.request, self.meta, self.model = runtime, request, meta, model

    async def __aenter__(self) -> Unit:
        runtime, request = self.runtime, self.request
        unit = self.unit = Unit(request=request, recorder=TraceRecorder())
        handle = self.handle = runtime.store.begin(request, self.meta)
        # With record mode off (no handle) the store has nothing to say about the unit: asking it
        # three times and ending it cost 7.8 k of a unit block's 68.3 k instructions (callgrind; issue 25).
        if handle is not None:
            unit.unreadable = runtime.store.unreadable(handle)
        self.started = time.perf_counter()
        # The unit's three scopes are entered (and left, in __aexit__) as nested ``with`` blocks
        # would be, written out, not by a loop and a recursive exit: with request_scope's two
        # changes, a unit's block went from 77.6 k to 68.3 k instructions (callgrind; issue 25).
        try:
            legacy = handle is not None and handle.mode == "replay" and handle.legacy
            route = runtime.route if request.channel == "flow" else runtime.judge_route
            route = route if self.model is None else dataclasses.replace(route, model=self.model)
            chooser = None if handle is None else runtime.store.fork_chooser(handle)
            scope = self.scope = request_scope(request, fork_chooser=chooser, legacy_keys=legacy)
            traced = self.recording = recording(unit.recorder)
            routed = self.routing = routing.routing(route)
            scope.__enter__()
            try:
                traced.__enter__()
                try:
                    routed.__enter__()
                except BaseException:
                    traced.__exit__(None, None, None)
                    raise
            except BaseException:
                scope.__exit__(None, None, None)
                raise
        except BaseException:
            self._close(ok=False)
            raise
        return unit

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        traceback: TracebackType | None) -> None:
        ok = False
        try:
            try:
                cancel_abandoned_tasks()
            finally:
                try:
                    self.routing.__exit__(exc_type, exc, traceback)
                finally:
                    try:
                        self.recording.__exit__(exc_type, exc, traceback)
                    finally:
                        self.scope.__exit__(exc_type, exc, traceback)
            ok = exc_type is None
        finally:
            self._close(ok)

    def _close(self, ok: bool) -> None:
        self.unit.latency_s = time.perf_counter() - self.started
        self.runtime._close_unit(self.unit, self.handle, ok)


def _timing(unit: Unit) -> dict[str, Any]:
    calls = {str(s.attributes.get("key")): s.attributes.get("latency_s") for s in unit.recorder.model_spans()}
    # Every span's [start, end], by span id (ids are equal on record and replay): a replayed
    # transcript then shows how long each agent turn and tool call took when it was recorded.
    spans = {s.id: [round(s.start_s, 4), None if s.end_s is None else round(s.end_s, 4)]
             for s in unit.recorder.trajectory().spans}
    return {"latency_s": round(unit.latency_s, 4), "calls": calls, "spans": spans}


def _apply_recorded_timing(unit: Unit, timing: dict[str, Any]) -> None:
    """Report the latencies the recording had, not how fast replay was."""
    unit.latency_s = float(timing.get("latency_s", unit.latency_s))
    calls = timing.get("calls") or {}
    for span in unit.recorder.model_spans():
        recorded = calls.get(str(span.attributes.get("key")))
        if recorded is not None:
            span.attributes["latency_s"] = recorded
            span.attributes["replayed"] = True
    timeline = timing.get("spans") or {}
    for span in unit.recorder.trajectory().spans:
        start_end = timeline.get(span.id)
        if start_end is not None:
            span.start_s, span.end_s = start_end[0], start_end[1]
            span.attributes["timeline"] = "recorded"


def _install_sdk_capture() -> None:
    """Route Agents SDK spans to the harness (and never to the network), once the SDK is imported."""

    def install() -> None:
        from harness.engine import sdk_tracing

        sdk_tracing.install()

    speedups.after_import("agents", install)
