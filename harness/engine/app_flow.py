"""Flows from what a user already has: an Agents SDK ``Agent``, or an ``async def main(input)``.

An app written without the harness in mind needs no rewiring to be evaluated: every model call
its code makes is captured inside a unit (:mod:`harness.engine.routing`), so a flow only has to
*call* it. One line makes that flow::

    from myapp import triage_agent, main
    triage = harness.app_flow(triage_agent)                 # Runner.run(triage_agent, task input)
    triage_streamed = harness.app_flow(triage_agent, streamed=True)   # Runner.run_streamed
    whole_app = harness.app_flow(main)                      # await main(task input)
    sync_app = harness.app_flow(sync_main)                  # def main: in a worker thread

A synchronous ``def main`` runs in a worker thread with the unit's context copied in (as
``asyncio.to_thread`` does), so ``Runner.run_sync`` and the sync ``OpenAI()`` client work as in
the app (``run_sync`` refuses to start inside a running event loop) and one unit's blocking calls
never stall the others. Its model calls are routed and recorded like any other. A unit takes an
idle thread of the flow's own before it starts another, so units one after another run on one
thread, as the app's calls do: ``run_sync`` runs on its thread's event loop, and the SDK's shared
default ``AsyncOpenAI`` client keeps its pooled connections bound to the loop that opened them (on
a fresh pool thread each time, as ``asyncio.to_thread`` may pick, a later call failed now and then
with "bound to a different event loop"). Two such mains *at once* still fail that way, in the app
as under the harness: run them at ``--concurrency 1``, or let the main build its own client.

The flow returns the final output. Graders also see, in ``state``: ``last_agent`` (the agent that
produced the final output) and, for a streamed run, ``streamed_text`` (the text deltas as the
app's user saw them arrive). A ``main`` that returns a ``RunResult`` is unpacked the same way.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import dataclasses
import inspect
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from harness.engine.flow import FlowContext

__all__ = ["app_flow"]

_DELTA_EVENT = "response.output_text.delta"


def app_flow(target: Any, *, streamed: bool = False, max_turns: int = 10, name: str | None = None) -> Any:
    """A flow that runs an existing ``Agent`` (``Runner.run``, or ``run_streamed``) or ``main(input)``."""
    if _is_agent(target):
        async def run_agent(input: Any, ctx: FlowContext) -> Any:
            from agents import Runner

            if not streamed:
                return _unpacked(await Runner.run(target, input, max_turns=max_turns), ctx)
            result = Runner.run_streamed(target, input, max_turns=max_turns)
            ctx.state["streamed_text"] = await _streamed_text(result)
            return _unpacked(result, ctx)

        return _named(run_agent, name or f"app_flow({getattr(target, 'name', 'agent')})")
    if not callable(target):
        raise TypeError(f"app_flow takes an agents.Agent or a main(input), async or not; got {type(target).__name__}")
    takes_input = _takes_input(target)
    threads = _Threads() if not _is_async(target) else None

    async def run_main(input: Any, ctx: FlowContext) -> Any:
        args = (input,) if takes_input else ()
        result = await threads.call(target, *args) if threads is not None else target(*args)
        if inspect.isawaitable(result):
            result = await result
        if hasattr(result, "stream_events") and not getattr(result, "is_complete", True):
            ctx.state["streamed_text"] = await _streamed_text(result)
        return _unpacked(result, ctx)

    return _named(run_main, name or f"app_flow({getattr(target, '__qualname__', 'main')})")


class _Threads:
    """A synchronous main's threads: a unit takes an idle one before a new one is started, so units
    that do not overlap all run on one thread (and on its event loop, for ``Runner.run_sync``)."""

    def __init__(self) -> None:
        self._idle: collections.deque[ThreadPoolExecutor] = collections.deque()

    async def call(self, target: Callable[..., Any], *args: Any) -> Any:
        try:
            thread = self._idle.pop()  # the one used last: a deque's pop and append are atomic
        except IndexError:
            thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="harness-app-main")
        # back to the idle ones when the main has returned, not when the unit stops waiting (a unit
        # cut short by its timeout leaves the thread busy until the main is done)
        done = thread.submit(contextvars.copy_context().run, target, *args)  # the context, as asyncio.to_thread
        done.add_done_callback(lambda _: self._idle.append(thread))
        return await asyncio.wrap_future(done)


def _is_agent(target: Any) -> bool:
    try:
        from agents import Agent
    except ImportError:  # pragma: no cover - the Agents SDK is a dependency
        return False
    return isinstance(target, Agent)


def _is_async(target: Callable[..., Any]) -> bool:
    """An ``async def`` (or an object whose ``__call__`` is one): awaited on the loop, not threaded."""
    call = type(target).__call__ if not inspect.isroutine(target) else None
    return inspect.iscoroutinefunction(target) or (call is not None and inspect.iscoroutinefunction(call))


def _takes_input(target: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in parameters)


async def _streamed_text(result: Any) -> str:
    """Every text delta of a streamed run, in order (the run completes as the stream is read)."""
    pieces: list[str] = []
    async for event in result.stream_events():
        data = getattr(event, "data", None)
        if getattr(event, "type", "") == "raw_response_event" and getattr(data, "type", "") == _DELTA_EVENT:
            pieces.append(str(getattr(data, "delta", "")))
    return "".join(pieces)


def _unpacked(result: Any, ctx: FlowContext) -> Any:
    """A run result's final output (its last agent noted in ``state``); anything else as it is."""
    if not hasattr(result, "final_output") or not hasattr(result, "last_agent"):
        return result
    ctx.state["last_agent"] = getattr(result.last_agent, "name", None)
    output = result.final_output
    if dataclasses.is_dataclass(output) and not isinstance(output, type):
        return dataclasses.asdict(output)
    return output


def _named(flow: Callable[..., Any], label: str) -> Callable[..., Any]:
    flow.__qualname__ = flow.__name__ = label
    return flow
