"""End to end: a 4,000-task single-call suite replayed from cassettes, process start to report.

Records the suite once against the stub server (its own process), stops the server, then times
``harness run <suite> --record-mode none`` as a fresh process — imports, dataset, replay of
every call, grading, results and the full report (Markdown, HTML, JSON, CSV/parquet, plots),
with ``--workers 2`` (one process per core), beside the same replay in one process. It also
prints the bare ``openai`` client's CPU per call on this machine, to scale the figures by: the
same machine has measured 25 % slower at times. Goal: <= 6 s wall on 2 cores. Each replay's
CPU time (user + system, workers and report helper included) is printed too: on a busy machine
wall time mostly measures the wait for a core, CPU time does not. The last line prints
``wall_s=<figure>`` (the median of ``--repeat`` runs with ``--workers``).

``--off NAME`` turns one start-up speed-up off (``HARNESS_SPEEDUPS_OFF``, see
``harness/engine/speedups.py``): the difference is what it buys.

The report's share: the same replay with ``--no-report`` (the gates still run), timed in turn with
the replays above (``--workers``), so both see the same machine. Goal (issue 25): with the report
<= 1.2x without it. Printed as ``report_ratio=<with / without>`` (medians, wall and CPU).

    python bench/replay_e2e.py [--n 4000] [--workers 2] [--repeat 3] [--cold] [--off prefetch]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.testing.stub_server import StubProcess

#: The stub server's start-up allowance: on a loaded machine its imports alone took over the default 20 s.
STUB_STARTUP_S = 120.0

SUITE = '''
from harness import ModelSettings, Score, Suite, Variant, grader

async def ask(input, ctx):
    reply = await ctx.client.chat.completions.create(messages=[{"role": "user", "content": input}],
                                                     **ctx.model_kwargs())
    return reply.choices[0].message.content

@grader
def replied():
    return lambda attempt: Score.of(attempt.output_text.startswith("stub reply"), reason="stub reply")

suite = Suite(name="e2e", dataset="tasks.jsonl", graders=[replied().named("replied")],
              variants=[Variant("ask@v1", flow=ask, model=ModelSettings(model="stub"))])
'''


DROP_CACHES = Path("/proc/sys/vm/drop_caches")


def drop_page_cache() -> None:
    """Start from a cold page cache, as a replay does once the OS has evicted the cassettes."""
    os.sync()
    DROP_CACHES.write_text("1\n")


def harness(project: Path, *args: str, cold: bool = False, off: tuple[str, ...] = ()) -> tuple[float, float]:
    """Wall and CPU seconds of one ``harness run``, from process start to exit."""
    if cold:
        drop_page_cache()
    before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    subprocess.run([sys.executable, "-m", "harness.cli", "run", "test_e2e.py", "--no-progress", *args],
                   cwd=project, check=True, stdout=subprocess.DEVNULL,
                   env=os.environ | {"PYTHONWARNINGS": "ignore", "HARNESS_SPEEDUPS_OFF": ",".join(off)})
    wall, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--workers", type=int, default=2, help="worker processes (this machine has 2 cores)")
    parser.add_argument("--repeat", type=int, default=3, help="timed replays; the median is reported")
    parser.add_argument("--cold", action="store_true", help="drop the page cache before each replay (root, Linux)")
    parser.add_argument("--off", action="append", default=[], metavar="NAME",
                        help="turn this start-up speed-up off (repeatable)")
    args = parser.parse_args()
    project = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    (project / "test_e2e.py").write_text(SUITE)
    (project / "tasks.jsonl").write_text("".join(json.dumps({"id": f"t{i:05d}", "input": f"question {i}"}) + "\n"
                                                 for i in range(args.n)))
    with StubProcess(nonce=True, startup_timeout=STUB_STARTUP_S) as stub:
        recorded, _ = harness(project, "--record-mode", "once", "--base-url", stub.base_url, "--concurrency", "64",
                              "--no-report")
    print(f"recorded {args.n} tasks in {recorded:.1f}s")
    median: dict[int, float] = {}
    replay = ("--record-mode", "none", "--concurrency", "64")
    for workers in dict.fromkeys([1, args.workers]):
        walls, cpus = zip(*(harness(project, *replay, "--workers", str(workers), cold=args.cold, off=tuple(args.off))
                            for _ in range(args.repeat)), strict=True)
        median[workers] = statistics.median(walls)
        print(f"--workers {workers}: replay + report, process start to end: median {median[workers]:.2f}s wall "
              f"({', '.join(f'{w:.2f}s' for w in walls)}), {statistics.median(cpus):.2f}s CPU")
    with_report, without = report_share(project, replay + ("--workers", str(args.workers)), args)
    if args.off:
        print(f"speed-ups off: {', '.join(args.off)}")
    print(f"ratio --workers {args.workers} / --workers 1: {median[args.workers] / median[1]:.2f}")
    print(f"machine reference: the bare openai client costs {client_floor_ms():.2f} ms of CPU per call here "
          "(a slower machine, or a busy one, scales every figure above)")
    print(f"report_ratio={with_report / without:.2f}")
    print(f"wall_s={median[args.workers]:.2f}")


def report_share(project: Path, replay: tuple[str, ...], args: argparse.Namespace) -> tuple[float, float]:
    """Median wall seconds of the replay with and without its report, run in turn (with, without, with...)."""
    timed: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    for _ in range(args.repeat):
        for report in (True, False):
            timed[report].append(harness(project, *replay, *(() if report else ("--no-report",)), cold=args.cold,
                                         off=tuple(args.off)))
    medians = {report: (statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs))
               for report, runs in timed.items()}
    (wall_with, cpu_with), (wall_without, cpu_without) = medians[True], medians[False]
    print(f"report's share, {' '.join(replay[-2:])}, in turn: with the report median {wall_with:.2f}s wall "
          f"({', '.join(f'{w:.2f}s' for w, _ in timed[True])}), {cpu_with:.2f}s CPU; without (--no-report) "
          f"{wall_without:.2f}s wall ({', '.join(f'{w:.2f}s' for w, _ in timed[False])}), {cpu_without:.2f}s CPU "
          f"-> wall {wall_with / wall_without:.2f}x, CPU {cpu_with / cpu_without:.2f}x (goal <= 1.2x)")
    return wall_with, wall_without


def client_floor_ms(calls: int = 2000) -> float:
    """CPU per call of ``AsyncOpenAI`` over an in-memory transport: what no harness can go below."""
    import asyncio

    import httpx2
    from openai import AsyncOpenAI

    reply = json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": "stub", "choices": [
        {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "stub reply"}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}).encode()
    transport = httpx2.MockTransport(lambda request: httpx2.Response(200, content=reply,
                                                                     headers={"content-type": "application/json"}))
    client = AsyncOpenAI(api_key="unused", base_url="http://127.0.0.1:9/v1",
                         http_client=httpx2.AsyncClient(transport=transport))

    async def ask_all() -> None:
        for i in range(calls):
            await client.chat.completions.create(model="stub", messages=[{"role": "user", "content": f"q {i}"}])

    started = time.process_time()
    asyncio.run(ask_all())
    return 1000 * (time.process_time() - started) / calls


if __name__ == "__main__":
    main()
