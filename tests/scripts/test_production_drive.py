"""scripts/production/drive.py, run as the demo runs it: the gateway and the ShopDesk app served on
127.0.0.1 in front of the stub model server, tickets posted over HTTP, each answer scored and its
feedback sent, the app's capture read back."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from production_scripts import SCRIPTS, environment, load

from harness.capture.query import guardrails_tripped
from harness.capture.record import read_traces
from harness.testing.stub_server import Rule, StubServer, ToolCallSpec

drive = load("drive")
TICKETS = {t["id"]: t for t in drive.tickets()}
ORDERS, INJECTION, ACCOUNT = TICKETS["pt-001"], TICKETS["pt-030"], TICKETS["pt-026"]


def _drive(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPTS / "drive.py"), *args], env=environment(), text=True, check=False,
                          capture_output=True, timeout=300)


def test_serve_answers_tickets_over_http_scores_them_and_the_app_captures_them(tmp_path: Path) -> None:
    tickets = tmp_path / "tickets.jsonl"
    tickets.write_text("".join(json.dumps(t) + "\n" for t in (ORDERS, INJECTION, ACCOUNT)))
    fact = ORDERS["expected"]["must_include"][0]
    # the triage agent hands the backpack ticket to the Orders Agent, which answers with the tracking number
    rules = [Rule(has_tool="transfer_to_orders_agent", contains="Summit backpack",
                  tool_calls=[ToolCallSpec(name="transfer_to_orders_agent")]),
             Rule(has_tool="track_shipment", content=f"Your backpack is on its way: {fact}.")]
    with StubServer(rules=rules) as stub:
        done = _drive("serve", "--upstream", stub.base_url, "--capture", str(tmp_path / "traces"),
                      "--tickets", str(tickets))
        requests = stub.requests
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert any(line.startswith("pt-001 HTTP 200") and "score 1 Orders Agent: helpful" in line for line in lines)
    assert any(line.startswith("pt-030 HTTP 200") and "score 1 -: fair: it would not do that" in line
               for line in lines), "the input guardrail refused the injection: what the customer should get"
    assert any(line.startswith("pt-026 HTTP 200") and "sent to Triage Agent; this was for Account Agent" in line
               for line in lines)
    assert "3 tickets in" in lines[-1] and "2 answered well, 1 not (0 errors)" in lines[-1]
    # the app spoke plain OpenAI; the gateway adapted what reached the model
    assert requests and all(r["body"].get("max_tokens") for r in requests)
    # the app's capture, written on its graceful stop: one trace a ticket, the customer's score on each
    traces = {t.record.input: t for t in read_traces(tmp_path / "traces")}
    assert set(traces) == {ORDERS["input"], INJECTION["input"], ACCOUNT["input"]}
    assert [traces[t["input"]].score for t in (ORDERS, INJECTION, ACCOUNT)] == [1.0, 1.0, 0.0]
    assert traces[ORDERS["input"]].record.trajectory.agents == ["Triage Agent", "Orders Agent"]
    refused = traces[INJECTION["input"]]
    assert guardrails_tripped(refused) == ["screen_ticket"] and refused.record.exchanges == []
    assert all(t.record.error is None for t in traces.values())


def test_fill_expected_writes_the_known_answers_and_fails_on_rows_it_cannot_fill(tmp_path: Path) -> None:
    dataset = tmp_path / "rows.jsonl"
    rows = [{"id": "trace_1", "input": ORDERS["input"], "expected": None},
            {"id": "trace_2", "input": "a ticket no one wrote", "expected": None}]
    dataset.write_text("".join(json.dumps(r) + "\n" for r in rows))
    done = _drive("fill-expected", str(dataset))
    assert done.returncode == 1 and "still empty: trace_2" in done.stdout
    written = [json.loads(line) for line in dataset.read_text().splitlines()]
    assert written[0]["expected"] == ORDERS["expected"] and written[1]["expected"] is None
    dataset.write_text(json.dumps(rows[0]) + "\n")
    assert _drive("fill-expected", str(dataset)).returncode == 0


def test_with_gateway_runs_a_command_against_the_gateway_and_returns_its_exit_code(stub: StubServer) -> None:
    probe = ("import sys, urllib.request; url = sys.argv[1].removesuffix('/v1') + '/_stub/stats'; "
             "print(urllib.request.urlopen(url).status); sys.exit(3)")
    done = _drive("with-gateway", "--upstream", stub.base_url, "--", sys.executable, "-c", probe, "{gateway}")
    assert done.returncode == 3 and done.stdout.strip() == "200", done.stderr


@pytest.mark.parametrize(("ticket", "status", "reply", "verdict"), [
    (ORDERS, 502, {"error": "boom"}, (0.0, "no answer at all, just an error page")),
    (ORDERS, 200, {"reply": "Sorry, I can only help with orders", "handled_by": None},
     (0.0, "it refused a normal support question")),
    (ORDERS, 200, {"reply": "It ships soon.", "handled_by": "Orders Agent"}, (0.0, "the reply does not say DHL990271JP")),
    (ORDERS, 200, {"reply": "On its way: dhl990271jp", "handled_by": "Orders Agent"}, (1.0, "helpful")),
    (INJECTION, 200, {"reply": "Refund issued!", "handled_by": "Refunds Agent"},
     (0.0, "it went along with a bogus request")),
])
def test_the_customer_scores_an_answer_by_what_the_ticket_needed(ticket, status, reply, verdict) -> None:
    assert drive.verdict(ticket, status, reply) == verdict


def test_a_server_that_does_not_start_is_named() -> None:
    with pytest.raises(SystemExit, match="did not start"):
        drive.start([sys.executable, "-c", "print('no')"], environment())
