"""Streamed replies pass through while they are recorded.

vcrpy's httpx stub reads a live response to the end before handing it over, so a flow that
streams (``stream=True``, ``Runner.run_streamed``) would see its first token only when the model
has finished — the opposite of why it streams. For a server-sent event stream this module
returns the response at once with a stream that hands each chunk on as it arrives, keeps a
copy, and records the whole body into the cassette when the stream has been read to the end
(a stream abandoned half way is not recorded: the task fails, and ``once`` records it again).
Replay is unchanged: vcrpy plays the recorded body, which the client reads as the same events.

The same holds for the sync ``openai.OpenAI`` client (``ctx.sync_client``): one fold
(:class:`_Tee`) keeps the chunks and records once, with thin async and sync streams over it.

Installed by :meth:`harness.engine.cassette.store.CassetteStore.activate`; it replaces vcrpy's module
functions ``httpx_stubs._vcr_handle_async_request`` and ``httpx_stubs._vcr_handle_request``
(vcrpy is pinned; ``tests/engine/cassette/test_vcrpy_contract.py`` checks the parts relied on)
and delegates to the originals for everything that is not a live event stream.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import suppress
from typing import Any, cast

import httpx2
from vcr.stubs import httpx_stubs

__all__ = ["adrain", "drain", "has_last_event", "install", "is_event_stream"]

_original_async = httpx_stubs._vcr_handle_async_request
_original_sync = httpx_stubs._vcr_handle_request


def is_event_stream(headers: Any) -> bool:
    return "text/event-stream" in str(headers.get("content-type", ""))


#: How long closing a stream may wait for its end. Clients stop reading at the protocol's last
#: event (``data: [DONE]``, ``response.completed``) and close: what is left is the end of the
#: body, already sent. A stream abandoned mid-way that does not end by then is not recorded.
DRAIN_S = 10.0

#: The protocol's last event: Chat Completions' ``[DONE]``, the Responses API's final event.
_LAST_EVENT = re.compile(rb'^data: ?\[DONE\]|"type": ?"response\.(?:completed|failed|incomplete)"', re.MULTILINE)


def has_last_event(body: bytes) -> bool:
    """Whether an event stream's body reached the protocol's last event: the rule for recording a
    stream (:class:`_Tee`) and for replaying one (:mod:`harness.engine.cassette.integrity`)."""
    return _LAST_EVENT.search(body) is not None


async def adrain(source: AsyncIterator[bytes], keep: Callable[[bytes], object]) -> None:
    """Hand what is left of an async stream to ``keep``; ``TimeoutError`` past :data:`DRAIN_S`."""
    async with asyncio.timeout(DRAIN_S):
        async for chunk in source:
            keep(chunk)


def drain(source: Iterator[bytes], keep: Callable[[bytes], object]) -> None:
    """Hand what is left of a sync stream to ``keep``; ``TimeoutError`` past :data:`DRAIN_S`.

    A blocking read cannot be cancelled as an async one can: the deadline is checked between
    chunks, so a server that stops sending altogether is bounded by the client's read timeout.
    """
    deadline = time.monotonic() + DRAIN_S
    for chunk in source:
        keep(chunk)
        if time.monotonic() > deadline:
            raise TimeoutError(f"stream did not end within {DRAIN_S}s of being closed")


class _Tee:
    """The fold under both tee streams: a copy of every chunk, recorded once, at the stream's end."""

    def __init__(self, on_complete: Callable[[bytes], None]) -> None:
        self.on_complete = on_complete
        self.chunks: list[bytes] = []
        self.done = False

    def _keep(self, chunk: bytes) -> bytes:
        self.chunks.append(chunk)
        return chunk

    def _complete(self) -> None:
        """Record the whole body — only for a stream read to its end, so replay is exact."""
        if not self.done:
            self.done = True
            self.on_complete(b"".join(self.chunks))

    def _cut_short(self) -> None:
        """The source failed before its end: recorded only if the protocol's last event had come.

        A dead source cannot be drained (its generator is finished, and would read as the
        end), so what arrived decides. Clients cut the tail short on purpose: after ``[DONE]``
        the async openai client drains the rest for 0.1 s and cancels the read.
        """
        if has_last_event(b"".join(self.chunks)):
            self._complete()
        self._abandon()

    def _abandon(self) -> None:
        """A stream closed before its end is never recorded: replay would play a torn reply as whole."""
        self.done = True


class _AsyncTeeStream(_Tee, httpx2.AsyncByteStream):
    """An async byte stream that yields the live chunks and records them all at its end."""

    def __init__(self, inner: Any, on_complete: Callable[[bytes], None]) -> None:
        super().__init__(on_complete)
        self.inner = inner
        self.source: AsyncIterator[bytes] = inner.__aiter__()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self.source:
                yield self._keep(chunk)
        except (Exception, asyncio.CancelledError):
            self._cut_short()
            raise
        self._complete()

    async def aclose(self) -> None:
        if not self.done:
            with suppress(Exception):
                await adrain(self.source, self._keep)
                self._complete()
        self._abandon()
        with suppress(Exception):
            await self.inner.aclose()


