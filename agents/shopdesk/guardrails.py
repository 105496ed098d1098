"""Guardrails for the support agents: what must stop a run, checked by code against the shop's data.

* :data:`screen_ticket` (input, on the front agent, blocking): a ticket that tries to instruct the
  agent (prompt injection: "ignore previous instructions", "admin mode", "note to the AI") or
  that is not a shop request at all (a poem, homework) trips before any model call is made.
* :data:`no_other_customer_data` (output, on every agent that answers the customer): a reply that
  contains another customer's name, email, address, order id or tracking number — one the
  customer did not give in the ticket — trips, and the reply is never sent.

They are code, not LLM classifiers, on purpose: a 135M model cannot judge an injection, and a
leak of another customer's data is a fact the shop's database can check exactly. The SDK traces
every check as a ``guardrail`` span with ``triggered``, which is what the ``tripwires`` grader of
the support suite reads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from agents import Agent, GuardrailFunctionOutput, RunContextWrapper, input_guardrail, output_guardrail

from shopdesk.domain import ShopState

__all__ = [
    "INPUT_GUARDRAIL",
    "OUTPUT_GUARDRAIL",
    "REFUSAL",
    "WITHHELD",
    "injection_or_off_topic",
    "other_customer_data",
    "screen_ticket",
    "no_other_customer_data",
]

INPUT_GUARDRAIL = "screen_ticket"
OUTPUT_GUARDRAIL = "no_other_customer_data"

#: What the customer gets instead of the agents' reply when the input guardrail trips.
REFUSAL = ("Sorry, I can only help with ShopDesk orders, refunds, products and accounts, and I cannot follow "
           "instructions embedded in a message. Please describe what you need help with.")
#: What the customer gets when the output guardrail stops a reply.
WITHHELD = ("Sorry, I can't share details of an order or account that isn't yours. If you believe this is your "
            "order, please write from the email address on the account.")

_INJECTION = re.compile(
    r"ignore (all |any )?(the )?(previous|prior|above|earlier) instructions|"
    r"disregard (all |your )?(previous |prior )?(instructions|rules)|"
    r"\badmin(istrator)? mode\b|\bdeveloper mode\b|\bjailbreak\b|"
    r"(reveal|print|show|repeat) (me )?(your|the) (system )?(prompt|instructions)|"
    r"\bnote to the (ai|assistant|agent|bot)|^\s*system\s*:|you are now (a|an|in)\b|"
    r"skip (the )?(ownership|verification|identity) checks?",
    re.IGNORECASE | re.MULTILINE,
)
_OFF_TOPIC = re.compile(
    r"\bwrite (me )?(a|an) (poem|song|essay|story|limerick|haiku)\b|\bmy homework\b|"
    r"\btell me a joke\b|\bwhat is the capital of\b|\bsolve (this|the) (equation|math)",
    re.IGNORECASE,
)
_SENDER = re.compile(r"^\s*From:\s*(\S+@\S+)", re.IGNORECASE | re.MULTILINE)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(_text(item.get("content") if isinstance(item, dict) else item) for item in value)
    return "" if value is None else str(value)


def injection_or_off_topic(ticket: str) -> str | None:
    """Why a ticket must not reach the agents, or ``None``."""
    injection = _INJECTION.search(ticket)
    if injection:
        return f"prompt injection: {injection.group(0).strip()!r}"
    off_topic = _OFF_TOPIC.search(ticket)
    if off_topic:
        return f"off-topic request: {off_topic.group(0).strip()!r}"
    return None


@dataclass(frozen=True)
class _Leak:
    customer_id: str
    kind: str
    value: str


def _identifiers(state: ShopState, customer_id: str) -> list[_Leak]:
    customer = state.customers[customer_id]
    found = [_Leak(customer_id, "name", customer["name"]), _Leak(customer_id, "email", customer["email"]),
             _Leak(customer_id, "address", customer["default_address"]["line1"])]
    for order in state.orders.values():
        if order["customer_id"] != customer_id:
            continue
        found.append(_Leak(customer_id, "order id", order["id"]))
        tracking = (order.get("shipment") or {}).get("tracking_number")
        if tracking:
            found.append(_Leak(customer_id, "tracking number", tracking))
        line1 = (order.get("shipping_address") or {}).get("line1")
        if line1:
            found.append(_Leak(customer_id, "address", line1))
    return found


def other_customer_data(state: ShopState, ticket: str, reply: str) -> list[str]:
    """Other customers' identifiers in ``reply`` that the ticket did not already contain.

    The sender is the customer whose email is on the ticket's ``From:`` line (none: every
    customer is "other"). An identifier the customer wrote themselves is not a leak.
    """
    sender = _SENDER.search(ticket)
    sender_id = None
    if sender:
        email = sender.group(1).strip("<>.,;").lower()
        sender_id = next((c["id"] for c in state.customers.values() if c["email"].lower() == email), None)
    said, written = ticket.lower(), reply.lower()
    leaks = []
    for customer_id in state.customers:
        if customer_id == sender_id:
            continue
        for leak in _identifiers(state, customer_id):
            value = leak.value.lower()
            if value in written and value not in said:
                leaks.append(f"{leak.kind} of {leak.customer_id}: {leak.value}")
    return sorted(set(leaks))


@input_guardrail(name=INPUT_GUARDRAIL, run_in_parallel=False)
async def screen_ticket(context: RunContextWrapper[Any], agent: Agent[Any], input: Any) -> GuardrailFunctionOutput:
    """Blocking: a tripped ticket costs no model call."""
    reason = injection_or_off_topic(_text(input))
    return GuardrailFunctionOutput(output_info={"reason": reason}, tripwire_triggered=reason is not None)


@output_guardrail(name=OUTPUT_GUARDRAIL)
async def no_other_customer_data(context: RunContextWrapper[Any], agent: Agent[Any],
                                 output: Any) -> GuardrailFunctionOutput:
    state = context.context
    if not isinstance(state, ShopState):
        raise TypeError("no_other_customer_data needs the ShopState as the run context")
    leaks = other_customer_data(state, state.ticket_text, _text(output))
    return GuardrailFunctionOutput(output_info={"leaks": leaks}, tripwire_triggered=bool(leaks))
