"""How to run the local model for recording: one server or two, how many threads each.

Recording the demo is CPU-bound model inference, so the server's thread layout decides how long a
re-record takes. This runs one fixed workload (support tickets answered with the shop's help
articles as context, ~700 prompt tokens and up to 80 generated tokens each, plus forced tool
calls, which decode under a grammar) through each layout on this machine and prints the wall time
and throughput relative to the default single server:

* ``one server, default``: ``harness local-model start`` (one generation thread, prompt
  batches on every core: llama-cpp-python's batch default);
* ``one server, --threads N``: every core for both;
* ``two servers, default``: two ``record.sh`` runs at once, each on its own default server;
* ``two servers, --threads N/2``: the cores split between them.

It also checks that every layout gives the same replies (temperature 0): the committed
recordings must not depend on how the server was run. Run it on an otherwise idle machine.

Last line: ``best=<layout> speedup=<x vs one server, default> same_replies=<yes|no>``.

    python bench/local_model_threads.py [--requests 12]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import openai

from harness.testing.local_model import MODEL_ALIAS, LocalModel

ROOT = Path(__file__).resolve().parents[1]
TOOL = {"type": "function", "function": {
    "name": "lookup_order", "description": "Look up an order by its id.",
    "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}}}


def workload(n: int) -> list[dict[str, Any]]:
    """``n`` chat requests from the demo's data; every third one forces a tool call (grammar decoding)."""
    tickets = [json.loads(line)["input"] for line in (ROOT / "datasets/support_tickets.jsonl").open()]
    articles = json.loads((ROOT / "agents/shopdesk/data/kb.json").read_text())
    context = "\n\n".join(f"{a['title']}\n{a['body']}" for a in articles)[:2800]
    requests = []
    for i in range(n):
        messages = [{"role": "system", "content": "You are the shop's support agent. Help articles:\n" + context},
                    {"role": "user", "content": tickets[i % len(tickets)]}]
        request: dict[str, Any] = {"model": MODEL_ALIAS, "messages": messages, "temperature": 0, "max_tokens": 80}
        if i % 3 == 2:
            request |= {"tools": [TOOL], "tool_choice": {"type": "function", "function": {"name": "lookup_order"}}}
        requests.append(request)
    return requests


def reply(client: openai.OpenAI, request: dict[str, Any]) -> str:
    message = client.chat.completions.create(**request).choices[0].message
    calls = [c.function.arguments for c in message.tool_calls or []]  # type: ignore[union-attr]
    return json.dumps([message.content, calls])


def run_layout(servers: int, threads: int | None, requests: list[dict[str, Any]]) -> tuple[float, list[str]]:
    """Wall seconds for the workload split over ``servers`` servers (each fed by its own client), and the replies."""
    with TemporaryDirectory() as tmp:
        models = [LocalModel(state_dir=Path(tmp) / str(i), n_threads=threads, reuse=False).start()
                  for i in range(servers)]
        try:
            clients = [openai.OpenAI(base_url=m.base_url, api_key="unused", max_retries=0, timeout=900)
                       for m in models]
            shares = [list(range(i, len(requests), servers)) for i in range(servers)]

            def serve(k: int) -> dict[int, str]:
                return {i: reply(clients[k], requests[i]) for i in shares[k]}

            start = time.perf_counter()
            with ThreadPoolExecutor(servers) as pool:
                answers = {i: text for part in pool.map(serve, range(servers)) for i, text in part.items()}
            wall = time.perf_counter() - start
        finally:
            for m in models:
                m.stop()
    return wall, [answers[i] for i in range(len(requests))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=12)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    requests = workload(args.requests)
    layouts = {
        "one server, default": (1, None),
        f"one server, --threads {cores}": (1, cores),
        "two servers, default": (2, None),
        f"two servers, --threads {max(cores // 2, 1)}": (2, max(cores // 2, 1)),
    }
    results = {name: run_layout(servers, threads, requests) for name, (servers, threads) in layouts.items()}
    base = results["one server, default"][0]
    print(f"{args.requests} requests on {cores} cores")
    print(f"{'layout':34} {'wall s':>8} {'vs default':>10}  same replies")
    reference = results["one server, default"][1]
    for name, (wall, answers) in results.items():
        print(f"{name:34} {wall:8.1f} {base / wall:9.2f}x  {'yes' if answers == reference else 'NO'}")
    best = min(results, key=lambda name: results[name][0])
    same = all(answers == reference for _, answers in results.values())
    print(f"best={best.replace(' ', '_')} speedup={base / results[best][0]:.2f} same_replies={'yes' if same else 'no'}")


if __name__ == "__main__":
    main()
