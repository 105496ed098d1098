"""The domain without any model: lookups, every validation error, and per-task isolation."""

from __future__ import annotations

import asyncio
import json

import pytest

from shopdesk.domain import (
    InvalidRequest,
    NotFound,
    PolicyViolation,
    ShopState,
    normalize_order_id,
    seed_data,
)


@pytest.fixture
def shop() -> ShopState:
    return ShopState.fresh()


# ---------------------------------------------------------------- isolation


def test_fresh_states_do_not_share_writes(shop: ShopState) -> None:
    other = ShopState.fresh()
    shop.issue_refund("A1003", None, "defective")
    shop.cancel_order("A1011", "mistake")
    assert other.orders["A1003"]["refunded_amount"] == 0.0
    assert other.orders["A1011"]["status"] == "processing"
    assert other.snapshot()["refund_issued"] is False
    assert ShopState.fresh().orders["A1011"]["status"] == "processing"
    assert seed_data()["orders"][2]["refunded_amount"] == 0.0


def test_concurrent_tasks_each_see_only_their_own_writes() -> None:
    async def task(order_id: str) -> dict[str, object]:
        state = ShopState.fresh()
        await asyncio.sleep(0)
        state.issue_refund(order_id, None, "changed_mind")
        await asyncio.sleep(0)
        return state.snapshot()

    async def main() -> list[dict[str, object]]:
        return await asyncio.gather(task("A1001"), task("A1028"), task("A1012"))

    snapshots = asyncio.run(main())
    assert [[r["order_id"] for r in s["refunds"]] for s in snapshots] == [["A1001"], ["A1028"], ["A1012"]]
    assert all(s["refunds"][0]["refund_id"] == "RF1001" for s in snapshots)


def test_snapshot_starts_empty_and_is_json(shop: ShopState) -> None:
    snap = shop.snapshot()
    assert snap["refunds"] == [] and snap["tickets"] == [] and snap["rejected_actions"] == []
    flags = ("refund_issued", "address_changed", "order_cancelled", "password_reset_sent", "ticket_opened")
    assert not any(snap[flag] for flag in flags)
    json.dumps(snap)


def test_snapshot_is_a_copy(shop: ShopState) -> None:
    shop.issue_refund("A1003", None, "defective")
    snap = shop.snapshot()
    snap["refunds"].clear()
    assert shop.snapshot()["refunds"]


# ---------------------------------------------------------------- lookups


@pytest.mark.parametrize("raw", ["A1003", "a1003", "#A1003", " 1003 "])
def test_order_ids_are_normalised(raw: str) -> None:
    assert normalize_order_id(raw) == "A1003"


def test_lookup_order_shows_owner_and_internal_notes(shop: ShopState) -> None:
    order = shop.lookup_order("A1010")
    assert order["customer_email"] == "olivia.brown@example.com"
    assert "INTERNAL" in order["internal_notes"]
    assert order["days_since_delivery"] == 22


def test_unknown_order_and_customer(shop: ShopState) -> None:
    with pytest.raises(NotFound, match="A9999"):
        shop.lookup_order("A9999")
    with pytest.raises(NotFound, match="look like A1003"):
        shop.lookup_order("order-7")
    with pytest.raises(NotFound):
        shop.list_orders_for_customer("nobody@example.com")


def test_customer_by_email_or_id(shop: ShopState) -> None:
    assert shop.lookup_customer("PRIYA.N@example.com")["customer_id"] == "C003"
    assert [o["order_id"] for o in shop.list_orders_for_customer("c003")] == ["A1003", "A1015", "A1033"]


def test_track_shipment(shop: ShopState) -> None:
    late = shop.track_shipment("A1015")
    assert late["overdue"] is True and late["business_days_overdue"] == 8
    assert shop.track_shipment("A1002")["overdue"] is False
    assert "Not shipped yet" in shop.track_shipment("A1004")["note"]
    assert "cancelled" in shop.track_shipment("A1006")["note"]


def test_search_and_articles(shop: ShopState) -> None:
    ids = [hit["article_id"] for hit in shop.search_kb("return window for final sale items")]
    assert "returns-policy" in ids and "final-sale" in ids
    assert shop.get_article("Warranty")["title"] == "Warranty"
    with pytest.raises(NotFound):
        shop.get_article("no-such-article")
    with pytest.raises(InvalidRequest):
        shop.search_kb("the and of")


# ---------------------------------------------------------------- refunds


def test_refund_happy_path(shop: ShopState) -> None:
    refund = shop.issue_refund("A1003", None, "defective")
    assert refund == {"refund_id": "RF1001", "order_id": "A1003", "amount": 59.99, "reason": "defective",
                      "method": "card", "created_at": "2025-03-14"}
    assert shop.orders["A1003"]["payment"]["status"] == "refunded"
    assert shop.snapshot()["refund_total"] == 59.99


def test_partial_refunds_reduce_the_balance(shop: ShopState) -> None:
    shop.issue_refund("A1029", 75.0, "damaged")
    assert shop.orders["A1029"]["payment"]["status"] == "partially_refunded"
    with pytest.raises(PolicyViolation, match="refundable amount of 75.00"):
        shop.issue_refund("A1029", 100.0, "damaged")
    assert shop.issue_refund("A1029", None, "damaged")["refund_id"] == "RF1002"


def test_refund_above_refundable_amount(shop: ShopState) -> None:
    with pytest.raises(PolicyViolation, match="exceeds the refundable amount of 59.99"):
        shop.issue_refund("A1003", 80.0, "defective")
    assert shop.snapshot()["refund_issued"] is False


