"""Routing: every ``openai`` client's requests go through the harness, whoever built the client.

A user's app reaches the model however its authors chose: the Agents SDK's default client, an
``AsyncOpenAI()`` built at import time, a sync ``OpenAI()`` in a helper. None of them was built
over the harness transport. This module routes their requests to it anyway, at the one place
they all pass: ``httpx2.Client.send`` / ``httpx2.AsyncClient.send`` (httpx2's public API, so
nothing here depends on the ``openai`` package's internals).

The patch is installed once per process and is inert until a *route* is set, and a route lives
in ``contextvars``: it is set per unit of work, so concurrent units never see each other's,
and nothing outside a unit is touched. Inside a route, a request an ``openai`` client makes
(recognised by the user agent every ``openai`` client sends) is handed to the route's own
``httpx2`` clients, whose transport keys, adapts, records and traces it
(:mod:`harness.engine.transport`). Other requests pass untouched.

Outside a unit, the same interception lets code follow the requests without taking them:
production capture registers an observer (:mod:`harness.engine.observing`), so there is one hook
into the clients, not one per consumer.

The API, for the runtime and for anything else that wants model calls routed::

    install()                               # once; idempotent
    own(http_client)                        # a client of the harness: never re-routed
    with routing(Route(async_http, sync_http, base_url=..., api_key=..., model=...)):
        ...                                 # every openai request in this context goes to the route
    with placeholder_key():                 # OPENAI_API_KEY set (if unset) for the block, then restored
        import user_app                     # so `AsyncOpenAI()` at import time does not fail
    call_site()                             # "app/agents.py:42 in triage": the user's frame
    with refuse_uncaptured():               # recording: a connection a unit opens outside the
        ...                                 # harness transport raises UncapturedCall

A route may redirect requests to its ``base_url`` (then it also sends its ``api_key``), and may
replace the ``model`` of every request (a variant that overrides the app's model choice).
"""

from __future__ import annotations

import contextvars
import functools
import json
import os
import socket
import sys
import sysconfig
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2

from harness.core.context import current_request, in_transport
from harness.engine import observing
from harness.engine.cassette.guard import NetworkBlocked, refusing

__all__ = ["Route", "install", "own", "routing", "current_route", "is_model_request", "placeholder_key",
           "call_site", "refuse_uncaptured", "uninstall", "UncapturedCall", "PLACEHOLDER_KEY", "OVERRIDDEN_HEADER"]

#: The key an ``openai`` client gets when none is configured: replay and local servers need none.
PLACEHOLDER_KEY = "sk-harness-no-key"
#: Set on a routed request whose model the route replaced: the model the app asked for (never stored).
OVERRIDDEN_HEADER = "x-harness-app-model"
_KEY_ENV = "OPENAI_API_KEY"


@dataclass(frozen=True)
class Route:
    """Where routed requests go: the harness's own clients, and what to change on the way."""

    async_http: httpx2.AsyncClient
    sync_http: httpx2.Client
    #: Send to this endpoint instead of the client's own (``None``: keep the client's).
    base_url: str | None = None
    #: Sent as the bearer key when redirecting, or when the client only had the placeholder.
    api_key: str | None = None
    #: Replace the ``model`` of every request (``None``: the app's own choice).
    model: str | None = None

    @functools.cached_property
    def _base(self) -> httpx2.URL | None:
        return httpx2.URL(self.base_url) if self.base_url else None

    def rewrite(self, request: httpx2.Request) -> httpx2.Request:
        """The request as the route sends it: its endpoint, key and model.

        Changed in place (the client builds a new request per attempt), rebuilt only when the body
        changes: bench/capture_routing.py measured routed/direct CPU per replayed call at 1.16
        when every request was rebuilt, 1.05–1.09 in place (a shared 2-core machine: noisy).
        """
        if self._base is not None:
            request.url = _rebased(request.url, self._base)
            request.headers["host"] = request.url.netloc.decode("ascii")
        bearer = request.headers.get("authorization", "")
        if self.api_key and (self._base is not None or bearer.endswith(PLACEHOLDER_KEY) or not bearer):
            request.headers["authorization"] = f"Bearer {self.api_key}"
        if self.model is None:
            return request
        content, original = _with_model(request.content, self.model)
        headers = [(k, v) for k, v in request.headers.multi_items() if k.lower() != "content-length"]
        if original is not None and original != self.model:
            headers.append((OVERRIDDEN_HEADER, original))
        return httpx2.Request(request.method, request.url, headers=headers, content=content,
                              extensions=request.extensions)


