"""A compressed reply reaches the client decoded once, and its headers no longer describe the wire form.

The transport reads each reply (to trace it) and hands the client that same response: its body is
already decoded, so ``content-encoding`` and ``content-length`` (which described the gzip bytes)
must go, or a client that trusted them would decode twice or cut the body short.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx2
import pytest
from openai import AsyncOpenAI

from harness.core.context import RequestContext, request_scope
from harness.core.trace import TraceRecorder, recording
from harness.engine.transport import HarnessAsyncTransport

REPLY = {"id": "c1", "object": "chat.completion", "created": 0, "model": "gzip-model",
         "choices": [{"index": 0, "message": {"role": "assistant", "content": "squeezed " * 50},
                      "finish_reason": "stop"}],
         "usage": {"prompt_tokens": 7, "completion_tokens": 100, "total_tokens": 107}}


class _GzipHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        plain = self.path.startswith("/plain/")  # the same reply sent as it is, not compressed
        body = json.dumps(REPLY).encode() if plain else gzip.compress(json.dumps(REPLY).encode())
        self.send_response(200)
        self.send_header("content-type", "application/json")
        if not plain:
            self.send_header("content-encoding", "gzip")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def gzip_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _GzipHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def _ask(base_url: str, recorder: TraceRecorder) -> Any:
    async def ask() -> Any:
        http = httpx2.AsyncClient(transport=HarnessAsyncTransport(httpx2.AsyncHTTPTransport()))
        client = AsyncOpenAI(base_url=base_url, api_key="sk-test-not-a-secret", http_client=http, max_retries=0)
        with request_scope(RequestContext("suite", "v1", "t1")), recording(recorder):
            raw = await client.chat.completions.with_raw_response.create(
                model="gzip-model", messages=[{"role": "user", "content": "hi"}])
        await client.close()
        return raw

    return asyncio.run(ask())


def test_a_gzip_reply_is_decoded_once_and_traced(gzip_server: str) -> None:
    recorder = TraceRecorder()
    raw = _ask(gzip_server, recorder)
    reply = raw.parse()
    assert reply.choices[0].message.content == "squeezed " * 50
    assert "content-encoding" not in raw.headers and "content-length" not in raw.headers
    assert raw.headers["content-type"] == "application/json"
    [span] = recorder.model_spans()
    assert span.attributes["output"] == "squeezed " * 50
    assert (span.attributes["input_tokens"], span.attributes["output_tokens"]) == (7, 100)
    assert span.attributes["key"] == "suite|flow|v1|t1|e1|b0|c1"


def test_a_reply_sent_as_it_is_keeps_its_content_length(gzip_server: str) -> None:
    """Nothing was decoded, so the length still counts the body the client reads: kept, as a bare client sees it."""
    recorder = TraceRecorder()
    raw = _ask(gzip_server.replace("/v1", "/plain/v1"), recorder)
    assert raw.parse().choices[0].message.content == "squeezed " * 50
    assert raw.headers["content-length"] == str(len(raw.content)) == str(len(json.dumps(REPLY).encode()))
    [span] = recorder.model_spans()
    assert span.attributes["output"] == "squeezed " * 50
