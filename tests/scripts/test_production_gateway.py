"""scripts/production/gateway.py, run as the demo runs it: a real process on 127.0.0.1 in front of
the stub model server, reached by the real ``openai`` client."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator

import openai
import pytest
from production_scripts import SCRIPTS, environment, load

from harness.engine.backends import get_profile
from harness.testing.stub_server import Rule, StubServer

drive = load("drive")
KEY = "gateway-test-key"
TOOL = {"type": "function", "function": {"name": "lookup_order", "description": "Look an order up.",
                                         "parameters": {"type": "object", "properties": {
                                             "order_id": {"type": "string"}}, "required": ["order_id"]}}}


@pytest.fixture
def gateway(stub: StubServer) -> Iterator[tuple[StubServer, str]]:
    process, port = drive.start_gateway(stub.base_url, environment())
    try:
        yield stub, f"http://127.0.0.1:{port}/v1"
    finally:
        drive.stop(process)
    assert process.returncode is not None


def _client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key=KEY, max_retries=0)


def test_a_chat_request_reaches_the_model_as_the_llama_cpp_profile_adapts_it(gateway) -> None:
    stub, base_url = gateway
    messages = [{"role": "user", "content": "Where is order A1001?"}]
    reply = _client(base_url).chat.completions.create(model="smollm2", messages=messages, tools=[TOOL])
    assert reply.choices[0].message is not None
    (received,) = stub.requests
    sent = {"messages": messages, "model": "smollm2", "tools": [TOOL]}
    assert received["body"] == get_profile("llama-cpp").adapt(sent) != sent, "the profile changed the body"
    assert received["body"]["tool_choice"] == "auto" and received["body"]["max_tokens"] > 0
    assert received["headers"]["authorization"] == f"Bearer {KEY}", "the app's headers pass through"


def test_a_streamed_reply_and_an_error_pass_through_unchanged(gateway) -> None:
    stub, base_url = gateway
    stub.configure(rules=[Rule(contains="boom", fault="server_error", status=503)])
    client = _client(base_url)
    chunks = client.chat.completions.create(model="smollm2", messages=[{"role": "user", "content": "hello"}],
                                            stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    with pytest.raises(openai.APIStatusError) as failed:
        client.chat.completions.create(model="smollm2", messages=[{"role": "user", "content": "boom"}])
    assert failed.value.status_code == 503


def test_other_paths_pass_as_they_came(gateway) -> None:
    _, base_url = gateway
    _client(base_url).chat.completions.create(model="smollm2", messages=[{"role": "user", "content": "hi"}])
    # the stub's own control endpoint, through the gateway: not a chat body, forwarded untouched
    with urllib.request.urlopen(base_url.removesuffix("/v1") + "/_stub/stats", timeout=30) as reply:
        assert json.loads(reply.read())["hits"] == 1



def test_the_upstream_is_required() -> None:
    done = subprocess.run([sys.executable, str(SCRIPTS / "gateway.py")], capture_output=True, text=True, check=False,
                          env=environment())
    assert done.returncode == 2 and "--upstream" in done.stderr
