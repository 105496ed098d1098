"""A secret a model echoes in a streamed reply is removed from every event it is split across.

The stub streams content and tool-call arguments in 24-character pieces, so a planted key lands
across two or three events, at a different place for each offset; nothing written may hold the
key or any long piece of it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from harness.engine.cassette.scrub import REDACTED, Scrubber
from harness.testing.stub_server import Rule, StubConfig, StubServer, ToolCallSpec

KEY = "sk-test-STREAMEDSECRET0123456789abcdef"
OFFSETS = (0, 5, 11, 17, 23)


DELAY_S = 0.03


class _Reassembly:
    """A streamed reply put back together: content, the tool call's arguments, when each chunk came."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.content: list[str] = []
        self.arguments: list[str] = []
        self.arrivals: list[float] = []

    def add(self, chunk) -> None:
        self.arrivals.append(time.perf_counter() - self.start)
        for choice in chunk.choices:
            self.content.append(choice.delta.content or "")
            self.arguments.extend(c.function.arguments or "" for c in choice.delta.tool_calls or [] if c.function)

    def output(self) -> dict:
        return {"content": "".join(self.content), "arguments": "".join(self.arguments),
                "spread_s": self.arrivals[-1] - self.arrivals[0], "chunks": len(self.arrivals)}


async def streamed(input, ctx):
    """Streams the reply and returns it reassembled: content and the tool call's arguments."""
    reply = _Reassembly()
    stream = await ctx.client.chat.completions.create(
        messages=[{"role": "user", "content": input}], stream=True, **ctx.model_kwargs())
    async for chunk in stream:
        reply.add(chunk)
    return reply.output()


def sync_streamed(input, ctx):
    """The same through the sync client, whose stream is recorded as it passes through."""
    reply = _Reassembly()
    for chunk in ctx.sync_client.chat.completions.create(
            messages=[{"role": "user", "content": input}], stream=True, **ctx.model_kwargs()):
        reply.add(chunk)
    return reply.output()


def _rules() -> list[Rule]:
    content = [Rule(contains=f"text at offset {n}", content=f"{'x' * n}your key is {KEY}, keep it safe")
               for n in OFFSETS]
    tools = [Rule(contains=f"tool at offset {n}",
                  tool_calls=[ToolCallSpec(name="store", arguments={"pad": "y" * n, "key": KEY})]) for n in OFFSETS]
    return content + tools


def _pieces_of(key: str, size: int = 12) -> list[str]:
    return [key[i:i + size] for i in range(len(key) - size + 1)]


@pytest.mark.parametrize("flow", [streamed, sync_streamed], ids=["async", "sync"])
def test_a_key_split_across_stream_events_is_scrubbed_at_every_offset(make_suite, run, flow, tmp_path: Path,
                                                                      monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    suite = make_suite(flow=flow, n=1)
    Path(suite.dataset).write_text("".join(json.dumps({"id": f"{kind}-{n}", "input": f"echo {kind} at offset {n}"})
                                           + "\n" for kind in ("text", "tool") for n in OFFSETS))
    # A delay per event: the flow sees the pieces apart, so the stream passed through while recorded.
    with StubServer(rules=_rules(), config=StubConfig(stream_chunk_delay=DELAY_S)) as stub:
        recorded = run(suite, stub.base_url, record_mode="once", api_key=KEY)
    rows = list(recorded.folder.rows())
    assert recorded.errors == 0, [r.error for r in rows]
    assert all(KEY not in json.dumps(r.output) for r in rows)  # rows are scrubbed as they are written
    # Buffered, all of a reply's chunks would reach the flow at once; the stub sent them 4+ delays apart.
    assert all(r.output["chunks"] >= 5 and r.output["spread_s"] >= 2 * DELAY_S for r in rows), \
        [(r.output["spread_s"], r.output["chunks"]) for r in rows]

    cassettes = sorted((tmp_path / "cassettes").rglob("*.json"))
    assert len(cassettes) == 2 * len(OFFSETS)
    for path in cassettes:
        text = path.read_text()
        body = json.loads(text)["interactions"][0]["response"]["body"]["string"]
        assert body.count("data: ") > 3, "the reply really was streamed in pieces"
        leaked = [piece for piece in _pieces_of(KEY) if piece in text]
        assert not leaked, f"{path.name} holds pieces of the key: {leaked[:3]}"
        assert REDACTED in body

    replayed = run(suite, "http://127.0.0.1:9/v1", record_mode="none")
    outputs = {r.task_id: r.output for r in replayed.folder.rows()}
    assert replayed.errors == 0
    for n in OFFSETS:
        assert outputs[f"text-{n}"]["content"] == f"{'x' * n}your key is {REDACTED}, keep it safe"
        assert json.loads(outputs[f"tool-{n}"]["arguments"]) == {"pad": "y" * n, "key": REDACTED}


@pytest.mark.parametrize("cut", [1, 7, 19, len(KEY) - 1])
def test_responses_api_deltas_are_scrubbed_as_one_text(cut: int):
    events = [
        {"type": "response.output_text.delta", "item_id": "m1", "output_index": 0, "content_index": 0,
         "delta": "key: " + KEY[:cut]},
        {"type": "response.output_text.delta", "item_id": "m1", "output_index": 0, "content_index": 0,
         "delta": KEY[cut:] + " end"},
        {"type": "response.function_call_arguments.delta", "item_id": "f1", "output_index": 1,
         "delta": '{"k": "' + KEY[:cut]},
        {"type": "response.function_call_arguments.delta", "item_id": "f1", "output_index": 1, "delta": KEY[cut:] + '"}'},
    ]
    body = "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events)
    cleaned = Scrubber(secrets=[KEY]).stream(body)
    deltas = [json.loads(line[6:])["delta"] for line in cleaned.splitlines() if line.startswith("data: ")]
    assert "".join(deltas[:2]) == f"key: {REDACTED} end"
    assert json.loads("".join(deltas[2:])) == {"k": REDACTED}
    assert cleaned.count("event: ") == 4, "the stream keeps its shape"


def test_events_without_a_secret_are_kept_byte_for_byte():
    body = 'data: {"choices": [{"index": 0, "delta": {"content": "hello"}}]}\r\n\r\ndata: [DONE]\r\n\r\n'
    assert Scrubber(secrets=[KEY]).stream(body) == body
