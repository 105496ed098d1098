"""Runner throughput: the harness against a plain ``AsyncOpenAI`` + ``asyncio.Semaphore`` baseline.

Both send the same N chat completions to the stub server (in its own process, fixed latency),
live, no cassette, in the same Python process. Prints wall time, CPU seconds per task and the
ideal (N x latency / concurrency) for each concurrency and round, and finally ``ratio=<harness/baseline>``:
per concurrency the median over ``--rounds`` pairs, then the worst over the concurrencies. Goal (issue 25):
ratio <= 1.05, i.e. about 0.1 ms of the harness's own CPU per live call.

One pair is not enough on a small machine: the wall ratio of the same code moved by +-0.15 between
runs on 2 cores (the stub server holds one of them, so whichever process saturates first sets the
wall time). Each round runs a pair back to back, and the pair's order alternates between rounds
(baseline first, then harness first), so a machine that slows down or speeds up during a sitting
weighs on both sides alike; the median of the rounds is reported beside their range.

    python bench/runner_throughput.py [--n 2000] [--latency 0.05] [--concurrency 16 64] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import logging
import statistics
import tempfile
import time
from pathlib import Path

import httpx2
import openai

from harness import ModelSettings, RunOptions, RuntimeConfig, Suite, Variant, run_suite
from harness.testing.stub_server import StubProcess

#: The stub server's start-up allowance: on a loaded machine its imports alone took over the default 20 s.
STUB_STARTUP_S = 120.0


async def ask(input, ctx):
    reply = await ctx.client.chat.completions.create(messages=[{"role": "user", "content": input}],
                                                     **ctx.model_kwargs())
    return reply.choices[0].message.content


async def baseline(base_url: str, n: int, concurrency: int) -> None:
    limits = httpx2.Limits(max_connections=256, max_keepalive_connections=256)
    client = openai.AsyncOpenAI(base_url=base_url, api_key="bench",
                                http_client=openai.DefaultAsyncHttpxClient(limits=limits))
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> str:
        async with gate:
            reply = await client.chat.completions.create(
                model="stub", temperature=0.0, messages=[{"role": "user", "content": f"question {i}"}])
            return reply.choices[0].message.content or ""

    await asyncio.gather(*(one(i) for i in range(n)))
    await client.close()


async def harness_run(base_url: str, dataset: Path, runs: Path, concurrency: int) -> None:
    suite = Suite(name="bench", dataset=dataset,
                  variants=[Variant("ask@v1", flow=ask, model=ModelSettings(model="stub"))])
    options = RunOptions(concurrency=concurrency, record_mode="off", runs_dir=runs,
                         runtime=RuntimeConfig(base_url=base_url, api_key="bench"))
    result = await run_suite(suite, options)
    assert result.errors == 0, f"{result.errors} errors in the harness run"


def timed(coro_factory) -> tuple[float, float]:
    wall0, cpu0 = time.perf_counter(), time.process_time()
    asyncio.run(coro_factory())
    return time.perf_counter() - wall0, time.process_time() - cpu0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--rounds", type=int, default=5, help="pairs per concurrency, in alternating order")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    work = Path(tempfile.mkdtemp(prefix="bench-runner-"))
    dataset = work / "tasks.jsonl"
    dataset.write_text("".join(json.dumps({"id": f"t{i}", "input": f"question {i}"}) + "\n" for i in range(args.n)))
    ratios = []
    with StubProcess(latency=args.latency, startup_timeout=STUB_STARTUP_S) as stub:
        # Warm up both sides (imports, the Agents SDK trace processor, connections): steady state is measured.
        timed(lambda: baseline(stub.base_url, 50, 8))
        warm = work / "warm.jsonl"
        warm.write_text("".join(json.dumps({"id": f"w{i}", "input": "warm"}) + "\n" for i in range(50)))
        timed(lambda: harness_run(stub.base_url, warm, work / "runs-warm", 8))
        for concurrency in args.concurrency:
            ideal = args.n * args.latency / concurrency
            sides = {"baseline": functools.partial(baseline, stub.base_url, args.n, concurrency),
                     "harness": functools.partial(harness_run, stub.base_url, dataset, work / f"runs-{concurrency}",
                                                  concurrency)}
            rounds = []
            for round_ in range(args.rounds):
                order = ("baseline", "harness") if round_ % 2 == 0 else ("harness", "baseline")
                measured = {side: timed(sides[side]) for side in order}
                (base_wall, base_cpu), (h_wall, h_cpu) = measured["baseline"], measured["harness"]
                rounds.append(h_wall / base_wall)
                print(f"C={concurrency:<3} N={args.n} latency={args.latency * 1000:.0f}ms ideal={ideal:.2f}s "
                      f"round {round_ + 1} ({order[0]} first) | baseline wall={base_wall:.2f}s "
                      f"cpu/task={base_cpu / args.n * 1000:.2f}ms | harness wall={h_wall:.2f}s "
                      f"cpu/task={h_cpu / args.n * 1000:.2f}ms | ratio={rounds[-1]:.2f}")
            ratios.append(statistics.median(rounds))
            print(f"C={concurrency:<3} median ratio over {args.rounds} rounds: {ratios[-1]:.2f} "
                  f"(range {min(rounds):.2f}-{max(rounds):.2f})")
    print(f"ratio={max(ratios):.2f}")


if __name__ == "__main__":
    main()
