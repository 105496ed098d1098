"""The harness's own CPU per live model call, without a server: the same client over an in-memory transport.

``bench/runner_throughput.py`` measures wall time against a stub server in its own process, so on
a loaded machine its ratio mostly measures the wait for a core. This script takes the server
out: the ``openai`` client talks to an in-memory ``httpx2.MockTransport`` (one canned chat
completion), once bare (``AsyncOpenAI`` + ``asyncio.Semaphore``, as runner_throughput's baseline)
and once as a harness run of a one-call flow (live, record mode ``off``: routing, keys, the
model span, the unit's contexts, the result row written), both at concurrency 64, in turn, in
one process. CPU time (``time.process_time``) per call is printed for each, and their
difference: what the harness adds to a live call. Under ``valgrind --tool=callgrind`` the same
script gives instruction counts: ``--side bare`` or ``--side harness`` runs one side once, after the
warm-up; run each at two ``--n`` (200 and 600) with ``PYTHONHASHSEED=0`` and take the difference per call.
Goal (issue 25): at most ~0.1 ms of the harness's own CPU per live call. Last lines:
``ratio=<harness / bare client>`` and ``own_us_per_call=<harness - bare client>`` (medians).

    python bench/live_overhead.py [--n 2000] [--rounds 3] [--side bare|harness]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2
import openai
from runner_throughput import harness_run  # the same harness run, answered in memory here

from harness.engine import runtime as runtime_module

BASE_URL = "http://127.0.0.1:9/v1"  # never reached: every request is answered in memory
REPLY = json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": "stub", "choices": [
    {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "stub reply"}}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}).encode()


def _answer(request: httpx2.Request) -> httpx2.Response:
    return httpx2.Response(200, content=REPLY, headers={"content-type": "application/json"})


class InMemory(httpx2.MockTransport):
    """Stands in for the network transport under the client (the harness wraps it as it wraps the real one)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(_answer)


async def bare_client(n: int, concurrency: int) -> None:
    client = openai.AsyncOpenAI(base_url=BASE_URL, api_key="bench", http_client=httpx2.AsyncClient(transport=InMemory()))
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            await client.chat.completions.create(model="stub", temperature=0.0,
                                                 messages=[{"role": "user", "content": f"question {i}"}])

    await asyncio.gather(*(one(i) for i in range(n)))
    await client.close()


def cpu_ms_per_call(coro: Any, n: int) -> float:
    started = time.process_time()
    asyncio.run(coro)
    return (time.process_time() - started) / n * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000, help="calls per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="bare/harness pairs, in turn; medians are reported")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--side", choices=("bare", "harness"), help="run this side once (for callgrind)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    # The runtime builds its clients over httpx2's network transports: these answer in memory instead.
    runtime_module.httpx2.AsyncHTTPTransport = InMemory  # type: ignore[misc]
    runtime_module.httpx2.HTTPTransport = InMemory  # type: ignore[misc]
    work = Path(tempfile.mkdtemp(prefix="bench-live-overhead-"))
    dataset = work / "tasks.jsonl"
    dataset.write_text("".join(json.dumps({"id": f"t{i}", "input": f"question {i}"}) + "\n" for i in range(args.n)))
    warm = work / "warm.jsonl"
    warm.write_text("".join(json.dumps({"id": f"w{i}", "input": "warm"}) + "\n" for i in range(50)))
    asyncio.run(bare_client(50, 8))
    asyncio.run(harness_run(BASE_URL, warm, work / "runs-warm", 8))
    if args.side is not None:
        side = (bare_client(args.n, args.concurrency) if args.side == "bare"
                else harness_run(BASE_URL, dataset, work / "runs-side", args.concurrency))
        print(f"{args.side}: {cpu_ms_per_call(side, args.n):.3f} ms CPU per call")
        return
    bare, harness = [], []
    for round_ in range(args.rounds):
        bare.append(cpu_ms_per_call(bare_client(args.n, args.concurrency), args.n))
        harness.append(cpu_ms_per_call(harness_run(BASE_URL, dataset, work / f"runs-{round_}", args.concurrency), args.n))
        print(f"round {round_ + 1}: bare client {bare[-1]:.3f} ms CPU per call, harness {harness[-1]:.3f} ms "
              f"(+{(harness[-1] - bare[-1]) * 1000:.0f} us, {harness[-1] / bare[-1]:.2f}x)")
    print(f"ratio={statistics.median(h / b for h, b in zip(harness, bare, strict=True)):.2f}")
    print(f"own_us_per_call={statistics.median((h - b) * 1000 for h, b in zip(harness, bare, strict=True)):.0f}")


if __name__ == "__main__":
    main()
