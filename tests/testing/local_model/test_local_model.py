"""Against the real local model: llama.cpp serving SmolLM2-135M, through the ``llama-cpp`` profile.

One server for the module (the session-scoped ``local_model`` fixture); every generation is kept
short (max_tokens <= 64) and at temperature 0, so the module runs in well under a minute.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx2
import pytest
from agents import Agent, ModelSettings, OpenAIChatCompletionsModel, Runner, function_tool, handoff
from agents.extensions import handoff_filters
from openai import AsyncOpenAI
from pydantic import BaseModel

from harness.engine.runtime import Runtime, RuntimeConfig
from harness.testing import local_model as lm_module
from harness.testing.local_model import MODEL_ALIAS, LocalModel

pytestmark = pytest.mark.local_model

T = TypeVar("T")
SETTINGS = ModelSettings(temperature=0, max_tokens=64)


def live(local_model: LocalModel, work: Callable[[Runtime], Awaitable[T]]) -> T:
    """Run ``work(runtime)`` in a harness runtime pointed at the local model."""

    async def main() -> T:
        config = RuntimeConfig(base_url=local_model.base_url, backend="llama-cpp", record_mode="off")
        async with Runtime(config) as runtime:
            return await work(runtime)

    return asyncio.run(main())


def sdk_model(client: AsyncOpenAI) -> OpenAIChatCompletionsModel:
    return OpenAIChatCompletionsModel(model=MODEL_ALIAS, openai_client=client)


def test_runtime_manifest_records_the_profile(local_model: LocalModel) -> None:
    async def work(runtime: Runtime) -> dict[str, Any]:
        return runtime.describe()

    described = live(local_model, work)
    assert described["base_url"] == local_model.base_url
    assert described["profile"]["name"] == "llama-cpp"
    assert "tool_results_as_user" in described["profile"]["adaptations"]


def test_plain_chat_is_deterministic_at_temperature_0(local_model: LocalModel) -> None:
    async def work(runtime: Runtime) -> list[str]:
        texts = []
        for _ in range(2):
            reply = await runtime.client.chat.completions.create(
                model=MODEL_ALIAS, messages=[{"role": "user", "content": "Name three colors."}],
                temperature=0, max_tokens=32,
            )
            texts.append(reply.choices[0].message.content or "")
        return texts

    first, second = live(local_model, work)
    assert first.strip()
    assert first == second


class City(BaseModel):
    city: str
    country: str


def test_structured_output_with_parse(local_model: LocalModel) -> None:
    async def work(runtime: Runtime) -> Any:
        return await runtime.client.chat.completions.parse(
            model=MODEL_ALIAS, messages=[{"role": "user", "content": "Give a city and its country."}],
            response_format=City, temperature=0, max_tokens=64,
        )

    completion = live(local_model, work)
    parsed = completion.choices[0].message.parsed
    assert isinstance(parsed, City)
    assert parsed.city and parsed.country


def test_required_tool_choice_calls_the_only_tool(local_model: LocalModel) -> None:
    tool = {"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
                                             "parameters": {"type": "object",
                                                            "properties": {"city": {"type": "string"}},
                                                            "required": ["city"]}}}

    async def work(runtime: Runtime) -> Any:
        return await runtime.client.chat.completions.create(
            model=MODEL_ALIAS, messages=[{"role": "user", "content": "What is the weather in Paris?"}],
            tools=[tool], tool_choice="required", temperature=0, max_tokens=32,
        )

    message = live(local_model, work).choices[0].message
    assert message.tool_calls and message.tool_calls[0].function.name == "get_weather"
    assert "city" in json.loads(message.tool_calls[0].function.arguments)


def test_agent_tool_loop(local_model: LocalModel) -> None:
    calls: list[str] = []

    @function_tool
    def get_weather(city: str) -> str:
        """Get the current weather for a city."""
        calls.append(city)
        return f"The weather in {city} is sunny and 18 degrees."

    async def work(runtime: Runtime) -> Any:
        agent = Agent(name="Weather", instructions="You answer weather questions. Use the get_weather tool.",
                      tools=[get_weather], model=sdk_model(runtime.client), model_settings=SETTINGS)
        return await Runner.run(agent, "What is the weather in Paris?", max_turns=4)

    result = live(local_model, work)
    assert calls == ["Paris"]                       # the tool ran, once
    # The answer quotes the tool's result: the model saw it (tool_results_as_user), and
    # answered in text (tool_choice "none" after the result: tool_choice_auto_until_result).
    assert "sunny" in str(result.final_output)


def test_triage_hands_off_to_the_specialist(local_model: LocalModel) -> None:
    async def work(runtime: Runtime) -> Any:
        model = sdk_model(runtime.client)
        specialist = Agent(name="Billing specialist",
                           instructions="You handle billing questions. Answer briefly.",
                           model=model, model_settings=SETTINGS)
        triage = Agent(name="Triage", instructions="Route the user to the right specialist.",
                       handoffs=[handoff(specialist, input_filter=handoff_filters.remove_all_tools)],
                       model=model, model_settings=SETTINGS)
        return await Runner.run(triage, "I have a question about my invoice.", max_turns=4)

    result = live(local_model, work)
    assert result.last_agent.name == "Billing specialist"
    assert str(result.final_output).strip()


# -- why the profile exists: the raw server's deviations (no generation, instant) ----------------
@pytest.mark.parametrize(("name", "body"), [
    ("json_schema", {"messages": [{"role": "user", "content": "x"}],
                     "response_format": {"type": "json_schema", "json_schema": {"name": "X", "schema": {}}}}),
    ("tool_choice_required", {"messages": [{"role": "user", "content": "x"}], "tool_choice": "required",
                              "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]}),
    ("null_content", {"messages": [{"role": "user", "content": "x"},
                                   {"role": "assistant", "content": None}]}),
    ("developer_role", {"messages": [{"role": "developer", "content": "x"}]}),
])
def test_raw_server_rejects_what_the_profile_adapts(local_model: LocalModel, name: str,
                                                    body: dict[str, Any]) -> None:
    """If one of these starts passing, llama-cpp-python fixed it: the adaptation may go."""
    response = httpx2.post(f"{local_model.base_url}/chat/completions",
                           json={"model": MODEL_ALIAS, "max_tokens": 1, **body}, timeout=30)
    assert response.status_code == 500, name


def test_block_reuses_a_recorded_background_server(local_model: LocalModel, tmp_path: Path) -> None:
    """A state file naming a running server (as ``start()`` writes it) is reused and left running."""
    assert local_model.info is not None
    lm_module._write_state(tmp_path, local_model.info)
    assert lm_module.status(tmp_path) == local_model.info
    with LocalModel(state_dir=tmp_path) as reused:
        assert not reused.owned and reused.base_url == local_model.base_url
    assert lm_module.status(tmp_path) == local_model.info   # still running


def test_shared_hands_out_the_same_server(local_model: LocalModel) -> None:
    """A second user (another fixture, another xdist worker) gets the running server, not a new one."""
    before = lm_module._read_users(local_model.state_dir)
    with lm_module.shared(local_model.state_dir) as again:
        assert again.base_url == local_model.base_url
        during = lm_module._read_users(local_model.state_dir)
        assert during is None if before is None else len(during) == len(before) + 1
    assert lm_module.status(local_model.state_dir) is not None           # still running
    assert lm_module._read_users(local_model.state_dir) == before
