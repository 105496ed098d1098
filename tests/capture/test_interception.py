"""The request path of production capture keeps plain values, never the app's request and response
objects: kept until the writer ran, they outlived the collector's young generation and made it
sweep the app's whole heap (docs/capture.md, Cost)."""

from __future__ import annotations

import gc
import json

import httpx2
import pytest

from harness.capture.interception import Capture, OpenTrace, _header_lines, _retried


def _reachable(root: object, depth: int = 4) -> list[object]:
    seen, frontier = [], [root]
    for _ in range(depth):
        frontier = [r for obj in frontier for r in gc.get_referents(obj)]
        seen += frontier
    return seen


def test_a_captured_call_keeps_no_httpx2_object_until_it_is_written() -> None:
    finished: list[OpenTrace] = []
    capture = Capture(1.0, finished=finished.append, sampled_out=lambda: None)
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode()
    request = httpx2.Request("POST", "http://127.0.0.1:9/v1/chat/completions", content=body,
                             headers={"content-type": "application/json", "authorization": "Bearer sk-x"})
    reply = json.dumps({"choices": [{"message": {"role": "assistant", "content": "hello"}}]}).encode()
    response = httpx2.Response(200, headers={"content-type": "application/json"}, content=reply, request=request)

    call = capture.observe(request)  # a plain call outside any trace: a trace of its own
    assert call is not None
    call.answered(response, reply, None)

    (opened,) = finished
    (exchange,) = opened.exchanges
    assert exchange.request_body == body and exchange.body == reply and exchange.status == 200
    assert b"authorization: Bearer sk-x" in exchange.request_headers, "scrubbed by the writer, not here"
    kept = _reachable(opened)
    assert not [o for o in kept if isinstance(o, httpx2.Request | httpx2.Response | httpx2.Headers | httpx2.URL)]


@pytest.mark.parametrize("marks", [
    [],
    [("x-stainless-retry-count", "0")],
    [("x-stainless-retry-count", "2")],
    [("X-Stainless-Retry-Count", "1")],
    [("x-stainless-retry-count", "")],
    [("x-stainless-retry-count", "0"), ("x-stainless-retry-count", "0")],  # joined: "0, 0" is a retry
    [("x-stainless-retry-count-note", "1")],
    [("x-note", "x-stainless-retry-count: 1")],
])
def test_the_retry_mark_is_read_from_the_kept_header_lines_as_the_transport_reads_it(
        marks: list[tuple[str, str]]) -> None:
    request = httpx2.Request("POST", "http://127.0.0.1:9/v1/chat/completions", content=b"{}",
                             headers=[("content-type", "application/json"), *marks, ("accept", "*/*")])
    read_by_the_transport = request.headers.get("x-stainless-retry-count", "0") not in ("0", "")
    assert _retried(_header_lines(request.headers)) is read_by_the_transport
