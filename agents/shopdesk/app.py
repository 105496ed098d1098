"""ShopDesk's support web app: the triage agents behind an HTTP endpoint, as the shop runs them.

This is the *production* side of the demo (docs/capture.md, README "Production traces"): a real
aiohttp server whose only harness line is ``harness.capture.install`` in :func:`main`. Its
agents are the triage design of :mod:`shopdesk.flows.triage` (the same agents, guardrails and
prompt library), on the Agents SDK's Chat Completions model over the app's own ``AsyncOpenAI``
client, configured from the environment as any app is (``OPENAI_BASE_URL``, ``OPENAI_API_KEY``)::

    OPENAI_BASE_URL=http://127.0.0.1:8500/v1 python -m shopdesk.app --port 8080 --capture traces/

``POST /tickets`` ``{"ticket": "From: …"}`` answers ``{"reply", "handled_by", "trace_id"}`` (HTTP
502 with ``error`` when the agents failed); ``POST /feedback`` ``{"trace_id", "score",
"comment"}`` records the customer's verdict on an answer. One ticket is one Agents SDK trace.

:func:`answer` is importable without aiohttp: an eval suite runs it as a flow
(``evals/test_support_production.py``) to replay what production did and to try a new prompt.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agents import (
    InputGuardrailTripwireTriggered,
    ModelSettings,
    OpenAIChatCompletionsModel,
    OutputGuardrailTripwireTriggered,
    Runner,
    gen_trace_id,
    trace,
)
from openai import AsyncOpenAI

from shopdesk.domain import ShopState
from shopdesk.flows._common import DEFAULT_MAX_TURNS
from shopdesk.flows.triage import build_agents
from shopdesk.guardrails import REFUSAL, WITHHELD
from shopdesk.prompt_library import load_prompt

if TYPE_CHECKING:
    from aiohttp import web

__all__ = ["MODEL", "SETTINGS", "Answer", "answer", "main"]

#: The model the app asks for (the gateway in front of the local server serves it under this name).
MODEL = os.environ.get("SHOPDESK_MODEL", "smollm2")
#: Deterministic and short, as the demo's eval suites run the model.
SETTINGS = ModelSettings(temperature=0.0, max_tokens=96)
#: The prompt version production runs.
PROMPT_VERSION = os.environ.get("SHOPDESK_PROMPT", "v1")

_client: AsyncOpenAI | None = None


def client() -> AsyncOpenAI:
    """The app's one model client, built on first use from the environment."""
    global _client
    if _client is None:
        _client = AsyncOpenAI()
    return _client


@dataclass
class Answer:
    """What the app tells the customer, and what it did to the shop on the way."""

    reply: str
    #: The specialist that answered (``None`` when the input guardrail refused the ticket).
    handled_by: str | None
    state: ShopState
    #: ``input`` or ``output`` when a guardrail stopped the answer.
    tripwire: str | None = None
    #: The reply the output guardrail stopped (never shown to the customer).
    unguarded_output: str | None = None


async def answer(ticket: str, *, prompt: Any = None, state: ShopState | None = None,
                 trace_id: str | None = None) -> Answer:
    """Answer one support ticket with the triage agents (one Agents SDK trace named ``support``)."""
    prompt = prompt if prompt is not None else load_prompt("triage", PROMPT_VERSION)
    agents = build_agents(prompt, OpenAIChatCompletionsModel(model=MODEL, openai_client=client()), SETTINGS)
    state = state if state is not None else ShopState.fresh()
    state.ticket_text = ticket
    with trace("support", trace_id=trace_id, metadata={"input": ticket}):
        try:
            result = await Runner.run(agents.triage, ticket, context=state, max_turns=DEFAULT_MAX_TURNS)
        except InputGuardrailTripwireTriggered:
            return Answer(REFUSAL, None, state, tripwire="input")
        except OutputGuardrailTripwireTriggered as tripped:
            stopped = tripped.guardrail_result
            return Answer(WITHHELD, stopped.agent.name, state, tripwire="output",
                          unguarded_output=str(stopped.agent_output))
    return Answer(str(result.final_output), result.last_agent.name, state)


async def _tickets(request: web.Request) -> web.Response:
    from aiohttp import web

    body = await request.json()
    trace_id = gen_trace_id()
    try:
        answered = await answer(str(body["ticket"]), trace_id=trace_id)
    except Exception as exc:  # noqa: BLE001 -- the customer gets an apology; the trace keeps the error
        return web.json_response({"error": f"{type(exc).__name__}: {exc}", "trace_id": trace_id}, status=502)
    return web.json_response({"reply": answered.reply, "handled_by": answered.handled_by, "trace_id": trace_id})


async def _feedback(request: web.Request) -> web.Response:
    from aiohttp import web

    import harness.capture

    body = await request.json()
    harness.capture.feedback(body["trace_id"], float(body["score"]), body.get("comment"))
    return web.json_response({"ok": True})


def main(argv: list[str] | None = None) -> None:
    from aiohttp import web

    import harness.capture

    parser = argparse.ArgumentParser(prog="python -m shopdesk.app", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--capture", help="Capture folder for harness.capture (none: no capture).")
    args = parser.parse_args(argv)
    if args.capture:
        harness.capture.install(args.capture)
    app = web.Application()
    app.router.add_post("/tickets", _tickets)
    app.router.add_post("/feedback", _feedback)
    web.run_app(app, host=args.host, port=args.port, print=lambda *_: print("ready", flush=True))


if __name__ == "__main__":
    main()
