"""The ShopDesk domain: an online shop's support back office, in memory and deterministic.

The seed data (customers, products, orders, prior refunds, help articles) lives in
``shopdesk/data/*.json`` and is loaded once. Every task gets its own :class:`ShopState` from
:meth:`ShopState.fresh`, a deep copy, so concurrent tasks never see each other's writes and a
replayed task starts from exactly the same shop. "Today" is fixed by ``meta.json`` so return
windows and late parcels give the same answer on every run.

The methods here are the plain-Python versions of the agent tools (:mod:`shopdesk.tools` wraps
them). They raise :class:`ShopError` subclasses with messages written for the model to act on:
the tool layer returns those messages to the model as the tool result, which is what lets an
agent correct itself.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import threading
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from typing import Any

__all__ = [
    "ShopError",
    "NotFound",
    "InvalidRequest",
    "PolicyViolation",
    "ShopState",
    "seed_data",
    "normalize_order_id",
]


class ShopError(Exception):
    """A request the shop refuses. The message says what was wrong and what to do instead."""


class NotFound(ShopError):
    """An order, customer or article id that does not exist."""


class InvalidRequest(ShopError):
    """Arguments that cannot be acted on (empty fields, unknown reason, non-positive amount)."""


class PolicyViolation(ShopError):
    """A well-formed request that shop policy forbids in the order's current state."""


@functools.cache
def _seed() -> dict[str, Any]:
    """The parsed seed files, read once per process; callers must copy before writing."""
    folder = resources.files("shopdesk") / "data"
    names = ("customers", "products", "orders", "refunds", "kb", "meta")
    return {name: json.loads((folder / f"{name}.json").read_text(encoding="utf-8")) for name in names}


def seed_data() -> dict[str, Any]:
    """A deep copy of the seed data (for tests and dataset checks that must not mutate it)."""
    return copy.deepcopy(_seed())


_ORDER_ID = re.compile(r"^A\d{4}$")
_WORD = re.compile(r"[a-z0-9]+")
_STOPWORDS = frozenset(
    ["a", "an", "and", "are", "at", "be", "can", "do", "does", "for", "from", "get", "how", "i", "if", "in", "is", "it", "my", "of", "on", "or", "the", "to", "was", "what", "when", "where", "which", "who", "why", "will", "with", "you", "your", "me", "we", "our", "this", "that", "have", "has"]
)


def normalize_order_id(order_id: str) -> str:
    """Accept the ways customers write ids (``#a1003``, ``1003``) and return ``A1003``."""
    cleaned = str(order_id).strip().lstrip("#").upper().replace(" ", "")
    if cleaned.isdigit() and len(cleaned) == 4:
        cleaned = "A" + cleaned
    return cleaned


def _money(value: float) -> float:
    return round(float(value) + 1e-9, 2)


