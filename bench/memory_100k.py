"""Peak memory of loading and running a 100,000-row JSONL dataset (stub latency 0, no report).

Writes N tasks, runs them through the harness against the stub server (its own process) with
one chat completion each, and prints the peak RSS of this process. Goal: under 500 MB.
The last line prints ``peak_rss_mb=<figure>``.

    python bench/memory_100k.py [--n 100000] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import resource
import tempfile
import time
from pathlib import Path

from harness import ModelSettings, RunOptions, RuntimeConfig, Suite, Variant, run_suite
from harness.testing.stub_server import StubProcess


async def ask(input, ctx):
    reply = await ctx.client.chat.completions.create(messages=[{"role": "user", "content": input}],
                                                     **ctx.model_kwargs())
    return reply.choices[0].message.content


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    dataset = work / "tasks.jsonl"
    with dataset.open("w") as handle:
        for i in range(args.n):
            handle.write(json.dumps({"id": f"task-{i:06d}", "input": f"Customer question number {i}: where is my order?",
                                     "expected": {"category": "orders"}, "tags": ["dev" if i % 2 else "test"]}) + "\n")
    print(f"dataset: {args.n} rows, {dataset.stat().st_size / 1e6:.1f} MB; rss before run {peak_rss_mb():.0f} MB")
    suite = Suite(name="memory", dataset=dataset,
                  variants=[Variant("ask@v1", flow=ask, model=ModelSettings(model="stub"))])
    with StubProcess(latency=0.0) as stub:
        started = time.perf_counter()
        result = asyncio.run(run_suite(suite, RunOptions(
            concurrency=args.concurrency, record_mode="off", runs_dir=work / "runs",
            runtime=RuntimeConfig(base_url=stub.base_url, api_key="bench"))))
        elapsed = time.perf_counter() - started
    print(f"ran {result.rows} rows ({result.errors} errors) in {elapsed:.0f}s; "
          f"results.jsonl {result.folder.results_path.stat().st_size / 1e6:.0f} MB")
    print(f"peak_rss_mb={peak_rss_mb():.0f}")


if __name__ == "__main__":
    main()
