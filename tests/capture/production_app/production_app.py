"""A small support app, written as a user writes one: Agents SDK agents built at import with the
SDK's default client and model settings, a handoff, a tool, an input guardrail, and beside them a
plain ``openai`` endpoint (its own ``AsyncOpenAI()`` built at import, no Agents SDK), served over
HTTP by aiohttp. Its only harness line is ``harness.capture.install`` in ``main``.

    CAPTURE_DIR=traces/ OPENAI_BASE_URL=http://127.0.0.1:8000/v1 SUPPORT_OPENAI_KEY=... python production_app.py
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re

from agents import (
    Agent,
    GuardrailFunctionOutput,
    InputGuardrailTripwireTriggered,
    Runner,
    function_tool,
    gen_trace_id,
    input_guardrail,
    set_default_openai_client,
    trace,
)
from aiohttp import web
from openai import AsyncOpenAI

ORDERS = {"A1001": "shipped", "A1002": "delayed"}
#: The plain endpoint's own client (the app's key when it has one; the environment's otherwise).
summariser = AsyncOpenAI(api_key=os.environ.get("SUPPORT_OPENAI_KEY"))


@function_tool
def lookup_order(order_id: str) -> str:
    """Look up an order's status."""
    return f"order {order_id} is {ORDERS.get(order_id, 'unknown')}"


@input_guardrail(run_in_parallel=False)
async def no_threats(ctx, agent, input):
    text = input if isinstance(input, str) else str(input)
    return GuardrailFunctionOutput(output_info={"threat": "hack" in text.lower()}, tripwire_triggered="hack" in text.lower())


orders_agent = Agent(name="Orders Agent", instructions="Answer order questions. Look orders up.",
                     tools=[lookup_order], model="gpt-4.1-mini")
triage_agent = Agent(name="Triage Agent", instructions="Route the customer to the right specialist.",
                     handoffs=[orders_agent], input_guardrails=[no_threats], model="gpt-4.1-mini")


async def answer(question: str, trace_id: str | None = None) -> str:
    """Answer one customer message (one SDK trace); several orders are looked up side by side."""
    # A trace of several runs names what it was asked (its first model call is only one of them).
    with trace("support", trace_id=trace_id, metadata={"input": question}):
        orders = re.findall(r"A\d{4}", question)
        if len(orders) > 1:
            runs = await asyncio.gather(*(Runner.run(orders_agent, f"Status of order {o}?") for o in orders))
            return " ".join(str(r.final_output) for r in runs)
        try:
            result = await Runner.run(triage_agent, question)
        except InputGuardrailTripwireTriggered:
            return "Sorry, I cannot help with that."
    return str(result.final_output)


async def summary(text: str) -> str:
    """Summarise a ticket for the back office: one plain chat completion, no agent."""
    reply = await summariser.chat.completions.create(
        model="gpt-4.1-mini", messages=[{"role": "system", "content": "Summarise the ticket in one line."},
                                        {"role": "user", "content": text}])
    return reply.choices[0].message.content or ""


async def summarise(request: web.Request) -> web.Response:
    body = await request.json()
    return web.json_response({"summary": await summary(body["text"])})


async def ask(request: web.Request) -> web.Response:
    body = await request.json()
    trace_id = gen_trace_id()
    reply = await answer(body["message"], trace_id)
    return web.json_response({"reply": reply, "trace_id": trace_id})


async def rate(request: web.Request) -> web.Response:
    import harness.capture

    body = await request.json()
    harness.capture.feedback(body["trace_id"], body["score"], body.get("comment"))
    return web.json_response({"ok": True})


def main() -> None:
    import harness.capture

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    # Our key lives in SUPPORT_OPENAI_KEY; traces are not exported with it (use_for_tracing=False).
    set_default_openai_client(AsyncOpenAI(api_key=os.environ["SUPPORT_OPENAI_KEY"]), use_for_tracing=False)
    harness.capture.install(os.environ["CAPTURE_DIR"], redact=[r"\b(?:\d{4} ){3}\d{4}\b"],
                            redact_fn=lambda text: text.replace("ACME-INTERNAL", "<internal>"))
    app = web.Application()
    app.router.add_post("/ask", ask)
    app.router.add_post("/feedback", rate)
    app.router.add_post("/summarise", summarise)
    web.run_app(app, host="127.0.0.1", port=args.port, print=lambda *_: print("ready", flush=True))


if __name__ == "__main__":
    main()