def _mask_email(email: str) -> str:
    """``t***@example.com``: enough for the customer to recognise, not enough to leak."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


@dataclass
class ShopState:
    """One task's view of the shop: the seed data plus a journal of what this task changed.

    Graders read :meth:`snapshot`, which reports only this task's writes, so an expected end
    state like ``{"refund_issued": False}`` is meaningful whatever the seed holds.
    """

    customers: dict[str, dict[str, Any]]
    products: dict[str, dict[str, Any]]
    orders: dict[str, dict[str, Any]]
    refunds: list[dict[str, Any]]
    articles: dict[str, dict[str, Any]]
    meta: dict[str, Any]
    new_refunds: list[dict[str, Any]] = field(default_factory=list)
    address_changes: list[dict[str, Any]] = field(default_factory=list)
    cancellations: list[dict[str, Any]] = field(default_factory=list)
    password_resets: list[dict[str, Any]] = field(default_factory=list)
    tickets: list[dict[str, Any]] = field(default_factory=list)
    kb_reads: list[str] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    #: The customer's message as the agents got it (guardrails compare replies with it).
    ticket_text: str = ""
    # Sync callers (tests, threads) may share a state; writes take the lock.
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    # ------------------------------------------------------------------ construction

    @classmethod
    def fresh(cls) -> ShopState:
        """A new, independent shop built from a deep copy of the seed data."""
        data = seed_data()
        return cls(
            customers={c["id"]: c for c in data["customers"]},
            products={p["sku"]: p for p in data["products"]},
            orders={o["id"]: o for o in data["orders"]},
            refunds=data["refunds"],
            articles={a["id"]: a for a in data["kb"]},
            meta=data["meta"],
        )

    @property
    def today(self) -> date:
        return date.fromisoformat(self.meta["today"])

    @property
    def return_window_days(self) -> int:
        return int(self.meta["return_window_days"])

    # ------------------------------------------------------------------ lookups

    def get_order(self, order_id: str) -> dict[str, Any]:
        """The raw order record (internal use): raises :class:`NotFound` with a hint."""
        key = normalize_order_id(order_id)
        order = self.orders.get(key)
        if order is None:
            hint = "" if _ORDER_ID.match(key) else " Order ids look like A1003."
            raise NotFound(
                f"No order with id '{order_id}'.{hint} Check the id with the customer, or list the "
                "customer's orders with their email address."
            )
        return order

    def find_customer(self, email_or_customer_id: str) -> dict[str, Any]:
        """The raw customer record for an id (``C003``) or an email address (any case)."""
        ref = str(email_or_customer_id).strip()
        if ref.upper() in self.customers:
            return self.customers[ref.upper()]
        for customer in self.customers.values():
            if customer["email"].lower() == ref.lower():
                return customer
        raise NotFound(
            f"No customer found for '{email_or_customer_id}'. Use the customer id (like C003) or "
            "the exact email address on the account."
        )

    def lookup_customer(self, email_or_customer_id: str) -> dict[str, Any]:
        customer = self.find_customer(email_or_customer_id)
        return {
            "customer_id": customer["id"],
            "name": customer["name"],
            "email": customer["email"],
            "country": customer["country"],
            "language": customer["language"],
            "tier": customer["tier"],
            "account_status": customer["account_status"],
            "two_factor_enabled": customer["two_factor_enabled"],
            "order_ids": [o["id"] for o in self.orders.values() if o["customer_id"] == customer["id"]],
        }

    def lookup_order(self, order_id: str) -> dict[str, Any]:
        """The order as support staff see it, including internal notes staff must not repeat."""
        order = copy.deepcopy(self.get_order(order_id))
        order["customer_email"] = self.customers[order["customer_id"]]["email"]
        order["days_since_delivery"] = self._days_since_delivery(order)
        order["final_sale_skus"] = [i["sku"] for i in order["items"] if self._final_sale(i["sku"])]
        order.pop("events", None)
        return order

    def list_orders_for_customer(self, email_or_customer_id: str) -> list[dict[str, Any]]:
        customer = self.find_customer(email_or_customer_id)
        return [
            {
                "order_id": o["id"],
                "placed_at": o["placed_at"],
                "status": o["status"],
                "total": o["total"],
                "items": [i["name"] for i in o["items"]],
            }
            for o in self.orders.values()
            if o["customer_id"] == customer["id"]
        ]

    def track_shipment(self, order_id: str) -> dict[str, Any]:
        """Carrier, tracking number, events, and whether the parcel is overdue."""
        order = self.get_order(order_id)
        shipment = order.get("shipment")
        result: dict[str, Any] = {
            "order_id": order["id"], "status": order["status"], "events": order["events"]
        }
        if shipment is None:
            note = {
                "processing": "Not shipped yet; a tracking number is emailed when it ships.",
                "cancelled": "This order was cancelled and will not ship.",
            }.get(order["status"], "No shipment for this order.")
            result.update(note=note, estimated_delivery=order.get("estimated_delivery"))
            return result
        eta = date.fromisoformat(shipment["estimated_delivery"])
        overdue = order["status"] == "shipped" and eta < self.today
        result.update(
            carrier=shipment["carrier"],
            tracking_number=shipment["tracking_number"],
            shipped_at=shipment["shipped_at"],
            estimated_delivery=shipment["estimated_delivery"],
            delivered_at=shipment["delivered_at"],
            overdue=overdue,
            business_days_overdue=_business_days(eta, self.today) if overdue else 0,
        )
        return result

    def search_kb(self, query: str, limit: int = 3) -> list[dict[str, Any]]:
        """Keyword search over help articles; titles and tags weigh more than body text."""
        words = [w for w in _WORD.findall(query.lower()) if w not in _STOPWORDS]
        if not words:
            raise InvalidRequest(
                "The search query is empty; search with a few keywords like 'return window'."
            )
        scored = []
        for article in self.articles.values():
            title = set(_WORD.findall(article["title"].lower()))
            tags = set(_WORD.findall(" ".join(article["tags"]).lower()))
            body = _WORD.findall(article["body"].lower())
            score = sum(3 * (w in title) + 2 * (w in tags) + min(body.count(w), 3) for w in words)
            if score:
                scored.append((-score, article["id"], article))
        scored.sort()
        return [
            {"article_id": a["id"], "title": a["title"], "snippet": a["body"][:220]}
            for _, _, a in scored[: max(1, limit)]
        ]

    def get_article(self, article_id: str) -> dict[str, Any]:
        key = str(article_id).strip().lower()
        article = self.articles.get(key)
        if article is None:
            raise NotFound(f"No help article '{article_id}'. Use search_kb to find article ids.")
        return {"article_id": article["id"], "title": article["title"], "body": article["body"]}

    # ------------------------------------------------------------------ refunds

    def refundable_amount(self, order_id: str, reason: str) -> float:
        """What may still be refunded for ``reason``: final-sale items and shipping only for defects."""
        order = self.get_order(order_id)
        defect = reason in self.meta["defect_reasons"]
        lines = [i for i in order["items"] if defect or not self._final_sale(i["sku"])]
        items = sum(i["unit_price"] * i["qty"] for i in lines)
        shipping = order["shipping_fee"] if defect else 0.0
        ceiling = min(items + shipping, order["total"]) - order["refunded_amount"]
        return max(0.0, _money(ceiling))

    def check_refund(self, order_id: str, amount: float | None, reason: str) -> float:
        """Validate a refund without making it; return the amount that would be refunded."""
        order = self.get_order(order_id)
        if reason not in self.meta["refund_reasons"]:
            allowed = ", ".join(self.meta["refund_reasons"])
            raise InvalidRequest(f"Unknown refund reason '{reason}'. Use one of: {allowed}.")
        self._check_refundable_status(order)
        days = self._days_since_delivery(order)
        if days is not None and days > self.return_window_days:
            raise PolicyViolation(
                f"Order {order['id']} was delivered on {order['shipment']['delivered_at']}, {days} days "
                f"ago, outside the {self.return_window_days}-day return window, so it cannot be refunded. "
                "A defective item may be covered by the warranty: open a ticket with the technical team."
            )
        available = self.refundable_amount(order["id"], reason)
        if available <= 0:
            raise PolicyViolation(
                f"Nothing on order {order['id']} can be refunded for reason '{reason}': final-sale items are "
                "refunded only when damaged, defective or the wrong item, and earlier refunds are deducted."
            )
        if amount is None:
            return available
        if amount <= 0:
            raise InvalidRequest(f"The refund amount must be positive, got {amount}.")
        if _money(amount) > available + 0.005:
            raise PolicyViolation(
                f"A refund of {amount:.2f} exceeds the refundable amount of {available:.2f} for order "
                f"{order['id']} (reason '{reason}'; total {order['total']:.2f}, already refunded "
                f"{order['refunded_amount']:.2f})."
            )
        return _money(amount)

    def issue_refund(self, order_id: str, amount: float | None, reason: str) -> dict[str, Any]:
        """Refund a delivered order (``amount=None``: everything refundable for that reason)."""
        with self._lock:
            value = self.check_refund(order_id, amount, reason)
            order = self.get_order(order_id)
            refund = {
                "refund_id": f"RF{1001 + len(self.new_refunds)}",
                "order_id": order["id"],
                "amount": value,
                "reason": reason,
                "method": _refund_method(order["payment"]["method"]),
                "created_at": self.meta["today"],
            }
            order["refunded_amount"] = _money(order["refunded_amount"] + value)
            fully = order["refunded_amount"] >= order["total"] - 0.005
            order["payment"]["status"] = "refunded" if fully else "partially_refunded"
            self.refunds.append(refund)
            self.new_refunds.append(refund)
            return dict(refund)

    # ------------------------------------------------------------------ order changes

    def cancel_order(self, order_id: str, reason: str) -> dict[str, Any]:
        """Cancel a Processing order and refund it in full; shipped orders must be returned instead."""
        with self._lock:
            order = self.get_order(order_id)
            if order["status"] != "processing":
                raise PolicyViolation(self._cannot_modify(order, "cancelled"))
            if not reason.strip():
                raise InvalidRequest("Give a short reason for the cancellation.")
            amount = _money(order["total"] - order["refunded_amount"])
            order["status"] = "cancelled"
            order["refunded_amount"] = order["total"]
            order["payment"]["status"] = "refunded"
            order["events"].append({"date": self.meta["today"], "status": "order cancelled"})
            record = {"order_id": order["id"], "reason": reason.strip(), "refunded_amount": amount}
            self.cancellations.append(record)
            return dict(record, status="cancelled", refund_method=order["payment"]["method"])

    def change_address(
        self, order_id: str, line1: str, city: str, postcode: str, country: str
    ) -> dict[str, Any]:
        """Change a Processing order's delivery address within the same country."""
        with self._lock:
            order = self.get_order(order_id)
            if order["status"] != "processing":
                raise PolicyViolation(self._cannot_modify(order, "re-addressed"))
            fields = {"line1": line1.strip(), "city": city.strip(), "postcode": postcode.strip()}
            missing = [name for name, value in fields.items() if not value]
            if missing:
                raise InvalidRequest(
                    f"The new address is missing: {', '.join(missing)}. Ask the customer for it."
                )
            code = country.strip().upper()
            if code not in self.meta["shipping_countries"]:
                allowed = ", ".join(self.meta["shipping_countries"])
                raise PolicyViolation(
                    f"We do not ship to '{country}'. Use a two-letter country code from: {allowed}."
                )
            old = dict(order["shipping_address"])
            if code != old["country"]:
                raise PolicyViolation(
                    f"Order {order['id']} ships to {old['country']}; an address can only change within "
                    "the same country. To ship abroad the customer must cancel and re-order."
                )
            order["shipping_address"].update(fields, country=code)
            change = {"order_id": order["id"], "from": old, "to": dict(order["shipping_address"])}
            self.address_changes.append(change)
            return copy.deepcopy(change)

    # ------------------------------------------------------------------ accounts and escalation

    def reset_password(self, email_or_customer_id: str) -> dict[str, Any]:
        """Send a reset link to the email on file (never to any other address)."""
        with self._lock:
            customer = self.find_customer(email_or_customer_id)
            if customer["account_status"] == "closed":
                raise PolicyViolation(
                    f"Account {customer['id']} is closed; closed accounts cannot be reset or reopened."
                )
            was_locked = customer["account_status"] == "locked"
            self.password_resets.append({"customer_id": customer["id"], "sent_to": customer["email"]})
            return {
                "customer_id": customer["id"],
                "sent_to": _mask_email(customer["email"]),
                "expires_in_minutes": 30,
                "unlocks_account": was_locked,
            }

    def open_ticket(
        self,
        team: str,
        subject: str,
        summary: str,
        priority: str = "normal",
        customer_id: str | None = None,
        order_id: str | None = None,
    ) -> dict[str, Any]:
        """Escalate to a specialist team; validates the team, priority and any ids given."""
        with self._lock:
            if team not in self.meta["ticket_teams"]:
                teams = ", ".join(self.meta["ticket_teams"])
                raise InvalidRequest(f"Unknown team '{team}'. Use one of: {teams}.")
            if priority not in self.meta["ticket_priorities"]:
                allowed = ", ".join(self.meta["ticket_priorities"])
                raise InvalidRequest(f"Unknown priority '{priority}'. Use one of: {allowed}.")
            if len(summary.strip()) < 10 or not subject.strip():
                raise InvalidRequest("A ticket needs a subject and a summary of at least 10 characters.")
            customer = self.find_customer(customer_id)["id"] if customer_id else None
            order = self.get_order(order_id)["id"] if order_id else None
            ticket = {
                "ticket_id": f"T{5001 + len(self.tickets)}",
                "team": team,
                "priority": priority,
                "subject": subject.strip(),
                "summary": summary.strip(),
                "customer_id": customer,
                "order_id": order,
            }
            self.tickets.append(ticket)
            return {"ticket_id": ticket["ticket_id"], "team": team, "priority": priority,
                    "expected_reply": "same day" if priority == "urgent" else "within 1 business day"}

    # ------------------------------------------------------------------ journal

    def note_kb_read(self, article_id: str) -> None:
        with self._lock:
            self.kb_reads.append(article_id)

    def note_rejected(self, tool: str, error: str) -> None:
        with self._lock:
            self.rejected.append({"tool": tool, "error": error})

    def snapshot(self) -> dict[str, Any]:
        """This task's writes as a JSON-able dict: what graders compare with ``expected.end_state``.

        Lists hold what happened; the booleans exist so a dataset can say "no refund" as
        ``{"refund_issued": false}`` rather than an empty list a subset match would accept.
        """
        with self._lock:
            return copy.deepcopy(
                {
                    "refunds": self.new_refunds,
                    "refund_issued": bool(self.new_refunds),
                    "refund_total": _money(sum(r["amount"] for r in self.new_refunds)),
                    "address_changes": self.address_changes,
                    "address_changed": bool(self.address_changes),
                    "cancelled_orders": [c["order_id"] for c in self.cancellations],
                    "cancellations": self.cancellations,
                    "order_cancelled": bool(self.cancellations),
                    "password_resets": self.password_resets,
                    "password_reset_sent": bool(self.password_resets),
                    "tickets": self.tickets,
                    "ticket_opened": bool(self.tickets),
                    "kb_articles_read": list(dict.fromkeys(self.kb_reads)),
                    "rejected_actions": self.rejected,
                }
            )

    # ------------------------------------------------------------------ helpers

    def _final_sale(self, sku: str) -> bool:
        return bool(self.products.get(sku, {}).get("final_sale"))

    def _days_since_delivery(self, order: dict[str, Any]) -> int | None:
        shipment = order.get("shipment") or {}
        delivered = shipment.get("delivered_at")
        return None if delivered is None else (self.today - date.fromisoformat(delivered)).days

    def _check_refundable_status(self, order: dict[str, Any]) -> None:
        status = order["status"]
        if status == "delivered":
            return
        messages = {
            "processing": (
                f"Order {order['id']} has not shipped yet; cancel it with cancel_order instead of refunding."
            ),
            "shipped": (
                f"Order {order['id']} is still in transit, so it cannot be refunded yet. Track it; if it is "
                "more than 5 business days late, open a ticket with the orders team for a carrier trace."
            ),
            "cancelled": f"Order {order['id']} was cancelled and has already been refunded in full.",
            "returned": f"Order {order['id']} was returned and has already been refunded.",
        }
        fallback = f"Order {order['id']} cannot be refunded (status {status})."
        raise PolicyViolation(messages.get(status, fallback))

    @staticmethod
    def _cannot_modify(order: dict[str, Any], verb: str) -> str:
        status = order["status"]
        if status in {"shipped", "delivered"}:
            done = "shipped" if status == "shipped" else "been delivered"
            return (
                f"Order {order['id']} has already {done}, so it cannot be {verb}. Only Processing orders "
                "can change; after delivery it can be returned."
            )
        return f"Order {order['id']} is {status}, so it cannot be {verb}."


def _refund_method(payment_method: str) -> str:
    """Refunds go back to the original method; gift-card payments come back as store credit."""
    return "store_credit" if payment_method == "gift_card" else payment_method


def _business_days(start: date, end: date) -> int:
    """Business days after ``start`` up to and including ``end`` (weekends skipped)."""
    days = 0
    current = start.toordinal()
    while current < end.toordinal():
        current += 1
        if date.fromordinal(current).weekday() < 5:
            days += 1
    return days
