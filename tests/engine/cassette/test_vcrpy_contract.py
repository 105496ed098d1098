"""The private parts of vcrpy that harness.engine.cassette builds on. If an upgrade changes them, this fails first."""

from __future__ import annotations

import importlib.metadata
import inspect

import httpx2
import pytest
import vcr
from vcr.cassette import Cassette
from vcr.request import HeadersDict, Request
from vcr.stubs import httpx_stubs

from harness.engine.cassette import streaming, vcr_request
from harness.engine.cassette.store import IndexedCassette


def test_vcrpy_is_the_pinned_version():
    assert importlib.metadata.version("vcrpy") == "9.4.2", "harness.engine.cassette subclasses vcrpy internals: re-check them"


@pytest.mark.parametrize("name", ["_responses", "play_response", "can_play_response_for", "append", "_load",
                                  "_save", "find_requests_with_most_matches"])
def test_cassette_methods_we_override_exist(name):
    assert callable(getattr(Cassette, name))
    assert getattr(IndexedCassette, name) is not getattr(Cassette, name)


def test_the_httpx_stub_asks_can_play_then_write_protected_then_appends():
    source = inspect.getsource(httpx_stubs._vcr_request)
    assert source.index("can_play_response_for") < source.index("write_protected")
    assert "cassette.append" in inspect.getsource(httpx_stubs._record_responses)
    assert "play_response" in inspect.getsource(httpx_stubs._play_responses)


def test_vcrpy_patches_httpx2_transports():
    source = inspect.getsource(vcr.patch)
    assert "httpx2.AsyncHTTPTransport.handle_async_request" in source
    assert "httpx2.HTTPTransport.handle_request" in source


def test_use_builds_the_given_cassette_class():
    assert "cls.load(" in inspect.getsource(vcr.cassette.CassetteContextDecorator.__enter__).replace("self.cls", "cls")
    assert httpx2.AsyncHTTPTransport.handle_async_request is not None



@pytest.mark.parametrize("name, vcrpys, ours, wrapper", [
    ("_vcr_handle_async_request", streaming._original_async, streaming._handle_async_request,
     "vcr_handle_async_request"),
    ("_vcr_handle_request", streaming._original_sync, streaming._handle_request, "vcr_handle_request"),
], ids=["async", "sync"])
def test_the_httpx_stubs_that_streaming_replaces_keep_their_shape(name, vcrpys, ours, wrapper):
    """harness.engine.cassette.streaming mirrors these stubs and swaps its own in by module attribute."""
    stub = vcrpys  # vcrpy's own, kept by streaming (the module attribute is ours once a run has installed it)
    assert stub.__module__ == "vcr.stubs.httpx_stubs" and stub.__name__ == name
    assert list(inspect.signature(stub).parameters) == list(inspect.signature(ours).parameters)
    source = inspect.getsource(stub)
    for step in ("_vcr_request(cassette, real_request, real_request_body, httpx)",
                 "real_request.stream = httpx.ByteStream(real_request_body)",
                 "real_response.stream = httpx.ByteStream(real_response_content)",
                 "_record_responses(cassette, vcr_request, real_response, real_response_content)"):
        assert step in source, step
    # The wrapper vcrpy patches in looks the stub up as a module global at each call: replacing it works.
    assert f"return {name}(cassette, " in inspect.getsource(getattr(httpx_stubs, wrapper))
    streaming.install()
    assert getattr(httpx_stubs, name) is ours


def test_the_httpx_stub_builds_its_request_by_the_function_vcr_request_replaces():
    """harness.engine.cassette.vcr_request builds the same request with the headers copied in one pass."""
    assert "_make_vcr_request(real_request, real_request_body)" in inspect.getsource(httpx_stubs._vcr_request)
    own = inspect.getsource(vcr_request.VCRPYS_MAKE_VCR_REQUEST)
    assert "VcrRequest(real_request.method, str(real_request.url), real_request_body, real_request.headers)" in own
    assert "if not isinstance(value, HeadersDict)" in inspect.getsource(Request.headers.fset), "a HeadersDict is kept"
    headers = HeadersDict()
    headers["Content-Type"] = "text/plain"
    assert headers._store == {"content-type": ("Content-Type", "text/plain")}, "CaseInsensitiveDict's storage"