def _rebased(url: httpx2.URL, base: httpx2.URL) -> httpx2.URL:
    """``url`` sent to ``base`` instead: the API path (after ``/v1``, else the whole path) kept."""
    path = url.path
    marker = path.find("/v1/")
    suffix = path[marker + 4:] if marker >= 0 else path.lstrip("/")
    return base.copy_with(path=base.path.rstrip("/") + "/" + suffix, query=url.query or None)


#: Model families that take ``reasoning`` (the Agents SDK sends it for its default, a GPT-5 model).
_REASONING_MODELS = ("gpt-5", "o1", "o3", "o4")


def _takes_reasoning(model: str) -> bool:
    return model.startswith(_REASONING_MODELS) and not model.startswith("gpt-5-chat")


def _with_model(content: bytes, model: str) -> tuple[bytes, str | None]:
    """The body with ``model`` replaced; the reasoning settings an app's GPT-5 default brought
    along go when the new model takes none (the SDK would not have sent them for it)."""
    try:
        body = json.loads(content) if content else None
    except ValueError:
        return content, None
    if not isinstance(body, dict) or "model" not in body:
        return content, None
    original = body.get("model")
    body["model"] = model
    if not _takes_reasoning(model):
        body.pop("reasoning", None)
        text = body.get("text")
        if isinstance(text, dict):
            text.pop("verbosity", None)
    return json.dumps(body).encode(), str(original) if original is not None else None


_route: contextvars.ContextVar[Route | None] = contextvars.ContextVar("harness_route", default=None)
_owned: weakref.WeakSet[httpx2.Client | httpx2.AsyncClient] = weakref.WeakSet()
#: Whether any client was ever owned: an app that captures owns none, and asking the WeakSet makes a
#: weak reference to the client on every request (with the user-agent loop below, ``_target`` of a
#: captured call 2.04 -> 1.30 us, timeit, thread time; issue 26).
_owning = False
_install_lock = threading.Lock()
_originals: dict[str, Any] = {}


def current_route() -> Route | None:
    return _route.get()


class routing:  # lower case: used as a function, ``with routing(route): ...``
    """Route the ``openai`` requests made in this context (and the tasks it starts) to ``route``.

    A class, not a ``@contextmanager`` generator: every unit enters one, and the generator's
    machinery cost 2-3 us a unit (timeit; as :class:`harness.core.context.request_scope`, issue 25).
    """

    __slots__ = ("route", "_token")

    def __init__(self, route: Route | None) -> None:
        self.route = route

    def __enter__(self) -> None:
        self._token = _route.set(self.route)

    def __exit__(self, *exc_info: object) -> None:
        _route.reset(self._token)


def own(client: httpx2.Client | httpx2.AsyncClient) -> None:
    """Mark an ``httpx2`` client as the harness's: its requests are never re-routed."""
    global _owning
    _owned.add(client)
    _owning = True


#: User agents of ``openai`` clients: ``<client class>/Python <version>`` (``AsyncOpenAI/Python
#: 3.63.0``), or the Agents SDK's own (``Agents/Python 0.24.0``), which it sets on its calls.
_OPENAI_AGENTS = ("OpenAI/Python", "Agents/Python")
#: OpenAI API paths, for a client that set a user agent of its own.
_OPENAI_PATHS = ("/chat/completions", "/responses", "/embeddings", "/completions", "/moderations")


def is_model_request(request: httpx2.Request) -> bool:
    """A request made by an ``openai`` client. Other SDKs generated the same way (Anthropic's) send
    the same ``x-stainless-*`` headers, so those alone do not tell; the user agent or the path does."""
    agent = request.headers.get("user-agent", "")
    for token in _OPENAI_AGENTS:  # a loop, not any() over a generator: asked on every request
        if token in agent:
            return True
    return "x-stainless-lang" in request.headers and request.url.path.rstrip("/").endswith(_OPENAI_PATHS)


def _target(client: httpx2.Client | httpx2.AsyncClient,
            request: httpx2.Request) -> Route | list[observing.Observation] | None:
    """Who takes a request: the unit's route; else the observers that follow it; else nobody."""
    route = _route.get()
    if route is None and not observing.observers():
        return None
    if (_owning and client in _owned) or not is_model_request(request):
        return None
    return route if route is not None else (observing.begin(request) or None)


