"""The cassette's httpx stub reads a request's body from what httpx holds, and from its stream only when it must."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx2

from harness.engine.cassette.streaming import _held_body


def test_a_body_built_from_bytes_is_taken_as_held_and_its_stream_left_alone() -> None:
    request = httpx2.Request("POST", "http://127.0.0.1:9/v1", content=b'{"a": 1}')
    stream = request.stream
    assert _held_body(request, httpx2) == b'{"a": 1}' and request.stream is stream


def test_a_streamed_body_is_not_held_so_the_stub_reads_its_stream() -> None:
    async def parts() -> AsyncIterator[bytes]:
        yield b'{"a": '
        yield b"1}"

    assert _held_body(httpx2.Request("POST", "http://127.0.0.1:9/v1", content=parts()), httpx2) is None
