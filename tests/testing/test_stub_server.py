"""Specification of the stub model server, exercised through the real ``openai`` client."""

from __future__ import annotations

import asyncio
import enum
import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import openai
import pytest
from pydantic import BaseModel, ValidationError

from harness.testing.stub_server import (
    Rule,
    StubConfig,
    StubProcess,
    StubServer,
    ToolCallSpec,
    example_for_schema,
)

USER = [{"role": "user", "content": "What is the capital of France?"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 3}},
            "required": ["city", "days"],
            "additionalProperties": False,
        },
    },
}


@pytest.fixture
def stub() -> Iterator[StubServer]:
    with StubServer() as server:
        yield server


def sync_client(stub: StubServer | StubProcess, **kwargs: Any) -> openai.OpenAI:
    kwargs.setdefault("max_retries", 0)  # see each fault raw unless a test asks for retries
    return openai.OpenAI(base_url=stub.base_url, api_key="test", **kwargs)


def ask(client: openai.OpenAI, messages: list[dict[str, Any]] = USER, **kwargs: Any) -> Any:
    return client.chat.completions.create(model="stub", messages=messages, **kwargs)  # type: ignore[arg-type]


def http(url: str, payload: Any = None) -> Any:
    """Plain HTTP to the control endpoints, bypassing any proxy settings."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with opener.open(request, timeout=5) as response:
        return json.loads(response.read())


# --- plain replies -------------------------------------------------------------------------------


def test_reply_quotes_the_last_user_message_and_reports_usage(stub: StubServer) -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "an answer"},
        {"role": "user", "content": [{"type": "text", "text": "second question"}]},
    ]
    completion = ask(sync_client(stub), messages)

    choice = completion.choices[0]
    assert choice.message.content == "stub reply to: second question"
    assert choice.finish_reason == "stop"
    assert completion.model == "stub"
    all_text = "Be brief." + "first question" + "an answer" + "second question"
    assert completion.usage.prompt_tokens == len(all_text) // 4 + 1
    assert completion.usage.completion_tokens > 0
    usage = completion.usage
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_reply_quotes_at_most_200_characters(stub: StubServer) -> None:
    content = ask(sync_client(stub), [{"role": "user", "content": "x" * 500}]).choices[0].message.content
    assert content == "stub reply to: " + "x" * 200


def test_deterministic_mode_answers_identical_requests_identically(stub: StubServer) -> None:
    client = sync_client(stub)
    first, second = ask(client), ask(client)
    assert first.choices[0].message.content == second.choices[0].message.content
    assert first.id == second.id


def test_nonce_mode_makes_identical_requests_get_different_replies() -> None:
    with StubServer(nonce=True) as stub:
        client = sync_client(stub)
        first, second = (ask(client).choices[0].message.content for _ in range(2))
    assert first != second
    assert first.startswith("stub reply to: What is the capital of France? [nonce ")
    assert second.startswith("stub reply to: What is the capital of France? [nonce ")


def test_models_endpoint_lists_the_stub_model(stub: StubServer) -> None:
    assert [model.id for model in sync_client(stub).models.list()] == ["stub"]


# --- streaming -----------------------------------------------------------------------------------


def test_streaming_sends_the_same_text_in_chunks_then_finish_then_usage(stub: StubServer) -> None:
    client = sync_client(stub)
    long_question = [{"role": "user", "content": "please stream a long enough reply " * 3}]
    chunks = list(ask(client, long_question, stream=True, stream_options={"include_usage": True}))

    text_chunks = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(text_chunks) > 1, "content should arrive in several chunks"
    streamed = "".join(c.choices[0].delta.content for c in text_chunks)
    assert streamed == ask(client, long_question).choices[0].message.content
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0


def test_streaming_without_include_usage_sends_no_usage_chunk(stub: StubServer) -> None:
    chunks = list(ask(sync_client(stub), stream=True))
    assert all(chunk.usage is None for chunk in chunks)
    assert all(chunk.choices for chunk in chunks)


# --- structured output ---------------------------------------------------------------------------


class Priority(enum.Enum):
    LOW = "low"
    HIGH = "high"


class Address(BaseModel):
    street: str
    zip_code: int


class Ticket(BaseModel):
    title: str
    priority: Priority
    escalate: bool
    score: float
    address: Address
    tags: list[str]
    previous: list[Address]
    note: str | None


def test_parse_returns_an_instance_of_the_requested_pydantic_model(stub: StubServer) -> None:
    completion = sync_client(stub).chat.completions.parse(model="stub", messages=USER, response_format=Ticket)
    ticket = completion.choices[0].message.parsed

    assert isinstance(ticket, Ticket)
    assert ticket.priority is Priority.LOW  # an enum gets its first value
    assert ticket.title == "stub title"
    assert isinstance(ticket.address, Address) and ticket.address.street == "stub street"
    assert len(ticket.previous) == 1 and isinstance(ticket.previous[0], Address)
    assert ticket.tags == ["stub tags"]


def test_parse_works_in_nonce_mode_too() -> None:
    with StubServer(nonce=True) as stub:
        ticket = sync_client(stub).chat.completions.parse(
            model="stub", messages=USER, response_format=Ticket
        ).choices[0].message.parsed
    assert ticket is not None and "[nonce " in ticket.title


TRICKY_SCHEMAS: list[dict[str, Any]] = [
    {"type": "integer", "minimum": 5, "maximum": 9},
    {"type": "number", "exclusiveMinimum": 10},
    {"type": "integer", "exclusiveMaximum": 0},
    {"type": "string", "minLength": 40, "maxLength": 45},
    {"type": "string", "format": "date-time"},
    {"type": ["null", "boolean"]},
    {"const": "fixed"},
    {"type": "array", "items": {"type": "integer"}, "minItems": 3},
    {"allOf": [{"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
               {"properties": {"b": {"type": "integer"}}, "required": ["b"]}]},
    {  # a recursive model must still terminate
        "$ref": "#/$defs/Node",
        "$defs": {"Node": {
            "type": "object",
            "properties": {"child": {"anyOf": [{"$ref": "#/$defs/Node"}, {"type": "null"}]}},
            "required": ["child"],
        }},
    },
]


@pytest.mark.parametrize("schema", TRICKY_SCHEMAS, ids=lambda s: json.dumps(s)[:40])
def test_generated_examples_validate_against_their_schema(schema: dict[str, Any]) -> None:
    jsonschema.validate(example_for_schema(schema), schema)


def test_json_object_format_gets_a_json_object(stub: StubServer) -> None:
    content = ask(sync_client(stub), response_format={"type": "json_object"}).choices[0].message.content
    assert json.loads(content) == {"reply": "stub reply to: What is the capital of France?"}


# --- scripted rules ------------------------------------------------------------------------------


def test_tool_call_rule_returns_tool_calls_and_finish_reason_tool_calls() -> None:
    call = ToolCallSpec(name="get_weather", arguments={"city": "Paris", "days": 3})
    rule = Rule(contains="weather", tool_calls=[call])
    with StubServer(rules=[rule]) as stub:
        question = [{"role": "user", "content": "weather in Paris?"}]
        completion = ask(sync_client(stub), question, tools=[WEATHER_TOOL])

    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris", "days": 3}
    assert call.id.startswith("call_")


def test_tool_call_without_arguments_gets_arguments_valid_for_the_offered_tool() -> None:
    with StubServer(rules=[Rule(tool_calls=[ToolCallSpec(name="get_weather")])]) as stub:
        call = ask(sync_client(stub), tools=[WEATHER_TOOL]).choices[0].message.tool_calls[0]
    arguments = json.loads(call.function.arguments)
    jsonschema.validate(arguments, WEATHER_TOOL["function"]["parameters"])
    assert arguments == {"city": "stub city", "days": 3}


def test_streamed_tool_calls_assemble_into_name_and_arguments() -> None:
    rule = Rule(tool_calls=[ToolCallSpec(name="get_weather", arguments={"city": "Oslo", "days": 4})])
    with StubServer(rules=[rule]) as stub:
        chunks = list(ask(sync_client(stub), tools=[WEATHER_TOOL], stream=True))

    deltas = [d for c in chunks for d in (c.choices[0].delta.tool_calls or [])]
    assert {d.function.name for d in deltas if d.function.name} == {"get_weather"}
    assert json.loads("".join(d.function.arguments or "" for d in deltas)) == {"city": "Oslo", "days": 4}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_first_matching_rule_wins_and_times_makes_it_expire() -> None:
    rules = [
        Rule(contains="France", content="once", times=1),
        Rule(contains="France", content="after"),
        Rule(content="catch-all"),
    ]
    with StubServer(rules=rules) as stub:
        client = sync_client(stub)
        replies = [ask(client).choices[0].message.content for _ in range(3)]
        other = ask(client, [{"role": "user", "content": "Spain?"}]).choices[0].message.content
        usage = [(rule.used, rule.remaining) for rule in stub.stats().rules]
    assert replies == ["once", "after", "after"]
    assert other == "catch-all"
    assert usage == [(1, 0), (2, None), (1, None)]


def test_rules_match_on_model_scope_and_offered_tools() -> None:
    rules = [
        Rule(model="gpt-judge", content="judge"),
        Rule(has_tool="transfer_to_billing", content="triage"),
        Rule(contains="SYSTEM-MARK", scope="any", content="saw system"),
        Rule(contains="SYSTEM-MARK", content="never: scope=last ignores the system message"),
    ]
    handoff_tool = {
        "type": "function", "function": {"name": "transfer_to_billing", "parameters": {"type": "object"}}
    }
    system_marked = [{"role": "system", "content": "SYSTEM-MARK"}, *USER]
    with StubServer(rules=rules) as stub:
        client = sync_client(stub)
        by_model = client.chat.completions.create(model="gpt-judge", messages=USER).choices[0].message.content
        by_tool = ask(client, tools=[handoff_tool]).choices[0].message.content
        by_scope = ask(client, system_marked).choices[0].message.content
        default = ask(client).choices[0].message.content
    assert (by_model, by_tool, by_scope) == ("judge", "triage", "saw system")
    assert default.startswith("stub reply to: ")


def test_last_scope_matches_the_latest_tool_result() -> None:
    rules = [Rule(contains="sunny", content="It is sunny in Paris.")]
    messages = [
        {"role": "user", "content": "weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 24C"},
    ]
    with StubServer(rules=rules) as stub:
        assert ask(sync_client(stub), messages).choices[0].message.content == "It is sunny in Paris."


def test_structured_rule_is_sent_as_json_content() -> None:
    with StubServer(rules=[Rule(structured={"verdict": "pass", "score": 0.9})]) as stub:
        content = ask(sync_client(stub)).choices[0].message.content
    assert json.loads(content) == {"verdict": "pass", "score": 0.9}


def test_a_rule_takes_at_most_one_action() -> None:
    with pytest.raises(ValidationError):
        Rule(content="a", fault="rate_limit")
    with pytest.raises(ValidationError):
        Rule(times=0)


def test_agents_sdk_tool_loop_and_handoff_are_scriptable() -> None:
    agents = pytest.importorskip("agents")

    @agents.function_tool
    def get_weather(city: str) -> str:
        """Weather for a city."""
        return f"sunny in {city}"

    rules = [
        Rule(has_tool="get_weather", contains="weather", tool_calls=[ToolCallSpec(name="get_weather")]),
        Rule(contains="sunny in", content="It is sunny."),
        Rule(has_tool="transfer_to_billing", contains="refund",
             tool_calls=[ToolCallSpec(name="transfer_to_billing")]),
    ]

    async def scenario(stub: StubServer) -> tuple[str, str, str]:
        client = openai.AsyncOpenAI(base_url=stub.base_url, api_key="test")
        model = agents.OpenAIChatCompletionsModel(model="stub", openai_client=client)
        billing = agents.Agent(name="billing", instructions="Handle billing.", model=model)
        triage = agents.Agent(
            name="triage", instructions="Route.", model=model, tools=[get_weather], handoffs=[billing]
        )
        config = agents.RunConfig(tracing_disabled=True)
        weather = await agents.Runner.run(triage, "what's the weather in Paris?", run_config=config)
        refund = await agents.Runner.run(triage, "I want a refund", run_config=config)
        return weather.final_output, refund.last_agent.name, refund.final_output

    with StubServer(rules=rules) as stub:
        weather, last_agent, refund_reply = asyncio.run(scenario(stub))
        assert stub.hits == 4
    assert weather == "It is sunny."
    assert last_agent == "billing"
    assert refund_reply == "stub reply to: I want a refund"


# --- faults --------------------------------------------------------------------------------------


def test_rate_limit_fault_sends_429_with_fractional_retry_after() -> None:
    with (StubServer(rules=[Rule(fault="rate_limit", retry_after=0.2)]) as stub,
          pytest.raises(openai.RateLimitError) as caught):
        ask(sync_client(stub))
    headers = caught.value.response.headers
    assert caught.value.status_code == 429
    assert headers["retry-after"] == "0.2"
    assert headers["retry-after-ms"] == "200"


@pytest.mark.parametrize(
    ("rule", "error"),
    [
        (Rule(fault="server_error"), openai.InternalServerError),
        (Rule(fault="timeout"), openai.APITimeoutError),
        (Rule(fault="malformed"), json.JSONDecodeError),  # the client does not wrap a broken 200 body
        (Rule(fault="drop"), openai.APIConnectionError),
    ],
    ids=lambda value: value.fault if isinstance(value, Rule) else "",
)
def test_each_fault_surfaces_as_the_matching_client_error(rule: Rule, error: type[Exception]) -> None:
    with StubServer(rules=[rule.model_copy(update={"times": 1})]) as stub:
        client = sync_client(stub, timeout=0.3)
        with pytest.raises(error):
            ask(client)
        assert ask(client).choices[0].message.content.startswith("stub reply to: ")  # the fault expired
        assert stub.hits == 2


def test_drop_is_a_connection_error_not_a_timeout() -> None:
    with StubServer(rules=[Rule(fault="drop")]) as stub, pytest.raises(openai.APIConnectionError) as caught:
        ask(sync_client(stub))
    assert not isinstance(caught.value, openai.APITimeoutError)


def test_malformed_stream_breaks_the_stream_parser() -> None:
    with StubServer(rules=[Rule(fault="malformed")]) as stub, pytest.raises(json.JSONDecodeError):
        list(ask(sync_client(stub), stream=True))


def test_client_retry_succeeds_after_two_429s_and_waits_only_retry_after() -> None:
    with StubServer(rules=[Rule(fault="rate_limit", retry_after=0.05, times=2)]) as stub:
        started = time.monotonic()
        completion = ask(sync_client(stub, max_retries=2))
        elapsed = time.monotonic() - started
        retry_counts = [r["headers"].get("x-stainless-retry-count") for r in stub.requests]
    assert completion.choices[0].message.content.startswith("stub reply to: ")
    assert retry_counts == ["0", "1", "2"]
    # The client's own backoff would wait >= 0.375 s + 0.75 s; Retry-After asked for 2 x 0.05 s.
    assert elapsed < 0.35


def test_client_retry_waits_as_long_as_retry_after_says() -> None:
    with StubServer(rules=[Rule(fault="rate_limit", retry_after=0.3, times=2)]) as stub:
        started = time.monotonic()
        ask(sync_client(stub, max_retries=2))
        assert time.monotonic() - started >= 0.6
        assert stub.hits == 3


# --- latency and concurrency ---------------------------------------------------------------------


def test_latency_is_concurrent_and_max_in_flight_counts_overlap() -> None:
    async def ten_at_once(stub: StubServer) -> float:
        client = openai.AsyncOpenAI(base_url=stub.base_url, api_key="test", max_retries=0)
        started = time.monotonic()
        await asyncio.gather(*(
            client.chat.completions.create(model="stub", messages=[{"role": "user", "content": f"q{i}"}])
            for i in range(10)
        ))
        await client.close()
        return time.monotonic() - started

    with StubServer(latency=0.2) as stub:
        elapsed = asyncio.run(ten_at_once(stub))
        stats = stub.stats()
    assert stats.max_in_flight == 10
    assert stats.in_flight == 0
    assert 0.2 <= elapsed < 1.0, "ten 0.2 s requests must overlap, not queue"


def test_rule_latency_overrides_the_global_latency() -> None:
    with StubServer(latency=0.0, rules=[Rule(contains="slow", latency=0.25)]) as stub:
        client = sync_client(stub)
        started = time.monotonic()
        ask(client, [{"role": "user", "content": "slow one"}])
        slow = time.monotonic() - started
        started = time.monotonic()
        ask(client)
        fast = time.monotonic() - started
    assert slow >= 0.25 > fast


# --- observability and control -------------------------------------------------------------------


def test_hits_detect_any_request_and_stay_zero_when_nothing_arrives(stub: StubServer) -> None:
    assert stub.hits == 0
    http(stub.url + "/_stub/stats")  # the control plane does not count
    assert stub.hits == 0
    with pytest.raises(urllib.error.HTTPError):
        http(stub.url + "/anything/else")
    assert stub.hits == 1
    assert stub.stats().paths == {"/anything/else": 1}


def test_requests_record_bodies_and_headers(stub: StubServer) -> None:
    ask(sync_client(stub, default_headers={"x-test": "yes"}), temperature=0.5)
    (record,) = stub.requests
    assert record["method"] == "POST" and record["path"] == "/v1/chat/completions"
    assert record["body"]["messages"] == USER and record["body"]["temperature"] == 0.5
    assert record["headers"]["x-test"] == "yes"
    assert record["headers"]["authorization"] == "Bearer test"


def test_request_log_is_bounded_to_the_newest_entries() -> None:
    with StubServer(config=StubConfig(record_limit=3)) as stub:
        client = sync_client(stub)
        for i in range(5):
            ask(client, [{"role": "user", "content": f"q{i}"}])
        assert [r["body"]["messages"][0]["content"] for r in stub.requests] == ["q2", "q3", "q4"]
        assert stub.hits == 5


def test_python_configure_and_reset(stub: StubServer) -> None:
    client = sync_client(stub)
    ask(client)
    stub.configure(rules=[Rule(content="scripted")], nonce=True)
    assert ask(client).choices[0].message.content.startswith("scripted [nonce ")
    stub.reset()
    assert (stub.hits, stub.requests, stub.stats().max_in_flight) == (0, [], 0)
    assert stub.config.rules[0].content == "scripted"  # reset forgets observations, not rules


def test_http_control_endpoints_replace_config_report_stats_and_reset(stub: StubServer) -> None:
    client = sync_client(stub)
    http(stub.url + "/_stub/config", {"rules": [{"content": "over http", "times": 1}], "latency": 0.01})
    assert ask(client).choices[0].message.content == "over http"
    stats = http(stub.url + "/_stub/stats")
    assert stats["hits"] == 1 and stats["latency"] == 0.01
    assert stats["rules"] == [{"index": 0, "name": None, "used": 1, "remaining": 0}]
    assert http(stub.url + "/_stub/requests")[0]["body"]["messages"] == USER
    http(stub.url + "/_stub/reset", {})
    assert http(stub.url + "/_stub/stats")["hits"] == 0


def test_http_config_rejects_invalid_rules(stub: StubServer) -> None:
    with pytest.raises(urllib.error.HTTPError) as caught:
        http(stub.url + "/_stub/config", {"rules": [{"content": "a", "fault": "drop"}]})
    assert caught.value.code == 400
    assert stub.config.rules == []


def test_stopped_server_refuses_connections_but_keeps_its_records() -> None:
    stub = StubServer().start()
    client = sync_client(stub)
    ask(client)
    stub.stop()
    with pytest.raises(openai.APIConnectionError):
        ask(client)
    assert stub.hits == 1 and len(stub.requests) == 1


# --- subprocess mode -----------------------------------------------------------------------------


def test_subprocess_mode_serves_and_reports_over_http() -> None:
    tool_rule = Rule(contains="tool?", tool_calls=[ToolCallSpec(name="t")])
    with StubProcess(latency=0.05, nonce=True, rules=[tool_rule]) as proc:
        assert proc.base_url.startswith("http://127.0.0.1:") and proc.base_url.endswith("/v1")
        client = sync_client(proc)
        started = time.monotonic()
        first, second = (ask(client).choices[0].message.content for _ in range(2))
        assert time.monotonic() - started >= 0.1
        assert first != second and "[nonce " in first
        assert ask(client, [{"role": "user", "content": "tool?"}]).choices[0].finish_reason == "tool_calls"
        stats = proc.stats()
        assert (stats.hits, stats.nonce, stats.latency) == (3, True, 0.05)
        assert len(proc.requests) == 3
        proc.reset()
        assert proc.hits == 0
    assert proc.returncode == 0, "the child must have exited cleanly on SIGTERM"


def test_command_line_reads_a_config_file(tmp_path: Path) -> None:
    config = StubConfig(rules=[Rule(fault="rate_limit", retry_after=0.01, times=1)], latency=0.02)
    path = tmp_path / "stub.json"
    path.write_text(config.model_dump_json(), encoding="utf-8")
    with StubProcess(extra_args=["--config", str(path)]) as proc:
        with pytest.raises(openai.RateLimitError):
            ask(sync_client(proc))
        assert ask(sync_client(proc)).choices[0].finish_reason == "stop"
        stats = proc.stats()
        assert [rule.remaining for rule in stats.rules] == [0] and stats.latency == 0.02