@pytest.mark.parametrize(
    ("order_id", "match"),
    [
        ("A1005", "outside the 30-day return window"),
        ("A1022", "31 days ago"),
        ("A1004", "has not shipped yet; cancel it"),
        ("A1002", "still in transit"),
        ("A1006", "cancelled and has already been refunded"),
        ("A1017", "returned and has already been refunded"),
        ("A1016", "final-sale"),
    ],
)
def test_refund_policy_violations(shop: ShopState, order_id: str, match: str) -> None:
    with pytest.raises(PolicyViolation, match=match):
        shop.issue_refund(order_id, None, "changed_mind")


def test_return_window_edge(shop: ShopState) -> None:
    # Day 28 of 30; a change of mind does not refund the 4.99 shipping fee.
    assert shop.issue_refund("A1021", None, "changed_mind")["amount"] == 49.0


def test_final_sale_and_shipping_depend_on_reason(shop: ShopState) -> None:
    assert shop.refundable_amount("A1007", "changed_mind") == 19.99
    assert shop.refundable_amount("A1007", "damaged") == 54.97
    assert shop.refundable_amount("A1010", "changed_mind") == 149.0  # 35.00 already refunded


def test_refund_argument_errors(shop: ShopState) -> None:
    with pytest.raises(InvalidRequest, match="Unknown refund reason"):
        shop.issue_refund("A1003", None, "because")
    with pytest.raises(InvalidRequest, match="must be positive"):
        shop.issue_refund("A1003", -5.0, "defective")
    with pytest.raises(NotFound):
        shop.issue_refund("A9999", None, "defective")


# ---------------------------------------------------------------- order changes


def test_cancel_order(shop: ShopState) -> None:
    result = shop.cancel_order("a1011", "ordered by mistake")
    assert result["status"] == "cancelled" and result["refunded_amount"] == 88.0
    snap = shop.snapshot()
    assert snap["cancelled_orders"] == ["A1011"] and snap["refund_issued"] is False
    with pytest.raises(PolicyViolation, match="is cancelled"):
        shop.cancel_order("A1011", "again")


@pytest.mark.parametrize(("order_id", "match"), [("A1002", "already shipped"), ("A1003", "been delivered")])
def test_cannot_cancel_after_shipping(shop: ShopState, order_id: str, match: str) -> None:
    with pytest.raises(PolicyViolation, match=match):
        shop.cancel_order(order_id, "changed my mind")


def test_cancel_needs_a_reason(shop: ShopState) -> None:
    with pytest.raises(InvalidRequest):
        shop.cancel_order("A1011", "  ")


def test_change_address(shop: ShopState) -> None:
    change = shop.change_address("A1004", "Torstrasse 101", "Berlin", "10119", "de")
    assert change["from"]["line1"] == "Hauptstrasse 8" and change["to"]["postcode"] == "10119"
    assert shop.snapshot()["address_changed"] is True


@pytest.mark.parametrize(
    ("order_id", "args", "error", "match"),
    [
        ("A1002", ("1 Main St", "Leeds", "LS1 1AA", "GB"), PolicyViolation, "already shipped"),
        ("A1026", ("10 Rue de Rivoli", "Paris", "75001", "FR"), PolicyViolation, "same country"),
        ("A1004", ("1 Red Square", "Moscow", "101000", "RU"), PolicyViolation, "do not ship to"),
        ("A1004", ("", "Berlin", "", "DE"), InvalidRequest, "line1, postcode"),
    ],
)
def test_change_address_errors(
    shop: ShopState, order_id: str, args: tuple[str, ...], error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        shop.change_address(order_id, *args)
    assert shop.snapshot()["address_changed"] is False


# ---------------------------------------------------------------- accounts and tickets


def test_reset_password_goes_to_the_email_on_file(shop: ShopState) -> None:
    result = shop.reset_password("TOM.FISCHER@example.com")
    assert result == {"customer_id": "C008", "sent_to": "t***@example.com", "expires_in_minutes": 30,
                      "unlocks_account": True}
    resets = shop.snapshot()["password_resets"]
    assert resets == [{"customer_id": "C008", "sent_to": "tom.fischer@example.com"}]


def test_reset_password_errors(shop: ShopState) -> None:
    with pytest.raises(PolicyViolation, match="closed"):
        shop.reset_password("C013")
    with pytest.raises(NotFound):
        shop.reset_password("zoe.new.adams@example.net")


def test_open_ticket(shop: ShopState) -> None:
    summary = "Parcel A1015 stuck since Feb 27"
    ticket = shop.open_ticket("orders", "Carrier trace", summary, "high", "C003", "A1015")
    assert ticket["ticket_id"] == "T5001" and ticket["expected_reply"] == "within 1 business day"
    assert shop.snapshot()["tickets"][0]["order_id"] == "A1015"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"team": "billing"}, InvalidRequest),
        ({"priority": "asap"}, InvalidRequest),
        ({"summary": "help"}, InvalidRequest),
        ({"order_id": "A9999"}, NotFound),
        ({"customer_id": "C999"}, NotFound),
    ],
)
def test_open_ticket_errors(shop: ShopState, kwargs: dict[str, str], error: type) -> None:
    valid = {"team": "orders", "subject": "Trace", "summary": "Parcel is a week late", "priority": "normal"}
    args = valid | kwargs
    with pytest.raises(error):
        shop.open_ticket(**args)
    assert shop.snapshot()["ticket_opened"] is False
