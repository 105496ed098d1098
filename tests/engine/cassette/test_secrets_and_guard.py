"""No secret is ever written; nothing leaves the process in record mode 'none'; misses explain themselves."""

from __future__ import annotations

import logging
import ssl
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from harness.engine.cassette.guard import NetworkBlocked, block_network
from harness.engine.runtime import Runtime, RuntimeConfig
from harness.engine.suite import ModelSettings, Suite, Variant
from harness.testing.stub_server import StubServer

FAKE_KEY = "sk-test-PLANTEDSECRET0123456789abcdef"
HEADER_TOKEN = "tok-PLANTEDHEADER987654321"


async def leaky(input, ctx):
    """Sends the key in a header and in the prompt; the stub echoes the prompt back."""
    reply = await ctx.client.chat.completions.create(
        messages=[{"role": "user", "content": f"my key is {FAKE_KEY}. {input}"}],
        extra_headers={"x-api-key": HEADER_TOKEN, "api-key": HEADER_TOKEN, "cookie": f"session={HEADER_TOKEN}"},
        **ctx.model_kwargs())
    return reply.choices[0].message.content


def test_a_planted_key_reaches_no_written_file(make_suite, run, tmp_path: Path, monkeypatch, caplog):
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    caplog.set_level(logging.DEBUG)
    suite = make_suite(flow=leaky, n=2)
    with StubServer(nonce=True) as stub:
        recorded = run(suite, stub.base_url, record_mode="once", api_key=FAKE_KEY)
        seen = stub.requests
    assert recorded.errors == 0
    assert any(FAKE_KEY in str(r) for r in seen), "the key really was sent: the test plants it for real"
    replayed = run(suite, "http://127.0.0.1:9/v1", record_mode="none")
    assert replayed.errors == 0

    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix in {".json", ".jsonl", ".md", ".html", ".csv"}]
    assert any("cassettes" in str(p) for p in written) and any("results.jsonl" in str(p) for p in written)
    for path in written:
        text = path.read_text(errors="replace")
        assert FAKE_KEY not in text, f"key leaked into {path}"
        assert HEADER_TOKEN not in text, f"header token leaked into {path}"
        assert "authorization" not in text.lower() or "Bearer" not in text, f"auth header in {path}"
    assert FAKE_KEY not in caplog.text and HEADER_TOKEN not in caplog.text
    assert "<REDACTED>" in next((tmp_path / "cassettes").rglob("*.json")).read_text()


def test_response_identifiers_are_removed():
    from harness.engine.cassette.scrub import Scrubber

    response = {"status": {"code": 200}, "headers": {"openai-organization": ["org-123"], "set-cookie": ["a=b"],
                                                     "x-request-id": ["req_1"], "content-type": ["application/json"]},
                "body": {"string": b'{"ok": true}'}}
    cleaned = Scrubber().response(response)
    assert set(cleaned["headers"]) == {"content-type"}


def test_user_patterns_are_scrubbed_too():
    from harness.engine.cassette.scrub import Scrubber

    scrubber = Scrubber(patterns=[r"ACCT-\d{6}"])
    assert scrubber.text("account ACCT-123456 here") == "account <REDACTED> here"


def test_text_without_a_secret_is_kept_and_every_shape_of_one_is_found(monkeypatch):
    """The scrubber skips its regex for text holding none of what a match begins with: the skip
    must never keep a secret (a key shape, an environment key, a secret added later, a user pattern)."""
    from harness.engine.cassette.scrub import Scrubber

    monkeypatch.setenv("HARNESS_JUDGE_API_KEY", "judge-env-secret-99")
    scrubber = Scrubber()
    scrubber.add_secret("added-later-secret")
    plain = "no secret here: sk- alone, sess-short, a judge"
    assert scrubber.text(plain) == plain
    for secret in ("sk-proj-ABCDEFGHIJKLMNOP1234", "sess-ABCDEFGHIJKLMNOPQRSTU", "judge-env-secret-99",
                   "added-later-secret"):
        assert scrubber.text(f"before {secret} after") == "before <REDACTED> after", secret
    assert Scrubber(patterns=[r"\d{4}-\d{4}"]).text("card 1234-5678") == "card <REDACTED>", "no shortcut"


