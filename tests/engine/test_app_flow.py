"""app_flow: what a user already has, as a flow in one line."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from agents import Agent, Runner

from harness.engine.app_flow import app_flow
from harness.testing.stub_server import StubServer

helper = Agent(name="Helper", instructions="Help.")  # the SDK's default model and client


async def main_returning_the_run(question: str) -> Any:
    return await Runner.run(helper, question)


async def main_without_input() -> str:
    return "no input taken"


def sync_main(question: str) -> Any:
    """A synchronous app: ``run_sync`` refuses to start inside a running event loop."""
    return Runner.run_sync(helper, question)


def sync_main_on_the_plain_client(question: str) -> str:
    from openai import OpenAI

    reply = OpenAI().chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": question}])
    return reply.choices[0].message.content or ""


def test_a_main_that_returns_its_run_result_is_unpacked(make_suite: Any, run: Any) -> None:
    with StubServer() as stub:
        result = run(make_suite(flow=app_flow(main_returning_the_run), n=2), stub.base_url, record_mode="once")
    rows = list(result.folder.rows())
    assert result.errors == 0, [r.error for r in rows]
    assert all(r.output == f"stub reply to: {r.input}" and r.state["last_agent"] == "Helper" for r in rows)


def test_a_main_without_parameters_is_called_without_the_input(make_suite: Any, run: Any) -> None:
    result = run(make_suite(flow=app_flow(main_without_input), n=1), record_mode="off")
    assert next(result.folder.rows()).output == "no input taken"


# run_sync opens an event loop per call and the SDK's shared AsyncOpenAI pools connections per loop:
# concurrent run_sync calls are unsafe in the app itself, so that main runs one unit at a time.
@pytest.mark.parametrize(("main", "concurrency"), [(sync_main, 1), (sync_main_on_the_plain_client, 3)],
                         ids=["run_sync", "plain-client"])
def test_a_synchronous_main_runs_off_the_event_loop_and_replays(make_suite: Any, run: Any, main: Any,
                                                                 concurrency: int) -> None:
    suite = make_suite(flow=app_flow(main), n=3)
    with StubServer() as stub:
        recorded = run(suite, stub.base_url, record_mode="once", concurrency=concurrency)
        calls = len(stub.requests)
    rows = sorted(recorded.folder.rows(), key=lambda r: r.task_id)
    assert recorded.errors == 0, [r.error for r in rows]
    assert calls == 3 and all(r.output == f"stub reply to: {r.input}" for r in rows)
    replayed = run(suite, record_mode="none", concurrency=concurrency)  # the stub is gone: every reply from the cassettes
    assert [r.output for r in sorted(replayed.folder.rows(), key=lambda r: r.task_id)] == [r.output for r in rows]


def main_telling_its_thread(question: str) -> str:
    time.sleep(0.05)
    return str(threading.get_ident())


def test_sync_mains_one_after_another_run_on_one_thread_as_in_the_app(make_suite: Any, run: Any) -> None:
    """Runner.run_sync runs on its thread's event loop and the SDK's default client stays bound to
    it: units that do not overlap, in one run or the next, must not wander between threads (a fresh
    thread's loop made a later call fail now and then with "bound to a different event loop")."""
    suite = make_suite(flow=app_flow(main_telling_its_thread), n=8)
    first, again = (run(suite, record_mode="off", concurrency=1) for _ in range(2))  # as record, then replay
    assert len({r.output for r in [*first.folder.rows(), *again.folder.rows()]}) == 1
    overlapping = run(make_suite(flow=app_flow(main_telling_its_thread), n=8), record_mode="off", concurrency=4)
    assert len({r.output for r in overlapping.folder.rows()}) > 1, "overlapping units still run side by side"


def test_anything_else_is_refused() -> None:
    with pytest.raises(TypeError, match="agents.Agent or a main"):
        app_flow("triage")
