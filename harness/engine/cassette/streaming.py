"""Streamed replies pass through while they are recorded.

vcrpy's httpx stub reads a live response to the end before handing it over, so a flow that
streams (``stream=True``, ``Runner.run_streamed``) would see its first token only when the model
has finished — the opposite of why it streams. For a server-sent event stream this module
returns the response at once with a stream that hands each chunk on as it arrives, keeps a
copy, and records the whole body into the cassette when the stream has been read to the end
(a stream abandoned half way is not recorded: the task fails, and ``once`` records it again).
Replay is unchanged: vcrpy plays the recorded body, which the client reads as the same events.

Installed by :meth:`harness.engine.cassette.store.CassetteStore.activate`; it replaces vcrpy's module
function ``httpx_stubs._vcr_handle_async_request`` (vcrpy is pinned; ``tests/cassette/
test_vcrpy_contract.py`` checks the parts relied on) and delegates to the original for
everything that is not a live event stream.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import suppress
from typing import Any

import httpx2
from vcr.stubs import httpx_stubs

__all__ = ["install", "is_event_stream"]

_original = httpx_stubs._vcr_handle_async_request


def is_event_stream(headers: Any) -> bool:
    return "text/event-stream" in str(headers.get("content-type", ""))


#: How long closing a stream may wait for its end. Clients stop reading at the protocol's last
#: event (``data: [DONE]``, ``response.completed``) and close: what is left is the end of the
#: body, already sent. A stream abandoned mid-way that does not end by then is not recorded.
DRAIN_S = 10.0

#: The protocol's last event: Chat Completions' ``[DONE]``, the Responses API's final event.
_LAST_EVENT = re.compile(rb'^data: ?\[DONE\]|"type": ?"response\.(?:completed|failed|incomplete)"', re.MULTILINE)


class _TeeStream(httpx2.AsyncByteStream):
    """An async byte stream that yields the live chunks and records them all at its end."""

    def __init__(self, inner: Any, on_complete: Any) -> None:
        self.inner = inner
        self.source = inner.__aiter__()
        self.on_complete = on_complete
        self.chunks: list[bytes] = []
        self.done = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self.source:
                self.chunks.append(chunk)
                yield chunk
        except (Exception, asyncio.CancelledError):
            self._cut_short()
            raise
        self._complete()

    def _complete(self) -> None:
        if not self.done:
            self.done = True
            self.on_complete(b"".join(self.chunks))

    def _cut_short(self) -> None:
        """The source failed before its end: recorded only if the protocol's last event had come.

        A dead source cannot be drained (its generator is finished, and would read as the
        end), so what arrived decides. Clients cut the tail short on purpose: after ``[DONE]``
        the async openai client drains the rest for 0.1 s and cancels the read.
        """
        if _LAST_EVENT.search(b"".join(self.chunks)):
            self._complete()
        self.done = True

    async def aclose(self) -> None:
        if not self.done:
            with suppress(Exception):
                async with asyncio.timeout(DRAIN_S):
                    async for chunk in self.source:
                        self.chunks.append(chunk)
                    self._complete()
        self.done = True
        with suppress(Exception):
            await self.inner.aclose()


async def _handle_async_request(cassette: Any, real_handle_async_request: Any, self: Any, real_request: Any,
                                httpx: Any) -> Any:
    body = b"".join([part async for part in real_request.stream])
    real_request.stream = httpx.ByteStream(body)
    if b'"stream": true' not in body and b'"stream":true' not in body:
        return await _original(cassette, real_handle_async_request, self, real_request, httpx)
    vcr_request, vcr_response = httpx_stubs._vcr_request(cassette, real_request, body, httpx)
    if vcr_response:
        return vcr_response
    real_response = await real_handle_async_request(self, real_request)
    if not is_event_stream(real_response.headers):
        content = b"".join([part async for part in real_response.stream])
        await real_response.stream.aclose()
        real_response.stream = httpx.ByteStream(content)
        httpx_stubs._record_responses(cassette, vcr_request, real_response, content)
        return real_response

    def record(content: bytes) -> None:
        httpx_stubs._record_responses(cassette, vcr_request, real_response, content)

    real_response.stream = _TeeStream(real_response.stream, record)
    return real_response


def install() -> None:
    """Make vcrpy's async httpx stub pass event streams through (idempotent)."""
    httpx_stubs._vcr_handle_async_request = _handle_async_request
