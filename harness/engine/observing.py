"""Observers: code that follows the model requests an app sends, at routing's one interception point.

:mod:`harness.engine.routing` intercepts ``httpx2.Client.send`` / ``AsyncClient.send``, the place
every ``openai`` client's requests pass. Inside a harness unit the unit's *route* takes a model
request (the harness sends it itself). Outside one, the request goes out as the app sent it, and
the *observers* registered here may follow it: production capture (:mod:`harness.capture`) is one.
Layers only look down, so the engine defines the hook and a higher layer registers on it::

    def observer(request: httpx2.Request) -> Observation | None:
        ...  # called on the app's thread, in the request's context, before it is sent
    observe(observer)      # and unobserve(observer)

An :class:`Observation` hears how its request ended: :meth:`~Observation.answered` with the
response and its whole (decoded) body — for a streamed reply when the app has read the stream to
its end, or closed it — or :meth:`~Observation.failed` with the exception ``send`` raised. The
body is the one the app read, never read twice: a streamed reply is teed as the app reads it.

Observers run on the app's request path, so they must be cheap (defer work to a thread of their
own); whatever they raise is logged here and never reaches the app.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Protocol

import httpx2

__all__ = ["Observation", "Observer", "observe", "unobserve", "observers", "begin", "follow",
           "follow_failure"]

log = logging.getLogger(__name__)


class Observation(Protocol):
    """One model request an observer follows (its callbacks run on the app's thread)."""

    def answered(self, response: httpx2.Response, body: bytes, error: str | None) -> None:
        """The reply: status, headers and the decoded body; ``error`` when a stream was cut short."""

    def failed(self, exc: BaseException) -> None:
        """``send`` raised (no reply: a connection error, a timeout, a cancellation)."""


Observer = Callable[[httpx2.Request], "Observation | None"]

#: The registered observers. Replaced, never mutated, so ``send`` reads it without a lock.
_observers: tuple[Observer, ...] = ()


def observe(observer: Observer) -> None:
    """Follow every model request sent outside a harness unit (idempotent)."""
    global _observers
    if observer not in _observers:
        _observers = (*_observers, observer)


def unobserve(observer: Observer) -> None:
    global _observers
    _observers = tuple(o for o in _observers if o != observer)  # ==: a bound method is made anew each time


def observers() -> tuple[Observer, ...]:
    """The observers now registered (routing's ``send`` asks this first: empty is the common case)."""
    return _observers


def begin(request: httpx2.Request) -> list[Observation]:
    """The observations of a request about to be sent (observers that raise are logged and skipped)."""
    followed = []
    for observer in _observers:
        try:
            observation = observer(request)
        except Exception:  # an observer never breaks the app's request
            log.exception("observer %r failed on a request to %s", observer, request.url)
            continue
        if observation is not None:
            followed.append(observation)
    return followed


def _tell(observations: list[Observation], response: httpx2.Response, body: bytes, error: str | None) -> None:
    for observation in observations:
        try:
            observation.answered(response, body, error)
        except Exception:  # an observer never breaks the app's request
            log.exception("observer %r failed on a reply", observation)


def follow_failure(observations: list[Observation], exc: BaseException) -> None:
    for observation in observations:
        try:
            observation.failed(exc)
        except Exception:  # an observer never breaks the app's request
            log.exception("observer %r failed on a failed request", observation)


def follow(observations: list[Observation], response: httpx2.Response, streamed: bool) -> httpx2.Response:
    """Hand ``send``'s response to the observations: at once when ``send`` read it (``streamed``
    false), else when the app has read the stream (teed as it reads). Returns ``response``."""
    if not streamed:
        _tell(observations, response, response.content, None)
    elif isinstance(response.stream, httpx2.AsyncByteStream):
        response.stream = _AsyncTee(observations, response, response.stream)
    elif isinstance(response.stream, httpx2.SyncByteStream):
        response.stream = _SyncTee(observations, response, response.stream)
    return response


_CUT_SHORT = "the app closed the stream before its end"


class _Tee:
    """The pieces of a streamed reply as the app reads them; the observations hear the whole."""

    def __init__(self, observations: list[Observation], response: httpx2.Response) -> None:
        self.observations, self.response = observations, response
        self.parts: list[bytes] = []
        self.done = False

    def end(self, error: str | None = None) -> None:
        if self.done:
            return
        self.done = True
        raw = b"".join(self.parts)
        _tell(self.observations, self.response, _decoded(self.response, raw), error)


def _decoded(response: httpx2.Response, raw: bytes) -> bytes:
    """A stream's bytes as the app read them: the wire's ``content-encoding`` undone (rare for a
    model's event stream; httpx2's own decoders, through its public ``Response``)."""
    if response.headers.get("content-encoding", "identity") in ("identity", ""):
        return raw
    try:
        return httpx2.Response(200, headers={"content-encoding": response.headers["content-encoding"]},
                               content=raw).content
    except httpx2.DecodingError:
        return raw


class _AsyncTee(_Tee, httpx2.AsyncByteStream):
    def __init__(self, observations: list[Observation], response: httpx2.Response,
                 inner: httpx2.AsyncByteStream) -> None:
        super().__init__(observations, response)
        self.inner = inner

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self.inner:
            self.parts.append(chunk)
            yield chunk
        self.end()

    async def aclose(self) -> None:
        self.end(_CUT_SHORT)  # a no-op when the stream was read to its end
        await self.inner.aclose()


class _SyncTee(_Tee, httpx2.SyncByteStream):
    def __init__(self, observations: list[Observation], response: httpx2.Response,
                 inner: httpx2.SyncByteStream) -> None:
        super().__init__(observations, response)
        self.inner = inner

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.inner:
            self.parts.append(chunk)
            yield chunk
        self.end()

    def close(self) -> None:
        self.end(_CUT_SHORT)
        self.inner.close()
