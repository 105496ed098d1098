"""The ShopDesk datasets: they load, they are big and varied enough, and every id they name exists."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from harness.core.dataset import Task, load_dataset
from shopdesk.domain import ShopState
from shopdesk.flows.specialists import AGENT_NAMES
from shopdesk.tools import ALL_TOOLS

DATASETS = Path(__file__).resolve().parents[2] / "datasets"
CATEGORIES = {"orders", "refunds", "technical", "account"}
DIFFICULTIES = {"easy", "medium", "hard"}
TOOL_NAMES = {tool.name for tool in ALL_TOOLS}
SNAPSHOT_KEYS = set(ShopState.fresh().snapshot())
ORDER_ID = re.compile(r"\bA\d{4}\b")
CUSTOMER_ID = re.compile(r"\bC\d{3}\b")
SENDER = re.compile(r"From: ([\w.+-]+@[\w-]+\.[a-z]+)")

FILES = {
    "support_tickets.jsonl": 40, "kb_articles.jsonl": 40, "classify.jsonl": 40, "refund_decisions.jsonl": 40,
}
ACTIONS = {"approve", "partial", "deny", "escalate"}


def tasks(name: str) -> list[Task]:
    return load_dataset(DATASETS / name)


def text_of(task: Task) -> str:
    return json.dumps(task.model_dump(mode="json"), ensure_ascii=False)


@pytest.mark.parametrize(("name", "minimum"), FILES.items())
def test_dataset_loads_and_is_split(name: str, minimum: int) -> None:
    loaded = tasks(name)
    assert len(loaded) >= minimum
    for task in loaded:
        assert isinstance(task.expected, dict), task.id
        # Three splits: dev, test, and the support suite's attack rows (guardrail checks).
        assert len({"dev", "test", "attack"} & set(task.tags)) == 1, task.id
        assert len(DIFFICULTIES & set(task.tags)) == 1, task.id
    tags = {tag for task in loaded for tag in task.tags}
    assert {"dev", "test"} <= tags and DIFFICULTIES <= tags


@pytest.mark.parametrize("name", FILES)
def test_every_referenced_id_exists(name: str) -> None:
    shop = ShopState.fresh()
    emails = {c["email"] for c in shop.customers.values()}
    for task in tasks(name):
        allowed_missing = set(task.metadata.get("nonexistent_ids", []))
        text = text_of(task)
        for order_id in set(ORDER_ID.findall(text)) - allowed_missing:
            assert order_id in shop.orders, f"{task.id}: unknown order {order_id}"
        for customer_id in CUSTOMER_ID.findall(text):
            assert customer_id in shop.customers, f"{task.id}: unknown customer {customer_id}"
        for missing in allowed_missing:
            assert missing not in shop.orders, f"{task.id}: {missing} is listed as nonexistent but exists"
        for email in SENDER.findall(text):
            assert email in emails, f"{task.id}: unknown sender {email}"


def test_support_tickets_expected_shape() -> None:
    keys = {
        "category", "handoffs", "tools", "forbidden_tools", "end_state", "must_include", "must_not_include",
    }
    shop = ShopState.fresh()
    for task in tasks("support_tickets.jsonl"):
        expected: dict[str, Any] = task.expected
        assert keys <= set(expected), task.id
        assert expected["category"] in CATEGORIES
        assert set(expected.get("acceptable_categories", [expected["category"]])) <= CATEGORIES
        assert expected["handoffs"] == ["Triage Agent", AGENT_NAMES[expected["category"]]]
        for call in expected["tools"]:
            assert call["name"] in TOOL_NAMES and isinstance(call["arguments"], dict), task.id
        assert set(expected["forbidden_tools"]) <= TOOL_NAMES
        assert set(expected["end_state"]) <= SNAPSHOT_KEYS, task.id
        for refund in expected["end_state"].get("refunds", []):
            if "amount" in refund:  # a refund the dataset expects must be one the shop can make
                best = max(shop.refundable_amount(refund["order_id"], r) for r in ("damaged", "changed_mind"))
                assert refund["amount"] <= best, task.id
        assert "From: " in (task.input if isinstance(task.input, str) else task.input[0].content)


def test_support_tickets_cover_the_hard_cases() -> None:
    tags = [tag for task in tasks("support_tickets.jsonl") for tag in task.tags]
    for tag in ("injection", "missing_id", "multi_intent", "angry", "non_english", "multi_turn", "ambiguous"):
        assert tag in tags, tag
    categories = {task.expected["category"] for task in tasks("support_tickets.jsonl")}
    assert categories == CATEGORIES


def test_refund_decisions_agree_with_the_checker() -> None:
    """The expected amounts are exactly what the self-correction checker accepts."""
    shop = ShopState.fresh()
    for task in tasks("refund_decisions.jsonl"):
        expected = task.expected
        assert expected["action"] in ACTIONS
        assert set(expected.get("acceptable_actions", [expected["action"]])) <= ACTIONS
        assert set(expected["end_state"]) <= SNAPSHOT_KEYS, task.id
        reason = expected["reason"]
        if expected["action"] == "approve":
            assert expected["amount"] == shop.refundable_amount(expected["order_id"], reason), task.id
        if expected["action"] in {"approve", "partial"}:
            accepted = shop.check_refund(expected["order_id"], expected["amount"], reason)
            assert accepted == expected["amount"], task.id
        else:
            assert expected["amount"] == 0.0, task.id


def test_classify_expected_categories() -> None:
    for task in tasks("classify.jsonl"):
        assert task.expected["category"] in CATEGORIES
        assert set(task.expected.get("acceptable_categories", [])) <= CATEGORIES


def test_kb_requests_name_real_articles() -> None:
    articles = ShopState.fresh().articles
    for task in tasks("kb_articles.jsonl"):
        assert task.expected["source_articles"], task.id
        assert set(task.expected["source_articles"]) <= set(articles), task.id
        assert {"must_include", "must_not_include", "rubric"} <= set(task.expected)


@pytest.mark.parametrize("name", ["chain.jsonl", "support_answers.jsonl"])
def test_calibration_sets(name: str) -> None:
    lines = (DATASETS / "calibration" / name).read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    assert len(rows) >= 30
    assert len({row["id"] for row in rows}) == len(rows)
    for row in rows:
        assert set(row) == {"id", "input", "output", "verdict", "score", "notes"}, row["id"]
        assert row["verdict"] in {"pass", "fail"} and 0.0 <= row["score"] <= 1.0
        assert row["input"].strip() and row["output"].strip() and row["notes"].strip()
        # A reviewer's score and verdict must not contradict each other.
        assert (row["score"] >= 0.7) == (row["verdict"] == "pass"), row["id"]
    verdicts = [row["verdict"] for row in rows]
    assert 0.3 <= verdicts.count("pass") / len(verdicts) <= 0.7
