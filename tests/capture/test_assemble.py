"""A captured exchange is scrubbed exactly as the cassette scrubber's own hooks scrub a recording."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from harness.capture.assemble import scrubbed_exchange
from harness.capture.interception import DECODED_AWAY, RawExchange
from harness.capture.writer import Redactor
from harness.engine.cassette.scrub import Scrubber

KEY = "sk-planted-0123456789abcdefXYZ"
ENV_KEY = "envkey-PLANTED-424242"


@dataclass
class _Recorded:
    """A request as vcrpy hands it to the scrubber's hook."""

    headers: dict[str, str]
    body: bytes
    uri: str


def _stream(text: str) -> bytes:
    pieces = [text[i:i + 7] for i in range(0, len(text), 7)]  # a secret split across events
    events = [{"choices": [{"index": 0, "delta": {"content": p}}]} for p in pieces]
    return "".join(f"data: {json.dumps(e)}\n\n" for e in events).encode() + b"data: [DONE]\n\n"


REQUEST_HEADERS = [("Authorization", f"Bearer {KEY}"), ("Content-Type", "application/json"),
                   ("X-Ticket", f"about {ENV_KEY}"), ("OpenAI-Organization", "org-1"), ("X-Card", "4111 1111 1111 1111")]
RESPONSE_HEADERS = [("Content-Type", "text/event-stream"), ("Content-Length", "99"), ("Set-Cookie", "s=1"),
                    ("X-Echo", KEY), ("Via", "a"), ("Via", "b")]


def _raw(stream: bool, clean_headers: bool = False) -> RawExchange:
    def lines(pairs: list[tuple[str, str]]) -> bytes:
        return "\n".join(f"{k}: {v}" for k, v in pairs).encode("latin-1")

    body = json.dumps({"messages": [{"role": "user", "content": f"{ENV_KEY} 4111 1111 1111 1111 Globex {KEY}"}]})
    reply = _stream(f"echo {KEY} and {ENV_KEY}") if stream else json.dumps({"echo": f"{KEY} Globex"}).encode()
    headers = RESPONSE_HEADERS if stream else [(k, "application/json" if k == "Content-Type" else v)
                                                for k, v in RESPONSE_HEADERS]
    sent = [h for h in REQUEST_HEADERS if h[0] in ("Authorization", "Content-Type")] if clean_headers else REQUEST_HEADERS
    headers = [h for h in headers if h[0] != "X-Echo"] if clean_headers else headers
    return RawExchange(key="harness-capture|flow|production|t|e1|b0|c1", method="POST",
                       url=f"http://127.0.0.1:9/v1/chat/completions?k={KEY}", request_headers=lines(sent),
                       request_body=body.encode(), started=0.0, status=200, response_headers=lines(headers),
                       body=reply, latency_s=0.25)


def _as_cassette_scrubs(raw: RawExchange, redactor: Redactor) -> dict[str, Any]:
    """What the cassette hooks keep of the same exchange, then the user's redact_fn."""
    def pairs(lines: bytes) -> list[tuple[str, str]]:
        return [(n.lower(), v) for n, _, v in (line.partition(": ") for line in lines.decode().split("\n"))]

    request = redactor.scrubber.request(_Recorded(dict(pairs(raw.request_headers)), raw.request_body, raw.url))
    response_headers: dict[str, list[str]] = {}
    for name, value in pairs(raw.response_headers):
        if name not in DECODED_AWAY:
            response_headers.setdefault(name, []).append(value)
    response = redactor.scrubber.response({"headers": response_headers, "body": {"string": raw.body}})
    extra = redactor.extra
    return {"url": extra(request.uri), "request_headers": {k: extra(v) for k, v in request.headers.items()},
            "request_body": extra(request.body.decode()),
            "response_headers": {k: [extra(v) for v in vs] for k, vs in response["headers"].items()},
            "response_body": extra(response["body"]["string"].decode())}


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("user", [False, True], ids=["cassette-scrubbing", "with-user-redaction"])
@pytest.mark.parametrize("clean_headers", [False, True], ids=["secrets-in-headers", "no-secret-in-kept-headers"])
def test_an_exchange_is_scrubbed_as_the_cassette_hooks_scrub_it(monkeypatch, stream: bool, user: bool,
                                                                 clean_headers: bool) -> None:
    monkeypatch.setenv("HARNESS_JUDGE_API_KEY", ENV_KEY)
    redactor = Redactor(Scrubber(patterns=[r"\b(?:\d{4} ){3}\d{4}\b"] if user else []),
                        (lambda text: text.replace("Globex", "<customer>")) if user else None)
    raw = _raw(stream, clean_headers)
    stored = scrubbed_exchange(raw, redactor)
    assert {k: stored[k] for k in _as_cassette_scrubs(raw, redactor)} == _as_cassette_scrubs(raw, redactor)
    written = json.dumps(stored)
    for secret in (KEY, ENV_KEY, "PLANTED", "org-1", "s=1") + (("4111", "Globex") if user else ()):
        assert secret not in written
    assert stored["response_headers"]["via"] == ["a", "b"] and "content-length" not in stored["response_headers"]
    assert "authorization" not in stored["request_headers"] and "set-cookie" not in stored["response_headers"]
    assert stored["position"] == "b0|c1" and stored["status"] == 200


@pytest.mark.parametrize("user", [False, True], ids=["cassette-scrubbing", "with-user-redaction"])
def test_header_lines_seen_before_are_scrubbed_as_the_first_time(monkeypatch, user: bool) -> None:
    """The writer remembers scrubbed header lines across exchanges: a line seen again (the app's
    clients send the same ones call after call) gives what the cassette hooks give, and a secret
    header line is dropped every time; a line that held a secret is not remembered."""
    monkeypatch.setenv("HARNESS_JUDGE_API_KEY", ENV_KEY)
    redactor = Redactor(Scrubber(patterns=[r"\b(?:\d{4} ){3}\d{4}\b"] if user else []),
                        (lambda text: text.replace("Globex", "<customer>")) if user else None)
    for stream in (False, True, False, True):
        raw = _raw(stream)
        stored = scrubbed_exchange(raw, redactor)
        assert {k: stored[k] for k in _as_cassette_scrubs(raw, redactor)} == _as_cassette_scrubs(raw, redactor)
    remembered = json.dumps([*redactor.request_lines.items(), *redactor.response_lines.items()])
    assert "content-type" in remembered and "via" in remembered
    for secret in (KEY, ENV_KEY, "PLANTED", "x-ticket", "x-echo", "authorization", "set-cookie", "org-1"):
        assert secret not in remembered.lower()
