"""The OpenAI Agents SDK under the harness: tool loops, handoffs, agents-as-tools, fan-out — recorded and replayed."""

from __future__ import annotations

import asyncio

from agents import Agent, Runner, function_tool, handoff
from agents.extensions import handoff_filters
from agents.tracing import get_trace_provider

from harness.engine.sdk_tracing import HarnessTraceProcessor
from harness.testing.stub_server import Rule, StubServer, ToolCallSpec

DEAD_URL = "http://127.0.0.1:9/v1"
ORDERS = {"A1001": "shipped"}


@function_tool
def lookup_order(order_id: str) -> str:
    """Look up an order's status."""
    return f"order {order_id} is {ORDERS.get(order_id, 'unknown')}"


def build(ctx):
    model, settings = ctx.sdk_model(), ctx.sdk_settings()
    orders = Agent(name="Orders Agent", instructions="Answer order questions.", tools=[lookup_order],
                   model=model, model_settings=settings)
    triage = Agent(name="Triage Agent", instructions="Route the customer.", model=model, model_settings=settings,
                   handoffs=[handoff(orders, input_filter=handoff_filters.remove_all_tools)])
    return triage


async def triage_flow(input, ctx):
    result = await Runner.run(build(ctx), input, max_turns=6)
    return result.final_output


async def manager_flow(input, ctx):
    model, settings = ctx.sdk_model(), ctx.sdk_settings()
    orders = Agent(name="Orders Agent", instructions="Answer.", tools=[lookup_order], model=model,
                   model_settings=settings)
    manager = Agent(name="Manager", instructions="Use your tools.", model=model, model_settings=settings,
                    tools=[orders.as_tool(tool_name="ask_orders", tool_description="Ask the orders specialist")])
    result = await Runner.run(manager, input, max_turns=6)
    return result.final_output


async def parallel_flow(input, ctx):
    agent = Agent(name="Drafter", instructions="Draft a reply.", model=ctx.sdk_model(),
                  model_settings=ctx.sdk_settings())
    results = await asyncio.gather(*(Runner.run(agent, "same draft request") for _ in range(3)))
    return [r.final_output for r in results]


TRIAGE_RULES = [
    Rule(has_tool="transfer_to_orders_agent", tool_calls=[ToolCallSpec(name="transfer_to_orders_agent", arguments={})]),
    Rule(has_tool="lookup_order", contains="Route the customer", scope="any",
         tool_calls=[ToolCallSpec(name="lookup_order", arguments={"order_id": "A1001"})]),
]


def _rules_for_orders():
    return [
        # Triage offers the handoff tool: take it.
        Rule(has_tool="transfer_to_orders_agent",
             tool_calls=[ToolCallSpec(name="transfer_to_orders_agent", arguments={})]),
        # The specialist has not looked the order up yet: call the tool once per task.
        Rule(has_tool="lookup_order", contains="is shipped", scope="any", content="Your order A1001 has shipped."),
        Rule(has_tool="lookup_order", tool_calls=[ToolCallSpec(name="lookup_order", arguments={"order_id": "A1001"})]),
    ]


def _snapshot(result):
    return {row.key: (row.output, row.trajectory.structure()) for row in result.folder.rows()}


def test_sdk_exports_no_traces_to_the_network(make_suite, run, stub):
    run(make_suite(n=1), stub.base_url)
    processors = get_trace_provider()._multi_processor._processors
    assert len(processors) == 1 and isinstance(processors[0], HarnessTraceProcessor)


def test_triage_handoff_and_tool_loop_record_and_replay(make_suite, run):
    suite = make_suite(flow=triage_flow, n=3)
    with StubServer(nonce=True, rules=_rules_for_orders()) as stub:
        recorded = run(suite, stub.base_url, record_mode="once", concurrency=3)
        assert stub.stats().hits == 9
    assert recorded.errors == 0, [r.error for r in recorded.folder.rows()]
    row = next(recorded.folder.rows())
    trajectory = row.trajectory
    assert trajectory.handoff_path == ["Triage Agent", "Orders Agent"]
    assert [t.name for t in trajectory.tool_calls] == ["lookup_order"]
    assert trajectory.tool_calls[0].arguments == {"order_id": "A1001"}
    assert trajectory.tool_calls[0].result == "order A1001 is shipped"
    assert trajectory.tool_calls[0].agent == "Orders Agent"
    assert len(trajectory.model_calls) == 3, "one span per SDK model call, not two"
    agent_ids = {s.id: s.name for s in trajectory.of_kind("agent")}
    assert [agent_ids.get(s.parent_id) for s in trajectory.model_calls] == ["Triage Agent", "Orders Agent",
                                                                            "Orders Agent"]
    assert "shipped" in row.output

    replay = run(suite, DEAD_URL, record_mode="none", concurrency=3, shuffle_seed=5)
    assert replay.errors == 0
    assert _snapshot(replay) == _snapshot(recorded)


def test_agents_as_tools_record_and_replay(make_suite, run):
    rules = [
        Rule(has_tool="ask_orders", contains="shipped", scope="any", content="Manager: it shipped."),
        Rule(has_tool="ask_orders", tool_calls=[ToolCallSpec(name="ask_orders", arguments={"input": "status A1001"})]),
        *_rules_for_orders()[1:],
    ]
    suite = make_suite(flow=manager_flow, n=2)
    with StubServer(nonce=True, rules=rules) as stub:
        recorded = run(suite, stub.base_url, record_mode="once")
    assert recorded.errors == 0, [r.error for r in recorded.folder.rows()]
    trajectory = next(recorded.folder.rows()).trajectory
    assert {"Manager", "Orders Agent"} <= set(trajectory.agents)
    assert [t.name for t in trajectory.tool_calls] == ["ask_orders", "lookup_order"]
    replay = run(suite, DEAD_URL, record_mode="none")
    assert _snapshot(replay) == _snapshot(recorded)


def test_parallel_identical_sdk_runs_replay_into_their_own_branch(make_suite, run):
    suite = make_suite(flow=parallel_flow, n=2)
    with StubServer(nonce=True) as stub:
        recorded = run(suite, stub.base_url, record_mode="once")
    outputs = next(recorded.folder.rows()).output
    assert len(set(outputs)) == 3, "nonce mode: three different drafts"
    for seed in (1, 2):
        replay = run(suite, DEAD_URL, record_mode="none", concurrency=2, shuffle_seed=seed)
        assert _snapshot(replay) == _snapshot(recorded)


def test_capture_is_installed_when_the_sdk_is_imported_after_the_runtime_starts(tmp_path):
    """A fresh process whose flow imports the SDK lazily still exports nothing and captures spans."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent("""
        import asyncio, sys
        from harness.engine.runtime import Runtime, RuntimeConfig
        async def main():
            async with Runtime(RuntimeConfig(record_mode="off")):
                assert "agents" not in sys.modules
                import agents
                from agents.tracing import get_trace_provider
                from harness.engine.sdk_tracing import HarnessTraceProcessor
                processors = get_trace_provider()._multi_processor._processors
                assert [type(p) for p in processors] == [HarnessTraceProcessor], processors
        asyncio.run(main())
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True,
                         timeout=240)  # a fresh interpreter importing the SDK: slow on a loaded machine
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
