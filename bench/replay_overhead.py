"""Replay cost per call: flat at 1,000 and 10,000 recorded calls, beside the live client's own cost.

Records a suite of T tasks x 5 calls against the stub server (its own process, no latency),
then replays 1,000 and 10,000 calls from the cassettes with the server stopped, and prints the
CPU milliseconds per replayed call (everything in this process: harness, vcrpy, openai
client). For scale, it also prints the live per-call CPU of the same client against the stub.
Goals: <= 2 ms per replayed call, the same at both sizes, and (issue 25) <= 0.5x the live client's CPU per call. Last line: ``ms_per_call=<10k figure>``.

For instruction counts (``valgrind --tool=callgrind``, which a busy machine does not skew), record once
with ``--work DIR --arm record``, then run ``--arm live`` and ``--arm replay`` under callgrind at two
``--calls`` (500 and 1,500) with ``PYTHONHASHSEED=0`` and take the difference per call: each arm runs its
calls once, after a warm-up, so the difference leaves out imports and start-up. The stub server runs in
its own process (callgrind does not follow it), so the live arm counts the client's side alone.
``--arm bare`` makes the same calls with a bare ``openai`` client (no harness, no vcrpy) over an
in-memory transport that answers each with its recorded reply: the client's own floor, which no
replay can go below. ``--arm harness`` runs the harness in record mode ``off`` with its HTTP transport
answering in memory, each call with its recorded status, headers and body as an unread stream (what
vcrpy hands back): the harness's live path without the network, so replay minus this arm is replay's
own cost (vcrpy and the cassette store), and this arm minus ``bare`` is the live path's.

    python bench/replay_overhead.py [--calls-per-task 5] [--concurrency 64]
    python bench/replay_overhead.py --work DIR --arm record|live|replay|bare|harness [--calls 1500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import httpx2
import openai

from harness import ModelSettings, RunOptions, RuntimeConfig, Suite, Variant, run_suite
from harness.testing.stub_server import StubProcess

#: The stub server's start-up allowance: on a loaded machine its imports alone took over the default 20 s.
STUB_STARTUP_S = 120.0

DEAD_URL = "http://127.0.0.1:9/v1"


async def five_calls(input, ctx):
    replies = []
    for step in range(ctx.params["calls"]):
        reply = await ctx.client.chat.completions.create(
            messages=[{"role": "user", "content": f"{input} step {step}"}], **ctx.model_kwargs())
        replies.append(reply.choices[0].message.content)
    return replies


def suite_for(dataset: Path, calls: int) -> Suite:
    return Suite(name="replay-bench", dataset=dataset, variants=[
        Variant("calls@v1", flow=five_calls, model=ModelSettings(model="stub"), params={"calls": calls})])


def run(suite: Suite, mode: str, base_url: str, work: Path, concurrency: int, limit: int | None,
        name: str) -> tuple[float, float, int]:
    options = RunOptions(record_mode=mode, concurrency=concurrency, limit=limit, runs_dir=work / name,
                         runtime=RuntimeConfig(base_url=base_url, api_key="bench", cassette_dir=work / "cassettes"))
    wall0, cpu0 = time.perf_counter(), time.process_time()
    result = asyncio.run(run_suite(suite, options))
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    assert result.errors == 0, f"{result.errors} errors during {name}"
    return wall, cpu, result.rows


def recorded_replies(work: Path) -> dict[bytes, dict]:
    """Each recorded request body -> its recorded response (vcrpy's dict: status, headers, body)."""
    replies = {}
    for path in (work / "cassettes").rglob("*.json"):
        for interaction in json.loads(path.read_text())["interactions"]:
            replies[interaction["request"]["body"].encode()] = interaction["response"]
    return replies


def answer_in_memory(work: Path) -> None:
    """Make the harness's HTTP transport answer each call with its recorded reply, unread, as vcrpy would."""
    replies = recorded_replies(work)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        recorded = replies[request.content]
        headers = [(name, value) for name, values in recorded["headers"].items() for value in values]
        return httpx2.Response(recorded["status"]["code"], headers=headers,
                               stream=httpx2.ByteStream(recorded["body"]["string"].encode()))

    httpx2.AsyncHTTPTransport.handle_async_request = handle_async_request


async def bare_client(work: Path, calls: int, per_task: int, concurrency: int) -> None:
    """The flow's calls from a bare client, each answered in memory with the reply recorded for it."""
    replies = {body: reply["body"]["string"].encode() for body, reply in recorded_replies(work).items()}

    def answer(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=replies[request.content], headers={"content-type": "application/json"})

    client = openai.AsyncOpenAI(base_url=DEAD_URL, api_key="bench",
                                http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(answer)))
    gate = asyncio.Semaphore(concurrency)
    settings = ModelSettings(model="stub").request_kwargs()

    async def task(number: int) -> None:
        async with gate:
            await five_calls(f"question {number}", SimpleNamespace(client=client, params={"calls": per_task},
                                                                   model_kwargs=lambda: dict(settings)))

    await asyncio.gather(*(task(number) for number in range(calls // per_task)))
    await client.close()


def arm(args: argparse.Namespace, per_task: int) -> None:
    """One arm for callgrind: record the cassettes into ``--work``, or run ``--calls`` calls live or replayed."""
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    dataset = work / "tasks.jsonl"
    largest = max(args.sizes + [args.calls])
    if args.arm == "record":
        dataset.write_text("".join(json.dumps({"id": f"t{i:05d}", "input": f"question {i}"}) + "\n"
                                   for i in range(largest // per_task)))
    suite = suite_for(dataset, per_task)
    tasks = args.calls // per_task
    if args.arm == "bare":
        asyncio.run(bare_client(work, 100, per_task, args.concurrency))
        wall0, cpu0 = time.perf_counter(), time.process_time()
        asyncio.run(bare_client(work, args.calls, per_task, args.concurrency))
        wall, cpu, rows = time.perf_counter() - wall0, time.process_time() - cpu0, tasks
    elif args.arm == "harness":
        answer_in_memory(work)
        run(suite, "off", DEAD_URL, work, args.concurrency, 20, "warm-harness")
        wall, cpu, rows = run(suite, "off", DEAD_URL, work, args.concurrency, tasks, "harness-arm")
    elif args.arm == "replay":
        run(suite, "none", DEAD_URL, work, args.concurrency, 20, "warm-replay")
        wall, cpu, rows = run(suite, "none", DEAD_URL, work, args.concurrency, tasks, "replay-arm")
    else:
        with StubProcess(nonce=True, startup_timeout=STUB_STARTUP_S) as stub:
            run(suite, "off", stub.base_url, work, args.concurrency, 20, "warm-live")
            mode, limit = ("once", None) if args.arm == "record" else ("off", tasks)
            wall, cpu, rows = run(suite, mode, stub.base_url, work, args.concurrency, limit, f"{args.arm}-arm")
    print(f"{args.arm}: {rows * per_task} calls, cpu/call={cpu / (rows * per_task) * 1000:.2f}ms, wall={wall:.2f}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls-per-task", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--work", help="a folder kept between arms (with --arm)")
    parser.add_argument("--arm", choices=("record", "live", "replay", "bare", "harness"), help="run one arm once (for callgrind)")
    parser.add_argument("--calls", type=int, default=1500, help="calls the arm makes (live, replay)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    per_task = args.calls_per_task
    if args.arm is not None:
        if args.work is None:
            parser.error("--arm needs --work")
        arm(args, per_task)
        return
    largest = max(args.sizes)
    work = Path(tempfile.mkdtemp(prefix="bench-replay-"))
    dataset = work / "tasks.jsonl"
    dataset.write_text("".join(json.dumps({"id": f"t{i:05d}", "input": f"question {i}"}) + "\n"
                               for i in range(largest // per_task)))
    suite = suite_for(dataset, per_task)

    with StubProcess(nonce=True, startup_timeout=STUB_STARTUP_S) as stub:
        run(suite, "off", stub.base_url, work, args.concurrency, 20, "warm")
        wall, cpu, rows = run(suite, "off", stub.base_url, work, args.concurrency, 1000 // per_task, "live")
        live_ms = cpu / (rows * per_task) * 1000
        print(f"live (no cassette): {rows * per_task} calls, cpu/call={live_ms:.2f}ms, wall={wall:.2f}s")
        wall, cpu, rows = run(suite, "once", stub.base_url, work, args.concurrency, None, "record")
        print(f"record: {rows * per_task} calls, cpu/call={cpu / (rows * per_task) * 1000:.2f}ms, wall={wall:.2f}s")

    figure = 0.0
    for size in sorted(args.sizes):
        wall, cpu, rows = run(suite, "none", DEAD_URL, work, args.concurrency, size // per_task, f"replay-{size}")
        figure = cpu / (rows * per_task) * 1000
        print(f"replay {rows * per_task:>6} calls: cpu/call={figure:.2f}ms (live client alone: {live_ms:.2f}ms), "
              f"wall={wall:.2f}s")
    print(f"ms_per_call={figure:.2f}")


if __name__ == "__main__":
    main()
