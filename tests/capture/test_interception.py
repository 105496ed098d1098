"""The request path of production capture keeps plain values, never the app's request and response
objects: kept until the writer ran, they outlived the collector's young generation and made it
sweep the app's whole heap (docs/capture.md, Cost)."""

from __future__ import annotations

import gc
import json

import httpx2

from harness.capture.interception import Capture, OpenTrace


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
