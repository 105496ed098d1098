"""A streamed reply reaches the flow as the server sends it, while it is being recorded, and replays exactly.

The stub waits between chunks (``stream_chunk_delay``): a flow that sees its first text before
the last chunk was sent proves the transport did not buffer the stream (vcrpy's stub would).
Async flows (``ctx.client``, the Agents SDK) and sync ones (``ctx.sync_client``) alike.
"""

from __future__ import annotations

import json
import time

import pytest
from agents import Agent, Runner

from harness.engine.cassette import streaming
from harness.testing.stub_server import StubConfig, StubServer

DEAD_URL = "http://127.0.0.1:9/v1"
DELAY_S = 0.15


async def chat_stream(input, ctx):
    start = time.perf_counter()
    stream = await ctx.client.chat.completions.create(
        messages=[{"role": "user", "content": f"tell me a long story about {input} " * 3}], stream=True,
        stream_options={"include_usage": True}, **ctx.model_kwargs())
    arrivals, text = [], []
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.perf_counter() - start)
            text.append(chunk.choices[0].delta.content)
    return {"text": "".join(text), "first_s": arrivals[0], "last_s": arrivals[-1], "pieces": len(arrivals)}


async def sdk_stream(input, ctx):
    agent = Agent(name="Helper", instructions="Answer.", model=ctx.sdk_model(api="responses"),
                  model_settings=ctx.sdk_settings())
    start = time.perf_counter()
    result = Runner.run_streamed(agent, f"tell me a long story about {input} " * 3)
    arrivals = [time.perf_counter() - start async for event in result.stream_events()
                if event.type == "raw_response_event" and event.data.type == "response.output_text.delta"]
    return {"text": result.final_output, "first_s": arrivals[0], "last_s": arrivals[-1], "pieces": len(arrivals)}


def sync_chat_stream(input, ctx):
    """The sync client's Chat Completions stream; ``events`` lists what arrived, for exact replay."""
    start = time.perf_counter()
    stream = ctx.sync_client.chat.completions.create(
        messages=[{"role": "user", "content": f"tell me a long story about {input} " * 3}], stream=True,
        stream_options={"include_usage": True}, **ctx.model_kwargs())
    arrivals, text, events = [], [], []
    for chunk in stream:
        events.append([choice.delta.content for choice in chunk.choices])
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.perf_counter() - start)
            text.append(chunk.choices[0].delta.content)
    return {"text": "".join(text), "first_s": arrivals[0], "last_s": arrivals[-1], "pieces": len(arrivals),
            "events": events}


def sync_responses_stream(input, ctx):
    """The sync client's Responses stream (carried over Chat Completions on ``llama-cpp``)."""
    start = time.perf_counter()
    stream = ctx.sync_client.responses.create(
        model=ctx.settings.model, input=f"tell me a long story about {input} " * 3, stream=True)
    arrivals, text, events = [], [], []
    for event in stream:
        events.append([event.type, getattr(event, "delta", None)])
        if event.type == "response.output_text.delta":
            arrivals.append(time.perf_counter() - start)
        if event.type == "response.completed":
            text.append(event.response.output_text)
    return {"text": "".join(text), "first_s": arrivals[0], "last_s": arrivals[-1], "pieces": len(arrivals),
            "events": events}


def _snapshot(result):
    return {row.key: (row.output["text"], row.output.get("events"), row.trajectory.structure())
            for row in result.folder.rows()}


@pytest.mark.parametrize("flow, backend", [(chat_stream, "openai"), (sdk_stream, "openai"),
                                           (sdk_stream, "llama-cpp"), (sync_chat_stream, "openai"),
                                           (sync_responses_stream, "openai"), (sync_responses_stream, "llama-cpp")],
                         ids=["chat-completions", "responses", "responses-over-chat", "sync-chat-completions",
                              "sync-responses", "sync-responses-over-chat"])
def test_chunks_pass_through_while_recording_and_replay_exactly(make_suite, run, flow, backend):
    suite = make_suite(flow=flow, n=1, backend=backend)
    with StubServer(config=StubConfig(stream_chunk_delay=DELAY_S)) as stub:
        recorded = run(suite, stub.base_url, record_mode="once")
    assert recorded.errors == 0, [r.error for r in recorded.folder.rows()]
    row = next(recorded.folder.rows())
    assert row.output["pieces"] >= 3
    # Buffered, every piece would arrive at once, after the last delay.
    assert row.output["last_s"] - row.output["first_s"] >= DELAY_S * (row.output["pieces"] - 2)
    [call] = row.trajectory.model_calls
    assert call.attributes["output"] == row.output["text"] and call.attributes["output_tokens"] > 0

    replay = run(suite, DEAD_URL, record_mode="none")
    assert replay.errors == 0, [r.error for r in replay.folder.rows()]
    assert _snapshot(replay) == _snapshot(recorded)


@pytest.mark.parametrize("flow, backend", [(sync_chat_stream, "openai"), (sync_responses_stream, "llama-cpp")],
                         ids=["sync-chat-completions", "sync-responses-over-chat"])
def test_live_sync_streams_pass_through_without_a_cassette(make_suite, run, flow, backend):
    suite = make_suite(flow=flow, n=1, backend=backend)
    with StubServer(config=StubConfig(stream_chunk_delay=DELAY_S)) as stub:
        live = run(suite, stub.base_url, record_mode="off")
    assert live.errors == 0, [r.error for r in live.folder.rows()]
    row = next(live.folder.rows())
    assert row.output["last_s"] - row.output["first_s"] >= DELAY_S * (row.output["pieces"] - 2)
    [call] = row.trajectory.model_calls
    assert call.attributes["output"] == row.output["text"]


async def abandoned_stream(input, ctx):
    """Reads the first chunk of a stream and closes it, long before the server has sent the rest."""
    stream = await ctx.client.chat.completions.create(
        messages=[{"role": "user", "content": f"tell me a long story about {input} " * 3}], stream=True,
        **ctx.model_kwargs())
    first = await anext(aiter(stream))
    await stream.close()
    return {"first": first.id}


def sync_abandoned_stream(input, ctx):
    """The same through the sync client."""
    stream = ctx.sync_client.chat.completions.create(
        messages=[{"role": "user", "content": f"tell me a long story about {input} " * 3}], stream=True,
        **ctx.model_kwargs())
    first = next(iter(stream))
    stream.close()
    return {"first": first.id}


@pytest.mark.parametrize("flow", [abandoned_stream, sync_abandoned_stream], ids=["async", "sync"])
def test_a_stream_abandoned_half_way_is_not_recorded(make_suite, run, flow, tmp_path, monkeypatch):
    monkeypatch.setattr(streaming, "DRAIN_S", DELAY_S * 2)  # the stub needs ~10 delays to finish
    suite = make_suite(flow=flow, n=1)
    with StubServer(config=StubConfig(stream_chunk_delay=DELAY_S)) as stub:
        recorded = run(suite, stub.base_url, record_mode="once")
    row = next(recorded.folder.rows())
    [call] = row.trajectory.model_calls
    assert "TimeoutError" in (call.error or ""), "the trace shows the call as cut short"
    bodies = [i["response"]["body"]["string"] for path in (tmp_path / "cassettes").rglob("*.json")
              for i in json.loads(path.read_text()).get("interactions", [])]
    assert not bodies, "a torn stream must not be recorded as the reply"

    replay = run(suite, DEAD_URL, record_mode="none")
    [replayed] = replay.folder.rows()
    assert replayed.error is not None and replayed.error.kind == "cassette_miss", replayed.error