def install() -> None:
    """Patch ``httpx2.Client.send`` and ``httpx2.AsyncClient.send`` (once per process).

    The patched methods cost one context-variable read per request when no route is set and
    nothing observes (:mod:`harness.engine.observing`). Inside a unit the route takes a model
    request; outside one, the observers follow it as the app sends it.
    """
    with _install_lock:
        if _originals:
            return
        _originals["sync"] = sync_send = httpx2.Client.send
        _originals["async"] = async_send = httpx2.AsyncClient.send

        def send(self: httpx2.Client, request: httpx2.Request, **kwargs: Any) -> httpx2.Response:
            target = _target(self, request)
            if target is None:
                return sync_send(self, request, **kwargs)
            if isinstance(target, Route):
                return target.sync_http.send(target.rewrite(request), **kwargs)
            try:
                response = sync_send(self, request, **kwargs)
            except BaseException as exc:
                observing.follow_failure(target, exc)
                raise
            return observing.follow(target, response, streamed=bool(kwargs.get("stream")))

        async def asend(self: httpx2.AsyncClient, request: httpx2.Request, **kwargs: Any) -> httpx2.Response:
            target = _target(self, request)
            if target is None:
                return await async_send(self, request, **kwargs)
            if isinstance(target, Route):
                return await target.async_http.send(target.rewrite(request), **kwargs)
            try:
                response = await async_send(self, request, **kwargs)
            except BaseException as exc:
                observing.follow_failure(target, exc)
                raise
            return observing.follow(target, response, streamed=bool(kwargs.get("stream")))

        httpx2.Client.send = send  # type: ignore[method-assign]
        httpx2.AsyncClient.send = asend  # type: ignore[method-assign]


def uninstall() -> None:
    """Put the original ``send`` methods back (tests; a run leaves the inert patch installed)."""
    with _install_lock:
        if _originals:
            httpx2.Client.send = _originals.pop("sync")  # type: ignore[method-assign]
            httpx2.AsyncClient.send = _originals.pop("async")  # type: ignore[method-assign]


_placeholder_lock = threading.Lock()
_placeholder_depth = 0


@contextmanager
def placeholder_key() -> Iterator[None]:
    """``OPENAI_API_KEY`` set to :data:`PLACEHOLDER_KEY` inside the block when it is unset.

    ``AsyncOpenAI()`` raises at construction without a key, so an app that builds its client at
    import time (or the Agents SDK, which builds its default client on first use) could not even
    start a replay. The placeholder is not a secret; routed requests carry the route's key.
    Re-entrant; the variable is removed again when the outermost block ends.
    """
    global _placeholder_depth
    with _placeholder_lock:
        _placeholder_depth += 1
        if _placeholder_depth == 1 and not os.environ.get(_KEY_ENV):
            os.environ[_KEY_ENV] = PLACEHOLDER_KEY
    try:
        yield
    finally:
        with _placeholder_lock:
            _placeholder_depth -= 1
            if _placeholder_depth == 0 and os.environ.get(_KEY_ENV) == PLACEHOLDER_KEY:
                del os.environ[_KEY_ENV]


_LIBRARY_ROOTS = tuple(
    str(Path(p).resolve()) for p in {sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"],
                                     sysconfig.get_paths()["platlib"]}
)
_HARNESS_ROOT = str(Path(__file__).resolve().parents[1])


def _is_library(filename: str) -> bool:
    if filename.startswith("<"):
        return True
    resolved = str(Path(filename).resolve())
    return resolved.startswith(_LIBRARY_ROOTS) or resolved.startswith(_HARNESS_ROOT) or "site-packages" in resolved


def call_site() -> str:
    """The innermost frame of the user's own code on the current stack: ``path:line in function``."""
    frame = sys._getframe(1)
    while frame is not None:
        if not _is_library(frame.f_code.co_filename):
            return f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"
        frame = frame.f_back  # type: ignore[assignment]
    return "unknown (no frame outside libraries on the stack)"


class UncapturedCall(NetworkBlocked):
    """A unit opened a connection outside the harness while recording: it could never replay.

    A :class:`NetworkBlocked`, so the runner reports it as it reports a blocked replay, and the
    unit's partial recording is discarded instead of kept as the flow's own failure."""


def _check(sock: Any, address: Any) -> None:
    if sock.family not in (socket.AF_INET, socket.AF_INET6) or in_transport():
        return
    task = current_request()
    if task is None:
        return
    host, port = (address[0], address[1]) if isinstance(address, tuple) else (address, "")
    raise UncapturedCall(
        f"suite '{task.suite}', variant '{task.variant}', task '{task.task_id}': a connection to {host}:{port}, "
        f"opened from {call_site()}, did not go through the harness's openai clients (inside a task every "
        "openai client is one, wherever it was built; this call was made some other way), so it cannot be "
        "recorded or replayed."
    )


@contextmanager
def refuse_uncaptured() -> Iterator[None]:
    """While recording: an internet connection opened inside a unit but outside the harness
    transport raises :class:`UncapturedCall` (naming host, port and the user's call site).

    The HTTP layer names the path too (the cassette store refuses the requests vcrpy sees); this
    guard holds for every library, raw sockets included. Re-entrant and process-wide, but only
    code inside a unit (``contextvars``) is ever refused.
    """
    with refusing(_check):
        yield