def test_no_request_reaches_a_live_server_in_none_mode(make_suite, run):
    async def bypass(input, ctx):
        """A flow that reaches the network without the openai client (a tool calling an API)."""
        # Blocking on purpose: the guard must stop even a plain urllib call from inside a flow.
        with urllib.request.urlopen(ctx.params["url"], timeout=2) as handle:  # noqa: ASYNC210
            return handle.read().decode()

    with StubServer() as stub:
        url = stub.base_url + "/models"
        suite = Suite(name="guarded", dataset=make_suite(n=2).dataset, variants=[
            Variant("a@v1", flow=bypass, model=ModelSettings(model="stub"), params={"url": url}),
            Variant("b@v1", flow=make_suite().variants[0].flow, model=ModelSettings(model="stub")),
        ])
        result = run(suite, stub.base_url, record_mode="none")
        assert stub.stats().hits == 0, "nothing may reach a server in record mode 'none'"
    rows = list(result.folder.rows())
    assert all(r.error is not None for r in rows)
    blocked = [r for r in rows if r.variant == "a@v1"]
    assert all(r.error.kind == "cassette_miss" for r in rows)
    assert all("did not go through the harness's openai clients" in r.error.message for r in blocked)
    assert all("task 't00" in r.error.message for r in blocked)


def test_the_guard_blocks_sockets_and_lifts_afterwards():
    with StubServer() as stub, block_network():
        with pytest.raises((NetworkBlocked, urllib.error.URLError), match="blocks the network"):
            urllib.request.urlopen(stub.base_url + "/models", timeout=2)
        assert stub.stats().hits == 0
    with StubServer() as stub:
        urllib.request.urlopen(stub.base_url + "/models", timeout=2).close()
        assert stub.stats().hits == 1


def test_a_changed_prompt_is_a_miss_that_shows_the_difference(make_suite, run, nonce_stub, tmp_path: Path):
    async def v1(input, ctx):
        reply = await ctx.client.chat.completions.create(
            messages=[{"role": "system", "content": ctx.params["system"]}, {"role": "user", "content": input}],
            **ctx.model_kwargs())
        return reply.choices[0].message.content

    def suite(system: str, temperature: float) -> Suite:
        return Suite(name="demo", dataset=make_suite(n=1).dataset, variants=[
            Variant("ask@v1", flow=v1, model=ModelSettings(model="stub", temperature=temperature),
                    params={"system": system})])

    run(suite("You are a helpful support agent.", 0.0), nonce_stub.base_url, record_mode="once")
    result = run(suite("You are a terse support agent.", 0.7), "http://127.0.0.1:9/v1", record_mode="none")
    (row,) = list(result.folder.rows())
    message = row.error.message
    assert row.error.kind == "cassette_miss"
    assert "task 't000'" in message and "variant 'ask@v1'" in message
    assert "messages[0].content" in message and "terse" in message and "helpful" in message
    assert "temperature: recorded 0.0, sent 0.7" in message


def test_a_flow_that_makes_more_calls_than_recorded_says_so(make_suite, run, nonce_stub):
    run(make_suite(n=1), nonce_stub.base_url, record_mode="once")

    async def twice(input, ctx):
        for _ in range(2):
            await ctx.client.chat.completions.create(messages=[{"role": "user", "content": input}],
                                                     **ctx.model_kwargs())
        return "x"

    result = run(make_suite(flow=twice, n=1), "http://127.0.0.1:9/v1", record_mode="none")
    (row,) = list(result.folder.rows())
    assert "more or different calls" in row.error.message and "c2" in row.error.message


def test_provider_hints_that_change_from_run_to_run_do_not_break_replay(make_suite, run, nonce_stub):
    """The Agents SDK sends a random prompt_cache_key per run (and store=true) to api.openai.com."""

    async def hinted(input, ctx):
        reply = await ctx.client.chat.completions.create(
            messages=[{"role": "user", "content": input}], store=bool(ctx.params.get("store")),
            extra_body={"prompt_cache_key": f"run:{ctx.params['run']}"}, **ctx.model_kwargs())
        return reply.choices[0].message.content

    from harness.engine.suite import ModelSettings, Suite, Variant

    def suite(run_id: str, store: bool) -> Suite:
        return Suite(name="demo", dataset=make_suite(n=2).dataset, variants=[
            Variant("ask@v1", flow=hinted, model=ModelSettings(model="stub"), params={"run": run_id, "store": store})])

    recorded = run(suite("first", False), nonce_stub.base_url, record_mode="once")
    replayed = run(suite("second", True), "http://127.0.0.1:9/v1", record_mode="none")
    assert replayed.errors == 0
    assert {r.task_id: r.output for r in replayed.folder.rows()} == {r.task_id: r.output for r in recorded.folder.rows()}


def test_every_client_verifies_certificates_in_every_mode() -> None:
    """One TLS context for the clients, the verifying default, whatever the record mode (replay
    connects nowhere, but a context without CAs bought about 1 % of a run: see harness.engine.speedups)."""
    for mode in ("none", "once"):
        context = Runtime(RuntimeConfig(record_mode=mode))._tls
        assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
        assert context.cert_store_stats()["x509_ca"] > 0