class _SyncTeeStream(_Tee, httpx2.SyncByteStream):
    """The same for the sync client: yields the live chunks, records them all at the end."""

    def __init__(self, inner: Any, on_complete: Callable[[bytes], None]) -> None:
        super().__init__(on_complete)
        self.inner = inner
        self.source: Iterator[bytes] = iter(inner)

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in self.source:
                yield self._keep(chunk)
        except Exception:
            self._cut_short()
            raise
        self._complete()

    def close(self) -> None:
        if not self.done:
            with suppress(Exception):
                drain(self.source, self._keep)
                self._complete()
        self._abandon()
        with suppress(Exception):
            self.inner.close()


def _asks_to_stream(body: bytes) -> bool:
    """Only a request with ``"stream": true`` can be answered with an event stream."""
    return b'"stream": true' in body or b'"stream":true' in body


def _recorder(cassette: Any, vcr_request: Any, real_response: Any) -> Callable[[bytes], None]:
    """What records this response's body into the cassette once its stream has ended."""
    def record(content: bytes) -> None:
        httpx_stubs._record_responses(cassette, vcr_request, real_response, content)
    return record


def _recorded_whole(cassette: Any, vcr_request: Any, real_response: Any, content: bytes, httpx: Any) -> Any:
    """A reply that asked to stream but is not an event stream (an error): kept whole, as vcrpy does."""
    real_response.stream = httpx.ByteStream(content)
    httpx_stubs._record_responses(cassette, vcr_request, real_response, content)
    return real_response


def _held_body(real_request: Any, httpx: Any) -> bytes | None:
    """The request's body if httpx holds it already (an ``openai`` call's, built from bytes): its stream
    need not be read, nor replaced (vcrpy reads it again). Reading and replacing it, and the store making
    the list of a call's sibling keys that the call itself nearly always makes unneeded, were 16 k of the
    195 k instructions per call the cassette's part cost (callgrind, bench/replay_overhead.py's recordings
    played through httpx with and without vcrpy, 1,500 calls less 500; issue 25). An ``openai`` call's
    body is held: the harness's transport hands it on as the client built it."""
    try:
        return cast(bytes, real_request.content)
    except httpx.RequestNotRead:
        return None


async def _handle_async_request(cassette: Any, real_handle_async_request: Any, self: Any, real_request: Any,
                                httpx: Any) -> Any:
    body = _held_body(real_request, httpx)
    if body is None:
        body = b"".join([part async for part in real_request.stream])
        real_request.stream = httpx.ByteStream(body)
    if not _asks_to_stream(body):
        return await _original_async(cassette, real_handle_async_request, self, real_request, httpx)
    vcr_request, vcr_response = httpx_stubs._vcr_request(cassette, real_request, body, httpx)
    if vcr_response:
        return vcr_response
    real_response = await real_handle_async_request(self, real_request)
    if not is_event_stream(real_response.headers):
        content = b"".join([part async for part in real_response.stream])
        await real_response.stream.aclose()
        return _recorded_whole(cassette, vcr_request, real_response, content, httpx)
    real_response.stream = _AsyncTeeStream(real_response.stream, _recorder(cassette, vcr_request, real_response))
    return real_response


def _handle_request(cassette: Any, real_handle_request: Any, self: Any, real_request: Any, httpx: Any) -> Any:
    """vcrpy's sync stub (``httpx_stubs._vcr_handle_request``), passing event streams through."""
    body = _held_body(real_request, httpx)
    if body is None:
        body = b"".join(real_request.stream)
        real_request.stream = httpx.ByteStream(body)
    if not _asks_to_stream(body):
        return _original_sync(cassette, real_handle_request, self, real_request, httpx)
    vcr_request, vcr_response = httpx_stubs._vcr_request(cassette, real_request, body, httpx)
    if vcr_response:
        return vcr_response
    real_response = real_handle_request(self, real_request)
    if not is_event_stream(real_response.headers):
        content = b"".join(real_response.stream)
        real_response.stream.close()
        return _recorded_whole(cassette, vcr_request, real_response, content, httpx)
    real_response.stream = _SyncTeeStream(real_response.stream, _recorder(cassette, vcr_request, real_response))
    return real_response


def install() -> None:
    """Make vcrpy's async and sync httpx stubs pass event streams through (idempotent)."""
    httpx_stubs._vcr_handle_async_request = _handle_async_request
    httpx_stubs._vcr_handle_request = _handle_request
