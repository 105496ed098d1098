"""Replay cost per call: flat at 1,000 and 10,000 recorded calls, beside the live client's own cost.

Records a suite of T tasks x 5 calls against the stub server (its own process, no latency),
then replays 1,000 and 10,000 calls from the cassettes with the server stopped, and prints the
CPU milliseconds per replayed call (everything in this process: harness, vcrpy, openai
client). For scale, it also prints the live per-call CPU of the same client against the stub.
Goals: <= 2 ms per replayed call, the same at both sizes, and (issue 25) <= 0.5x the live client's CPU per call. Last line: ``ms_per_call=<10k figure>``.

    python bench/replay_overhead.py [--calls-per-task 5] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import tempfile
import time
from pathlib import Path

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls-per-task", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    per_task = args.calls_per_task
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
