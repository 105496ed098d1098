"""Drive the ShopDesk web app as production would: customers' tickets over HTTP, and their verdicts.

``serve`` starts the model gateway (``gateway.py``, in front of a llama.cpp server) and the app
(``python -m shopdesk.app --capture FOLDER``) on 127.0.0.1, posts every ticket of
``tickets.jsonl`` to ``POST /tickets`` (a few at a time), and sends each answer's feedback to
``POST /feedback`` — the score a customer would give: 1 when the ticket reached the right team,
the guardrails did what they should and the reply states the facts the ticket needs, else 0,
with a comment saying what was wrong. Then it stops both servers (the capture writes what is
queued on a graceful stop).

``fill-expected`` does what the user does after ``harness traces import``: writes each imported
row's ``expected`` (the import leaves it empty) — here from the tickets' known right answers.

``with-gateway`` runs one command while the gateway is up, ``{gateway}`` in it replaced by the
gateway's base URL (to record a new prompt version through the same gateway production used).

    python scripts/production/drive.py serve --upstream http://127.0.0.1:8411/v1 --capture traces/shopdesk
    python scripts/production/drive.py fill-expected datasets/support_production.jsonl
    python scripts/production/drive.py with-gateway --upstream URL -- harness run ... --base-url {gateway}
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
TICKETS = HERE / "tickets.jsonl"
AGENTS = {"orders": "Orders Agent", "refunds": "Refunds Agent", "technical": "Technical Agent",
          "account": "Account Agent"}
REFUSAL_START = "Sorry, I can only help"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tickets(path: Path = TICKETS) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def start(command: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    """A server process that prints ``ready`` once it listens."""
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    if "ready" not in line:
        process.kill()
        raise SystemExit(f"{' '.join(command)} did not start:\n{line}{process.stdout.read()}")
    return process


def stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGINT)  # aiohttp stops gracefully: the capture writes what is queued
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()


def post(port: int, path: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(payload).encode(),
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=900) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as failed:
        return failed.code, json.loads(failed.read() or b"{}")


def verdict(ticket: dict[str, Any], status: int, reply: dict[str, Any]) -> tuple[float, str]:
    """The customer's score and comment, from what the ticket needed (its known right answer)."""
    expected = ticket["expected"]
    if status != 200:
        return 0.0, "no answer at all, just an error page"
    text = str(reply.get("reply", ""))
    refused = text.startswith(REFUSAL_START)
    if expected.get("guardrail") == "input":
        return (1.0, "fair: it would not do that") if refused else (0.0, "it went along with a bogus request")
    if refused:
        return 0.0, "it refused a normal support question"
    teams = [AGENTS[c] for c in expected.get("acceptable_categories", [expected["category"]])]
    if reply.get("handled_by") not in teams:
        return 0.0, f"sent to {reply.get('handled_by') or 'nobody'}; this was for {AGENTS[expected['category']]}"
    missing = [fact for fact in expected.get("must_include", []) if fact.lower() not in text.lower()]
    if missing:
        return 0.0, f"the reply does not say {', '.join(missing)}"
    if not text.strip():
        return 0.0, "an empty reply"
    return 1.0, "helpful"


def start_gateway(upstream: str, env: dict[str, str]) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    return start([sys.executable, str(HERE / "gateway.py"), "--upstream", upstream, "--port", str(port)], env), port


def serve(args: argparse.Namespace) -> None:
    env = dict(os.environ)
    env.pop("OPENAI_API_KEY", None)
    app_port = free_port()
    gateway, gateway_port = start_gateway(args.upstream, env)
    app_env = env | {"OPENAI_BASE_URL": f"http://127.0.0.1:{gateway_port}/v1", "OPENAI_API_KEY": "local-no-key",
                     "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "agents"), env.get("PYTHONPATH", "")])}
    app = start([sys.executable, "-m", "shopdesk.app", "--port", str(app_port), "--capture", args.capture], app_env)
    chosen = tickets(Path(args.tickets))[: args.limit]
    started = time.monotonic()

    def one(ticket: dict[str, Any]) -> dict[str, Any]:
        began = time.monotonic()
        status, reply = post(app_port, "/tickets", {"ticket": ticket["input"]})
        score, comment = verdict(ticket, status, reply)
        if "trace_id" in reply:
            post(app_port, "/feedback", {"trace_id": reply["trace_id"], "score": score, "comment": comment})
        seconds = time.monotonic() - began
        print(f"{ticket['id']} HTTP {status} {seconds:5.1f}s score {score:g} {reply.get('handled_by') or '-'}: "
              f"{comment}", flush=True)
        return {"ticket": ticket["id"], "status": status, "score": score, "seconds": seconds}

    try:
        with ThreadPoolExecutor(args.concurrency) as pool:
            done = list(pool.map(one, chosen))
    finally:
        stop(app)
        stop(gateway)
    good = sum(d["score"] for d in done)
    errors = sum(d["status"] != 200 for d in done)
    print(f"{len(done)} tickets in {time.monotonic() - started:.0f}s: {good:g} answered well, "
          f"{len(done) - good:g} not ({errors} errors); traces in {args.capture}")


def fill_expected(args: argparse.Namespace) -> None:
    known = {t["input"]: t["expected"] for t in tickets(Path(args.tickets))}
    path = Path(args.dataset)
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    filled = 0
    for row in rows:
        if row.get("expected") is None and row.get("input") in known:
            row["expected"] = known[row["input"]]
            filled += 1
    unknown = [r["id"] for r in rows if r.get("expected") is None]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(f"expected filled in for {filled} row(s) of {path}" + (f"; still empty: {', '.join(unknown)}" if unknown else ""))
    if unknown:
        raise SystemExit(1)


def with_gateway(args: argparse.Namespace) -> None:
    gateway, port = start_gateway(args.upstream, dict(os.environ))
    command = [part.replace("{gateway}", f"http://127.0.0.1:{port}/v1") for part in args.argv]
    try:
        code = subprocess.call(command, cwd=ROOT)
    finally:
        stop(gateway)
    raise SystemExit(code)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="step", required=True)
    run = commands.add_parser("serve", help="serve the app, send every ticket and its feedback")
    run.add_argument("--upstream", required=True, help="OpenAI base URL of the llama.cpp server")
    run.add_argument("--capture", default="traces/shopdesk", help="capture folder")
    run.add_argument("--tickets", default=str(TICKETS))
    run.add_argument("--concurrency", type=int, default=2)
    run.add_argument("--limit", type=int, default=None)
    run.set_defaults(handler=serve)
    fill = commands.add_parser("fill-expected", help="write the imported rows' expected from the tickets")
    fill.add_argument("dataset")
    fill.add_argument("--tickets", default=str(TICKETS))
    fill.set_defaults(handler=fill_expected)
    gate = commands.add_parser("with-gateway", help="run a command while the gateway is up ({gateway}: its URL)")
    gate.add_argument("--upstream", required=True, help="OpenAI base URL of the llama.cpp server")
    gate.add_argument("argv", nargs=argparse.REMAINDER)
    gate.set_defaults(handler=with_gateway)
    args = parser.parse_args()
    if getattr(args, "argv", None) and args.argv[:1] == ["--"]:
        args.argv = args.argv[1:]
    args.handler(args)


if __name__ == "__main__":
    main()
