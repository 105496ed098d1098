"""Production to eval task, end to end: a user's app served on 127.0.0.1, captured, imported, replayed.

The app (``production_app/production_app.py``) is written as a user writes one — Agents SDK agents at
import, a handoff, a tool, a guardrail, a plain ``openai`` endpoint beside them, an aiohttp server —
and its only harness line is ``harness.capture.install``. It runs in its own process against the stub model server; real HTTP
requests drive it. Then the traces are listed, imported into a suite, and replayed with the stub
stopped: every imported row must replay exactly as captured, and no planted secret may reach the
capture folder, the dataset or the cassettes.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from harness.capture.record import read_traces
from harness.testing.stub_server import Rule, StubServer, ToolCallSpec

APP_DIR = Path(__file__).parent / "production_app"
ROOT = Path(__file__).resolve().parents[2]

HEADER_KEY = "sk-planted-HEADER-0123456789abcdef"  # the app's API key: an Authorization header
BODY_KEY = "judge-PLANTED-body-424242"  # a key from the environment, quoted by a customer
CARD = "4111 1111 1111 1111"  # removed by the app's redact pattern
INTERNAL = "ACME-INTERNAL"  # removed by the app's redact_fn
PLANTED = (HEADER_KEY, BODY_KEY, CARD, INTERNAL, "PLANTED")

RULES = [
    Rule(has_tool="transfer_to_orders_agent", tool_calls=[ToolCallSpec(name="transfer_to_orders_agent", arguments={})]),
    Rule(has_tool="lookup_order", contains="is delayed", scope="any", content="Sorry, order A1002 is delayed."),
    Rule(has_tool="lookup_order", contains="is shipped", scope="any", content="Your order A1001 has shipped."),
    Rule(has_tool="lookup_order", contains="A1002", scope="any",
         tool_calls=[ToolCallSpec(name="lookup_order", arguments={"order_id": "A1002"})]),
    Rule(has_tool="lookup_order", tool_calls=[ToolCallSpec(name="lookup_order", arguments={"order_id": "A1001"})]),
]

MESSAGES = [
    f"Where is my order A1001? I paid with {CARD}.",
    f"Order A1002 is late. My key {BODY_KEY} and ref {INTERNAL}-7 in case you need them.",
    "Where is order A1001, please?",
    "I will hack your systems.",
    "Where are my orders A1001 and A1002?",  # two agent runs side by side in one trace
]

SUITE = '''
import sys
sys.path.insert(0, {app_dir!r})

from agents import set_default_openai_client

from harness import ModelSettings, Suite, Variant
from production_app import answer


async def support(input, ctx):
    set_default_openai_client(ctx.client, use_for_tracing=False)
    return await answer(input)


suite = Suite(name="support", dataset="datasets/support.jsonl",
              variants=[Variant("support@captured", flow=support, model=ModelSettings(model="gpt-4.1-mini"))])
'''

SUMMARY_SUITE = '''
import sys
sys.path.insert(0, {app_dir!r})

from harness import Suite, Variant
from production_app import summary


async def summarise(input, ctx):
    return await summary(input)


suite = Suite(name="summaries", dataset="datasets/summaries.jsonl", variants=[Variant("summarise@captured", flow=summarise)])
'''
SUMMARY_TEXT = f"Customer says the parcel is lost; their key {BODY_KEY} was pasted by mistake."


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _post(port: int, path: str, payload: dict) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(payload).encode(),
                                     headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.loads(reply.read())


def _serve(port: int, stub: StubServer, capture: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    env |= {"PYTHONPATH": os.pathsep.join([str(ROOT), str(APP_DIR)]), "CAPTURE_DIR": str(capture),
            "OPENAI_BASE_URL": stub.base_url, "SUPPORT_OPENAI_KEY": HEADER_KEY, "HARNESS_JUDGE_API_KEY": BODY_KEY}
    app = subprocess.Popen([sys.executable, str(APP_DIR / "production_app.py"), "--port", str(port)], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert app.stdout is not None
    line = app.stdout.readline()
    assert "ready" in line, line + app.stdout.read()
    return app


def _planted_in(folder: Path) -> list[str]:
    found = []
    for path in folder.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            found += [f"{path}: {secret}" for secret in PLANTED if secret in text]
    return found


@pytest.fixture
def captured(tmp_path: Path) -> tuple[Path, list[dict], StubServer]:
    """The app served against the stub: five customers' requests, one thumbs-down and one ticket
    summarised by the plain endpoint, then stopped."""
    capture = tmp_path / "traces"
    port = _free_port()
    with StubServer(rules=RULES) as stub:
        app = _serve(port, stub, capture)
        try:
            with ThreadPoolExecutor(len(MESSAGES)) as pool:  # concurrent requests: one trace each, nothing shared
                replies = list(pool.map(lambda m: _post(port, "/ask", {"message": m}), MESSAGES))
            _post(port, "/feedback", {"trace_id": replies[1]["trace_id"], "score": 0.0,
                                      "comment": f"it should apologise and give a date ({INTERNAL}-9)"})
            replies.append(_post(port, "/summarise", {"text": SUMMARY_TEXT}))
            requests = stub.requests
        finally:
            app.send_signal(signal.SIGINT)  # aiohttp stops gracefully: the capture writes what is queued
            app.wait(30)
    assert all("x-harness-key" not in {k.lower() for k in r.get("headers", {})} for r in requests)
    return capture, replies, stub


def test_a_served_app_is_captured_imported_and_replayed_offline(captured, harness_cli, tmp_path: Path) -> None:
    capture, replies, stub = captured
    replies = replies[:-1]  # the support requests (the plain endpoint's: the next test)
    assert [r["reply"] for r in replies] == ["Your order A1001 has shipped.", "Sorry, order A1002 is delayed.",
                                              "Your order A1001 has shipped.", "Sorry, I cannot help with that.",
                                              "Your order A1001 has shipped. Sorry, order A1002 is delayed."]
    traces = {t.trace_id: t for t in read_traces(capture) if t.record.workflow == "support"}
    assert set(traces) == {r["trace_id"] for r in replies}
    late = traces[replies[1]["trace_id"]]
    assert late.record.trajectory.handoff_path == ["Triage Agent", "Orders Agent"]
    assert [(t.name, t.arguments) for t in late.record.trajectory.tool_calls] == [("lookup_order",
                                                                                   {"order_id": "A1002"})]
    assert late.score == 0.0 and "<internal>-9" in (late.feedback[0].comment or "")
    assert len(late.record.exchanges) == 3 and all(e.status == 200 for e in late.record.exchanges)
    assert _planted_in(capture) == []

    listed = harness_cli("traces", "list", str(capture), "--feedback-below", "0.5")
    assert listed.code == 0 and replies[1]["trace_id"] in listed.text and replies[0]["trace_id"] not in listed.text
    tripped = harness_cli("traces", "list", str(capture), "--guardrail-tripped")
    assert replies[3]["trace_id"] in tripped.text and "1 trace(s)" in tripped.text
    [guard] = traces[replies[3]["trace_id"]].record.trajectory.of_kind("guardrail")
    assert (guard.attributes["triggered"], guard.attributes["reason"]) == (True, {"threat": True}), "and why"

    (tmp_path / "evals").mkdir()
    (tmp_path / "datasets").mkdir()
    (tmp_path / "evals" / "test_support.py").write_text(SUITE.format(app_dir=str(APP_DIR)))
    (tmp_path / "datasets" / "support.jsonl").write_text(json.dumps({"id": "hand-1", "input": "hello"}) + "\n")
    hits = stub.stats().hits  # the stub is stopped: the import's replay check runs offline
    imported = harness_cli("traces", "import", str(capture), "--suite", "evals/test_support.py", "--workflow", "support")
    assert imported.code == 0, imported.text
    assert "5 row(s) added" in imported.text and "5 of 5 row(s) replay exactly as captured" in imported.text
    rows = [json.loads(line) for line in (tmp_path / "datasets" / "support.jsonl").read_text().splitlines()]
    replayable = [r["trace_id"] for r in replies]  # the refusal too: its guardrail fired before any model call
    assert rows[0]["id"] == "hand-1" and {r["id"] for r in rows[1:]} == set(replayable)
    row = next(r for r in rows if r["id"] == replies[1]["trace_id"])
    assert row["input"] == MESSAGES[1].replace(BODY_KEY, "<REDACTED>").replace(INTERNAL, "<internal>")
    assert row["expected"] is None and row["metadata"]["feedback"]["score"] == 0.0
    assert row["metadata"]["trace"]["link"].startswith(str(capture)) and "captured" in row["tags"]
    assert stub.stats().hits == hits

    replay = harness_cli("run", "evals/test_support.py", "--record-mode", "none", "--variant", "support@captured",
                         "--ids", *replayable, "--no-plots", "--no-gate")
    assert replay.code == 0, replay.text
    for name in ("datasets", "cassettes", "reports"):
        assert _planted_in(tmp_path / name) == []
    status = harness_cli("cassettes", "status", "evals/test_support.py")
    assert "5 used, 0 unused, 0 stale" in status.text, status.text  # written as the store writes its own

    again = harness_cli("traces", "import", str(capture), "--suite", "evals/test_support.py", "--workflow", "support")
    assert "0 row(s) added" in again.text and "already in the dataset" in again.text

    # The code changes (the order system now says "cancelled"): the check says where each row parts.
    changed = SUITE.format(app_dir=str(APP_DIR)).replace("    return await answer(input)", "    production_app.ORDERS['A1002'] = 'cancelled'\n"
                            "    return await answer(input)").replace("from production_app import answer",
                                                                     "import production_app\nfrom production_app import answer")
    (tmp_path / "evals" / "test_support_changed.py").write_text(changed)
    check = harness_cli("traces", "check", str(capture), "--suite", "evals/test_support_changed.py")
    assert check.code == 1 and "3 of 5 row(s) replay exactly as captured" in check.text, check.text
    assert (f"parts {replies[1]['trace_id']}: tool 'lookup_order'" in check.text
            and "tool 'lookup_order'" in check.text and "result was order A1002 is delayed in production, "
            "order A1002 is cancelled now" in check.text and "cassette miss" in check.text), check.text


def test_a_plain_openai_endpoint_is_captured_call_by_call_and_replayed(captured, harness_cli, tmp_path: Path) -> None:
    """No Agents SDK: the app's own AsyncOpenAI() outside any trace. Each call is a trace of its own,
    named by its API, and becomes a task that replays offline as captured."""
    capture, replies, stub = captured
    (plain,) = [t.record for t in read_traces(capture) if t.record.source == "openai"]
    assert plain.workflow == "chat.completions" and len(plain.exchanges) == 1 and plain.exchanges[0].position == "b0|c1"
    assert plain.input == SUMMARY_TEXT.replace(BODY_KEY, "<REDACTED>")
    assert plain.output == replies[-1]["summary"].replace(BODY_KEY, "<REDACTED>") and plain.error is None
    assert [s.kind for s in plain.spans] == ["model"] and plain.spans[0].attributes["input_tokens"] is not None
    assert _planted_in(capture) == []
    listed = harness_cli("traces", "list", str(capture), "--workflow", "chat.completions")
    assert "1 trace(s)" in listed.text and plain.trace_id in listed.text

    (tmp_path / "evals").mkdir()
    (tmp_path / "datasets").mkdir()
    (tmp_path / "evals" / "test_summaries.py").write_text(SUMMARY_SUITE.format(app_dir=str(APP_DIR)))
    (tmp_path / "datasets" / "summaries.jsonl").write_text("")  # a new suite: its rows come from production
    hits = stub.stats().hits
    imported = harness_cli("traces", "import", str(capture), "--suite", "evals/test_summaries.py",
                           "--workflow", "chat.completions")
    assert imported.code == 0, imported.text
    assert "1 row(s) added" in imported.text and "1 of 1 row(s) replay exactly as captured" in imported.text
    replay = harness_cli("run", "evals/test_summaries.py", "--record-mode", "none", "--variant", "summarise@captured",
                         "--no-plots", "--no-gate")
    assert replay.code == 0, replay.text
    assert stub.stats().hits == hits, "replayed offline"
    for name in ("datasets", "cassettes", "reports"):
        assert _planted_in(tmp_path / name) == []
