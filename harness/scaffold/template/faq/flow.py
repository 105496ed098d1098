"""One flow: answer a customer's question with the prompt version under test.

A flow is ``async def flow(input, ctx)`` (or a plain ``def``). Make every model call through the
clients on ``ctx`` (``ctx.client`` here; ``ctx.sdk_model()`` for the OpenAI Agents SDK): that is
how cassettes record and replay each call and how the trace sees it.
"""

from __future__ import annotations

from harness import FlowContext, flow


@flow
async def answer(input: str, ctx: FlowContext) -> str:
    reply = await ctx.client.chat.completions.create(
        messages=[{"role": "system", "content": ctx.prompt["system"]}, {"role": "user", "content": input}],
        **ctx.model_kwargs(),
    )
    return reply.choices[0].message.content or ""
