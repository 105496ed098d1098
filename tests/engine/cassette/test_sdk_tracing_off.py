"""A flow that turns Agents SDK tracing off keeps its agent, handoff and tool spans — and is told so.

Users disable SDK tracing to stop its export to OpenAI; under the harness nothing is exported,
and losing the spans would fail every handoff grader silently.
"""

from __future__ import annotations

import logging

import agents
import pytest
from agents import RunConfig, Runner
from test_sdk_replay import _rules_for_orders, build

from harness.testing.stub_server import StubServer


async def disables_tracing(input, ctx):
    agents.set_tracing_disabled(True)  # what user code often does at import time or in main()
    result = await Runner.run(build(ctx), input, max_turns=6)
    return result.final_output


async def disables_tracing_per_run(input, ctx):
    result = await Runner.run(build(ctx), input, max_turns=6, run_config=RunConfig(tracing_disabled=True))
    return result.final_output


@pytest.mark.parametrize("flow", [disables_tracing, disables_tracing_per_run], ids=["global", "run_config"])
def test_spans_are_captured_with_sdk_tracing_off_and_the_call_is_named(make_suite, run, caplog, flow):
    caplog.set_level(logging.WARNING, logger="harness")
    try:
        with StubServer(nonce=True, rules=_rules_for_orders()) as stub:
            result = run(make_suite(flow=flow, n=2), stub.base_url, record_mode="off")
    finally:
        agents.set_tracing_disabled(False)
    rows = list(result.folder.rows())
    assert result.errors == 0, [r.error for r in rows]
    for row in rows:
        assert row.trajectory.handoff_path == ["Triage Agent", "Orders Agent"]
        assert [t.name for t in row.trajectory.tool_calls] == ["lookup_order"]
    notes = [r.getMessage() for r in caplog.records if "turns Agents SDK tracing off" in r.getMessage()]
    assert len(notes) == 1, notes
    if flow is disables_tracing:
        assert "agents.set_tracing_disabled(True)" in notes[0] and "test_sdk_tracing_off.py:" in notes[0]
    else:
        assert "RunConfig(tracing_disabled=True)" in notes[0]
