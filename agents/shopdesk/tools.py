"""Agents SDK function tools over :class:`~shopdesk.domain.ShopState`.

Each tool reads the task's state from the SDK's ``RunContextWrapper`` (flows pass
``context=state`` to ``Runner.run``), so one set of tool objects serves every concurrent task.
Tools are ``async`` so they run on the event loop: no threads share a state.

Errors. The SDK's default ``failure_error_function`` replaces every tool error with a fixed
"An error occurred" text, which hides exactly what a model needs to correct itself. Our
:func:`tool_error_message` returns the message of a :class:`~shopdesk.domain.ShopError` (written
for the model) or of bad tool arguments, and records it in the state's journal; any other
exception is a bug and is re-raised so the harness records the task as an error.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from agents import FunctionTool, ModelBehaviorError, RunContextWrapper, function_tool

from shopdesk.domain import ShopError, ShopState

__all__ = [
    "RefundReason",
    "tool_error_message",
    "lookup_order",
    "list_orders_for_customer",
    "lookup_customer",
    "track_shipment",
    "issue_refund",
    "change_address",
    "cancel_order",
    "search_kb",
    "get_article",
    "reset_password",
    "open_ticket",
    "TOOLSETS",
    "ALL_TOOLS",
    "KB_TOOLS",
    "REFUND_READ_TOOLS",
]

RefundReason = Literal[
    "damaged", "defective", "wrong_item", "not_as_described", "changed_mind", "late_delivery", "other"
]
Team = Literal["orders", "refunds", "technical", "account"]
Priority = Literal["low", "normal", "high", "urgent"]


def tool_error_message(ctx: RunContextWrapper[Any], error: Exception) -> str | None:
    """Show validation errors to the model; let anything else propagate (``None`` re-raises)."""
    if not isinstance(error, ShopError | ModelBehaviorError):
        return None
    message = f"Error: {error}"
    name = getattr(ctx, "tool_name", None)
    if isinstance(error, ModelBehaviorError) and name in _BY_NAME:
        schema = _BY_NAME[name].params_json_schema
        properties = schema.get("properties", {})
        fields = ", ".join(f"{key} ({_type_hint(spec)})" for key, spec in properties.items())
        message += f". {name} takes a JSON object with these fields, all required: {fields}."
    state = getattr(ctx, "context", None)
    if isinstance(state, ShopState):
        state.note_rejected(getattr(ctx, "tool_name", "?"), str(error))
    return message


def _type_hint(spec: dict[str, Any]) -> str:
    """A short type description from a JSON schema property, for argument-error messages."""
    if "enum" in spec:
        return " | ".join(json.dumps(v) for v in spec["enum"])
    if "anyOf" in spec:
        return " or ".join(_type_hint(option) for option in spec["anyOf"])
    return str(spec.get("type", "any"))


def _state(wrapper: RunContextWrapper[Any]) -> ShopState:
    state = wrapper.context
    if not isinstance(state, ShopState):
        raise TypeError("ShopDesk tools need Runner.run(..., context=ShopState.fresh())")
    return state


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _tool(fn: Any) -> FunctionTool:
    return function_tool(fn, failure_error_function=tool_error_message)


@_tool
async def lookup_order(wrapper: RunContextWrapper[ShopState], order_id: str) -> str:
    """Look up one order: status, items, totals, refunds so far, payment, address and shipment.

    Fields named internal_notes are for staff only and must never be repeated to the customer.

    Args:
        order_id: The order id, for example A1003.
    """
    return _json(_state(wrapper).lookup_order(order_id))


@_tool
async def list_orders_for_customer(wrapper: RunContextWrapper[ShopState], email_or_customer_id: str) -> str:
    """List a customer's orders: id, date placed, status, total and item names.

    Args:
        email_or_customer_id: The customer's email address on file, or their customer id such as C003.
    """
    return _json(_state(wrapper).list_orders_for_customer(email_or_customer_id))


@_tool
async def lookup_customer(wrapper: RunContextWrapper[ShopState], email_or_customer_id: str) -> str:
    """Look up a customer account: name, email, account status (active, locked, closed), tier, orders.

    Args:
        email_or_customer_id: The customer's email address on file, or their customer id such as C003.
    """
    return _json(_state(wrapper).lookup_customer(email_or_customer_id))


@_tool
async def track_shipment(wrapper: RunContextWrapper[ShopState], order_id: str) -> str:
    """Track an order's parcel: carrier, tracking number, events, estimated delivery, overdue or not.

    Args:
        order_id: The order id, for example A1002.
    """
    return _json(_state(wrapper).track_shipment(order_id))


@_tool
async def issue_refund(
    wrapper: RunContextWrapper[ShopState], order_id: str, reason: RefundReason, amount: float | None = None
) -> str:
    """Refund a delivered order to the original payment method. Refuses what policy forbids.

    Args:
        order_id: The order id, for example A1003.
        reason: Why the customer is refunded.
        amount: Amount in USD; null refunds everything refundable for that reason.
    """
    return _json(_state(wrapper).issue_refund(order_id, amount, reason))


@_tool
async def change_address(
    wrapper: RunContextWrapper[ShopState], order_id: str, line1: str, city: str, postcode: str, country: str
) -> str:
    """Change the delivery address of an order that has not shipped yet (same country only).

    Args:
        order_id: The order id, for example A1004.
        line1: Street and number (and flat, if any).
        city: City.
        postcode: Postal code.
        country: Two-letter country code, for example DE.
    """
    return _json(_state(wrapper).change_address(order_id, line1, city, postcode, country))


@_tool
async def cancel_order(wrapper: RunContextWrapper[ShopState], order_id: str, reason: str) -> str:
    """Cancel an order that has not shipped yet; it is refunded in full automatically.

    Args:
        order_id: The order id, for example A1004.
        reason: The customer's reason, in a few words.
    """
    return _json(_state(wrapper).cancel_order(order_id, reason))


@_tool
async def search_kb(wrapper: RunContextWrapper[ShopState], query: str) -> str:
    """Search the help-centre articles; returns the best three (id, title, snippet).

    Args:
        query: A few keywords, for example "return window final sale".
    """
    return _json(_state(wrapper).search_kb(query))


@_tool
async def get_article(wrapper: RunContextWrapper[ShopState], article_id: str) -> str:
    """Read one help-centre article in full: the source of truth for shop policy.

    Args:
        article_id: An id from search_kb, for example returns-policy.
    """
    state = _state(wrapper)
    article = state.get_article(article_id)
    state.note_kb_read(article["article_id"])
    return _json(article)


@_tool
async def reset_password(wrapper: RunContextWrapper[ShopState], email_or_customer_id: str) -> str:
    """Email a password-reset link to the address on file (it cannot be sent anywhere else).

    Args:
        email_or_customer_id: The customer's email address on file, or their customer id such as C003.
    """
    return _json(_state(wrapper).reset_password(email_or_customer_id))


@_tool
async def open_ticket(
    wrapper: RunContextWrapper[ShopState],
    team: Team,
    subject: str,
    summary: str,
    priority: Priority,
    customer_id: str | None = None,
    order_id: str | None = None,
) -> str:
    """Escalate to a specialist team when you cannot resolve the request yourself.

    Args:
        team: The team that should handle it.
        subject: A short subject line.
        summary: What the customer needs and what you already checked.
        priority: How urgent it is.
        customer_id: The customer id (like C003) or email, if known.
        order_id: The order id, if the ticket is about one order.
    """
    state = _state(wrapper)
    return _json(state.open_ticket(team, subject, summary, priority, customer_id, order_id))


#: Tools per specialist: each team gets what its job needs and nothing that writes elsewhere.
TOOLSETS: dict[str, tuple[FunctionTool, ...]] = {
    "orders": (
        lookup_order, list_orders_for_customer, track_shipment, change_address, cancel_order, search_kb,
        open_ticket,
    ),
    "refunds": (lookup_order, list_orders_for_customer, issue_refund, search_kb, get_article, open_ticket),
    "technical": (search_kb, get_article, lookup_order, open_ticket),
    "account": (
        lookup_customer, reset_password, list_orders_for_customer, search_kb, get_article, open_ticket
    ),
}

ALL_TOOLS: tuple[FunctionTool, ...] = (
    lookup_order,
    list_orders_for_customer,
    lookup_customer,
    track_shipment,
    issue_refund,
    change_address,
    cancel_order,
    search_kb,
    get_article,
    reset_password,
    open_ticket,
)

KB_TOOLS: tuple[FunctionTool, ...] = (search_kb, get_article)

#: Read-only tools for agents whose decisions code applies (self-correction): they may look, not act.
REFUND_READ_TOOLS: tuple[FunctionTool, ...] = (lookup_order, list_orders_for_customer, search_kb, get_article)

_BY_NAME: dict[str, FunctionTool] = {tool.name: tool for tool in ALL_TOOLS}
