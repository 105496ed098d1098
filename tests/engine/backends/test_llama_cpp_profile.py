"""The llama-cpp backend profile: each adaptation alone, then the profile as a whole."""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx2
import pytest

from harness.engine import backends
from harness.engine.backends import (
    LLAMA_CPP_DEFAULT_MAX_TOKENS,
    BackendError,
    content_parts_as_text,
    default_backend,
    default_max_tokens,
    developer_role_as_system,
    get_profile,
    json_schema_as_json_object,
    max_completion_tokens_as_max_tokens,
    null_content_as_empty,
    system_message_for_tools,
    tool_choice_auto_until_result,
    tool_choice_required_as_named,
    tool_result_text,
    tool_results_as_user,
)
from harness.engine.transport import HarnessSyncTransport

WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
                                            "parameters": {"type": "object",
                                                           "properties": {"city": {"type": "string"}},
                                                           "required": ["city"]}}}
TIME = {"type": "function",
        "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}
#: WEATHER as the llama-cpp profile sends it (bounded_tool_arguments).
BOUNDED_WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
                                                    "parameters": {"type": "object",
                                                                   "properties": {"city": {"type": "string",
                                                                                           "maxLength": 64}},
                                                                   "required": ["city"]}}}
CALL = {"id": "call_1", "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}


def chat(*messages: dict[str, Any], **params: Any) -> dict[str, Any]:
    return {"model": "smollm2", "messages": list(messages), **params}


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def tool_loop(**params: Any) -> dict[str, Any]:
    """A request as the Agents SDK sends it after running a tool."""
    return chat(
        {"role": "system", "content": "You answer weather questions."},
        user("Weather in Paris?"),
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 18C"},
        tools=[WEATHER], max_tokens=64, temperature=0, **params,
    )


ALL_ADAPTATIONS = [fn for _, fn in backends.LLAMA_CPP_ADAPTATIONS]

#: Bodies that exercise every adaptation (and some that need none).
SAMPLES = [
    chat(user("hi")),
    chat(user("hi"), max_tokens=16),
    tool_loop(),
    chat(user("Weather in Paris?"), tools=[WEATHER]),
    chat(user("Weather in Paris?"), tools=[WEATHER, TIME], tool_choice="required", max_completion_tokens=9),
    chat({"role": "developer", "content": [{"type": "text", "text": "Be brief."}]}, user("x"),
         response_format={"type": "json_schema",
                          "json_schema": {"name": "City", "strict": True, "schema": {
                              "type": "object", "properties": {"city": {"type": "string"}}}}}),
]


# -- each adaptation ----------------------------------------------------------------------------
def test_developer_role_becomes_system() -> None:
    body = chat({"role": "developer", "content": "Be brief."}, user("hi"))
    expected = [{"role": "system", "content": "Be brief."}, user("hi")]
    assert developer_role_as_system(body)["messages"] == expected


def test_text_parts_are_joined_into_a_string() -> None:
    body = chat({"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]})
    assert content_parts_as_text(body)["messages"] == [user("a\nb")]


def test_parts_with_images_are_left_alone() -> None:
    parts = [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": "data:"}}]
    body = chat({"role": "user", "content": parts})
    assert content_parts_as_text(body) is body


def test_null_assistant_content_becomes_empty_string() -> None:
    body = chat(user("x"), {"role": "assistant", "content": None, "tool_calls": [CALL]},
                {"role": "assistant", "tool_calls": [CALL]})
    out = null_content_as_empty(body)
    assert [m.get("content") for m in out["messages"]] == ["x", "", ""]
    assert out["messages"][1]["tool_calls"] == [CALL]


def test_null_content_of_other_roles_is_not_touched() -> None:
    body = chat({"role": "user", "content": None})
    assert null_content_as_empty(body) is body


def test_json_schema_becomes_json_object_with_the_schema() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
              "additionalProperties": False}
    spec = {"name": "City", "strict": True, "schema": schema}
    body = chat(user("x"), response_format={"type": "json_schema", "json_schema": spec})
    assert json_schema_as_json_object(body)["response_format"] == {"type": "json_object", "schema": schema}


def test_json_schema_without_schema_becomes_plain_json_object() -> None:
    body = chat(user("x"), response_format={"type": "json_schema", "json_schema": {"name": "X"}})
    assert json_schema_as_json_object(body)["response_format"] == {"type": "json_object"}


@pytest.mark.parametrize("fmt", [None, {"type": "text"}, {"type": "json_object"}])
def test_other_response_formats_pass_through(fmt: dict[str, Any] | None) -> None:
    body = chat(user("x")) if fmt is None else chat(user("x"), response_format=fmt)
    assert json_schema_as_json_object(body) is body


def test_max_completion_tokens_becomes_max_tokens() -> None:
    assert max_completion_tokens_as_max_tokens(chat(user("x"), max_completion_tokens=12)) == chat(
        user("x"), max_tokens=12)
    both = chat(user("x"), max_tokens=5, max_completion_tokens=12)
    assert max_completion_tokens_as_max_tokens(both) == chat(user("x"), max_tokens=5)


def test_default_max_tokens_only_when_absent() -> None:
    assert default_max_tokens(chat(user("x")))["max_tokens"] == LLAMA_CPP_DEFAULT_MAX_TOKENS == 256
    body = chat(user("x"), max_tokens=64)
    assert default_max_tokens(body) is body
    assert default_max_tokens(chat(user("x"), max_tokens=None))["max_tokens"] == 256


@pytest.mark.parametrize("choice", [None, "auto"])
def test_tools_get_auto_before_a_tool_result(choice: str | None) -> None:
    body = chat(user("Weather in Paris?"), tools=[WEATHER], **({"tool_choice": choice} if choice else {}))
    assert tool_choice_auto_until_result(body)["tool_choice"] == "auto"


@pytest.mark.parametrize("choice", [None, "auto"])
def test_tools_get_none_right_after_a_tool_result(choice: str | None) -> None:
    body = tool_loop(**({"tool_choice": choice} if choice else {}))
    assert tool_choice_auto_until_result(body)["tool_choice"] == "none"


def test_a_new_user_turn_after_a_tool_result_gets_auto_again() -> None:
    body = tool_loop()
    body["messages"] += [{"role": "assistant", "content": "It is sunny."}, user("And in Rome?")]
    assert tool_choice_auto_until_result(body)["tool_choice"] == "auto"


NAMED = {"type": "function", "function": {"name": "get_weather"}}


@pytest.mark.parametrize("choice", ["none", "required", NAMED])
def test_explicit_tool_choices_are_kept(choice: Any) -> None:
    body = chat(user("x"), tools=[WEATHER], tool_choice=choice)
    assert tool_choice_auto_until_result(body) is body


def test_no_tools_no_tool_choice() -> None:
    body = chat(user("x"))
    assert tool_choice_auto_until_result(body) is body
    assert tool_choice_auto_until_result(chat(user("x"), tools=[])) == chat(user("x"), tools=[])


def test_required_names_the_only_tool() -> None:
    out = tool_choice_required_as_named(chat(user("x"), tools=[WEATHER], tool_choice="required"))
    assert out["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}


def test_required_with_several_tools_becomes_auto() -> None:
    out = tool_choice_required_as_named(chat(user("x"), tools=[WEATHER, TIME], tool_choice="required"))
    assert out["tool_choice"] == "auto"


def test_system_message_is_added_when_tools_are_in_use() -> None:
    out = system_message_for_tools(chat(user("x"), tools=[WEATHER], tool_choice="auto"))
    assert out["messages"] == [{"role": "system", "content": ""}, user("x")]


@pytest.mark.parametrize("body", [
    chat({"role": "system", "content": "s"}, user("x"), tools=[WEATHER], tool_choice="auto"),
    chat(user("x"), tools=[WEATHER], tool_choice="none"),
    chat(user("x"), tools=[WEATHER]),
    chat(user("x")),
])
def test_system_message_not_added_otherwise(body: dict[str, Any]) -> None:
    assert system_message_for_tools(body) is body


def test_tool_messages_become_user_messages_and_tool_calls_are_kept() -> None:
    out = tool_results_as_user(tool_loop())
    assert out["messages"][2] == {"role": "assistant", "content": None, "tool_calls": [CALL]}
    assert out["messages"][3] == {"role": "user", "content": "Tool result for get_weather: sunny, 18C"}
    assert all(m["role"] != "tool" for m in out["messages"])


def test_several_calls_in_one_turn_are_numbered_and_ids_never_shown() -> None:
    calls = [CALL, {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}]
    body = chat(user("x"), {"role": "assistant", "content": "", "tool_calls": calls},
                {"role": "tool", "tool_call_id": "call_2", "content": "noon"},
                {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "sunny"}]})
    texts = [m["content"] for m in tool_results_as_user(body)["messages"][2:]]
    assert texts == ["Tool result for get_time (call 2 of 2): noon",
                     "Tool result for get_weather (call 1 of 2): sunny"]
    assert "call_" not in json.dumps(texts)


def test_unknown_call_ids_and_legacy_function_messages() -> None:
    body = chat(user("x"), {"role": "tool", "tool_call_id": "nope", "content": "42"},
                {"role": "function", "name": "lookup", "content": "found"})
    texts = [m["content"] for m in tool_results_as_user(body)["messages"][1:]]
    assert texts == ["Tool result: 42", "Tool result for lookup: found"]


def test_tool_result_text() -> None:
    assert tool_result_text("f", "ok") == "Tool result for f: ok"
    assert tool_result_text("f", None) == "Tool result for f: "
    assert tool_result_text("f", {"b": 1, "a": 2}) == 'Tool result for f: {"a": 2, "b": 1}'


# -- properties of every adaptation -------------------------------------------------------------
@pytest.mark.parametrize("adaptation", ALL_ADAPTATIONS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("sample", range(len(SAMPLES)))
def test_adaptations_are_pure_deterministic_and_idempotent(adaptation: Any, sample: int) -> None:
    body = copy.deepcopy(SAMPLES[sample])
    before = json.dumps(body)
    first, second = adaptation(body), adaptation(copy.deepcopy(body))
    assert json.dumps(body) == before                      # the input is never mutated
    assert json.dumps(first) == json.dumps(second)         # byte-identical, key order included
    assert json.dumps(adaptation(first)) == json.dumps(first)  # idempotent
    if first is not body:
        assert first["messages"] is not body["messages"]   # no sharing with the input


@pytest.mark.parametrize("sample", range(len(SAMPLES)))
def test_profile_is_deterministic_and_idempotent(sample: int) -> None:
    profile = get_profile("llama-cpp")
    body = copy.deepcopy(SAMPLES[sample])
    adapted = profile.adapt(copy.deepcopy(body))
    assert json.dumps(adapted) == json.dumps(profile.adapt(copy.deepcopy(body)))
    assert json.dumps(profile.adapt(copy.deepcopy(adapted))) == json.dumps(adapted)
    assert body == SAMPLES[sample]


# -- the profile as a whole ---------------------------------------------------------------------
def test_sdk_tool_loop_request_end_to_end() -> None:
    adapted = get_profile("llama-cpp").adapt(tool_loop())
    assert adapted == {
        "model": "smollm2",
        "messages": [
            {"role": "system", "content": "You answer weather questions."},
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": "", "tool_calls": [CALL]},
            {"role": "user", "content": "Tool result for get_weather: sunny, 18C"},
        ],
        "tools": [BOUNDED_WEATHER], "max_tokens": 64, "temperature": 0, "tool_choice": "none",
    }


def test_first_tool_turn_end_to_end() -> None:
    adapted = get_profile("llama-cpp").adapt(chat(user("Weather in Paris?"), tools=[WEATHER]))
    assert adapted == {"model": "smollm2",
                       "messages": [{"role": "system", "content": ""}, user("Weather in Paris?")],
                       "tools": [BOUNDED_WEATHER], "max_tokens": 256, "tool_choice": "auto"}


def test_required_with_tool_result_keeps_the_named_tool() -> None:
    adapted = get_profile("llama-cpp").adapt(tool_loop(tool_choice="required"))
    assert adapted["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}


def test_describe_and_capabilities() -> None:
    described = get_profile("llama-cpp").describe()
    assert described["name"] == "llama-cpp"
    assert described["adaptations"] == [
        "developer_role_as_system", "content_parts_as_text", "null_content_as_empty",
        "json_schema_as_json_object", "max_completion_tokens_as_max_tokens", "default_max_tokens",
        "tool_choice_auto_until_result", "tool_choice_required_as_named", "bounded_tool_arguments",
        "system_message_for_tools", "tool_results_as_user",
    ]
    caps = described["capabilities"]
    for capability in ("json_schema", "tool_choice_required", "tool_role", "null_content", "developer_role",
                       "responses_api", "seed", "tools_without_tool_choice", "tool_choice_auto_text"):
        assert caps[capability] is False, capability
    assert caps["json_object_schema"] and caps["tools"] and caps["tool_choice_named"]
    json.dumps(described)  # goes in the run manifest as is
    assert get_profile("llama-cpp").rewrites


@pytest.mark.parametrize("body", [
    {"model": "smollm2", "input": ["a", "b"]},                      # embeddings
    {"model": "smollm2", "prompt": "x", "max_completion_tokens": 3},  # not a chat request
])
def test_non_chat_bodies_are_left_alone(body: dict[str, Any]) -> None:
    assert get_profile("llama-cpp").adapt(copy.deepcopy(body)) == body


def test_local_is_an_alias_and_openai_is_unchanged() -> None:
    assert get_profile("local") is get_profile("llama-cpp")
    assert get_profile("local").describe()["name"] == "llama-cpp"
    openai = get_profile("openai")
    assert not openai.rewrites and openai.adapt(tool_loop()) == tool_loop()


def test_default_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HARNESS_BACKEND", raising=False)
    assert default_backend() == "openai"
    assert default_backend("local") == "local"
    monkeypatch.setenv("HARNESS_BACKEND", "llama-cpp")
    assert default_backend() == "llama-cpp"
    assert default_backend("openai") == "openai"
    monkeypatch.setenv("HARNESS_BACKEND", "lama")
    with pytest.raises(BackendError, match="unknown backend profile 'lama'"):
        default_backend()


def test_transport_sends_the_adapted_body() -> None:
    seen: list[bytes] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request.content)
        return httpx2.Response(200, json={"ok": True})

    transport = HarnessSyncTransport(httpx2.MockTransport(handler), "llama-cpp")
    with httpx2.Client(transport=transport) as client:
        client.post("http://127.0.0.1:9/v1/chat/completions", json=tool_loop())
        client.post("http://127.0.0.1:9/v1/chat/completions", json=tool_loop())
    assert seen[0] == seen[1]
    assert json.loads(seen[0]) == get_profile("llama-cpp").adapt(tool_loop())


# -- bounded_tool_arguments ----------------------------------------------------------------------

def test_free_strings_and_arrays_in_tool_schemas_get_a_maximum_size():
    from harness.engine.backends import (
        LLAMA_CPP_MAX_ARGUMENT_CHARS,
        LLAMA_CPP_MAX_ARGUMENT_ITEMS,
        bounded_tool_arguments,
    )

    schema = {"type": "object", "properties": {
        "order_id": {"type": "string"},
        "reason": {"type": "string", "enum": ["defective", "changed_mind"]},
        "code": {"type": "string", "maxLength": 6},
        "items": {"type": "array", "items": {"type": "object", "properties": {"sku": {"type": ["string", "null"]}}}},
    }}
    body = {"messages": [], "tools": [{"type": "function", "function": {"name": "f", "parameters": schema}}]}
    bounded = bounded_tool_arguments(body)["tools"][0]["function"]["parameters"]["properties"]
    assert bounded["order_id"]["maxLength"] == LLAMA_CPP_MAX_ARGUMENT_CHARS
    assert "maxLength" not in bounded["reason"], "an enum is already bounded"
    assert bounded["code"]["maxLength"] == 6, "an existing bound is kept"
    assert bounded["items"]["maxItems"] == LLAMA_CPP_MAX_ARGUMENT_ITEMS
    assert bounded["items"]["items"]["properties"]["sku"]["maxLength"] == LLAMA_CPP_MAX_ARGUMENT_CHARS
    assert "maxLength" not in schema["properties"]["order_id"], "the input is not changed"
    assert bounded_tool_arguments(bounded_tool_arguments(body)) == bounded_tool_arguments(body)
    assert bounded_tool_arguments({"messages": []}) == {"messages": []}
