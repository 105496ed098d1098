"""The four specialist agents shared by the triage, manager and router patterns.

Names and handoff descriptions are code, not prompt text, because graders compare handoff paths
by agent name (``["Triage Agent", "Refunds Agent"]``) and those must not change with a prompt.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agents import Agent, OutputGuardrail

from shopdesk.tools import TOOLSETS

__all__ = ["AGENT_NAMES", "DESCRIPTIONS", "build_specialists", "category_of"]

AGENT_NAMES: dict[str, str] = {
    "orders": "Orders Agent",
    "refunds": "Refunds Agent",
    "technical": "Technical Agent",
    "account": "Account Agent",
}

DESCRIPTIONS: dict[str, str] = {
    "orders": (
        "Order status, tracking, late or lost parcels, cancelling an order, changing a delivery address."
    ),
    "refunds": "Refunds and returns: damaged, wrong or unwanted items, refund amounts and refund timing.",
    "technical": "Product and app problems: pairing, syncing, crashes, checkout errors, warranty repairs.",
    "account": (
        "Sign-in and account: password resets, locked accounts, email, two-factor, closing an account."
    ),
}


def build_specialists(prompt: Any, model: Any, settings: Any,
                      output_guardrails: Sequence[OutputGuardrail[Any]] = ()) -> dict[str, Agent[Any]]:
    """One agent per category, instructions from the prompt part of the same name.

    ``output_guardrails`` check every reply a specialist gives the customer (the SDK runs an
    agent's output guardrails when that agent produces the final output).
    """
    return {
        category: Agent(
            name=name,
            handoff_description=DESCRIPTIONS[category],
            instructions=prompt[category],
            tools=list(TOOLSETS[category]),
            model=model,
            model_settings=settings,
            output_guardrails=list(output_guardrails),
        )
        for category, name in AGENT_NAMES.items()
    }


def category_of(agent_name: str | None) -> str | None:
    """The category a specialist's name stands for (``None`` for any other agent)."""
    for category, name in AGENT_NAMES.items():
        if name == agent_name:
            return category
    return None
