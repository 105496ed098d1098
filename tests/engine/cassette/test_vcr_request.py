"""make_vcr_request: the request vcrpy's own httpx stub would build, headers copied in one pass."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
from vcr.request import HeadersDict
from vcr.stubs import httpx_stubs

from harness.engine.cassette import vcr_request

HEADERS = [("Host", "127.0.0.1:9"), ("Accept", "application/json"), ("X-Harness-Key", "s|flow|v|t|e1|b0|c1"),
           ("Cookie", "a=1"), ("cookie", "b=2"), ("Authorization", "Bearer sk-test-123456"), ("x-empty", ""),
           (b"X-Note", "café".encode())]


def _httpx_request() -> httpx2.Request:
    return httpx2.Request("POST", "http://127.0.0.1:9/v1/chat/completions?x=1", headers=HEADERS, content=b'{"a": 1}')


def test_the_headers_equal_vcrpys_copy_name_for_name() -> None:
    real = _httpx_request()
    ours, theirs = vcr_request.headers_dict(real.headers), HeadersDict(real.headers)
    assert isinstance(ours, HeadersDict)
    assert list(ours.items()) == list(theirs.items()), "same names (as set), values and order"
    assert ours["COOKIE"] == theirs["cookie"] == "a=1, b=2", "a repeated header joined as httpx joins it"
    assert ours.get("x-harness-key") == "s|flow|v|t|e1|b0|c1" and ours["x-empty"] == ""
    assert ours["x-note"] == theirs["x-note"] == "café", "decoded as httpx decodes it (here UTF-8)"


@pytest.mark.parametrize("headers", [
    [h for h in HEADERS if h[0] != b"X-Note"],  # all ASCII, as an openai call's: decoded without asking httpx
    [*HEADERS[:3], (b"X-Latin", b"caf\xe9")],  # not UTF-8: httpx falls back to iso-8859-1
], ids=["ascii", "latin-1"])
def test_the_headers_are_decoded_as_httpx_decodes_them(headers: list[tuple[Any, Any]]) -> None:
    real = httpx2.Request("POST", "http://127.0.0.1:9/v1", headers=headers, content=b"{}")
    assert list(vcr_request.headers_dict(real.headers).items()) == list(HeadersDict(real.headers).items())


def test_the_request_is_the_one_vcrpys_stub_builds() -> None:
    real = _httpx_request()
    ours = vcr_request.make_vcr_request(real, b'{"a": 1}')
    theirs = vcr_request.VCRPYS_MAKE_VCR_REQUEST(real, b'{"a": 1}')
    assert ours._to_dict() == theirs._to_dict()
    assert (ours.host, ours.path, ours.query) == (theirs.host, theirs.path, theirs.query)


def test_a_run_installs_it_where_vcrpys_stub_looks_it_up() -> None:
    vcr_request.install()
    assert httpx_stubs._make_vcr_request is vcr_request.make_vcr_request
    assert vcr_request.VCRPYS_MAKE_VCR_REQUEST.__module__ == "vcr.stubs.httpx_stubs"
