"""Recording keys come from the task's own structure, so they survive changes inside the Agents SDK.

A key is suite, variant, task, epoch, the branch (numbered by when concurrent branches first call
the model, or labelled by the flow) and the call's place in it. An SDK release that renames one
of its coroutines, wraps a model call in another task or reshapes ``Runner`` must replay every
existing recording as before.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import agents.run
import pytest
from agents import Agent, Runner
from test_sdk_replay import _rules_for_orders, _snapshot, parallel_flow, triage_flow

from harness.engine.loader import find_suite
from harness.engine.runner import RunOptions, run_suite
from harness.engine.runtime import RuntimeConfig
from harness.testing.stub_server import StubServer

ROOT = Path(__file__).resolve().parents[3]
DEAD_URL = "http://127.0.0.1:9/v1"
_original_guard = agents.run.preserve_tool_task_cancellation


async def _renamed_and_wrapped(awaitable):
    """What a patch release might do: another name, and one more task around the model call."""
    async def _run_model_turn_v2():
        return await _original_guard(awaitable)

    return await asyncio.ensure_future(_run_model_turn_v2())


def _keys(cassettes: Path) -> set[str]:
    keys = set()
    for path in cassettes.rglob("*.json"):
        data = json.loads(path.read_text())
        assert data["metadata"]["harness"]["format"] == 2
        keys |= {i["request"]["headers"]["x-harness-key"][0] for i in data["interactions"]}
    return keys


@pytest.mark.parametrize("flow", [triage_flow, parallel_flow], ids=["handoffs", "parallel"])
def test_replay_survives_an_sdk_coroutine_renamed_or_wrapped(make_suite, run, tmp_path, monkeypatch, flow):
    suite = make_suite(flow=flow, n=2)
    with StubServer(nonce=True, rules=_rules_for_orders()) as stub:
        recorded = run(suite, stub.base_url, record_mode="once", concurrency=2)
    assert recorded.errors == 0, [r.error for r in recorded.folder.rows()]
    keys = _keys(tmp_path / "cassettes")
    assert keys and not any(c.isalpha() for k in keys for c in k.split("|")[-2][1:]), keys

    monkeypatch.setattr(agents.run, "preserve_tool_task_cancellation", _renamed_and_wrapped)
    replay = run(suite, DEAD_URL, record_mode="none", concurrency=2, shuffle_seed=3)
    assert replay.errors == 0, [r.error.message for r in replay.folder.rows() if r.error]
    assert _snapshot(replay) == _snapshot(recorded)


def test_a_recording_made_with_a_wrapped_sdk_replays_with_the_plain_one(make_suite, run, monkeypatch):
    suite = make_suite(flow=triage_flow, n=2)
    monkeypatch.setattr(agents.run, "preserve_tool_task_cancellation", _renamed_and_wrapped)
    with StubServer(nonce=True, rules=_rules_for_orders()) as stub:
        recorded = run(suite, stub.base_url, record_mode="once")
    monkeypatch.undo()
    replay = run(suite, DEAD_URL, record_mode="none")
    assert replay.errors == 0 and _snapshot(replay) == _snapshot(recorded)


class ReshapedRunner(Runner):
    """A ``Runner`` whose internals changed shape: every run goes through one more task."""

    @classmethod
    async def run(cls, starting_agent: Agent, input, **kwargs):  # type: ignore[override]
        async def _drive_v2():
            return await super(ReshapedRunner, cls).run(starting_agent, input, **kwargs)

        return await asyncio.create_task(_drive_v2())


def _replay_committed(tmp_path: Path, name: str) -> dict:
    suite = find_suite(ROOT / "evals" / "test_support.py")
    config = RuntimeConfig(base_url=DEAD_URL, cassette_dir=ROOT / "cassettes")
    result = asyncio.run(run_suite(suite, RunOptions(record_mode="none", runtime=config, runs_dir=tmp_path / name,
                                                     concurrency=8,
                                                     ids=("st-001", "st-002", "st-003", "st-004", "st-005", "st-006"))))
    rows = list(result.folder.rows())
    misses = [r.error.message for r in rows if r.error and r.error.kind == "cassette_miss"]
    assert rows and not misses, misses[:3]
    return {(r.variant, r.task_id): (r.output, r.error and r.error.message, r.trajectory.structure()) for r in rows}


def test_committed_cassettes_replay_through_a_runner_subclass(tmp_path, monkeypatch):
    import shopdesk.flows._common as common

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    plain = _replay_committed(tmp_path, "plain")
    monkeypatch.setattr(common, "Runner", ReshapedRunner)
    assert _replay_committed(tmp_path, "reshaped") == plain
